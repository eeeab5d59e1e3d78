// The request a plugin thread's `sg` sends its host for each api3 call (a
// `request` message of method SG_REQUEST): the thread holds no client of its
// own, the host runs the call on the main thread (sg-relay.ts).

/** The `request` method of an `sg` call. */
export const SG_REQUEST = 'sg.call';

/** The client methods a plugin's `sg` offers, by their ShotgunClient names. */
export const SG_METHODS = [
  'find', 'findOne', 'create', 'update', 'delete', 'revive', 'batch', 'summarize',
  'schemaRead', 'schemaEntityRead', 'schemaFieldRead', 'getSessionToken', 'info',
] as const;
export type SgMethod = (typeof SG_METHODS)[number];

/** The params of an SG_REQUEST. The key is the callback's own (the plugin registered it), never the daemon's. */
export interface SgCallParams {
  method: SgMethod;
  args: unknown[];
  scriptName: string;
  scriptKey: string;
  sessionUuid?: string | undefined;
  sudoAsLogin?: string | undefined;
}
