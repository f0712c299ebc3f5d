import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Roles } from './http/auth.ts';

const Token = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'letters, digits, _ and - only');

export const ServiceConfigSchema = z.strictObject({
  role: z.enum(['primary', 'follower', 'router']),
  region: Token,
  node: Token,
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .default({ host: '127.0.0.1', port: 8080 }),
  /** How other nodes reach this one (default: http://host:port once listening). */
  publicUrl: z.string().url().optional(),
  dataDir: z.string().optional(),
  nats: z
    .strictObject({
      servers: z.union([z.string(), z.array(z.string()).min(1)]).default('nats://127.0.0.1:4222'),
      user: z.string().optional(),
      pass: z.string().optional(),
      token: z.string().optional(),
      domain: z.string().optional(),
      /**
       * Set in a follower region: the JetStream domain of the hub. This region's server is
       * a leaf node holding mirrors of the hub's streams, which this node creates if missing.
       */
      hubDomain: z.string().optional(),
    })
    .default({ servers: 'nats://127.0.0.1:4222' }),
  /** Every region of the deployment (the primary waits on them for `sync` acks). */
  regions: z.array(Token).optional(),
  auth: z.strictObject({
    keys: z
      .array(
        z.strictObject({
          key: z.string().min(16),
          role: z.enum(Roles),
          name: z.string().optional(),
        }),
      )
      .min(1),
  }),
  /** Signs session tokens; every node and router of a deployment must share it. */
  tokenSecret: z.string().min(16),
  limits: z
    .strictObject({
      maxBodyBytes: z
        .number()
        .int()
        .min(1024)
        .default(32 * 1024 * 1024),
      /**
       * On the primary: points per second that writes to staging generations (backfills)
       * may take, over all collections; unset: unlimited. Writes to active generations are
       * never paced.
       */
      backfillPointsPerSecond: z.number().int().min(1).optional(),
    })
    .default({ maxBodyBytes: 32 * 1024 * 1024 }),
  query: z
    .strictObject({
      defaultWaitMs: z.number().int().min(0).default(1_000),
      /**
       * Worker threads that run searches beside the event loop, each holding a mirror of
       * every served view (memory × 1 + threads); 0 searches on the event loop (ADR 0012).
       */
      searchThreads: z.number().int().min(0).max(64).default(1),
    })
    .default({ defaultWaitMs: 1_000, searchThreads: 1 }),
  seal: z
    .strictObject({
      maxPoints: z.number().int().min(1).optional(),
      maxAgeMs: z.number().int().min(1).optional(),
      compactAbove: z.number().int().min(1).optional(),
      mergeFactor: z.number().int().min(2).max(64).optional(),
      tombstoneRatio: z.number().gt(0).max(1).optional(),
      stallAt: z.number().int().min(1).optional(),
    })
    .default({}),
  heartbeatMs: z.number().int().min(10).default(1_000),
  beaconMs: z.number().int().min(10).default(250),
  ackTimeoutMs: z.number().int().min(0).default(5_000),
  /**
   * The primary lease's life without renewal (ms): a second primary is refused while the
   * first renews it; a crashed primary's successor takes it at most this long after.
   */
  leaseTtlMs: z.number().int().min(200).max(300_000).default(5_000),
  router: z
    .strictObject({
      /** Run this region's replica inside the router, so a local read costs no extra hop. */
      hostReplica: z.boolean().default(true),
      probeIntervalMs: z.number().int().min(50).default(1_000),
      /** Send a slow eventual/bounded query to the second-best replica too after this many ms (0 = off). */
      hedgeAfterMs: z.number().int().min(0).default(0),
      /** Where writes go; default: the URL the primary announces on STATE. */
      primaryUrl: z.string().url().optional(),
      /**
       * How this router reaches a replica, by "region/node", when not at the URL the replica
       * announces (a simulated WAN link proxy, a NAT, a service mesh).
       */
      urlOverrides: z.record(z.string(), z.string().url()).default({}),
    })
    .default({ hostReplica: true, probeIntervalMs: 1_000, hedgeAfterMs: 0, urlOverrides: {} }),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
});

export type ServiceConfig = Readonly<z.infer<typeof ServiceConfigSchema>>;
export type ServiceConfigInput = z.input<typeof ServiceConfigSchema>;

/** Environment variables a deployment may set, and where each goes in the config. */
const envMap: Record<string, (v: string, c: Record<string, unknown>) => void> = {
  MERIDIAN_ROLE: (v, c) => (c.role = v),
  MERIDIAN_REGION: (v, c) => (c.region = v),
  MERIDIAN_NODE: (v, c) => (c.node = v),
  MERIDIAN_HTTP_HOST: (v, c) => (obj(c, 'http').host = v),
  MERIDIAN_HTTP_PORT: (v, c) => (obj(c, 'http').port = Number(v)),
  MERIDIAN_PUBLIC_URL: (v, c) => (c.publicUrl = v),
  MERIDIAN_DATA_DIR: (v, c) => (c.dataDir = v),
  MERIDIAN_NATS_URL: (v, c) => (obj(c, 'nats').servers = v.split(',')),
  MERIDIAN_NATS_USER: (v, c) => (obj(c, 'nats').user = v),
  MERIDIAN_NATS_PASS: (v, c) => (obj(c, 'nats').pass = v),
  MERIDIAN_NATS_TOKEN: (v, c) => (obj(c, 'nats').token = v),
  MERIDIAN_NATS_DOMAIN: (v, c) => (obj(c, 'nats').domain = v),
  MERIDIAN_NATS_HUB_DOMAIN: (v, c) => (obj(c, 'nats').hubDomain = v),
  MERIDIAN_REGIONS: (v, c) => (c.regions = v.split(',')),
  // role:key pairs, comma separated: "admin:abc...,read:def..."
  MERIDIAN_API_KEYS: (v, c) =>
    (c.auth = {
      keys: v.split(',').map((pair) => {
        const i = pair.indexOf(':');
        return { role: pair.slice(0, i), key: pair.slice(i + 1) };
      }),
    }),
  MERIDIAN_TOKEN_SECRET: (v, c) => (c.tokenSecret = v),
  MERIDIAN_LOG_LEVEL: (v, c) => (obj(c, 'log').level = v),
  MERIDIAN_SEARCH_THREADS: (v, c) => (obj(c, 'query').searchThreads = Number(v)),
  MERIDIAN_LEASE_TTL_MS: (v, c) => (c.leaseTtlMs = Number(v)),
  MERIDIAN_PRIMARY_URL: (v, c) => (obj(c, 'router').primaryUrl = v),
};

function obj(c: Record<string, unknown>, key: string): Record<string, unknown> {
  const cur = c[key];
  if (cur && typeof cur === 'object') return cur as Record<string, unknown>;
  const fresh: Record<string, unknown> = {};
  c[key] = fresh;
  return fresh;
}

/**
 * Loads a service's configuration: typed defaults, then the optional JSON file, then
 * `MERIDIAN_*` environment variables, then explicit overrides; validated once and frozen.
 * The only place that reads the environment. Errors name each bad field.
 */
export function loadConfig(opts: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Partial<ServiceConfigInput>;
}): ServiceConfig {
  const raw: Record<string, unknown> = opts.file
    ? (JSON.parse(readFileSync(opts.file, 'utf8')) as Record<string, unknown>)
    : {};
  const env = opts.env ?? process.env;
  for (const [name, apply] of Object.entries(envMap)) {
    const v = env[name];
    if (v !== undefined && v !== '') apply(v, raw);
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) if (v !== undefined) raw[k] = v;
  const r = ServiceConfigSchema.safeParse(raw);
  if (!r.success) {
    const why = r.error.issues
      .map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`)
      .join('; ');
    throw new Error(`invalid Meridian configuration${opts.file ? ` in ${opts.file}` : ''}: ${why}`);
  }
  return Object.freeze(r.data);
}
