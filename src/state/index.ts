export { openSqliteState, SqliteStateStore } from './sqlite.ts';
export type { SqliteStateOptions } from './sqlite.ts';
export { pluginId, matchPluginIds, normalizeSiteUrl } from './plugin-id.ts';
export { StateError } from './errors.ts';
export type { StateErrorCode } from './errors.ts';
export { SCHEMA_VERSION } from './sqlite-schema.ts';
export type {
  PluginRef, PluginState, PluginRow, BacklogEntry, BacklogKind, StateBatch, CounterDelta, NewDeadLetter, CallbackCounters,
  DeadLetter, DeadLetterStatus, DeadLetterStore, StateStore,
} from './types.ts';
export { readShotgunEventsEventIdFile, LegacyStateError } from './shotgunevents-eventid.ts';
export type { LegacyEventIdData, LegacyPluginState } from './shotgunevents-eventid.ts';
export { lockStateFile, networkFilesystemName } from './lock.ts';
export type { StateLock, StateLockHolder } from './lock.ts';
