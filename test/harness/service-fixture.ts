/**
 * The vitest fixture for service tests: a nats-server and a cluster started in `beforeAll`
 * and stopped in `afterAll`. Kept apart from `services.ts`, which the benchmarks import
 * outside vitest (importing vitest there throws "Vitest failed to access its internal state").
 */
import { afterAll, beforeAll } from 'vitest';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { startCluster } from '../../dev/harness/services.ts';
import type { ServiceSpec, TestCluster } from '../../dev/harness/services.ts';

export interface ClusterFixture {
  readonly nats: NatsServerHandle;
  readonly cluster: TestCluster;
}

/**
 * Registers a `beforeAll` that starts a nats-server and the cluster, and an `afterAll` that
 * stops both; the returned fixture's fields are usable once `beforeAll` has run.
 */
export function useServiceCluster(regions: string[], specs: ServiceSpec[]): ClusterFixture {
  let nats: NatsServerHandle | undefined;
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
    cluster = await startCluster(nats.url, regions, specs);
  });
  afterAll(async () => {
    await cluster?.close();
    await nats?.stop();
  });
  const ready = <T>(x: T | undefined, what: string): T => {
    if (x === undefined)
      throw new Error(`${what} is not started (use it inside a test or a later hook)`);
    return x;
  };
  return {
    get nats() {
      return ready(nats, 'the nats-server');
    },
    get cluster() {
      return ready(cluster, 'the cluster');
    },
  };
}

/** The most common cluster: a primary us-east/p1 and a follower eu-west/f1. */
export function usePrimaryAndFollower(): ClusterFixture {
  return useServiceCluster(
    ['us-east', 'eu-west'],
    [
      { role: 'primary', region: 'us-east', node: 'p1' },
      { role: 'follower', region: 'eu-west', node: 'f1' },
    ],
  );
}
