import { resolveConcurrency } from '../../config/index.ts';
import { canProcess } from '../../plugins/match.ts';
import type { SerializedError } from '../../plugins/errors.ts';
import { api3Proxy, transformOutbound } from '../../shotgrid/index.ts';
import type { EventLogEntry } from '../../shared/index.ts';
import { describeError, SgeventdError } from '../../shared/index.ts';
import { PyrpcError, PythonChild } from '../../pyrpc/index.ts';
import type { RuntimePluginSpec } from '../../toolkit/index.ts';
import type { BatchOptions, CallbackInfo, PluginHost, ProcessResult } from '../contract.ts';
import { ForkPool } from './fork-pool.ts';
import { RestartBudget } from '../restart-budget.ts';
import type { PythonLoadResult, PythonPluginOptions, RunInProject } from './options.ts';
import { pluginProcessOptions } from './process-options.ts';
import type { EarlyProcessSource } from './early.ts';
import { PythonProcessBudget } from './process-budget.ts';
import { declaredConcurrency, LoadSchema, mapLoadCode, PluginLoadFault } from './wire.ts';
import { CLOSED, collectResults, failedResult, type ResultPlugin } from './results.ts';

/**
 * Events a Toolkit plugin may have in flight at once: each runs in a runtime
 * of its project, and the runtime pool bounds how many run
 * (`toolkit.maxRuntimesPerProject`, `maxRuntimes`); the plugin's
 * `concurrency.max` bounds it below this.
 */
const TOOLKIT_CAPACITY = 256;

/**
 * An unchanged shotgunEvents plugin in its own Python process (a pyrpc
 * child): a hang, a crash or runaway memory stays with that plugin, and
 * module-level state lives as long as the process, as in shotgunEvents.
 * Implements the same cursor contract as the JS host (`matches`, `process`);
 * a callback timeout kills the process, which is started again on the next
 * event. A batch run in Python is one call bounded by `callbackTimeoutMs`,
 * re-armed by each finished event; there is no other timer.
 */
export class PythonPluginHost implements PluginHost {
  readonly kind = 'python';
  readonly name: string;
  readonly #opts: PythonPluginOptions;
  /** When this host last loaded the plugin; project runtimes re-import it when it changes. */
  #generation = 0;
  #child: PythonChild | null = null;
  #callbacks: CallbackInfo[] = [];
  #loaded: PythonLoadResult | null = null;
  /** The events of the calls running now, for cancel(): one, or one per project runtime for a Toolkit plugin. */
  readonly #inFlight = new Set<{ ids: Set<number>; cancel: AbortController }>();
  /** Runs in the plugin's own process go one at a time, even when a Toolkit plugin runs several events at once. */
  #ownProcess: Promise<unknown> = Promise.resolve();
  /** The forked workers, when the plugin runs events concurrently. */
  #pool: ForkPool | null = null;
  /** The last load chose forked workers (the pool comes back with the process after a loss). */
  #concurrent = false;
  #capacity = 1;
  /** A restart of the process under way (several lanes may find it gone at once). */
  #restarting: Promise<PythonLoadResult> | null = null;
  /** Losses of the process (crash, timeout, memory) against `restartBudget`. */
  readonly #budget: RestartBudget;

  /** Where the process started early is taken from, until the first load. */
  #early: EarlyProcessSource | undefined;

  constructor(opts: PythonPluginOptions) {
    this.#opts = opts;
    this.#early = opts.early;
    this.name = opts.name;
    this.#budget = new RestartBudget(opts.restartBudget);
  }

  get callbacks(): readonly CallbackInfo[] {
    return this.#callbacks;
  }

  get lastLoad(): PythonLoadResult | null {
    return this.#loaded;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Events that may run at once: a loaded Toolkit plugin takes several (each
   * in a runtime of its event's project); with forked workers, the effective
   * concurrency's `max`; else 1.
   */
  get capacity(): number {
    if (this.#loaded?.ok === true && this.#loaded.usesToolkit && this.#opts.runInProject !== undefined) return TOOLKIT_CAPACITY;
    return this.#capacity;
  }

  /** Pids of the forked workers alive now (none for a plugin that runs events one at a time). */
  get workerPids(): number[] {
    return this.#pool?.pids ?? [];
  }

  /** Starts the process and imports the plugin; plugin faults come back as results. A load resets the restart budget. */
  async load(): Promise<PythonLoadResult> {
    this.#budget.reset();
    return this.#start();
  }

  #budgetSpent(): SerializedError | null {
    const spent = this.#budget.spent();
    if (spent === null) return null;
    const { losses, windowMs } = spent;
    return {
      name: 'PythonPluginError', code: 'PLUGIN_RESTART_BUDGET', message: `plugin ${this.name} lost its process ${losses} times within ${windowMs} ms`,
      details: { plugin: this.name, losses, windowMs },
    };
  }

  /**
   * The plugin's process: at the first load, the one started early for this
   * file (early.ts) when it is the same process and came up; else a new one.
   */
  async #process(): Promise<PythonChild> {
    const o = this.#opts;
    const options = pluginProcessOptions({ ...o, logger: o.logger });
    const early = this.#early?.take(o.file, options) ?? null;
    this.#early = undefined;
    if (early !== null) {
      let failed: unknown = null;
      const child = await early.catch((err: unknown) => { failed = err; return null; });
      // One that failed or ended meanwhile is not used: a new start reports the failure as its own,
      if (child?.state === 'ready') return child;
      await child?.close();
      // except a timed-out init: the same process would be waited for as long again.
      if (failed instanceof PyrpcError && failed.code === 'TK_INIT_TIMEOUT') throw failed;
    }
    return PythonChild.start(options);
  }

  async #start(): Promise<PythonLoadResult> {
    await this.#stopProcess();
    try {
      const o = this.#opts;
      this.#child = await this.#process();
      this.#generation = Date.now();
      const { callbackTimeoutMs, ...spec } = this.#spec();
      const raw = await this.#child.request('plugin_load', spec, { timeoutMs: callbackTimeoutMs });
      const parsed = LoadSchema.parse(raw);
      this.#callbacks = parsed.callbacks.map((c) => ({
        index: c.index, name: c.name, scriptName: c.scriptName, matchEvents: c.matchEvents as CallbackInfo['matchEvents'], stopOnError: c.stopOnError,
      }));
      if (parsed.shotgunApi3Error) this.#opts.logger.warn({ reason: parsed.shotgunApi3Error }, 'Python plugin runs without shotgun_api3: its sg argument explains the import failure when used');
      const declared = declaredConcurrency(o.name, parsed.concurrency);
      const effective = resolveConcurrency(o.concurrency, declared);
      // Toolkit plugins run in project runtimes, one event at a time.
      if (effective.by !== 'none' && !parsed.usesToolkit) {
        this.#pool = new ForkPool({
          plugin: o.name, forkServer: this.#child, max: effective.max,
          budget: o.processBudget ?? new PythonProcessBudget(effective.max),
          idleMs: o.workerIdleMs ?? null, startTimeoutMs: o.callbackTimeoutMs, maxMessageBytes: 64 * 1024 * 1024, stopTimeoutMs: 2000,
          maxRssMb: o.maxMemoryMb, logger: o.logger,
        });
        this.#concurrent = true;
        this.#capacity = effective.max;
        await this.#pool.warm();
      } else {
        this.#concurrent = false;
        this.#capacity = 1;
      }
      this.#loaded = {
        ok: true, callbacks: this.#callbacks, emails: parsed.emails, usesToolkit: parsed.usesToolkit, shotgunApi3Error: parsed.shotgunApi3Error,
        ...(declared === undefined ? {} : { concurrency: declared }),
      };
    } catch (err) {
      await this.#stopProcess();
      this.#concurrent = false;
      this.#capacity = 1;
      const code = err instanceof PluginLoadFault ? err.code : err instanceof SgeventdError ? mapLoadCode(err) : 'PLUGIN_IMPORT_FAILED';
      this.#callbacks = [];
      this.#loaded = { ok: false, error: { name: 'PythonPluginError', message: describeError(err), code, ...(err instanceof Error && err.stack ? { stack: err.stack } : {}) } };
    }
    return this.#loaded;
  }

  /** What a Python loop needs to import the plugin: its own process (`plugin_load`) or a project runtime. */
  #spec(): RuntimePluginSpec {
    const o = this.#opts;
    return {
      file: o.file, name: o.name, siteUrl: o.siteUrl, proxy: o.proxy === undefined ? null : api3Proxy(o.proxy), useSessionUuid: o.useSessionUuid, generation: this.#generation,
      ...(o.siteTimeoutMs === undefined ? {} : { timeoutMs: o.siteTimeoutMs }),
      ...(o.idleCloseMs === undefined ? {} : { idleCloseMs: o.idleCloseMs }),
      callbackTimeoutMs: o.callbackTimeoutMs,
    };
  }

  matches(event: EventLogEntry): boolean {
    return this.#callbacks.some((cb) => canProcess(cb.matchEvents, event));
  }

  async process(event: EventLogEntry, options: { attempt: number; replay: boolean; key?: string }): Promise<ProcessResult> {
    return (await this.processBatch([event], options))[0] ?? failedResult(this.#resultPlugin(), event, new PyrpcError('TK_PROTOCOL', `Python plugin ${this.name} reported no result`));
  }

  /**
   * Several events in one call, which reports each finished event as a step
   * (nothing that finished is lost if the process dies) and stops after an
   * event that is not a clean ok or after 50 ms; `callbackTimeoutMs` bounds
   * each event (the call's timeout, re-armed by every finished event). A
   * plugin that declares `SGEVENTD_TOOLKIT = True` sends the leading events
   * of one project to that project's runtime; events without
   * a project, and every event of other plugins, go to its own process.
   * Returns results for a prefix of `events`; the cursor offers the rest again.
   * A Toolkit plugin takes several calls at once (`capacity`), one per key
   * lane: each goes to a runtime of its project; its own process still runs
   * one at a time.
   */
  async processBatch(events: readonly EventLogEntry[], options?: BatchOptions): Promise<ProcessResult[]> {
    const first = events[0];
    if (first === undefined) return [];
    if (this.#concurrent) return this.#inWorker(events, options?.key);
    const loaded = this.#loaded;
    const runInProject = loaded?.ok === true && loaded.usesToolkit ? this.#opts.runInProject : undefined;
    const where = (e: EventLogEntry): number | null => (runInProject === undefined ? null : (e.project?.id ?? null));
    const project = where(first);
    let n = 1;
    while (n < events.length && where(events[n] as EventLogEntry) === project) n += 1;
    const run = events.slice(0, n);
    if (project !== null && runInProject !== undefined) return this.#inProjectRuntime(runInProject, project, run);
    const own = this.#ownProcess.then(() => this.#inOwnProcess(run));
    this.#ownProcess = own.catch(() => undefined);
    return own;
  }

  /** Starts a cancellable run of `events`; `finally` must call the returned `end`. */
  #begin(events: readonly EventLogEntry[]): { signal: AbortSignal; end: () => void } {
    const run = { ids: new Set(events.map((e) => e.id)), cancel: new AbortController() };
    this.#inFlight.add(run);
    return { signal: run.cancel.signal, end: () => { this.#inFlight.delete(run); } };
  }

  /** The plugin's process again, once, however many lanes found it gone; the restart budget first. */
  async #restart(): Promise<SerializedError | null> {
    const spent = this.#budgetSpent();
    if (spent !== null) {
      this.#opts.logger.warn({ err: spent }, 'plugin process lost too often; not restarting it until the plugin is reloaded');
      return spent;
    }
    this.#restarting ??= this.#start().finally(() => { this.#restarting = null; });
    const reloaded = await this.#restarting;
    return reloaded.ok ? null : reloaded.error;
  }

  /**
   * One event (or a batch of one key) in a forked worker: the key's worker
   * while the key has calls there, else an idle or new one (fork-pool.ts).
   * Only that worker dies for a timeout, crash, memory kill or cancel; the
   * other workers' events go on.
   */
  async #inWorker(events: readonly EventLogEntry[], key: string | undefined): Promise<ProcessResult[]> {
    const spent = this.#budgetSpent();
    if (spent !== null) return [{ outcome: 'deactivate', callback: null, error: spent, results: [], failures: [] }];
    if (this.#pool === null || this.#child === null || this.#child.state !== 'ready') {
      const failed = await this.#restart();
      if (failed !== null) return [{ outcome: 'deactivate', callback: null, error: failed, results: [], failures: [] }];
    }
    const pool = this.#pool;
    if (pool === null) return this.#inOwnProcess(events);
    const steps: unknown[] = [];
    let failure: unknown = null;
    const run = this.#begin(events);
    try {
      const lease = await pool.acquire(key, run.signal);
      const worker = lease.worker;
      try {
        await worker.request('plugin_process_batch', { events: events.map((e) => transformOutbound(e)), budgetMs: 50 }, {
          timeoutMs: this.#opts.callbackTimeoutMs,
          signal: run.signal,
          onProgress: (step) => steps.push(step),
        });
      } catch (err) {
        failure = err;
        // As with the plugin's own process: a worker that failed a call is not trusted again.
        await worker.kill();
        if (!run.signal.aborted) this.#budget.lost();
      } finally {
        lease.release();
      }
    } catch (err) {
      failure ??= err; // no worker: the pool is closed, the wait was abandoned, or no worker could be forked
    } finally {
      run.end();
    }
    if (failure !== null && pool.closed && !run.signal.aborted) {
      // The plugin's process was restarted under this event (another call found it gone): deliver it again.
      const done = this.#collect(events, steps, null, run.signal);
      if (done.length < events.length && done.every((r) => r.outcome === 'ok' && r.failures.length === 0)) {
        done.push({ outcome: 'aborted', results: [], failures: [], error: { name: 'PythonPluginError', code: 'PLUGIN_HOST_STATE', message: `plugin ${this.name} restarted its process while the event ran` } });
      }
      return done;
    }
    return this.#collect(events, steps, failure, run.signal);
  }

  async #inOwnProcess(events: readonly EventLogEntry[]): Promise<ProcessResult[]> {
    if (this.#child === null || this.#child.state !== 'ready') {
      const failed = await this.#restart();
      if (failed !== null) return [{ outcome: 'deactivate', callback: null, error: failed, results: [], failures: [] }];
    }
    const child = this.#child;
    if (child === null) throw new PyrpcError('TK_RUNTIME_CLOSED', `Python plugin ${this.name} is not running`);
    const steps: unknown[] = [];
    let failure: unknown = null;
    const run = this.#begin(events);
    try {
      await child.request('plugin_process_batch', { events: events.map((e) => transformOutbound(e)), budgetMs: 50 }, {
        timeoutMs: this.#opts.callbackTimeoutMs,
        signal: run.signal,
        onProgress: (step) => steps.push(step),
      });
    } catch (err) {
      // A timeout, crash, memory kill or cancel ends the process; the event it was in failed (or was cut off), the next batch starts a fresh one.
      await this.#stopProcess();
      if (!run.signal.aborted) this.#budget.lost();
      failure = err;
    } finally {
      run.end();
    }
    return this.#collect(events, steps, failure, run.signal);
  }

  async #inProjectRuntime(runInProject: RunInProject, project: number, events: readonly EventLogEntry[]): Promise<ProcessResult[]> {
    const steps: unknown[] = [];
    let failure: unknown = null;
    const run = this.#begin(events);
    try {
      await runInProject({ type: 'Project', id: project }, this.#spec(), events.map((e) => transformOutbound(e)), run.signal, (step) => steps.push(step));
    } catch (err) {
      failure = err;
    } finally {
      run.end();
    }
    return this.#collect(events, steps, failure, run.signal);
  }

  /** Turns what a call reported into results (results.ts). */
  #collect(events: readonly EventLogEntry[], steps: readonly unknown[], failure: unknown, cancelled: AbortSignal): ProcessResult[] {
    return collectResults(this.#resultPlugin(), events, steps, failure, cancelled);
  }

  #resultPlugin(): ResultPlugin {
    return { name: this.name, callbacks: this.#callbacks, callbackTimeoutMs: this.#opts.callbackTimeoutMs };
  }

  /**
   * Cuts off `eventId` if it is running: the process (or the runtime call, or
   * with concurrency only the worker running it) ends and the event comes back `aborted`.
   */
  cancel(eventId: number): void {
    for (const run of this.#inFlight) if (run.ids.has(eventId)) run.cancel.abort(eventId);
  }

  /** Stops the process and its workers; idempotent. Events still running resolve as `aborted`. */
  async close(): Promise<void> {
    for (const run of this.#inFlight) run.cancel.abort(CLOSED);
    await this.#stopProcess();
  }

  /** Ends the workers, then the plugin's process, then anything left in its process group. */
  async #stopProcess(): Promise<void> {
    const pool = this.#pool;
    const child = this.#child;
    this.#pool = null;
    this.#child = null;
    const results = await Promise.allSettled([pool?.close() ?? Promise.resolve(), child?.close() ?? Promise.resolve()]);
    for (const r of results) if (r.status === 'rejected') this.#opts.logger.warn({ err: describeError(r.reason) }, 'stopping a Python plugin process failed');
    // A worker being forked when the plugin stopped is in the group too.
    const pid = child?.pid;
    if (pid !== undefined && pool !== null && process.platform !== 'win32') {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // The group is empty: every worker is gone.
      }
    }
  }
}
