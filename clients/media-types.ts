/**
 * Wire constants the SDK needs at run time. They are copies, not imports: a runtime import
 * of services/index.ts loads the whole server (hono, nats, SQLite, hnswlib; ~1.6 s under
 * tsx) into every process that only wants a client. `client.test.ts` checks each copy
 * against the services' own constant, and the types below check exhaustiveness at compile time.
 */
import type { ConsistencyLevel } from '../services/index.ts';

/** Content type of an Arrow IPC stream upload (services' `ARROW_STREAM`). */
export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

const levels: Record<ConsistencyLevel, null> = {
  strong: null,
  bounded: null,
  session: null,
  eventual: null,
};

/** Every consistency level (services' `ConsistencyLevels`), for validating user input. */
export const CONSISTENCY_LEVELS = Object.keys(levels) as ConsistencyLevel[];
