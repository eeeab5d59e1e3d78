export { DaemonMetrics } from './daemon-metrics.ts';
export { pollAgeMs } from './poll-age.ts';
export type { CallbackObservation, MetricsStatus, DaemonMetricsOptions } from './prom-metrics.ts';
export { StatusHistory } from './history.ts';
export type { HistoryDocument, HistoryPoint, HistoryStatus, StatusHistoryOptions } from './history.ts';
