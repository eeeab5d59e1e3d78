// The plugin-author API: registration, matching, the callback context and its
// types, plugin folders. What runs plugins is in hosts/.
export { canProcess, checkMatchEvents } from './match.ts';
export type { MatchableEvent } from './match.ts';
export { PluginError, serializeError, deserializeError } from './errors.ts';
export type { PluginErrorCode, SerializedError } from './errors.ts';
export { definePlugin } from './define.ts';
export type {
  CallbackContext,
  CallbackRegistration,
  ConcurrencyDeclaration,
  EmailRecipients,
  EventLogEntry,
  MatchEvents,
  PluginCallback,
  PluginLogger,
  PluginToolkit,
  PluginToolkitHandle,
  ToolkitTarget,
  RegisterCallbacks,
  Registrar,
} from './types.ts';
export { scanPluginFolder, checkSafeMode, checkPythonPathFolder, formatMode } from './folder.ts';
export type { JsPluginFile, PythonPluginFile, RefusedPluginFile, PluginFileEntry, PluginFolderScan } from './folder.ts';
export { PluginFolderWatcher } from './watcher.ts';
export type { PluginFolderWatcherOptions, PluginFolderWatcherEvents } from './watcher.ts';
