export { clusterNames, keyToken, partitionOf, siteSlug, NO_PROJECT_PARTITION, type ClusterNames } from './names.ts';
export { connectCluster, ensureEventStream, ensureStream, type ClusterConnection, type EventStreamOptions, type NatsOptions } from './connect.ts';
export { FencedLease, type ClusterLogger, type FencedLeaseOptions, type LeaseRecord, type LeaseSnapshot, type LeaseTenure } from './fence.ts';
export { CLUSTER_FORMAT, FORMAT_HEADER, checkFormat } from './format.ts';
export { ClusterConnectError, ClusterFormatError, ClusterRecordError, LeaseLostError, type LeaseLossReason } from './errors.ts';
export { ClusterPoller, EPOCH_HEADER, pollerStateSchema, wakePoller, type ClusterPollerOptions, type PollerState, type PollerStats } from './poller.ts';
