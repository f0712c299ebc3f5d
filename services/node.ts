import { closeIndexWorkers } from '../index/index.ts';
import { errorMessage } from '../sync/index.ts';
import type { ClusterState, Primary, Replica } from '../sync/index.ts';
import type { ServiceConfig } from './config.ts';
import type { Logger } from './http/logger.ts';
import { openFoundation } from './roles/foundation.ts';
import type { Foundation, StartOptions } from './roles/foundation.ts';
import { startFollower } from './roles/follower.ts';
import { startPrimary } from './roles/primary.ts';
import type { Role, RoleName } from './roles/role.ts';
import { startRouter } from './roles/router.ts';

/** A running Meridian service. */
export interface RunningNode {
  /** Its configuration; `role` is the role it plays now. */
  readonly config: ServiceConfig;
  /** Base URL it answers on. */
  readonly url: string;
  readonly logger: Logger;
  /** Set while it is the primary. */
  readonly primary: Primary | null;
  /** The replica in this process (primary, follower, or one hosted by a router). */
  readonly replica: Replica | null;
  readonly state: ClusterState;
  /**
   * Stops the role it plays and starts `to` in the same process, on the same listener,
   * NATS connection and data directory (decision 0018): the seam failover uses. Requests
   * meanwhile are answered 503 `starting`. A primary's start is refused (`not_primary`)
   * while another primary holds the lease; the node then stays not ready, and the call may
   * be repeated. Routers do not change role.
   */
  changeRole(to: 'primary' | 'follower'): Promise<void>;
  /** Graceful stop: finish in-flight requests, drain consumers, close the database. Idempotent. */
  stop(): Promise<void>;
}

const starters: Record<RoleName, (f: Foundation, o: StartOptions) => Role> = {
  primary: startPrimary,
  follower: startFollower,
  router: startRouter,
};

/**
 * Starts a primary, follower or router from its configuration: listens first (so the
 * URL it announces is known), then opens the catalog, connects to its region's NATS,
 * starts the role and only then reports ready on `/readyz`; until then every request is
 * answered 503 by its gate. `options.signal` aborts a start in progress (a SIGTERM during
 * start-up): what was started is stopped and the call rejects.
 */
export async function startNode(
  config: ServiceConfig,
  options: StartOptions = {},
): Promise<RunningNode> {
  const aborted = () => {
    if (options.signal?.aborted) throw new Error('start-up aborted (stop requested)');
  };
  const hostsReplica = config.role !== 'router' || config.router.hostReplica;
  const f = await openFoundation(config, options, hostsReplica);
  let role = starters[config.role](f, options);
  f.listener.use(role);
  // A stop asked during start-up stops what is starting; its start then rejects.
  const onAbort = () => void role.stop().catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    aborted();
    await f.state.start();
    await role.start();
    aborted();
  } catch (err) {
    // Its view threads end only once their loads in flight are done (never terminated).
    await role.stop().catch(() => undefined);
    f.state.stop();
    await f.close();
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  f.gate.open();
  f.logger.info({ url: f.url, dataDir: f.dataDir, role: role.name }, 'meridian node ready');

  // Role changes never take the start's abort signal: it belongs to the first start.
  const { signal: _signal, ...later } = options;
  let changing: Promise<void> = Promise.resolve();
  /** False while a role change's start has failed: the same change may be asked again. */
  let started = true;
  let stopping: Promise<void> | null = null;
  return {
    get config() {
      return { ...config, role: role.name };
    },
    url: f.url,
    logger: f.logger,
    get primary() {
      return role.primary;
    },
    get replica() {
      return role.replica;
    },
    state: f.state,
    changeRole(to) {
      const change = async () => {
        if (stopping) throw new Error('the node is stopping');
        if (role.name === to && started) return;
        if (role.name === 'router') throw new Error('a router does not change role');
        const from = role.name;
        f.gate.starting(`the node is changing role (${from} -> ${to})`);
        f.logger.info({ from, to }, 'changing role');
        started = false;
        await role.stop();
        role = starters[to](f, later);
        f.listener.use(role);
        try {
          await role.start();
        } catch (err) {
          f.gate.starting(
            `the change to ${to} failed (${errorMessage(err)}); it may be asked again`,
          );
          throw err;
        }
        started = true;
        f.gate.open();
        f.logger.info({ from, to }, 'role changed');
      };
      changing = changing.catch(() => undefined).then(change);
      return changing;
    },
    stop() {
      stopping ??= (async () => {
        await changing.catch(() => undefined);
        f.gate.stopping();
        await f.listener.close();
        f.state.stop();
        await role.stop();
        await f.link.close();
        f.catalog?.close();
        f.logger.info('meridian node stopped');
      })();
      return stopping;
    },
  };
}

/** Stops the shared index worker threads once no node in this process needs them. */
export { closeIndexWorkers };
