// The entry point of a plugin's worker thread: imports the plugin file, runs
// its registerCallbacks, then runs callbacks for the events the host sends.
// Only the host talks to this file, through the messages of protocol.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { PluginError, serializeError, type PluginErrorCode, type SerializedError } from '../../plugins/errors.ts';
import { canProcess } from '../../plugins/match.ts';
import { checkToWorker, checkWorkerConfig, type BatchMessage } from './to-worker.ts';
import { PluginRegistrar, type RegisteredCallback } from '../../plugins/registrar.ts';
import { createLogger, post, setLogLevel, settleRequest } from './channel.ts';
import { BatchProgress } from './progress.ts';
import { enableTransform, installPluginLoader, TRANSFORM_QUERY } from './plugin-loader.ts';
import { toolkitFor } from './toolkit-client.ts';
import { createCallbackClient, type CallbackClient } from './sg.ts';
import { collectGarbage } from './collect.ts';
import type { CallbackContext, EventLogEntry, PluginLogger, PluginToolkit, RegisterCallbacks } from '../../plugins/types.ts';

interface LoadedCallback {
  reg: RegisteredCallback;
  logger: PluginLogger;
  client: CallbackClient | PluginError;
}

const config = checkWorkerConfig(workerData);
setLogLevel(config.logLevel);
const pluginLogger = createLogger({});
let callbacks: LoadedCallback[] = [];

// A forgotten promise in plugin code must not take the whole thread down.
process.on('unhandledRejection', (reason) => {
  pluginLogger.error({ err: serializeError(reason, 'PLUGIN_CALLBACK_ERROR') }, 'unhandled promise rejection in plugin');
});

/** Error codes of a failure to reach the site: Node's socket errors, undici's, and the api3 client's transport codes. */
const SITE_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'SG_CONNECTION', 'SG_TIMEOUT', 'SG_HTTP_STATUS']);

/** A load that failed on the site (not on the plugin's code) is worth another try: by error code, whatever the phase. */
function isSiteError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (SITE_ERROR_CODES.has(code) || code.startsWith('UND_ERR_'))) return true;
  }
  return false;
}

function loadFault(err: unknown, code: PluginErrorCode): SerializedError {
  if (err instanceof PluginError) return serializeError(err, code);
  if (isSiteError(err)) code = 'PLUGIN_LOAD_SITE_ERROR';
  const out = serializeError(err, code);
  // Load faults carry our code; the plugin's own code, if any, stays in details.
  if (out.code !== code) out.details = { ...out.details, originalCode: out.code };
  out.code = code;
  return out;
}

function findRegisterCallbacks(mod: Record<string, unknown>): RegisterCallbacks | undefined {
  if (typeof mod.registerCallbacks === 'function') return mod.registerCallbacks as RegisterCallbacks;
  const def = mod.default;
  if (typeof def === 'function') return def as RegisterCallbacks;
  if (typeof def === 'object' && def !== null && typeof (def as Record<string, unknown>).registerCallbacks === 'function') {
    return (def as { registerCallbacks: RegisterCallbacks }).registerCallbacks;
  }
  return undefined;
}

async function load(): Promise<void> {
  let mod: Record<string, unknown>;
  try {
    installPluginLoader();
    const href = pathToFileURL(config.file).href;
    try {
      mod = await import(href) as Record<string, unknown>;
    } catch (err) {
      // Syntax Node's type stripping refuses (enum, parameter properties...), or a
      // plugin folder under node_modules, where Node strips nothing: compile it instead.
      const code = (err as { code?: unknown } | null)?.code;
      if (code !== 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX' && code !== 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING') throw err;
      enableTransform();
      mod = await import(`${href}?${TRANSFORM_QUERY}`) as Record<string, unknown>;
    }
  } catch (err) {
    post({ type: 'load-failed', error: loadFault(err, 'PLUGIN_IMPORT_FAILED') });
    return;
  }
  const register = findRegisterCallbacks(mod);
  if (register === undefined) {
    post({ type: 'load-failed', error: serializeError(new PluginError('PLUGIN_NO_REGISTER', `no registerCallbacks function exported by ${config.file}`, { details: { file: config.file } }), 'PLUGIN_NO_REGISTER') });
    return;
  }
  const registrar = new PluginRegistrar(pluginLogger);
  try {
    await register(registrar);
  } catch (err) {
    post({ type: 'load-failed', error: loadFault(err, 'PLUGIN_REGISTER_FAILED') });
    return;
  }

  callbacks = createClients(registrar.callbacks);
  post({
    type: 'loaded',
    emails: typeof registrar.emails === 'boolean' ? registrar.emails : [...registrar.emails],
    ...(registrar.concurrency === undefined ? {} : { concurrency: registrar.concurrency }),
    callbacks: registrar.callbacks.map((c) => ({
      index: c.index,
      name: c.name,
      scriptName: c.scriptName,
      matchEvents: c.matchEvents === undefined || c.matchEvents === null ? null : structuredClone(c.matchEvents) as Record<string, string[] | string | null>,
      stopOnError: c.stopOnError,
      ...cloneable(c.args),
    })),
  });
}

function cloneable(args: unknown): { args?: unknown } {
  try {
    return { args: structuredClone(args) };
  } catch {
    return {};
  }
}

function createClients(regs: readonly RegisteredCallback[]): LoadedCallback[] {
  return regs.map((reg) => {
    let client: CallbackClient | PluginError;
    try {
      client = createCallbackClient({ endpoint: config.sgEndpoint, scriptName: reg.scriptName, scriptKey: reg.scriptKey });
    } catch (err) {
      client = new PluginError('PLUGIN_SG_UNAVAILABLE', `could not create the api3 client for script ${reg.scriptName}`, { cause: err });
    }
    return { reg, logger: createLogger({ callback: reg.name }), client };
  });
}

/**
 * What a callback gets. A class, not a literal with getters: one is made per
 * callback run, thousands a second in a catch-up. `sg` and `toolkit` are made
 * on first use.
 */
class Context implements CallbackContext {
  readonly logger: PluginLogger;
  readonly event: EventLogEntry;
  readonly args: unknown;
  readonly attempt: number;
  readonly replay: boolean;
  readonly key: string;
  readonly #cb: LoadedCallback;
  readonly #seq: number;
  #sg: CallbackClient | undefined;
  #toolkit: PluginToolkit | undefined;

  constructor(cb: LoadedCallback, event: EventLogEntry, attempt: number, replay: boolean, seq: number) {
    this.#cb = cb;
    this.#seq = seq;
    this.logger = cb.logger;
    this.event = event;
    this.args = cb.reg.args;
    this.attempt = attempt;
    this.replay = replay;
    this.key = `${config.site}:${event.id}:${config.plugin}:${cb.reg.name}`;
  }

  get sg(): CallbackClient {
    const client = this.#cb.client;
    if (client instanceof PluginError) throw client;
    this.#sg ??= config.useSessionUuid ? client.withOptions({ sessionUuid: this.event.session_uuid ?? null }) : client;
    return this.#sg;
  }

  get toolkit(): PluginToolkit {
    this.#toolkit ??= toolkitFor(this.event, this.#seq);
    return this.#toolkit;
  }
}

/**
 * Runs a batch: each event's matching callbacks in registration order, the
 * events one after the other. Stops after an event with a failing callback
 * (shotgunEvents' Plugin._process: a failing stopOnError callback also ends
 * its event), or once the batch's time budget is spent, so the host hears
 * about failures, cursors and stop requests promptly.
 */
async function processBatch(msg: BatchMessage): Promise<void> {
  const progress = new BatchProgress(msg.progress);
  const events = msg.events as unknown as EventLogEntry[];
  const deadline = performance.now() + msg.budgetMs;
  let ran = 0;
  for (let e = 0; e < events.length; e++) {
    const event = events[e] as EventLogEntry;
    let failed = false;
    for (const cb of e === 0 ? callbacks.slice(msg.fromIndex) : callbacks) {
      if (!canProcess(cb.reg.matchEvents, event)) continue;
      const startedAt = Date.now();
      progress.begin(e, cb.reg.index, startedAt);
      const t0 = performance.now();
      let error: SerializedError | undefined;
      try {
        await cb.reg.callback(new Context(cb, event, msg.attempt, msg.replay, msg.seq));
      } catch (err) {
        error = serializeError(err, 'PLUGIN_CALLBACK_ERROR');
      }
      const durationMs = performance.now() - t0;
      // The details go first, so the host has them whatever happens next.
      if (error !== undefined) post({ type: 'batch-error', seq: msg.seq, event: e, index: cb.reg.index, error });
      if (!progress.end(e, cb.reg.index, startedAt, durationMs, error !== undefined)) {
        throw new PluginError('PLUGIN_PROTOCOL', `batch progress buffer full at event ${event.id}`);
      }
      if (error !== undefined) {
        failed = true;
        if (cb.reg.stopOnError) break;
      }
    }
    ran = e + 1;
    if (failed || performance.now() >= deadline) break;
  }
  post({ type: 'batch-done', seq: msg.seq, events: ran });
}

function onMessage(raw: unknown): void {
  const msg = checkToWorker(raw);
  if (typeof msg === 'string') {
    pluginLogger.error({ problem: msg }, 'plugin worker received a malformed message');
    return;
  }
  switch (msg.type) {
    case 'load':
      load().catch((err: unknown) => post({ type: 'load-failed', error: loadFault(err, 'PLUGIN_IMPORT_FAILED') }));
      break;
    case 'batch':
      processBatch(msg).catch((err: unknown) => {
        pluginLogger.fatal({ err: serializeError(err, 'PLUGIN_PROTOCOL') }, 'plugin worker failed while processing');
        process.exit(70);
      });
      break;
    case 'response':
      settleRequest(msg.id, msg.ok || msg.error === undefined
        ? { ok: true, result: msg.result }
        : { ok: false, error: msg.error });
      break;
    case 'shutdown':
      process.exit(0);
      break;
    case 'collect':
      post({ type: 'collected', ...collectGarbage() });
      break;
  }
}

parentPort?.on('message', onMessage);
