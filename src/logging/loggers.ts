import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger, type DestinationStream, type StreamEntry } from 'pino';
import { loadRoll } from './pino-roll-load.ts';
import type { LoggingConfig } from '../config/index.ts';
import type { SecretMask } from '../shared/index.ts';

/** Field names that must never reach a log line, whatever object carries them. */
export const REDACT_PATHS = [
  'key', 'scriptKey', 'script_key', 'password', 'user_password', 'session_token', 'sessionToken', 'token', 'authorization',
  '*.key', '*.scriptKey', '*.script_key', '*.password', '*.user_password', '*.session_token', '*.sessionToken', '*.token', '*.authorization',
];

/**
 * The pino options every daemon logger gets: secret-named fields censored, and
 * each finished line masked against the configured secrets by value (a key
 * that plugin code put into an error message included).
 */
export function loggerSafety(mask?: SecretMask): { redact: { paths: string[]; censor: string }; hooks?: { streamWrite: (s: string) => string } } {
  return {
    redact: { paths: REDACT_PATHS, censor: '********' },
    ...(mask === undefined || mask.isEmpty ? {} : { hooks: { streamWrite: (s: string) => mask.mask(s) } }),
  };
}

export interface Loggers {
  /** The engine log (console in the foreground, plus its file). */
  engine: Logger;
  /** A plugin's logger: its own file in per-plugin mode, else the engine log. */
  plugin(name: string): Promise<Logger>;
  /** One line per callback, or null when `logging.timing` is off. */
  timing: Logger | null;
  close(): Promise<void>;
}

interface Closable {
  end?: () => void;
  flushSync?: () => void;
  once?: (event: 'close', fn: () => void) => void;
  destroyed?: boolean;
}

/** Resolves when `s` has closed (its last writes are on disk), or after `ms` whatever happens. */
function closedOrAfter(s: Closable, ms: number): Promise<void> {
  if (s.destroyed === true || s.once === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    s.once?.('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Builds the daemon's loggers from `logging`: JSON lines in rotated files
 * (pino-roll: daily or by size, keeping `rotate.keep` files) and, in the
 * foreground, readable lines on the console.
 */
export async function createLoggers(cfg: LoggingConfig, opts: { console: boolean; files: boolean; mask?: SecretMask }): Promise<Loggers> {
  const streams: Closable[] = [];
  const fileStream = async (base: string): Promise<DestinationStream> => {
    await mkdir(cfg.dir, { recursive: true });
    const roll = await loadRoll();
    const s = await roll({
      // pino-roll names files <base>.<n>.log (n counts rotations).
      file: join(cfg.dir, base),
      extension: '.log',
      mkdir: true,
      ...(cfg.rotate.frequency === 'daily' ? { frequency: 'daily' } : { size: `${cfg.rotate.maxSizeMb}m` }),
      limit: { count: cfg.rotate.keep },
    });
    streams.push(s);
    return s;
  };
  const engineStreams: StreamEntry[] = [];
  // Loaded only for a console: a daemon in the background never formats lines for people.
  const pretty = opts.console ? (await import('pino-pretty')).default : null;
  if (pretty !== null) engineStreams.push({ level: cfg.level, stream: pretty({
        colorize: process.stdout.isTTY, sync: true, translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,plugin,callback,stream', messageFormat: '{if plugin}[{plugin}] {end}{msg}',
      }) });
  if (opts.files) engineStreams.push({ level: cfg.level, stream: await fileStream(cfg.file) });
  const base = { level: cfg.level, ...loggerSafety(opts.mask) };
  const engine = engineStreams.length > 0 ? pino(base, pino.multistream(engineStreams)) : pino({ ...base, enabled: false });

  const pluginLoggers = new Map<string, Promise<Logger>>();
  const plugin = (name: string): Promise<Logger> => {
    if (cfg.mode === 'single' || !opts.files) return Promise.resolve(engine.child({ plugin: name }));
    let l = pluginLoggers.get(name);
    if (l === undefined) {
      l = fileStream(`plugin-${name}`).then((s) => {
        const own: StreamEntry[] = [{ level: cfg.level, stream: s }];
        if (opts.console && engineStreams[0]) own.push(engineStreams[0]);
        return pino(base, pino.multistream(own)).child({ plugin: name });
      });
      pluginLoggers.set(name, l);
    }
    return l;
  };

  const timing = cfg.timing && opts.files ? pino({ level: 'info', base: null, ...loggerSafety(opts.mask) }, await fileStream(`${cfg.file}-timing`)) : null;

  return {
    engine,
    plugin,
    timing,
    async close() {
      await Promise.allSettled(pluginLoggers.values());
      // Resolve only once the files are closed: a caller that exits or removes the folder next loses nothing.
      const closed = streams.map((s) => closedOrAfter(s, 5000));
      for (const s of streams) {
        try {
          s.flushSync?.();
        } catch {
          // A stream that is not ready to flush is ended below anyway.
        }
        s.end?.();
      }
      await Promise.all(closed);
    },
  };
}
