import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Below this share of a window spent running (not waiting), the main thread
 * counts as idle. An idle daemon with 13 plugins measured about 4 % (the
 * plugins' memory reports, the polls); on a loaded machine a callback that is
 * descheduled counts as running, so the bound leaves room; catching up runs
 * near 100 %.
 */
const IDLE_UTILIZATION = 0.1;
/**
 * A trim runs only when the young generation is at least this large: after
 * one it is at its floor (1 MB), and an idle daemon's polls grow it by a step
 * or two at most, which is not worth a full collection.
 */
const TRIM_FROM_BYTES = 8 * 1024 * 1024;

/** V8's collector with options (exposed by `--expose-gc`); `last-resort` is the memory-reducing collection. */
type Collector = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface IdleTrimOptions {
  /** The length of a window; a window in which the main thread was idle ends with a trim. */
  windowMs: number;
  /**
   * A number that changes whenever the daemon does work (events read or
   * handled): a window in which it changed is never idle, whatever the
   * thread's utilization (on a loaded machine a catch-up can wait on its
   * plugins' threads most of the time and look idle by utilization alone).
   */
  activity?: () => number;
  /** Told of each trim: the young generation's size before and after (bytes), its wall and main-thread CPU time (ms). */
  onTrim?: (trim: { youngBefore: number; youngAfter: number; ms: number; cpuMs: number }) => void;
}

/**
 * Sizes the main thread's young generation by activity. V8 grows the young
 * generation's semi-spaces (up to 16 MB each here) while the daemon reads and
 * dispatches events, and keeps them committed when it falls idle: about a
 * tenth of an idle daemon's memory. At the end of each window in which the
 * daemon read and handled no event, the main thread was idle (event-loop
 * utilization under 10 %) and the young
 * generation is 8 MB or more, one memory-reducing
 * collection runs: the young generation shrinks to its floor and the old one
 * is compacted. Activity grows it again at V8's own pace, so catch-up speed is
 * what it is without this (a process flag such as `--max-semi-space-size`
 * would cap it during catch-up too). The cost is one full collection of the
 * main thread's heap (tens of ms) per idle period, not per window.
 */
export class IdleHeapTrim {
  readonly #opts: IdleTrimOptions;
  #timer: NodeJS.Timeout | null = null;
  #last: EventLoopUtilization | null = null;
  #lastActivity: number | undefined;
  #collect: Collector | null = null;
  #trims = 0;

  constructor(opts: IdleTrimOptions) {
    this.#opts = opts;
  }

  /** Trims done so far. */
  get trims(): number {
    return this.#trims;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#last = performance.eventLoopUtilization();
    this.#lastActivity = this.#opts.activity?.();
    this.#timer = setInterval(() => this.#check(), this.#opts.windowMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #check(): void {
    const now = performance.eventLoopUtilization();
    const window = this.#last === null ? now : performance.eventLoopUtilization(now, this.#last);
    this.#last = now;
    const activity = this.#opts.activity?.();
    const worked = activity !== this.#lastActivity;
    this.#lastActivity = activity;
    if (worked || window.utilization >= IDLE_UTILIZATION) return;
    const youngBefore = youngGenerationBytes();
    if (youngBefore < TRIM_FROM_BYTES) return; // at or near its floor: nothing worth a collection
    const t0 = performance.now();
    const cpu0 = process.threadCpuUsage();
    this.#collector()({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const cpu = process.threadCpuUsage(cpu0);
    const youngAfter = youngGenerationBytes();
    this.#trims++;
    // The collection itself is not activity: the next window starts after it.
    this.#last = performance.eventLoopUtilization();
    this.#opts.onTrim?.({ youngBefore, youngAfter, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 });
  }

  #collector(): Collector {
    if (this.#collect === null) {
      // The flag only adds `gc` to contexts made after it; the daemon's own global stays as it is.
      setFlagsFromString('--expose-gc');
      this.#collect = runInNewContext('gc') as Collector;
    }
    return this.#collect;
  }
}

/** What the trim reads of a daemon's status to tell work from idleness. */
export interface DaemonProgress {
  newestEventId: number;
  plugins: ReadonlyArray<{ lastEventId: number | null }>;
}

/** The daemon's trim (`daemon.idleTrimMs`; null when 0), each trim a debug line. */
export function daemonIdleTrim(windowMs: number, logger: Logger, status: () => DaemonProgress): IdleHeapTrim | null {
  if (windowMs === 0) return null;
  const mb = (bytes: number): number => Math.round(bytes / 104_857.6) / 10;
  return new IdleHeapTrim({
    windowMs,
    // The newest event read and every plugin's cursor: any move is work.
    activity: () => {
      const s = status();
      return s.plugins.reduce((sum, p) => sum + (p.lastEventId ?? 0), s.newestEventId);
    },
    onTrim: (t) => logger.debug({ youngBeforeMb: mb(t.youngBefore), youngAfterMb: mb(t.youngAfter), ms: Math.round(t.ms), cpuMs: Math.round(t.cpuMs) }, 'idle: main thread heap trimmed'),
  });
}

/** Committed size of the young generation (new space and new large objects), in bytes. */
export function youngGenerationBytes(): number {
  let bytes = 0;
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space') bytes += s.space_size;
  return bytes;
}
