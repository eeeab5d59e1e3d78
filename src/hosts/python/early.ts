import { pluginOptionsFor, type DaemonConfig } from '../../config/index.ts';
import { scanPluginFolder } from '../../plugins/folder.ts';
import { PythonChild, type ChildLogger, type ChildOptions } from '../../pyrpc/index.ts';
import { configuredProcess, sameProcess } from './process-options.ts';

/** Records kept for a process nobody has adopted yet (its start rarely logs more). */
const MAX_HELD_RECORDS = 200;

type Level = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** A child's logger before its host exists: records wait, and go to the host's logger once it adopts the process. */
class HeldLogger implements ChildLogger {
  #target: ChildLogger | null = null;
  readonly #held: Array<[Level, Record<string, unknown>, string]> = [];

  bind(target: ChildLogger): void {
    this.#target = target;
    for (const [level, obj, msg] of this.#held.splice(0)) this.#write(level, obj, msg);
  }

  #write(level: Level, obj: Record<string, unknown>, msg: string): void {
    const t = this.#target;
    if (t === null) {
      if (this.#held.length < MAX_HELD_RECORDS) this.#held.push([level, obj, msg]);
    } else if (level === 'fatal') (t.fatal ?? t.error).call(t, obj, msg);
    else t[level](obj, msg);
  }

  debug(obj: Record<string, unknown>, msg: string): void { this.#write('debug', obj, msg); }
  info(obj: Record<string, unknown>, msg: string): void { this.#write('info', obj, msg); }
  warn(obj: Record<string, unknown>, msg: string): void { this.#write('warn', obj, msg); }
  error(obj: Record<string, unknown>, msg: string): void { this.#write('error', obj, msg); }
  fatal(obj: Record<string, unknown>, msg: string): void { this.#write('fatal', obj, msg); }
}

interface Early {
  options: ChildOptions;
  logger: HeldLogger;
  /** The process, from its spawn (it may still be in `init`). */
  child: PythonChild;
  /** Settles as `PythonChild.start` would. */
  ready: Promise<PythonChild>;
}

/** Where a Python plugin host asks for a process started before it. */
export interface EarlyProcessSource {
  /**
   * The process started early for a plugin file, if it is the very process
   * `options` describe (else it is ended and null returned); taken once. Its
   * records go to `options.logger` from now on. The promise rejects as
   * `PythonChild.start` would.
   */
  take(file: string, options: ChildOptions): Promise<PythonChild> | null;
}

/**
 * The Python plugins' processes, started as soon as the config is known: the
 * plugin folders are scanned as the engine will scan them, and each enabled
 * Python plugin's process (interpreter, runner, `init`) starts while the
 * daemon's own modules load, its state opens and the event log is first read.
 * Only the process starts: the plugin module is imported by the host's
 * `plugin_load`, as before. Its host adopts it at load; `close()` ends every
 * process nobody adopted (a plugin paused in the state, a file removed
 * meanwhile, a start that failed), so none is left behind.
 */
export class EarlyPythonProcesses implements EarlyProcessSource {
  readonly #byFile = new Map<string, Early>();
  #closed = false;
  readonly #scanned: Promise<void>;

  private constructor(config: DaemonConfig) {
    this.#scanned = this.#startAll(config);
  }

  /** Scans the folders and starts the processes in the background; never throws (the engine reports what the scan finds wrong). */
  static begin(config: DaemonConfig): EarlyPythonProcesses {
    return new EarlyPythonProcesses(config);
  }

  async #startAll(config: DaemonConfig): Promise<void> {
    for (const folder of config.plugins) {
      let scan;
      try {
        scan = await scanPluginFolder(folder.path);
      } catch {
        continue; // refused or missing: the engine's own scan reports it
      }
      if (this.#closed) return;
      for (const entry of scan.plugins) {
        if (entry.kind !== 'python' || this.#byFile.has(entry.file)) continue;
        if (!pluginOptionsFor(folder, entry.name).enabled) continue;
        const logger = new HeldLogger();
        const options = configuredProcess(config, folder, entry.file, entry.name, logger);
        const { child, ready } = PythonChild.launch(options);
        ready.catch(() => undefined); // a failed start is the host's to report (it starts its own process then)
        this.#byFile.set(entry.file, { options, logger, child, ready });
      }
    }
  }

  /** Files whose process was started early and not adopted yet. */
  get files(): string[] {
    return [...this.#byFile.keys()];
  }

  /** Waits until the folders are scanned and every early process is spawned. */
  get started(): Promise<void> {
    return this.#scanned;
  }

  take(file: string, options: ChildOptions): Promise<PythonChild> | null {
    const early = this.#byFile.get(file);
    if (early === undefined) return null;
    this.#byFile.delete(file);
    if (!sameProcess(early.options, options)) {
      void endChild(early);
      return null;
    }
    if (options.logger !== undefined) early.logger.bind(options.logger);
    return early.ready;
  }

  /** Ends every process not adopted; later scans start none. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#scanned;
    const left = [...this.#byFile.values()];
    this.#byFile.clear();
    await Promise.all(left.map((e) => endChild(e)));
  }
}

/** Ends an early process, in `init` or not: a polite stop, then the signals (pyrpc/child.ts). */
async function endChild(early: Early): Promise<void> {
  await early.child.close();
  await early.ready.catch(() => undefined);
}
