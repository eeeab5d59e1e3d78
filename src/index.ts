// The public API for plugin authors: types and helpers only.
export { SgeventdError } from './shared/index.ts';
export { Secret } from './shared/index.ts';
export { definePlugin } from './plugins/define.ts';
export type {
  CallbackContext,
  CallbackRegistration,
  ConcurrencyDeclaration,
  EmailRecipients,
  EntityLink,
  EventLogEntry,
  LogFn,
  LogLevel,
  MatchEvents,
  PluginCallback,
  PluginLogger,
  PluginShotgun,
  PluginToolkit,
  PluginToolkitHandle,
  ToolkitTarget,
  RegisterCallbacks,
  Registrar,
} from './plugins/types.ts';
