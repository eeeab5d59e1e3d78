export { Engine, type EngineOptions, type PluginSnapshot, type PluginStatus } from './engine.ts';
export { PluginLane } from './lane.ts';
export type { LaneHandler, LaneOptions, TimingRecord, LaneFailure, EventScope, RetryItem, LaneStatus } from './lane-types.ts';
export { StateBatcher, type StateBatcherOptions } from './state-batcher.ts';
export { buildScope, SiteProjectDirectory, type ProjectDirectory } from './scope.ts';
export { PipelineConfigurationWatch } from './config-watch.ts';
