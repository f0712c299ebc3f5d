/**
 * The vitest fixture of replication tests: a nats-server, a primary (us-east/p1) and,
 * when asked, a follower (eu-west/f1), started in `beforeAll` and stopped in `afterAll`.
 * A test file's own `beforeAll` registered after it runs after the cluster is up; its own
 * `afterAll` runs before the cluster stops.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Primary, Replica } from '../../sync/index.ts';
import { startFollower, startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';

type PrimaryOptions = Parameters<typeof startPrimary>[0];
type FollowerOptions = Parameters<typeof startFollower>[0];

export interface ReplicationFixture {
  readonly nats: NatsServerHandle;
  readonly primary: NodeHandle<Primary>;
  /** Throws when the fixture was asked for no follower. */
  readonly follower: NodeHandle<Replica>;
}

export function useReplicationCluster(
  o: {
    /** Overrides of the primary's options (region us-east, node p1, regions us-east and eu-west). */
    primary?: Partial<Omit<PrimaryOptions, 'natsUrl'>>;
    /** Start a follower (eu-west/f1), with these overrides when an object. */
    follower?: boolean | Partial<Omit<FollowerOptions, 'natsUrl'>>;
  } = {},
): ReplicationFixture {
  let nats: NatsServerHandle | undefined;
  let primary: NodeHandle<Primary> | undefined;
  let follower: NodeHandle<Replica> | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
    primary = await startPrimary({
      natsUrl: nats.url,
      region: 'us-east',
      node: 'p1',
      regions: ['us-east', 'eu-west'],
      ...o.primary,
    });
    if (o.follower) {
      const overrides = typeof o.follower === 'object' ? o.follower : {};
      follower = await startFollower({
        natsUrl: nats.url,
        region: 'eu-west',
        node: 'f1',
        ...overrides,
      });
    }
  });
  afterAll(() => stopAll([primary, follower], [nats]));
  const ready = <T>(x: T | undefined, what: string): T => {
    if (x === undefined)
      throw new Error(`${what} is not started (use it in a test or a later hook)`);
    return x;
  };
  return {
    get nats() {
      return ready(nats, 'the nats-server');
    },
    get primary() {
      return ready(primary, 'the primary');
    },
    get follower() {
      return ready(follower, 'the follower');
    },
  };
}
