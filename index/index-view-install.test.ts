/**
 * `IndexView.install` decides again only the ids a new state touches (issue 12). This
 * checks it against the rule itself after every install of a random life: seals, size
 * merges with tombstone purges, deletes and rollbacks. Every copy of every segment must be
 * live exactly when it is the newest write of its id (segments, tombstones and memtable
 * together), the newest segment winning a tie.
 */
import { describe, expect, it } from 'vitest';
import { IndexView } from './index-view.ts';
import type { IndexTombstone, SealedState } from './index-view.ts';
import { useSegmentDir } from './segment-fixture.ts';
import type { Segment } from './segment.ts';
import type { SeqPoint } from './types.ts';

const dim = 4;
const segments = useSegmentDir('meridian-install-', { dim, metric: 'l2' });

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** What the rule says about each copy: live or dead. */
function expectedLive(view: IndexView, state: SealedState): boolean[][] {
  const best = new Map<string, number>();
  const bump = (id: string, seq: number) => best.set(id, Math.max(best.get(id) ?? -1, seq));
  for (const t of state.tombstones) bump(t.id, t.seq);
  for (const s of state.segments) s.ids.forEach((id, l) => bump(id, s.seqs[l]!));
  for (const [id, e] of view.memtable.entriesView()) bump(id, e.seq);
  const claimed = new Set<string>();
  const out = state.segments.map((s) => s.ids.map(() => false));
  for (let i = state.segments.length - 1; i >= 0; i--) {
    const s = state.segments[i]!;
    s.ids.forEach((id, l) => {
      if (!claimed.has(id) && best.get(id) === s.seqs[l]) {
        claimed.add(id);
        out[i]![l] = true;
      }
    });
  }
  return out;
}

function check(view: IndexView, state: SealedState): void {
  const want = expectedLive(view, state);
  state.segments.forEach((s, i) => {
    s.ids.forEach((id, l) => {
      expect(s.isDead(l), `${id} in segment ${i} (seq ${s.seqs[l]})`).toBe(!want[i]![l]);
    });
  });
}

describe('incremental install', () => {
  for (const seed of [1, 2]) {
    it(`marks exactly the newest copy of each id through a random life (seed ${seed})`, async () => {
      const r = rng(seed);
      const view = new IndexView({ dim, metric: 'l2' });
      let seq = 0;
      // hnswlib cannot read back a copy marked deleted: keep every written vector.
      const written = new Map<string, Float32Array>();
      // A large first segment: installs after it take the incremental path (the changed
      // segments hold less than the kept ones), and the writes below shadow some of it.
      const baseSize = 300;
      const first = Array.from({ length: baseSize }, (_, i) => {
        seq++;
        const vector = Float32Array.from({ length: dim }, r);
        written.set(`k${i}@${seq}`, vector);
        return { id: `k${i}`, seq, vector, metadata: null };
      });
      let state: SealedState = {
        segments: [await segments.seg(first)],
        tombstones: [],
        coversSeq: seq,
      };
      view.install(state);
      const history: SealedState[] = [];

      const pool = 40;
      for (let step = 0; step < 60; step++) {
        // A few writes into the memtable.
        for (let w = 0; w < 1 + Math.floor(r() * 8); w++) {
          const id = `k${Math.floor(r() * pool)}`;
          seq++;
          if (r() < 0.2) view.delete([id], seq);
          else {
            const vector = Float32Array.from({ length: dim }, r);
            written.set(`${id}@${seq}`, vector);
            view.upsert([{ id, vector, metadata: null }], seq);
          }
        }
        const roll = r();
        if (roll < 0.55) {
          // Seal everything up to seq.
          const snap = view.memtable.snapshot(seq);
          const segs = [...state.segments];
          if (snap.upserts.length > 0) segs.push(await segments.seg(snap.upserts));
          const tomb = new Map(state.tombstones.map((t) => [t.id, t.seq]));
          for (const d of snap.deletes) tomb.set(d.id, Math.max(tomb.get(d.id) ?? -1, d.seq));
          const tombstones: IndexTombstone[] = [...tomb].map(([id, s]) => ({ id, seq: s }));
          state = { segments: segs, tombstones, coversSeq: seq };
        } else if (roll < 0.85 && state.segments.length >= 3) {
          // Merge a random run of segments; drop tombstoned copies; purge what it can.
          // Mostly leave the first segment out, as size tiers do.
          const from = r() < 0.8 ? 1 + Math.floor(r() * (state.segments.length - 2)) : 0;
          const to = from + 2 + Math.floor(r() * (state.segments.length - from - 1));
          const merged = state.segments.slice(from, to);
          const tomb = new Map(state.tombstones.map((t) => [t.id, t.seq]));
          const bestOf = new Map<string, SeqPoint>();
          for (const s of merged) {
            s.ids.forEach((id, l) => {
              const sq = s.seqs[l]!;
              if ((tomb.get(id) ?? -1) > sq || (bestOf.get(id)?.seq ?? -1) >= sq) return;
              bestOf.set(id, { id, seq: sq, vector: written.get(`${id}@${sq}`)!, metadata: null });
            });
          }
          const outside = state.segments.filter((s) => !merged.includes(s));
          const oldest = Math.min(...outside.map((s) => Math.min(...s.seqs)), Infinity);
          const tombstones = state.tombstones.filter((t) => t.seq >= oldest);
          const next: Segment[] = [...state.segments.slice(0, from)];
          if (bestOf.size > 0) next.push(await segments.seg([...bestOf.values()]));
          next.push(...state.segments.slice(to));
          state = { segments: next, tombstones, coversSeq: state.coversSeq };
        } else if (roll < 0.92 && history.length > 2) {
          // Roll back to an earlier state (decided in full).
          state = history[Math.floor(r() * history.length)]!;
        }
        view.install(state);
        history.push(state);
        check(view, state);
      }
    });
  }
});
