export { Engine, type EngineOptions, type PluginSnapshot, type PluginStatus } from './engine.ts';
export { PluginLane, type LaneHandler, type LaneOptions, type TimingRecord, type LaneFailure, type EventScope, type RetryItem } from './lane.ts';
export { StateBatcher, type StateBatcherOptions } from './state-batcher.ts';
export { buildScope, SiteProjectDirectory, type ProjectDirectory } from './scope.ts';
export { Daemon, type DaemonOptions, type DaemonStatus } from './daemon.ts';
export { createHost, type EngineHost } from './hosts.ts';
export { poolOptionsFrom, toolkitRequestHandler } from './toolkit-bridge.ts';
