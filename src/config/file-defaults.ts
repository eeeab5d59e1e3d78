// The defaults of the two files a command needs to find a running daemon. The
// schema's table (schema.ts) takes them from here, so the CLI's quick reader
// (daemon-address.ts) knows them without loading the schema and zod.
export const DAEMON_FILE_DEFAULTS = { state: './state/sgeventd.db', pidFile: './state/sgeventd.pid' } as const;
