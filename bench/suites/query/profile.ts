/**
 * A CPU profile of this process while `fn` runs (the V8 sampling profiler through
 * `node:inspector`), summarised three ways, each in µs per request: functions by self
 * time (with the nearest caller in this repository), areas (a package, one of our
 * folders, node internals, V8 buckets), and our own functions by inclusive time. Enough
 * to say whether JSON parsing, validation, auth hashing, a catalog read or the search
 * itself dominates a request, without leaving the benchmark.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { printTable, round } from '../../lib.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

interface Row {
  name: string;
  us_per_req: number;
  pct_of_wall: number;
}

/** Where the time of one request went in this process. */
export interface ProfileSummary {
  file: string;
  wall_ms: number;
  requests: number;
  /** Self time, with the nearest caller in this repository's code (`via`). */
  functions: Array<Row & { via: string }>;
  areas: Row[];
  /** Inclusive time of this repository's functions (a frame counted once per sample). */
  ours_inclusive: Row[];
}

/** Profiles this process while `fn` runs; `requests` says how many requests it served. */
export async function profileDuring<T>(
  fn: () => Promise<T>,
  requests: (value: T) => number,
  file: string,
  top = 15,
): Promise<{ value: T; summary: ProfileSummary }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let value: T;
  let profile: CpuProfile;
  try {
    value = await fn();
  } finally {
    profile = ((await session.post('Profiler.stop')) as { profile: CpuProfile }).profile;
    session.disconnect();
  }
  await writeFile(file, JSON.stringify(profile));
  const summary = summarise(profile, file, requests(value), top);
  console.log(`\nprofile written to ${file}`);
  printTable('profile: self time by function (this process)', summary.functions);
  printTable('profile: self time by area', summary.areas);
  printTable('profile: inclusive time of our functions', summary.ours_inclusive);
  return { value, summary };
}

const OURS = /\/(index|catalog|sync|services|clients)\//;
const isOurs = (url: string) => OURS.test(url) && !url.includes('node_modules');

function summarise(p: CpuProfile, file: string, requests: number, top: number): ProfileSummary {
  const wallUs = p.endTime - p.startTime;
  const usPerSample = wallUs / Math.max(1, p.samples.length);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (f: ProfileNode['callFrame']) =>
    `${f.functionName || '(anonymous)'}${f.url ? ` ${shorten(f.url)}` : ''}`;

  const self = new Map<string, { name: string; via: string; n: number }>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const id of p.samples) {
    const f = byId.get(id)!.callFrame;
    let via = '';
    const seen = new Set<string>();
    if (isOurs(f.url)) seen.add(label(f));
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const g = byId.get(at)!.callFrame;
      if (!isOurs(g.url)) continue;
      via ||= label(g);
      seen.add(label(g));
    }
    const key = `${label(f)}|${via}`;
    const e = self.get(key) ?? { name: label(f), via, n: 0 };
    e.n++;
    self.set(key, e);
    const area = areaOf(f);
    areas.set(area, (areas.get(area) ?? 0) + 1);
    for (const s of seen) inclusive.set(s, (inclusive.get(s) ?? 0) + 1);
  }
  const row = (name: string, n: number): Row => ({
    name,
    us_per_req: round((n * usPerSample) / Math.max(1, requests), 1),
    pct_of_wall: round(((n * usPerSample) / wallUs) * 100, 1),
  });
  const ranked = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, n]) => row(name, n));
  return {
    file,
    wall_ms: Math.round(wallUs / 1000),
    requests,
    functions: [...self.values()]
      .sort((a, b) => b.n - a.n)
      .slice(0, top)
      .map((e) => ({ ...row(e.name, e.n), via: e.via })),
    areas: ranked(areas),
    ours_inclusive: ranked(inclusive),
  };
}

function shorten(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const m = /\/(index|catalog|sync|services|clients|test|bench)\/.*$/.exec(url);
  return m ? m[0].slice(1) : url.replace(/^file:\/\//, '');
}

/** A package, one of our folders, node internals, or V8's own buckets ((idle), (gc), ...). */
function areaOf(f: ProfileNode['callFrame']): string {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : `native ${f.functionName}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (nm) return nm[1]!;
  if (f.url.startsWith('node:')) return 'node internals';
  const ours = /\/(index|catalog|sync|services|clients|test|bench)\//.exec(f.url);
  return ours ? `${ours[1]}/` : f.url;
}
