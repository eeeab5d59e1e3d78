export { startHttpServer } from './server.ts';
export type { HttpServerOptions, HttpServerHandle, DaemonActions } from './server.ts';
export { statusDocument, statusDocumentSchema, MAX_DEAD_LETTERS } from './status.ts';
export type { StatusSource, DaemonStatusLike, PluginStatusLike, RuntimeStatusLike, DeadLetterLike, StatusDocument, ClusterStatusLike } from './status.ts';
export { evaluateHealth, healthWindowMs, MIN_HEALTH_WINDOW_MS } from './health.ts';
export type { HealthReport } from './health.ts';
export { renderStatusPage, escapeHtml, REFRESH_SECONDS } from './page.ts';
export { isLoopbackHost, bearerMatches } from './auth.ts';
export { HttpServerError } from './errors.ts';
