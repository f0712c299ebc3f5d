/**
 * sync/ — replication over NATS JetStream. The data plane: the WAL (writes, with their
 * global seq), segment bytes shipped as chunk messages, manifests published under a
 * fence, replicas that apply manifests atomically and follow the WAL into their
 * memtables, heartbeats and the primary's commit position. The control plane
 * (`ensureStreams`) is kept apart. The `nats` package is used only inside this folder.
 */
export * from './types.ts';
export * from './errors.ts';
export { Buckets, Streams, Subjects } from './subjects.ts';
export { connectNats } from './connection.ts';
export type { NatsLink, NatsOptions } from './connection.ts';
export { ensureStreams, streamConfigs, defaultStreamOptions } from './streams.ts';
export type { StreamOptions } from './streams.ts';
export { encodeWalEntry, decodeWalEntry } from './wal-codec.ts';
export type { WalEntry, SeqWalEntry } from './wal-codec.ts';
export {
  publishCollectionDef,
  publishManifest,
  lastManifest,
  lastCollectionDef,
} from './catalog-stream.ts';
export { uploadSegment } from './segment-upload.ts';
export { fetchSegment } from './segment-fetch.ts';
export { Replica } from './replica/replica.ts';
export type { ReplicaOptions } from './replica/replica.ts';
export { ApplyStages } from './replica/manifest-applier.ts';
export type { ApplyStage, ApplyHooksOptions } from './replica/manifest-applier.ts';
export type { ServedGeneration } from './replica/views.ts';
export { coverageOf } from './replica/coverage.ts';
export type { Coverage } from './replica/coverage.ts';
export { Primary } from './primary/primary.ts';
export type { PrimaryOptions, AppendOptions, WriteResult } from './primary/primary.ts';
export type { ActivationStatus, RegionWait } from './primary/activation-tasks.ts';
export type {
  Activation,
  ActivateOptions,
  ActivationPolicy,
  GroupActivation,
  RegionProgress,
} from './primary/generations.ts';
export { defaultSealPolicy } from './primary/sealer.ts';
export type { SealPolicy } from './primary/sealer.ts';
export { StalenessEstimator } from './staleness.ts';
export { ClusterState } from './cluster-state.ts';
export type { KnownReplica } from './cluster-state.ts';
export { serveCommitPosition, requestCommitPosition } from './commit-position.ts';
export { ensureMirrors } from './mirrors.ts';
export { leafLayout } from './layout.ts';
export type { StreamLayout } from './layout.ts';
