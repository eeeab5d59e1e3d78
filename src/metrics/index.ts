export { DaemonMetrics, pollAgeMs } from './daemon-metrics.ts';
export type { CallbackObservation, MetricsStatus, DaemonMetricsOptions } from './daemon-metrics.ts';
