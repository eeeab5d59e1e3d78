// This node's copy of a plugin (worker.ts): its thread or process, loaded
// before the node campaigns so a takeover does not wait for a load, and
// loaded again one load at a time. A load that hit a site error is tried
// again with the backoff of one machine; any other load failure is reported
// with the recipients of the last good load (`setEmails`).
import type { Logger } from 'pino';
import type { PluginFolderConfig } from '../config/index.ts';
import { loadRetryDelayMs, type PluginLoadFailure } from '../dispatch/index.ts';
import type { LoadResult, PluginHost, PluginHostFactory } from '../hosts/index.ts';
import type { EmailRecipients, JsPluginFile, PythonPluginFile } from '../plugins/index.ts';

export interface WarmCopyOptions {
  /** The plugin's name, as load failures report it. */
  name: string;
  entry: JsPluginFile | PythonPluginFile;
  folder: PluginFolderConfig;
  hosts: PluginHostFactory;
  log: Logger;
  /** The plugin's own logger (its hosts log there); `log` when absent. */
  pluginLogger?: Logger | undefined;
  /** Aborted when the worker stops: no load is planned after that. */
  stop: AbortSignal;
  /** A load failed for the plugin's own reason (an import or registration error). */
  onLoadFailure?: ((failure: PluginLoadFailure) => void) | undefined;
  /** A load planned after a site error has run: the worker looks again. */
  onRetried(): void;
}

/** A plugin's host on this node, and what its last load gave. */
export class WarmCopy {
  readonly #opts: WarmCopyOptions;
  #entry: JsPluginFile | PythonPluginFile;
  #host: PluginHost | null = null;
  #loaded: LoadResult | null = null;
  /** Serialises loads of the host (a standby's reload, the first load). */
  #ready: Promise<void> = Promise.resolve();
  /** What the last successful load set with `setEmails` (true until then): where a later load failure is mailed. */
  #emails: EmailRecipients = true;
  /** Loads in a row that hit a site error, and the timer of the next attempt. */
  #attempts = 0;
  #retry: NodeJS.Timeout | null = null;

  constructor(opts: WarmCopyOptions) {
    this.#opts = opts;
    this.#entry = opts.entry;
  }

  get host(): PluginHost | null {
    return this.#host;
  }

  get loaded(): LoadResult | null {
    return this.#loaded;
  }

  /** Resolves once the load under way (if any) has ended. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** The plugin file the next load reads (a changed file). */
  replaceEntry(entry: JsPluginFile | PythonPluginFile): void {
    this.#entry = entry;
  }

  /** (Re)creates and loads the host, after any load under way. */
  load(): Promise<void> {
    const { log } = this.#opts;
    const next = this.#ready.then(async () => {
      // A load now replaces any attempt planned after a site error.
      this.#cancelRetry();
      const old = this.#host;
      this.#host = null;
      this.#loaded = null;
      await old?.close().catch((err: unknown) => log.warn({ err }, 'closing the plugin host failed'));
      const host = this.#opts.hosts.create(this.#entry, this.#opts.folder, this.#opts.pluginLogger ?? log);
      this.#host = host;
      const loaded = await host.load();
      this.#loaded = loaded;
      if (loaded.ok) {
        this.#attempts = 0;
        this.#emails = loaded.emails;
      } else if (loaded.error.code === 'PLUGIN_LOAD_SITE_ERROR') {
        // The site, not the plugin: load again with backoff (as on one machine), then campaign.
        const stop = this.#opts.stop;
        if (stop.aborted) return;
        const delayMs = loadRetryDelayMs(this.#attempts++);
        log.warn({ err: loaded.error, retryInMs: delayMs, attempt: this.#attempts }, 'plugin load hit a site error on this node; trying again');
        this.#retry = setTimeout(() => {
          this.#retry = null;
          // Only while still failed: a node holding the lease swaps its host through a reload of its term, never here.
          if (!stop.aborted && this.#loaded?.ok !== true) void this.load().then(() => this.#opts.onRetried());
        }, delayMs);
        this.#retry.unref();
      } else {
        log.error({ err: loaded.error }, 'plugin failed to load on this node; this node does not campaign for it until it loads');
        this.#opts.onLoadFailure?.({ plugin: this.#opts.name, error: loaded.error, emails: this.#emails });
      }
    });
    this.#ready = next.catch((err: unknown) => log.error({ err }, 'loading the plugin failed unexpectedly'));
    return this.#ready;
  }

  /** Plans no more loads, waits for the one under way, and closes the host. */
  async close(): Promise<void> {
    this.#cancelRetry();
    await this.#ready;
    await this.#host?.close().catch((err: unknown) => this.#opts.log.warn({ err }, 'closing the plugin host failed'));
    this.#opts.log.debug('plugin host closed');
  }

  #cancelRetry(): void {
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
  }
}
