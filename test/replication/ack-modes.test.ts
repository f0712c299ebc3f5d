import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeIndexWorkers } from '../../index/index.ts';
import { Buckets, isSyncError, lastManifest, publishManifest } from '../../sync/index.ts';
import type { Primary, Replica } from '../../sync/index.ts';
import { startFollower, startPrimary } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';

let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;
let eu: NodeHandle<Replica>;
let ap: NodeHandle<Replica>;
const nodes: Array<NodeHandle<unknown & { stop(): Promise<void> }>> = [];
const regions = ['us-east', 'eu-west', 'ap-south'];
const vec = (i: number) => [i, 1, 0, 0];
/** While set, p1's replica holds every manifest apply at its first stage (see the fencing test). */
let holdApplies: Promise<void> | null = null;

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions,
    hooks: {
      onStage: async (stage) => {
        if (stage === 'fetch' && holdApplies) await holdApplies;
      },
    },
  });
  eu = await startFollower({ natsUrl: nats.url, region: 'eu-west', node: 'f1' });
  ap = await startFollower({ natsUrl: nats.url, region: 'ap-south', node: 'f2' });
  nodes.push(primary, eu, ap);
  await primary.node.createCollection({ name: 'acks', dim: 4, metric: 'l2', model: 'm@1' });
});

afterAll(async () => {
  for (const n of nodes) {
    await n.stop();
    await n.cleanup();
  }
  await closeIndexWorkers();
  await nats?.stop();
});

describe('write acknowledgement modes', () => {
  it('answers sync only after every region of the placement applied the write', async () => {
    const res = await primary.node.upsert('acks', [{ id: 's1', vector: vec(1) }], {
      ack: 'sync',
      timeoutMs: 20_000,
    });
    // Checked at the moment of the answer: both followers have the seq already.
    expect(eu.node.appliedSeq).toBeGreaterThanOrEqual(res.seq);
    expect(ap.node.appliedSeq).toBeGreaterThanOrEqual(res.seq);
    expect(res).toMatchObject({
      mode: 'sync',
      replicated: true,
      timedOut: false,
      pendingRegions: [],
    });
    expect(res.appliedRegions).toEqual(['ap-south', 'eu-west', 'us-east']);
    expect((await eu.node.served('acks')!.view.search(vec(1), { k: 1 }))[0]!.id).toBe('s1');
  });

  it('answers semi-sync once one follower region applied the write', async () => {
    const res = await primary.node.upsert('acks', [{ id: 's2', vector: vec(2) }], {
      ack: 'semi-sync',
      timeoutMs: 20_000,
    });
    expect(res.replicated).toBe(true);
    expect(Math.max(eu.node.appliedSeq, ap.node.appliedSeq)).toBeGreaterThanOrEqual(res.seq);
    expect(res.appliedRegions.filter((r) => r !== 'us-east').length).toBeGreaterThanOrEqual(1);
  });

  it('answers async at once, before any follower needs to have applied it', async () => {
    const res = await primary.node.upsert('acks', [{ id: 's3', vector: vec(3) }], { ack: 'async' });
    expect(res).toMatchObject({ mode: 'async', replicated: true, timedOut: false });
    expect((await primary.node.replica.served('acks')!.view.search(vec(3), { k: 1 }))[0]!.id).toBe(
      's3',
    );
  });

  it('times out sync with a stopped follower and says the write is durable but pending', async () => {
    await ap.stop();
    const res = await primary.node.upsert('acks', [{ id: 's4', vector: vec(4) }], {
      ack: 'sync',
      timeoutMs: 400,
    });
    expect(res).toMatchObject({ replicated: false, timedOut: true, pendingRegions: ['ap-south'] });
    expect(res.appliedRegions).toContain('us-east');
    // Durable and visible on the primary all the same.
    expect((await primary.node.replica.served('acks')!.view.search(vec(4), { k: 1 }))[0]!.id).toBe(
      's4',
    );
    // The stopped follower catches up when it comes back.
    ap = await startFollower({
      natsUrl: nats.url,
      region: 'ap-south',
      node: 'f2',
      dataDir: ap.dataDir,
    });
    nodes.push(ap);
    await ap.node.waitUntil(() => ap.node.appliedSeq >= res.seq, 20_000, 'catch-up');
    expect((await ap.node.served('acks')!.view.search(vec(4), { k: 1 }))[0]!.id).toBe('s4');
  });

  it('counts a follower for semi-sync only once the write is on its disk (decision 0016)', async () => {
    // Both followers' WAL log fsyncs wait: they apply (and serve) the write at once, but
    // must not tell the primary it is applied before it would survive an OS crash.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const restore: Array<() => void> = [];
    for (const f of [eu, ap]) {
      const original = f.catalog.syncWalLog.bind(f.catalog);
      f.catalog.syncWalLog = async () => {
        await held;
        return original();
      };
      restore.push(() => (f.catalog.syncWalLog = original));
    }
    try {
      const res = await primary.node.upsert('acks', [{ id: 's5', vector: vec(6) }], {
        ack: 'semi-sync',
        timeoutMs: 600,
      });
      expect(res).toMatchObject({ replicated: false, timedOut: true });
      expect(eu.node.appliedSeq).toBeGreaterThanOrEqual(res.seq);
      expect((await eu.node.served('acks')!.view.get(['s5']))[0]?.id).toBe('s5');
      release();
      const next = await primary.node.upsert('acks', [{ id: 's6', vector: vec(8) }], {
        ack: 'semi-sync',
        timeoutMs: 20_000,
      });
      expect(next).toMatchObject({ replicated: true, timedOut: false });
    } finally {
      release();
      for (const r of restore) r();
    }
  });
});

describe('manifest fencing', () => {
  it('refuses a deposed primary that publishes a version on a stale predecessor', async () => {
    const a = primary.node;
    await a.upsert('acks', [{ id: 'f1', vector: vec(5) }]);
    const v1 = await a.seal('acks');
    expect(v1?.version).toBe(1);
    await a.upsert('acks', [{ id: 'f3', vector: vec(7) }]);

    // A's lease is taken (as after a stall longer than its life) and A notices at its next
    // renewal: it takes no write from then on. Then B starts and takes the lease.
    const kv = await primary.link.js.views.kv(Buckets.primaryLease);
    const intruder = { node: 'other', region: 'us-east', instance: 'test', since: '' };
    await kv.put('primary', JSON.stringify(intruder));
    await expect.poll(() => a.writable, { timeout: 10_000 }).toBe(false);
    const refused = await a.upsert('acks', [{ id: 'f4', vector: vec(8) }]).catch((e: unknown) => e);
    expect(isSyncError(refused, 'not_primary')).toBe(true);
    expect(String(refused)).toMatch(/taken by node other/);
    await kv.purge('primary');
    // A deposed primary that stalled also missed the new primary's manifests: A's replica
    // holds them (otherwise A may apply B's v2 first, and then have nothing to seal).
    let release: () => void = () => undefined;
    holdApplies = new Promise<void>((r) => (release = r));
    const b = await startPrimary({ natsUrl: nats.url, region: 'us-east', node: 'p2', regions });
    nodes.push(b);
    await b.node.upsert('acks', [{ id: 'f2', vector: vec(6) }]);
    const v2 = await b.node.seal('acks');
    expect(v2?.version).toBe(2);

    // A still believes v1 is the last manifest: its v2 must be refused, not stored.
    const err = await a.seal('acks').catch((e: unknown) => e);
    holdApplies = null;
    release();
    expect(isSyncError(err, 'fenced'), String(err)).toBe(true);
    expect(String(err)).toMatch(/another primary/);
    const last = await lastManifest(primary.link.jsm, 'acks', 'm@1');
    expect(last?.manifest.version).toBe(2);
    expect(last?.manifest.segments.map((s) => s.digest)).toEqual(v2!.segments.map((s) => s.digest));
  });

  it('refuses the same version published twice on the same predecessor', async () => {
    const last = (await lastManifest(primary.link.jsm, 'acks', 'm@1'))!;
    const next = {
      ...last.manifest,
      version: last.manifest.version + 1,
      createdAt: new Date().toISOString(),
    };
    await publishManifest(primary.link.js, next, last.seq);
    const err = await publishManifest(
      primary.link.js,
      { ...next, coversSeq: next.coversSeq + 1 },
      last.seq,
    ).catch((e: unknown) => e);
    expect(isSyncError(err, 'fenced'), String(err)).toBe(true);
  });
});
