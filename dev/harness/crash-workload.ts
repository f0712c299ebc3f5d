/**
 * The workload of the crash tests and the replication bench's crash section (issue 11): a
 * writer of single points, the consistency checker's client, and rounds that pause
 * (SIGSTOP), kill (SIGKILL) and restart a follower while strong and session reads by id
 * name the writes around the pause. Pure HTTP against whatever processes the caller runs.
 */
import { TokenCodec } from '../../services/index.ts';
import { HistoryRecorder } from './consistency-checker.ts';
import type { HistoryRecord } from './consistency-checker.ts';
import { seededRandom } from './datasets.ts';
import { startProcess } from './processes.ts';
import type { ServiceProcess } from './processes.ts';
import { TEST_KEYS, TEST_TOKEN_SECRET, http } from './services.ts';

export interface Acked {
  id: string;
  seq: number;
  at: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Single-point writes (ack async) from `clients` clients (3: about 300 a second), until stopped. */
export function startWriter(
  url: () => string,
  collection: string,
  key: string = TEST_KEYS.write,
  clients = 3,
) {
  const acked: Acked[] = [];
  let n = 0;
  let running = true;
  const client = async () => {
    while (running) {
      const id = `w${n++}`;
      const res = await http(
        `${url()}/v1/collections/${collection}/points`,
        'POST',
        { points: [{ id, vector: [n % 97, n % 13, 1, 2] }], ack: 'async' },
        key,
      ).catch(() => null);
      if (res && (res.status === 200 || res.status === 202)) {
        acked.push({ id, seq: res.body.seq as number, at: Date.now() });
      }
      await sleep(res?.status === 200 ? 8 : 30);
    }
  };
  const done = Promise.all(Array.from({ length: clients }, () => client()));
  return {
    acked,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** The acknowledged ids a node lacks, read by id at a level (in batches). */
export async function missingOn(
  url: string,
  collection: string,
  ids: string[],
  level: 'eventual' | 'strong',
  key: string = TEST_KEYS.read,
): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += 1_000) {
    const res = await http(
      `${url}/v1/collections/${collection}/points/get`,
      'POST',
      { ids: ids.slice(i, i + 1_000), consistency: level },
      key,
    );
    if (res.status !== 200)
      throw new Error(`read by id answered ${res.status}: ${JSON.stringify(res.body)}`);
    missing.push(...(res.body.missing as string[]));
  }
  return missing;
}

/**
 * The consistency checker's workload (consistency-checker.ts): 20 ids with fixed vectors,
 * tagged upserts and deletes on the primary, and k=1 strong and session reads on the
 * follower — whatever process holds its name now. `stop()` returns the history.
 */
export function startCheckerClient(
  primaryUrl: () => string,
  followerUrl: () => string,
  collection: string,
) {
  const rec = new HistoryRecorder({ clock: Date.now });
  const tokens = new TokenCodec(TEST_TOKEN_SECRET);
  const rand = seededRandom(5);
  const vectors = Array.from({ length: 20 }, (_, i) => [i * 10, 3, 1, 1]);
  let running = true;
  let token: string | undefined;
  let n = 0;
  const loop = async () => {
    while (running) {
      const idx = Math.floor(rand() * 20);
      const id = `x${idx}`;
      const start = rec.now();
      if (rand() < 0.3) {
        const tag = `t${n++}`;
        const del = rand() < 0.2;
        const res = await http(
          `${primaryUrl()}/v1/collections/${collection}/points${del ? '/delete' : ''}`,
          'POST',
          del ? { ids: [id] } : { points: [{ id, vector: vectors[idx], metadata: { tag } }] },
          TEST_KEYS.write,
        ).catch(() => null);
        const acked = res !== null && (res.status === 200 || res.status === 202);
        if (acked) token = res.body.token;
        rec.write({ client: 'c', id, op: del ? 'delete' : 'upsert', tag, start, acked, ...(acked ? { seq: res.body.seq } : {}) }); // prettier-ignore
      } else {
        const level = rand() < 0.5 ? 'strong' : 'session';
        const sent = token;
        const res = await http(
          `${followerUrl()}/v1/collections/${collection}/query`,
          'POST',
          { vector: vectors[idx], k: 1, consistency: level, ...(sent ? { token: sent } : {}) },
          TEST_KEYS.read,
        ).catch(() => null);
        const ok = res?.status === 200;
        const hit = ok ? res!.body.results[0] : undefined;
        if (ok) token = res!.body.token;
        rec.read({
          client: 'c',
          id,
          level,
          start,
          ok,
          observedTag: hit && hit.id === id ? (hit.metadata?.tag ?? null) : null,
          region: ok ? res!.body.region : 'none',
          appliedSeq: ok ? res!.body.appliedSeq : 0,
          stalenessMs: ok ? res!.body.stalenessMs : 0,
          ...(sent && level === 'session' ? { tokenSeq: tokens.decode(sent) } : {}),
        });
      }
      await sleep(5);
    }
  };
  const done = loop();
  return {
    /** Reads at `level` answered so far (what the checker will have to check). */
    served(level: 'strong' | 'session'): number {
      return rec.records().filter((r) => r.type === 'read' && r.ok && r.level === level).length;
    },
    async stop(): Promise<HistoryRecord[]> {
      running = false;
      await done;
      return rec.records();
    },
  };
}

/** A follower process the rounds can pause, kill and restart (it keeps its name and data). */
export interface CrashTarget {
  url(): string;
  pause(): void;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/** A service process as a crash target: each restart reuses its spec (name, data dir, port). */
export function processTarget(first: ServiceProcess): CrashTarget & { current(): ServiceProcess } {
  let p = first;
  return {
    current: () => p,
    url: () => p.url,
    pause: () => p.pause(),
    kill: () => p.kill(),
    restart: async () => {
      p = await startProcess(p.spec);
    },
  };
}

export interface CrashRoundsResult {
  rounds: number;
  reads: number;
  /** Reads that reported a position while missing a named write at or below it. */
  staleReads: number;
  /** The most acknowledged writes at or below a reported position missing from one answer. */
  maxGapEntries: number;
  /** Per round: restart (ready) → the follower's position at the primary's commit, ms. */
  recoveryMs: number[];
  /** Per round: kill → the restarted process ready, ms. */
  restartMs: number[];
  /** What went wrong, one line per stale read or backward position. */
  details: string[];
}

/**
 * `rounds` times: wait, pause the follower for 0.1–1.5 s, kill it, restart it; then for
 * 1.5 s ask strong and session reads by id naming the writes acknowledged from just
 * before the pause on: whatever position an answer reports, every named write at or
 * below it must be in it, and a process's reported position never goes back.
 */
export async function crashRounds(o: {
  rounds: number;
  seed: number;
  primaryUrl: () => string;
  collection: string;
  writer: { acked: Acked[] };
  target: CrashTarget;
  /** The API key reads use (default the test read key). */
  key?: string;
  /** Keep reading after the read window until the follower reaches the primary (bench: recovery_ms). */
  measureRecovery?: boolean;
  /** How long after each restart the reads go on (default 1 500 ms). */
  readMs?: number;
}): Promise<CrashRoundsResult> {
  const key = o.key ?? TEST_KEYS.read;
  const rand = seededRandom(o.seed);
  const out: CrashRoundsResult = {
    rounds: o.rounds,
    reads: 0,
    staleReads: 0,
    maxGapEntries: 0,
    recoveryMs: [],
    restartMs: [],
    details: [],
  };
  const path = `/v1/collections/${o.collection}/points/get`;
  for (let round = 0; round < o.rounds; round++) {
    await sleep(100 + rand() * 300);
    // What was in flight to the follower when it stopped was acknowledged just before.
    const pausedAt = Math.max(0, o.writer.acked.length - 300);
    o.target.pause();
    await sleep(100 + rand() * 1_400);
    const killed = Date.now();
    await o.target.kill();
    await o.target.restart();
    const restarted = Date.now();
    out.restartMs.push(restarted - killed);
    let recovered = false;
    const until = Date.now() + (o.readMs ?? 1_500);
    let lastAt = 0;
    while (Date.now() < until || (o.measureRecovery && !recovered)) {
      if (Date.now() - restarted > 30_000) break;
      const since = o.writer.acked.slice(pausedAt);
      if (since.length === 0) {
        await sleep(20);
        continue;
      }
      const named = since.slice(-1_000);
      // A token at the primary's commit position (its answers reflect what it committed).
      const atPrimary = await http(
        `${o.primaryUrl()}${path}`,
        'POST',
        { ids: [named[0]!.id] },
        key,
      );
      for (const level of ['strong', 'session'] as const) {
        const res = await http(
          `${o.target.url()}${path}`,
          'POST',
          { ids: named.map((w) => w.id), consistency: level, ...(level === 'session' ? { token: atPrimary.body.token } : {}) }, // prettier-ignore
          key,
        ).catch(() => null);
        if (res?.status !== 200) continue; // a 503 is an honest refusal
        out.reads++;
        const at = res.body.appliedSeq as number;
        if (at < lastAt) out.details.push(`round ${round}: position went back ${lastAt} -> ${at}`);
        lastAt = Math.max(lastAt, at);
        const gone = new Set(res.body.missing as string[]);
        const holes = named.filter((w) => w.seq <= at && gone.has(w.id));
        out.maxGapEntries = Math.max(out.maxGapEntries, holes.length);
        if (holes.length > 0) {
          out.staleReads++;
          out.details.push(`round ${round} ${level}: at ${at}, missing ${holes.length} (e.g. ${holes[0]!.id}@${holes[0]!.seq})`); // prettier-ignore
        }
        if (!recovered && at >= (atPrimary.body.appliedSeq as number)) {
          recovered = true;
          out.recoveryMs.push(Date.now() - restarted);
        }
      }
    }
  }
  return out;
}
