/**
 * Measures the applyManifest transaction for a manifest of 10 segments and 100
 * tombstones on a real temp file, against a one-row transaction (setAppliedSeq) as the
 * baseline. Run: `npx tsx bench/measure-apply.ts [rounds]`. Figures go into
 * docs/decisions/0002-catalog-sqlite.md; this is not a test and asserts nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCatalog } from '../catalog/catalog.ts';
import { digest, seedDocs } from '../catalog/fixtures.ts';
import type { Manifest } from '../catalog/types.ts';

const rounds = Number(process.argv[2] ?? 500);
const G = 'minilm-l6@2';

/** Version v: 9 segments shared with v-1 plus one new one, as after a seal. */
function manifestAt(v: number): Manifest {
  const segments = Array.from({ length: 10 }, (_, i) => {
    const n = v + i;
    return {
      digest: digest(n),
      count: 1000,
      minSeq: n * 1000,
      maxSeq: n * 1000 + 999,
      bytes: 1 << 20,
    };
  });
  const tombstones = Array.from({ length: 100 }, (_, i) => ({
    id: `p-${v}-${i}`,
    seq: v * 1000 + i,
  }));
  return {
    collection: 'docs',
    generation: G,
    version: v,
    segments,
    tombstones,
    coversSeq: (v + 10) * 1000,
    createdAt: new Date().toISOString(),
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function time(fn: () => unknown): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const dir = mkdtempSync(join(tmpdir(), 'meridian-measure-'));
try {
  const catalog = openCatalog(join(dir, 'catalog.db'));
  seedDocs(catalog);
  const apply: number[] = [];
  const duplicate: number[] = [];
  const oneRow: number[] = [];
  for (let v = 1; v <= rounds; v++) {
    const m = manifestAt(v);
    apply.push(time(() => catalog.applyManifest(m)));
    duplicate.push(time(() => catalog.applyManifest(m)));
    oneRow.push(time(() => catalog.setAppliedSeq('docs', G, (v + 10) * 1000 + 1)));
  }
  catalog.close();
  const rows = [
    ['applyManifest (10 segments, 100 tombstones)', apply],
    ['same manifest redelivered (duplicate)', duplicate],
    ['setAppliedSeq (one-row transaction)', oneRow],
  ] as const;
  const base = pct(
    [...oneRow].sort((a, b) => a - b),
    50,
  );
  console.log(`rounds=${rounds} node=${process.version}`);
  for (const [name, xs] of rows) {
    const s = [...xs].sort((a, b) => a - b);
    const p50 = pct(s, 50);
    console.log(
      `${name.padEnd(46)} p50 ${p50.toFixed(3)} ms  p95 ${pct(s, 95).toFixed(3)} ms  ${(p50 / base).toFixed(1)}x one-row`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
