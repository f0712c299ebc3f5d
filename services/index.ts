/**
 * services/ — the runnable processes: primary, follower and router, each a Hono app on
 * @hono/node-server around the sync/ nodes, with configuration (defaults → file → env),
 * API-key auth, structured logs (pino), Prometheus metrics, and one error table. The
 * router sends each query to the nearest replica fresh enough for its consistency level.
 */
export { startNode, closeIndexWorkers } from './node.ts';
export type { RunningNode } from './node.ts';
export { loadConfig, ServiceConfigSchema } from './config.ts';
export type { ServiceConfig, ServiceConfigInput } from './config.ts';
export * from './api.ts';
export { TokenCodec } from './tokens.ts';
export { ApiError, ApiErrorCodes, toHttpError } from './http/errors.ts';
export type { ApiErrorCode } from './http/errors.ts';
export { Roles } from './http/auth.ts';
export type { Role, ApiKey } from './http/auth.ts';
export { ARROW_STREAM } from './endpoints/points.ts';
