/**
 * Small helpers shared by the benchmark suites: flags, percentiles, a printed table and
 * the JSON result file. Benchmarks measure; tests never time anything.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';

export interface BenchFlags {
  quick: boolean;
  out: string | null;
  rest: string[];
}

export function parseBenchFlags(argv: string[]): BenchFlags {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean', default: false }, out: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  return { quick: values.quick ?? false, out: values.out ?? null, rest: positionals };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function latencySummary(samplesMs: number[]): { p50_ms: number; p99_ms: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { p50_ms: round(percentile(s, 50), 3), p99_ms: round(percentile(s, 99), 3) };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function printTable(title: string, rows: object[]): void {
  console.log(`\n${title}`);
  console.table(rows);
}

export async function writeResult(out: string | null, result: unknown): Promise<void> {
  const json = JSON.stringify(result, null, 2);
  if (out) {
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, json + '\n');
    console.log(`\nwrote ${out}`);
  } else {
    console.log(json);
  }
}

/** Machine facts stored with every result, so figures are read with their context. */
export async function machineInfo(): Promise<Record<string, unknown>> {
  const os = await import('node:os');
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    date: new Date().toISOString(),
  };
}
