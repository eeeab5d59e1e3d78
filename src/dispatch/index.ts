export { Engine, type EngineOptions, type PluginSnapshot, type PluginStatus } from './engine.ts';
export { PluginCursor } from './cursor.ts';
export type { CursorHandler, CursorOptions, TimingRecord, PluginFailure, EventScope, RetryItem, CursorStatus } from './cursor-types.ts';
export { StateBatcher, type StateBatcherOptions } from './state-batcher.ts';
export { buildScope, SiteProjectDirectory, type ProjectDirectory } from './scope.ts';
export { PipelineConfigurationWatch } from './config-watch.ts';
export { ConcurrentCursor, type ConcurrentCursorOptions } from './concurrent-cursor.ts';
export { effectiveConcurrency, KeyLanes, laneKey, NO_PROJECT_KEY, type ConcurrencyKeyBy } from './key-lanes.ts';
export { inScope, reportDeactivation, runEvent, type RunOutcome, type StepContext } from './cursor-steps.ts';
