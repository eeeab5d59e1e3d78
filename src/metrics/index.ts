export { DaemonMetrics } from './daemon-metrics.ts';
export { pollAgeMs } from './poll-age.ts';
export type { CallbackObservation, MetricsStatus, DaemonMetricsOptions } from './daemon-metrics.ts';
