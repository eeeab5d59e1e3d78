export { clusterNames, keyToken, partitionOf, siteSlug, NO_PROJECT_PARTITION, type ClusterNames } from './names.ts';
export { connectCluster, ensureEventStream, ensureStream, type ClusterConnection, type EventStreamOptions, type NatsOptions } from './connect.ts';
export { FencedLease, type ClusterLogger, type FencedLeaseOptions, type LeaseRecord, type LeaseSnapshot, type LeaseTenure } from './fence.ts';
export { CLUSTER_FORMAT, FORMAT_HEADER, checkFormat } from './format.ts';
export { ClusterConnectError, ClusterFormatError, ClusterRecordError, LeaseLostError, type LeaseLossReason } from './errors.ts';
export { ClusterNode, type ClusterNodeParts, type PollerCandidate } from './node.ts';
export type { ClusterStatus, ClusterPluginStatus } from './status.ts';
export { PluginWorker, type HeldLease, type LeaseCampaign, type WorkerRole, type WorkerSnapshot } from './worker.ts';
export { freshCursor, workerCursorSchema, WorkerCursor, type WorkerCursorState, type PendingEvent } from './cursor.ts';
