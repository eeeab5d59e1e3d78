export { ToolkitError, PythonError, RuntimeCrashed, PyrpcError } from './errors.ts';
export { runtimePoolOptions } from './options.ts';
export type {
  RuntimePoolOptions, ResolveOptions, ToolkitProjectEntry, CentralizedProjectEntry, DistributedProjectEntry, CrashBudget,
} from './options.ts';
export { resolveProject, formatResolution, concretePluginId } from './resolve.ts';
export { noBootstrapCore } from './prepare.ts';
export type {
  Resolution, CentralizedResolution, DistributedResolution, ResolveHost, ResolveSite, PipelineConfigurationRecord, ProjectRef,
} from './resolve.ts';
export type { ToolkitPlatform } from './platform-paths.ts';
export { RuntimePool } from './pool.ts';
export { runtimeKey } from './runtime-spawn.ts';
export type { RuntimePoolDeps, PoolSite, RuntimeStatus, RuntimePluginSpec } from './pool-types.ts';
export { ProjectRuntime } from './runtime.ts';
export { RUNTIME_SCRIPT, PLUGIN_RUNNER_SCRIPT } from './runtime.ts';
export type { RuntimeLaunch, RuntimeState } from './runtime.ts';
export type { ToolkitHandle, ProjectLike } from './handle.ts';
export type { CallTarget, InitParams, InitResult, RuntimeInfo } from './protocol.ts';
export type { ToolkitLogger } from './log.ts';
export { runtimeEnv } from './env.ts';
export { siteLookup } from './site-lookup.ts';
export type { FindOneClient } from './site-lookup.ts';
