import { residentMb } from '../pyrpc/index.ts';
import { describeError, SgeventdError } from '../shared/errors.ts';
import { ToolkitError } from './errors.ts';
import { projectRef, type ProjectLike, type ToolkitHandle } from './handle.ts';
import { silentLogger } from './log.ts';
import type { ToolkitLogger } from './log.ts';
import type { RuntimePoolOptions } from './options.ts';
import { prepareDistributed } from './prepare.ts';
import { InfoSchema } from './protocol.ts';
import type { CallTarget, InitParams, RuntimeInfo } from './protocol.ts';
import { realHost } from './resolve.ts';
import type { CentralizedResolution, ProjectRef, Resolution } from './resolve.ts';
import { Resolutions } from './resolutions.ts';
import type { ProjectRuntime } from './runtime.ts';
import { runtimeKey, spawnFor, spawnRuntime } from './runtime-spawn.ts';
import { CallQueue } from './call-queue.ts';
import { KeyHealth } from './key-health.ts';
import type { RuntimePluginSpec, RuntimePoolDeps, RuntimeStatus } from './pool-types.ts';

/** One runtime of a key. */
interface Entry {
  /** `<key>#<slot>`: the runtime's own name (`toolkit ps`, `recycle`). */
  id: string;
  /** What its runtimes share (configuration and core, a shared core, or swap): a call of the key may go to any of them. */
  key: string;
  /** 1..maxRuntimesPerProject, the lowest free one when it started. */
  slot: number;
  mode: InitParams['mode'];
  coreRoot: string | null;
  projects: Set<number>;
  configPaths: Set<string>;
  runtime?: ProjectRuntime | undefined;
  starting?: Promise<void> | undefined;
  /** Handed a call that has not finished: never handed another meanwhile. */
  busy: boolean;
}

interface Lease {
  entry: Entry;
  rt: ProjectRuntime;
}

/**
 * Warm Python processes per key: a resolved (core, configuration), or a
 * shared core with `shareCoreRuntimes`, or everything with
 * `isolation: 'swap'`. A key starts one runtime on first use; while its calls
 * wait (every runtime of it busy) it starts another, up to
 * `maxRuntimesPerProject`. A runtime runs one call at a time and is handed a
 * call only when free, so a hung call holds its own runtime, never a call
 * waiting for one. Evicted LRU past `maxRuntimes`, stopped after `idleTtlMs`,
 * recycled after `maxCallsPerRuntime`, past `maxRssMb` or when the
 * configuration changes on disk; a key that crashes `crashBudget.count` times
 * within the window fails fast until `backoffMs` passes.
 */
export class RuntimePool {
  readonly options: RuntimePoolOptions;
  readonly #deps: RuntimePoolDeps;
  readonly #logger: ToolkitLogger;
  /** By runtime id (`<key>#<slot>`). */
  readonly #entries = new Map<string, Entry>();
  readonly #waiting: CallQueue<Lease>;
  readonly #health: KeyHealth;
  readonly #resolutions: Resolutions;
  /** What a key's runtimes start on (from its latest call), to start more of them while calls wait. */
  readonly #startWith = new Map<string, { mode: InitParams['mode']; res: CentralizedResolution }>();
  readonly #retiring = new Set<Promise<void>>();
  readonly #sweeper: NodeJS.Timeout;
  #closed: Promise<void> | undefined;

  constructor(options: RuntimePoolOptions, deps: RuntimePoolDeps) {
    this.options = options;
    this.#deps = deps;
    this.#logger = deps.logger ?? silentLogger;
    this.#resolutions = new Resolutions({
      options, host: deps.host ?? realHost(deps.env ?? process.env), lookup: deps.lookup, logger: this.#logger,
      changeCheckIntervalMs: deps.changeCheckIntervalMs ?? 1000,
      prepare: (res) => prepareDistributed(res, options, deps.stateDir, (key, python, label, corePython, bundleCache) =>
        spawnRuntime({ key, mode: 'bootstrap', python, label, configPath: undefined, corePython, bundleCache }, options, deps, this.#logger)),
      changed: (projectId) => this.recycle(projectId),
    });
    this.#waiting = new CallQueue<Lease>(options.queueLimit);
    this.#health = new KeyHealth(options.crashBudget, this.#logger);
    const every = Math.max(20, Math.min(options.idleTtlMs / 2, 30_000));
    this.#sweeper = setInterval(() => this.#sweep(), every);
    this.#sweeper.unref();
  }

  /**
   * Toolkit for one project; nothing starts until the first call. `signal`
   * (e.g. the callback's timeout) abandons a call: queued calls are dropped,
   * a call in flight kills its runtime, which the next call replaces.
   * `onStarted` is told when a runtime takes a call (what came before is
   * waiting: for a runtime to start or to be free).
   */
  forProject(project: ProjectLike, opts: { signal?: AbortSignal | undefined; onStarted?: (() => void) | undefined } = {}): ToolkitHandle {
    const { signal, onStarted } = opts;
    const ref = projectRef(project);
    return {
      projectId: ref.id,
      call: (target: CallTarget, p: string, args?: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>) =>
        this.#request(ref, 'call', { target, path: p, args: args ?? [], kwargs: kwargs ?? {} }, target === 'engine' || target === 'context', signal, undefined, undefined, onStarted),
      run: (fn: string, args?: unknown, event?: unknown) => this.#request(ref, 'run', { fn, args: args ?? null, event: event ?? null }, false, signal, undefined, undefined, onStarted),
      info: async (): Promise<RuntimeInfo> => InfoSchema.parse(await this.#request(ref, 'info', {}, false, signal, undefined, undefined, onStarted)),
      command: (name: string, args?: readonly unknown[]) => this.#request(ref, 'command', { name, args: args ?? [] }, true, signal, undefined, undefined, onStarted),
    };
  }

  /**
   * Runs a shotgunEvents plugin that declares `SGEVENTD_TOOLKIT = True` on
   * events of one project inside one runtime of that project, where
   * `import sgtk` is its core: each finished event comes back as a step
   * (`onStep`). The plugin is imported there on first use and again when it
   * is loaded anew; its module-level state is per runtime. The batch is one
   * call bounded by the plugin's `callbackTimeoutMs` (not `callTimeoutMs`),
   * from when a runtime starts it (never while it waits for one); each
   * finished event re-arms it.
   */
  pluginProcess(project: ProjectLike, plugin: RuntimePluginSpec, events: unknown[], signal?: AbortSignal, onStep?: (step: unknown) => void): Promise<unknown> {
    const { callbackTimeoutMs, ...spec } = plugin;
    return this.#request(projectRef(project), 'plugin_process_batch', { plugin: spec, events, budgetMs: 50 }, false, signal, onStep, callbackTimeoutMs);
  }

  /** How a project resolves (for `sgeventd toolkit resolve`); uses the cache. */
  async resolve(project: ProjectLike): Promise<Resolution> {
    return (await this.#resolutions.get(projectRef(project))).runnable;
  }

  /** For `sgeventd toolkit ps`. */
  list(): RuntimeStatus[] {
    const now = Date.now();
    const rows: RuntimeStatus[] = [];
    for (const e of this.#entries.values()) {
      const rt = e.runtime;
      rows.push({
        key: e.id, projects: [...e.projects], mode: e.mode, configPaths: [...e.configPaths], coreRoot: e.coreRoot,
        coreVersion: rt?.initResult?.coreVersion ?? null, pid: rt?.pid ?? null,
        rssMb: currentMb(rt?.pid ?? null),
        // Answers carry the runtime's peak (ru_maxrss), never its current size.
        peakRssMb: rt?.rssKb != null ? Math.round(rt.rssKb / 102.4) / 10 : null,
        calls: rt?.calls ?? 0, ageMs: rt ? now - rt.startedAt : 0, idleMs: rt ? now - rt.lastUsedAt : 0,
        pending: rt?.pending ?? 0, state: rt?.state ?? 'starting',
      });
    }
    const running = new Set([...this.#entries.values()].map((e) => e.key));
    for (const f of this.#health.failing(now)) {
      if (running.has(f.key)) continue;
      rows.push({
        key: f.key, projects: f.projects, mode: 'centralized', configPaths: [], coreRoot: null, coreVersion: null, pid: null, rssMb: null, peakRssMb: null,
        calls: 0, ageMs: 0, idleMs: 0, pending: 0, state: 'failed', retryAt: f.retryAt,
      });
    }
    return rows;
  }

  /**
   * Drains and replaces runtimes by hand: all of them, those serving a
   * project (id or link), or one key. Forgets the cached resolution too, so a
   * changed PipelineConfiguration record is read again. Returns how many.
   */
  recycle(target?: ProjectLike | string): number {
    const projectId = target === undefined || typeof target === 'string' ? undefined : typeof target === 'number' ? target : target.id;
    let n = 0;
    for (const e of [...this.#entries.values()]) {
      const hit = target === undefined || (typeof target === 'string' ? e.key === target || e.id === target : projectId !== undefined && e.projects.has(projectId));
      if (hit) {
        this.#retire(e, 'recycle');
        n += 1;
      }
    }
    if (projectId !== undefined) this.#resolutions.forget(projectId);
    else if (target === undefined) this.#resolutions.forget('all');
    this.#health.forget(typeof target === 'string' ? { key: target.replace(/#\d+$/, '') } : projectId === undefined ? 'all' : { project: projectId });
    return n;
  }

  /** Stops every runtime (two-phase each); idempotent; every step runs even if one fails. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#sweeper);
      const steps: Promise<unknown>[] = [...this.#retiring];
      this.#waiting.fail(null, new ToolkitError('TK_POOL_CLOSED', 'the toolkit pool is closed'));
      for (const e of this.#entries.values()) {
        if (e.runtime) steps.push(e.runtime.close());
        // A runtime that finishes starting now finds itself out of the map and is stopped (tracked in #retiring).
        if (e.starting) steps.push(e.starting);
      }
      this.#entries.clear();
      for (const r of await Promise.allSettled(steps)) {
        if (r.status === 'rejected') this.#logger.debug({ err: describeError(r.reason) }, 'toolkit pool: stop step failed');
      }
      // Runtimes that finished starting while we waited.
      await Promise.allSettled([...this.#retiring]);
    })();
    return this.#closed;
  }

  async #request(
    ref: ProjectRef, method: string, params: Record<string, unknown>, needsEngine: boolean,
    signal?: AbortSignal, onProgress?: (step: unknown) => void, timeoutMs = this.options.callTimeoutMs, onStarted?: () => void,
  ): Promise<unknown> {
    if (this.#closed) throw new ToolkitError('TK_POOL_CLOSED', 'the toolkit pool is closed', { details: { project: ref.id } });
    const { runnable: res } = await this.#resolutions.get(ref);
    const full = { ...params, configPath: res.configPath, corePython: res.corePython };
    for (let attempt = 0; ; attempt += 1) {
      const { entry, rt } = await this.#lease(res, needsEngine, signal);
      try {
        // The runtime is free: the call is written now, and its timeout runs from here.
        onStarted?.();
        return await rt.request(method, full, timeoutMs, signal, onProgress);
      } catch (e) {
        // A call that never reached a runtime that died may go to its replacement, once.
        const notSent = e instanceof SgeventdError && e.details.sent === false && (e.code === 'TK_RUNTIME_CRASHED' || e.code === 'TK_RUNTIME_CLOSED');
        if (!notSent || attempt > 0 || this.#closed) throw e;
      } finally {
        this.#afterCall(entry, rt);
      }
    }
  }

  /** A free runtime of the call's key, handed to this call alone until #afterCall; the call waits for one otherwise. */
  #lease(res: CentralizedResolution, needsEngine: boolean, signal: AbortSignal | undefined): Promise<Lease> {
    const { key, mode } = runtimeKey(res, this.options, needsEngine);
    const projectId = res.project.id;
    const failed = this.#health.failedFast(key, projectId);
    if (failed) return Promise.reject(failed);
    this.#startWith.set(key, { mode, res });
    const leased = this.#waiting.wait(key, projectId, signal).then((lease) => {
      lease.entry.projects.add(projectId);
      lease.entry.configPaths.add(res.configPath);
      return lease;
    });
    this.#serve(key);
    return leased;
  }

  /**
   * Hands waiting calls of `key` to its free runtimes (lowest slot first, so
   * spare runtimes go idle and are swept), then starts runtimes for calls
   * still waiting, up to maxRuntimesPerProject (and maxRuntimes overall).
   */
  #serve(key: string, grow = true): void {
    const mine = [...this.#entries.values()].filter((e) => e.key === key).sort((a, b) => a.slot - b.slot);
    for (const e of mine) {
      if (this.#waiting.size(key) === 0) return;
      const rt = e.runtime;
      if (e.busy || !rt || rt.state !== 'ready') continue;
      e.busy = true;
      if (!this.#waiting.hand(key, { entry: e, rt })) e.busy = false;
    }
    if (!grow) return;
    const live = mine.filter((e) => e.starting !== undefined || (e.runtime !== undefined && e.runtime.state !== 'dead' && e.runtime.state !== 'stopping'));
    let starting = live.filter((e) => e.starting !== undefined).length;
    let count = live.length;
    const start = this.#startWith.get(key);
    if (start === undefined) return;
    const { mode, res } = start;
    const failed = this.#health.failedFast(key, res.project.id);
    if (failed) {
      // Crashing too often: no new runtime; calls wait for the key's live ones, or fail when it has none.
      if (count === 0) this.#waiting.fail(key, failed);
      return;
    }
    // Swap is chosen to save memory: it keeps its one process.
    const bound = mode === 'swap' ? 1 : this.options.maxRuntimesPerProject;
    while (this.#waiting.size(key) > starting && count < bound) {
      // No room (maxRuntimes, none idle to evict): the calls wait until a runtime anywhere frees up.
      if (!this.#makeRoom()) return;
      this.#startEntry(key, mode, res);
      starting += 1;
      count += 1;
    }
  }

  /**
   * After a runtime freed up, stopped or started: every key with waiting calls
   * gets another look. Free runtimes go to their own key's calls first; only
   * then may another key evict one to start its own.
   */
  #serveWaiting(): void {
    for (const key of this.#waiting.keys()) this.#serve(key, false);
    for (const key of this.#waiting.keys()) this.#serve(key);
  }

  #startEntry(key: string, mode: InitParams['mode'], res: CentralizedResolution): void {
    const taken = new Set([...this.#entries.values()].filter((e) => e.key === key).map((e) => e.slot));
    let slot = 1;
    while (taken.has(slot)) slot += 1;
    const projectId = res.project.id;
    const entry: Entry = {
      id: `${key}#${slot}`, key, slot, mode, coreRoot: mode === 'swap' ? null : res.coreRoot,
      projects: new Set([projectId]), configPaths: new Set([res.configPath]), busy: false,
    };
    this.#entries.set(entry.id, entry);
    // Spawning throws synchronously on some failures (a folder it cannot make): those reach the waiting calls too.
    entry.starting = (async () => spawnRuntime(spawnFor(key, mode, res, this.options), this.options, this.#deps, this.#logger))().then(
      (rt) => {
        entry.starting = undefined;
        if (this.#entries.get(entry.id) !== entry || this.#closed) {
          this.#track(rt.close());
          return;
        }
        entry.runtime = rt;
        this.#deps.onRuntimeStarted?.(String(projectId));
        rt.onExit((reason) => {
          // A caller giving up, or a plugin callback past its callbackTimeoutMs, says nothing about the runtime's health.
          const pluginTimeout = reason?.code === 'TK_CALL_TIMEOUT' && reason.details.method === 'plugin_process_batch';
          if (reason && reason.code !== 'TK_CALL_ABORTED' && !pluginTimeout) this.#crashed(key, projectId, reason);
          this.#forget(entry);
          this.#serveWaiting();
        });
        this.#serve(key);
      },
      (err: unknown) => {
        entry.starting = undefined;
        this.#forget(entry);
        this.#crashed(key, projectId, err);
        // Calls wait for the key's running runtimes if it has any; else they get the reason this one failed
        // (as every caller of a failed start did), rather than start after start.
        if ([...this.#entries.values()].some((e) => e.key === key && e.runtime !== undefined)) this.#serve(key, false);
        else this.#waiting.fail(key, err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  #forget(entry: Entry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
  }

  /** maxRuntimes: room for one more, evicting the least recently used idle runtime if need be; false when all are busy. */
  #makeRoom(): boolean {
    if (this.#entries.size < this.options.maxRuntimes) return true;
    let lru: Entry | undefined;
    for (const e of this.#entries.values()) {
      const rt = e.runtime;
      if (!rt || e.busy || rt.state !== 'ready' || rt.pending > 0) continue;
      if (!lru?.runtime || rt.lastUse < lru.runtime.lastUse) lru = e;
    }
    if (!lru) return false;
    this.#retire(lru, 'lru');
    return true;
  }

  /** The call on `entry` finished: recycle its runtime if it is spent, and give it (or a replacement) the next waiting call. */
  #afterCall(entry: Entry, rt: ProjectRuntime): void {
    entry.busy = false;
    const o = this.options;
    const tooMany = rt.calls >= o.maxCallsPerRuntime;
    const tooBig = rt.rssKb !== null && rt.rssKb > o.maxRssMb * 1024;
    if ((tooMany || tooBig) && entry.runtime === rt) this.#retire(entry, tooMany ? 'maxCallsPerRuntime' : 'maxRssMb');
    this.#serveWaiting();
  }

  /** Out of the map at once (new calls start a fresh runtime); closed once its queue drains. */
  #retire(e: Entry, why: string): void {
    this.#forget(e);
    const rt = e.runtime;
    this.#logger.info({ key: e.id, projects: [...e.projects], why, pid: rt?.pid }, 'toolkit: recycling runtime');
    if (rt) this.#track(rt.idle().then(() => rt.close()));
    // A runtime still starting finds itself out of the map when it is ready, and stops.
    else if (e.starting) this.#track(e.starting);
  }

  #track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => this.#logger.warn({ err: describeError(err) }, 'toolkit: stopping a runtime failed'));
    this.#retiring.add(t);
    void t.finally(() => this.#retiring.delete(t));
  }

  #crashed(key: string, projectId: number, err: unknown): void {
    if (this.#closed) return;
    this.#deps.onRuntimeCrashed?.(String(projectId));
    this.#health.crashed(key, projectId, err);
  }

  #sweep(): void {
    const now = Date.now();
    for (const e of [...this.#entries.values()]) {
      const rt = e.runtime;
      if (rt && !e.busy && rt.state === 'ready' && rt.pending === 0 && now - rt.lastUsedAt >= this.options.idleTtlMs) this.#retire(e, 'idleTtlMs');
    }
  }
}

function currentMb(pid: number | null): number | null {
  const mb = pid === null ? null : residentMb(pid);
  return mb === null ? null : Math.round(mb * 10) / 10;
}
