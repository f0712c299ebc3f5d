/**
 * clients/ — how applications and operators talk to Meridian. `MeridianClient` is the SDK:
 * typed calls over fetch for collections, writes (JSON or Arrow), consistency-aware queries
 * and region status, which keeps its session token so a client reads its own writes, and
 * retries transient failures without ever storing a write twice. The `meridian` CLI
 * (`cli/`) is built on it: push vector files, query, show region status, and run a node.
 */
export { MeridianClient } from './client.ts';
export { SessionToken } from './session.ts';
export {
  MeridianError,
  MeridianNetworkError,
  isMeridianError,
  isNotFound,
  isAuthError,
  isBadRequest,
  isTransient,
} from './errors.ts';
export type * from './types.ts';
