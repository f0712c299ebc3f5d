import { readFileSync } from 'node:fs';
import { z } from 'zod';

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);

/**
 * One file that describes a deployment's regions: each region's NATS server (the hub
 * in the primary region, a leaf node in its own JetStream domain elsewhere), its
 * follower and router, and the round-trip latency between regions (the link proxy's
 * matrix in a simulated cluster). `npm run demo`, the regions benchmark and
 * docker-compose.yml all follow it.
 */
export const TopologySchema = z.strictObject({
  regions: z
    .array(
      z.strictObject({
        name: Name,
        /** Exactly one region is the primary's: its NATS server is the hub. */
        primary: z.boolean().default(false),
        /** Ports on 127.0.0.1 (0 = any free port). */
        ports: z
          .strictObject({
            nats: z.number().int().min(0).max(65535).default(0),
            leafnodes: z.number().int().min(0).max(65535).default(0),
            primary: z.number().int().min(0).max(65535).default(0),
            follower: z.number().int().min(0).max(65535).default(0),
            router: z.number().int().min(0).max(65535).default(0),
          })
          .default({ nats: 0, leafnodes: 0, primary: 0, follower: 0, router: 0 }),
      }),
    )
    .min(1)
    .refine((rs) => rs.filter((r) => r.primary).length === 1, 'exactly one region must be primary')
    .refine(
      (rs) => new Set(rs.map((r) => r.name)).size === rs.length,
      'region names must be unique',
    ),
  /** Round trip in ms between two regions (symmetric; either order may be given). */
  rttMs: z.record(Name, z.record(Name, z.number().min(0))).default({}),
  /** Jitter (ms) added per chunk on every WAN link. */
  jitterMs: z.number().min(0).default(0),
  /** Bandwidth cap of every WAN link in MB/s (0 = unlimited). */
  bandwidthMBps: z.number().min(0).default(0),
});

export type Topology = z.infer<typeof TopologySchema>;
export type TopologyInput = z.input<typeof TopologySchema>;

export function parseTopology(input: unknown): Topology {
  const r = TopologySchema.safeParse(input);
  if (!r.success) {
    throw new Error(
      `invalid topology: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  for (const [a, row] of Object.entries(r.data.rttMs)) {
    for (const b of Object.keys(row)) {
      if (!r.data.regions.some((x) => x.name === a) || !r.data.regions.some((x) => x.name === b)) {
        throw new Error(`invalid topology: rttMs names an unknown region (${a} → ${b})`);
      }
    }
  }
  return r.data;
}

export function loadTopology(file: string): Topology {
  return parseTopology(JSON.parse(readFileSync(file, 'utf8')));
}

/** Round trip between two regions (0 within a region). */
export function rttBetween(t: Topology, a: string, b: string): number {
  if (a === b) return 0;
  return t.rttMs[a]?.[b] ?? t.rttMs[b]?.[a] ?? 0;
}

/** The demo's three regions: us-east (primary), eu-west, ap-south. */
export const demoTopology: TopologyInput = {
  regions: [{ name: 'us-east', primary: true }, { name: 'eu-west' }, { name: 'ap-south' }],
  rttMs: { 'us-east': { 'eu-west': 80, 'ap-south': 220 }, 'eu-west': { 'ap-south': 150 } },
  jitterMs: 2,
};

/** Every pair's round trip (ms), as a nested record: `m[a][b]`. */
export function rttMatrix(t: Topology): Record<string, Record<string, number>> {
  const names = t.regions.map((r) => r.name);
  return Object.fromEntries(
    names.map((a) => [a, Object.fromEntries(names.map((b) => [b, rttBetween(t, a, b)]))]),
  );
}
