export { Daemon, type DaemonOptions, type DaemonStatus } from './daemon.ts';
export { Assembly, type DaemonMode, type RuntimeObserver } from './assembly.ts';
export { serveDaemon, type ServeOptions, type StopSteps } from './serve.ts';
export { replay, type ReplayOptions } from './replay.ts';
export { check, type CheckLine } from './check.ts';
export { connectSite, type SiteConnection, type SiteConnectionOptions } from './site-connection.ts';
export { resolveOnSite } from './toolkit.ts';
export { startStatusServer, runningUrl, urlFile } from './status-server.ts';
export { ClusterDaemon, serveClusterNode, type ClusterDaemonStatus } from './cluster-daemon.ts';
