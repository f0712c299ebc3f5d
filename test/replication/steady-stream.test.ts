/**
 * Issue 12: under a steady stream of writes the memtable is never empty. Seals must follow
 * the age of the oldest unsealed write (one per `maxAgeMs`, not one per tick), merges must
 * cost what was written (size tiers, not the collection), and the memtable searched flat
 * stays bounded by what arrives in about one `maxAgeMs`.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const DIM = 16;
const STREAM_MS = 30_000;
const MAX_AGE_MS = 1_000;
const WRITE_EVERY_MS = 20;
const POINTS_PER_WRITE = 5;
const vec = (i: number) => Array.from({ length: DIM }, (_, j) => Math.sin(i * 0.37 + j * 1.3));

const fx = useReplicationCluster({
  primary: {
    seal: { maxPoints: 1_000_000, maxAgeMs: MAX_AGE_MS, mergeFactor: 4, compactAbove: 16 },
    sealCheckMs: 100,
  },
  follower: true,
});

describe('a steady stream of writes', () => {
  it(
    'seals once per maxAgeMs, merges by size tier, and keeps the memtable bounded',
    async () => {
      const p = fx.primary.node;
      await p.createCollection({ name: 'stream', dim: DIM, metric: 'l2', model: 'm@1' });
      // A collection to start from: one segment of 5,000.
      const base = Array.from({ length: 5_000 }, (_, i) => ({ id: `b${i}`, vector: vec(-1 - i) }));
      await p.upsert('stream', base);
      await p.seal('stream');
      const start = { ...p.sealer.stats };

      let written = 0;
      let maxMemtable = 0;
      const t0 = Date.now();
      const watch = setInterval(() => {
        void p.replica
          .served('stream')!
          .view.stats()
          .then((s) => (maxMemtable = Math.max(maxMemtable, s.memtableEntries)));
      }, 100);
      try {
        while (Date.now() - t0 < STREAM_MS) {
          const next = t0 + (written / POINTS_PER_WRITE + 1) * WRITE_EVERY_MS;
          await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
          const pts = Array.from({ length: POINTS_PER_WRITE }, (_, i) => ({
            id: `s${written + i}`,
            vector: vec(written + i),
          }));
          await p.upsert('stream', pts);
          written += POINTS_PER_WRITE;
        }
      } finally {
        clearInterval(watch);
      }
      const elapsed = Date.now() - t0;
      const seals = p.sealer.stats.seals - start.seals;
      const rewritten = p.sealer.stats.mergedPoints - start.mergedPoints;
      const expected = elapsed / MAX_AGE_MS;
      // One seal per maxAgeMs (the first after maxAgeMs). Sealing every tick gave ~500.
      expect(seals).toBeGreaterThanOrEqual(Math.floor(expected * 0.5));
      expect(seals).toBeLessThanOrEqual(Math.ceil(expected) + 2);
      // About one maxAgeMs of writes, plus the time a seal takes.
      const rate = (written / elapsed) * 1000;
      expect(maxMemtable).toBeLessThanOrEqual(rate * (MAX_AGE_MS / 1000) * 2);
      // Each streamed point climbs a few size tiers at most, never a rebuild of the 5,000.
      expect(rewritten / written).toBeLessThanOrEqual(5);
      const m = p.catalog.appliedManifest('stream', 'm@1')!;
      expect(m.segments.length).toBeLessThanOrEqual(16);

      // And the follower serves every point.
      await waitFor(
        async () =>
          (await fx.follower.node.served('stream')!.view.stats()).points === 5_000 + written,
        { timeoutMs: 30_000 },
      );
      const view = fx.follower.node.served('stream')!.view;
      for (const i of [0, 1, Math.floor(written / 2), written - 1]) {
        expect((await view.search(vec(i), { k: 1 }))[0]!.id).toBe(`s${i}`);
      }
    },
    STREAM_MS + 90_000,
  );
});
