export type {
  PluginHost, CallbackInfo, CallbackResult, CallbackFailure, LoadResult, ProcessResult, BatchOptions,
} from './contract.ts';
export { decide, hostFailure, afterFailure, type AfterFailure, type FailurePolicy } from './outcome.ts';
export { HostFactory, type PluginHostFactory, type ToolkitAccess } from './create.ts';
export { WorkerPluginHost } from './js/host.ts';
export type { WorkerHostOptions, WorkerHostState, RequestHandler } from './js/options.ts';
export { TOOLKIT_METHODS, type ToolkitMethod } from './js/toolkit-client.ts';
export { PythonPluginHost } from './python/host.ts';
export { PythonProcessBudget } from './python/process-budget.ts';
export type { PythonPluginOptions, PythonLoadResult, RunInProject } from './python/options.ts';
