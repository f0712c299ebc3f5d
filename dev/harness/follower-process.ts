/**
 * A follower in its own process, for tests that kill it with SIGKILL or must prove what
 * it did not do (build a graph). Configured by MERIDIAN_TEST_FOLLOWER (JSON):
 * `{ natsUrl, dataDir, region, node, crashAt?: { stage, version, chunk? } }`.
 *
 * Prints one JSON line per event on stdout: `recovered` (after loading the data directory,
 * before following the streams), `ready`, `stage`, `status`, `result`.
 * Reads JSON commands on stdin: `{cmd:"status"}`, `{cmd:"query", collection, vector, k}`.
 * With `crashAt`, it SIGKILLs itself at that apply stage of that manifest version
 * (`stage: "fetch-chunk"` with `chunk` kills after that chunk of the first segment fetched;
 * `stage: "wal"` with `seq` kills once a WAL batch reaching that seq is stored and applied).
 */
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { indexStats } from '../../index/index.ts';
import { openCatalog } from '../../catalog/index.ts';
import { Replica, connectNats, ensureStreams } from '../../sync/index.ts';

interface Config {
  natsUrl: string;
  dataDir: string;
  region: string;
  node: string;
  crashAt?: { stage: string; version?: number; chunk?: number; seq?: number };
}

const cfg = JSON.parse(process.env.MERIDIAN_TEST_FOLLOWER ?? '{}') as Config;
const say = (event: string, body: Record<string, unknown> = {}) =>
  process.stdout.write(JSON.stringify({ event, ...body }) + '\n');
const die = () => process.kill(process.pid, 'SIGKILL');

const catalog = openCatalog(join(cfg.dataDir, 'catalog.db'));
const link = await connectNats({ servers: cfg.natsUrl, name: `${cfg.region}/${cfg.node}` });
await ensureStreams(link.jsm);

/** What the replica holds; counts are read from each view after every write applied so far. */
async function status() {
  await Promise.all(replica.views.all().map((s) => s.view.stats()));
  const names = [...new Set(replica.views.all().map((s) => s.settings.name))];
  return {
    appliedSeq: replica.appliedSeq,
    // The active generation of each collection, as the views serve it and as the catalog says.
    activeServed: Object.fromEntries(
      names.map((c) => [c, replica.served(c)?.generation.model ?? null]),
    ),
    activeInCatalog: Object.fromEntries(
      names.map((c) => [
        c,
        catalog.listGenerations(c).find((g) => g.state === 'active')?.model ?? null,
      ]),
    ),
    builds: indexStats().builds,
    collections: replica.views.all().map((s) => {
      const m = catalog.appliedManifest(s.settings.name, s.generation.model);
      return {
        collection: s.settings.name,
        generation: s.generation.model,
        viewVersion: s.version,
        viewDigests: s.digests,
        catalogVersion: m?.version ?? 0,
        catalogDigests: m?.segments.map((x) => x.digest) ?? [],
        points: s.view.lastStats.points,
        error: s.error,
      };
    }),
  };
}

const replica = new Replica({
  link,
  catalog,
  dataDir: cfg.dataDir,
  region: cfg.region,
  node: cfg.node,
  heartbeatMs: 200,
  retryMs: 100,
  hooks: {
    onStage: (stage, m) => {
      say('stage', { stage, version: m.version });
      if (cfg.crashAt && cfg.crashAt.stage === stage && cfg.crashAt.version === m.version) die();
    },
    afterWalBatch: (lastSeq) => {
      const c = cfg.crashAt;
      if (c && c.stage === 'wal' && c.seq !== undefined && lastSeq >= c.seq) die();
    },
    onFetchChunk: (_digest, index) => {
      const c = cfg.crashAt;
      if (c && c.stage === 'fetch-chunk' && index === c.chunk) die();
    },
  },
});

await replica.recover();
say('recovered', await status());
await replica.follow();
say('ready', await status());

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as {
    cmd: string;
    collection?: string;
    vector?: number[];
    k?: number;
  };
  if (cmd.cmd === 'status') void status().then((s) => say('status', s));
  if (cmd.cmd === 'query') {
    void (async () => {
      const view = replica.served(cmd.collection!)?.view;
      const hits = view ? await view.search(cmd.vector!, { k: cmd.k ?? 10 }) : [];
      say('result', { hits: hits.map((h) => ({ id: h.id, score: h.score })) });
    })();
  }
  if (cmd.cmd === 'stop') {
    void replica.stop().then(async () => {
      await link.close();
      catalog.close();
      process.exit(0);
    });
  }
});
