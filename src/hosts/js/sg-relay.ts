// The main-thread side of plugin threads' `sg`: runs each `sg.call` request
// on an api3 client authenticated as the asking callback's script, over one
// keep-alive pool (through `site.proxy` when set, each request bounded by
// `site.timeoutMs`). A call stops when its thread is gone (callback timeout,
// crash, reload): the host's per-thread signal aborts the HTTP request.
import { z } from 'zod';
import type { Dispatcher } from 'undici';
import { Secret } from '../../shared/secret.ts';
import { ShotgunClient, siteDispatcher } from '../../shotgrid/index.ts';
import { PluginError } from '../../plugins/errors.ts';
import { SG_METHODS, type SgCallParams, type SgMethod } from './sg-call.ts';

const sgCallSchema = z.object({
  method: z.enum(SG_METHODS),
  args: z.array(z.unknown()),
  scriptName: z.string().min(1),
  scriptKey: z.string().min(1),
  sessionUuid: z.string().optional(),
  sudoAsLogin: z.string().optional(),
});

/** Clients kept per script (name and key); a plugin registers a handful, so this bound is never reached in practice. */
const MAX_CLIENTS = 64;

export interface SgRelayOptions {
  siteUrl: string;
  /** `site.proxy`. */
  proxy?: string | undefined;
  /** `site.timeoutMs`: what each request waits for the site at most. */
  timeoutMs?: number | undefined;
}

export class SgRelay {
  readonly #options: SgRelayOptions;
  #dispatcher: Dispatcher | undefined;
  readonly #clients = new Map<string, ShotgunClient>();
  #closed = false;

  constructor(options: SgRelayOptions) {
    this.#options = options;
  }

  /**
   * Runs one `sg.call`; answers what the client method answered (a session
   * token as its text: the thread wraps it in a Secret again). Client errors
   * propagate as they are; the host serializes them for the thread.
   */
  async call(raw: unknown, signal: AbortSignal): Promise<unknown> {
    if (this.#closed) throw new PluginError('PLUGIN_HOST_STATE', 'the plugin host is closed');
    const parsed = sgCallSchema.safeParse(raw);
    if (!parsed.success) {
      // Never the params themselves: they carry the script key.
      throw new PluginError('PLUGIN_PROTOCOL', `malformed sg call from the plugin thread: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
    }
    const p: SgCallParams = parsed.data;
    const view = this.#client(p.scriptName, p.scriptKey).withOptions({ sessionUuid: p.sessionUuid ?? null, sudoAsLogin: p.sudoAsLogin ?? null, signal });
    // The plugin API types `sg` loosely; the client checks its arguments as it did in the thread.
    const result = await (view as unknown as Record<SgMethod, (...args: unknown[]) => Promise<unknown>>)[p.method](...p.args);
    return result instanceof Secret ? result.reveal() : result;
  }

  #client(scriptName: string, scriptKey: string): ShotgunClient {
    const id = `${scriptName}\n${scriptKey}`;
    let client = this.#clients.get(id);
    if (client !== undefined) return client;
    this.#dispatcher ??= siteDispatcher(this.#options.proxy, { keepAliveTimeout: 30_000 });
    client = new ShotgunClient({
      baseUrl: this.#options.siteUrl,
      auth: { kind: 'script', scriptName, scriptKey: new Secret(scriptKey) },
      dispatcher: this.#dispatcher,
      ...(this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs }),
    });
    if (this.#clients.size >= MAX_CLIENTS) {
      const oldest = this.#clients.keys().next().value;
      if (oldest !== undefined) this.#clients.delete(oldest);
    }
    this.#clients.set(id, client);
    return client;
  }

  /** Closes the pool; later calls fail with PLUGIN_HOST_STATE. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clients.clear();
    const d = this.#dispatcher;
    this.#dispatcher = undefined;
    await d?.close();
  }
}
