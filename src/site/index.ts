/**
 * The local ShotGrid-compatible site: `startSite(options)` serves the api3 JSON
 * protocol over HTTP from an SQLite store (see server.ts, store.ts, writer.ts).
 */
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { ConfigError, Secret } from '../shared/index.ts';
import { buildSchema, loadSchemaFile } from './schema.ts';
import { loadSchemaDump } from './schema-import.ts';
import { SiteStore } from './store.ts';
import { SiteWriter } from './writer.ts';
import { SiteAuth } from './auth.ts';
import { Api3 } from './methods.ts';
import { createSiteServer, type SiteLogger } from './server.ts';
import { seedDemo, type SeedName } from './seed.ts';
import { FileStore } from './files.ts';
import { UploadRoutes } from './uploads.ts';
import { SiteWebhooks, compileWebhookTuning, toWebhookSpec, type WebhookOptions } from './webhooks.ts';
import { handleWebhookAdmin } from './webhook-admin.ts';

/**
 * How long an idle client connection stays open. Well above the reuse window of
 * the daemon and of Python clients (Node's 5 s default closed connections that an
 * idle `shotgun_api3` then wrote to, which it reports as BrokenPipeError).
 */
export const SITE_KEEP_ALIVE_MS = 75_000;

export interface SiteOptions {
  host?: string;
  port?: number;
  /** SQLite file, or ':memory:' (default). */
  db?: string;
  /** Extra entity types and fields (JSON or YAML). */
  schemaFile?: string;
  /** A studio's schema dumped by `sgeventd site dump-schema`, served instead of the built-in one. */
  schemaFrom?: string;
  seed?: SeedName;
  /** Scripts allowed to connect; default one script `sgeventd` / `sgeventd-key`. */
  scripts?: Array<{ name: string; key: string | Secret }>;
  /** Share (0..1) of api3 requests answered with a 503 or a dropped connection. */
  faultRate?: number;
  /** Delay before every answer. */
  latencyMs?: number;
  /** How long an idle kept-alive connection stays open (default SITE_KEEP_ALIVE_MS). */
  keepAliveMs?: number;
  /** Page size reported by `info` and enforced by `read` (default 500). */
  maxEntitiesPerPage?: number;
  /** Largest request body accepted (default 16 MiB). */
  maxBodyBytes?: number;
  /** Largest uploaded file accepted (default 100 MiB). */
  maxFileBytes?: number;
  /** How long a new thumbnail reads as the transient placeholder, as a real site processing it (default 0: at once). */
  thumbnailPendingMs?: number;
  /** Session token lifetime (default 24 h). */
  sessionTtlMs?: number;
  /** Random source of fault injection (tests pin it). */
  random?: () => number;
  logger?: SiteLogger;
  /** Webhooks sent as a real site sends them (webhooks.ts); also added at run time through `/admin/webhooks`. */
  webhooks?: WebhookOptions;
}

export const DEFAULT_SCRIPT = { name: 'sgeventd', key: 'sgeventd-key' } as const;

export interface RunningSite {
  url: string;
  port: number;
  store: SiteStore;
  writer: SiteWriter;
  auth: SiteAuth;
  /** The next `count` EventLogEntry ids are allocated but stay invisible until released. */
  holdEvents(count: number): void;
  /** Makes held EventLogEntry rows visible (all when `ids` is absent); returns how many. */
  releaseEvents(ids?: number[]): number;
  /** Skips `count` EventLogEntry ids forever. */
  burnEventIds(count: number): void;
  hiddenEventIds(): number[];
  /** Deletes the EventLogEntry rows below `beforeId` (a hosted site's culled log); returns how many. */
  cullEventLog(beforeId: number): number;
  /** Moves every EventLogEntry's created_at back by `days` (an old log); returns how many rows. */
  backdateEventLog(days: number): number;
  /** Invalidates every session token (answers 102 afterwards). */
  expireSessions(): void;
  /** The webhooks the site sends (add, list, remove, status). */
  webhooks: SiteWebhooks;
  /** Calls `listener` with the EventLogEntry ids each commit (or release) makes visible; returns the unsubscribe. */
  onEventsVisible(listener: (ids: readonly number[]) => void): () => void;
  close(): Promise<void>;
}

function checkNumber(name: string, v: number | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < min || v > max) throw new ConfigError(name, `must be a number in [${min}, ${max}], got ${v}`, { value: v });
  return v;
}

/** Starts the site; resolves once it listens. */
export async function startSite(options: SiteOptions = {}): Promise<RunningSite> {
  const faultRate = checkNumber('faultRate', options.faultRate, 0, 1) ?? 0;
  const latencyMs = checkNumber('latencyMs', options.latencyMs, 0, 600_000) ?? 0;
  const maxPerPage = checkNumber('maxEntitiesPerPage', options.maxEntitiesPerPage, 1, 100_000) ?? 500;
  const port = checkNumber('port', options.port, 0, 65535) ?? 0;
  const maxFileBytes = checkNumber('maxFileBytes', options.maxFileBytes, 1, 2 ** 31) ?? 100 * 1024 * 1024;
  const scripts = (options.scripts ?? [DEFAULT_SCRIPT]).map((s) => ({ name: s.name, key: typeof s.key === 'string' ? new Secret(s.key) : s.key }));
  if (scripts.length === 0) throw new ConfigError('scripts', 'needs at least one script', { value: [] });
  const dumped = options.schemaFrom === undefined ? undefined : loadSchemaDump(options.schemaFrom);
  if (dumped !== undefined && dumped.skipped.length > 0) options.logger?.warn({ skipped: dumped.skipped }, 'site: fields of the dumped schema left out');
  const schema = buildSchema(options.schemaFile === undefined ? undefined : loadSchemaFile(options.schemaFile), dumped?.specs);
  const tuning = compileWebhookTuning(options.webhooks ?? {});
  const initialHooks = (options.webhooks?.hooks ?? []).map(toWebhookSpec);
  const store = new SiteStore({ path: options.db ?? ':memory:', schema });
  try {
    const writer = new SiteWriter(store);
    const auth = new SiteAuth(store, scripts, options.sessionTtlMs);
    auth.ensureApiUsers();
    if (options.seed === 'demo') {
      const actor = auth.authenticate({ script_name: scripts[0]!.name, script_key: scripts[0]!.key.reveal() });
      seedDemo(writer, auth, actor);
    }
    const webhooks = new SiteWebhooks(store, tuning, options.logger);
    const visible = new Set<(ids: readonly number[]) => void>();
    const announce = (ids: number[]): void => {
      if (ids.length === 0) return;
      webhooks.committed(ids);
      for (const l of visible) l(ids);
    };
    writer.events.onCommit = announce;
    const api = new Api3(store, writer, auth, { version: [8, 0, 0], maxPerPage });
    const files = new FileStore(store, options.db ?? ':memory:', maxFileBytes);
    const hooks = {
      holdEvents: (count: number) => { writer.events.holdCount += count; },
      releaseEvents: (ids?: number[]) => {
        const before = store.hiddenEventIds();
        const n = store.releaseEvents(ids);
        const still = new Set(store.hiddenEventIds());
        announce(before.filter((id) => !still.has(id)));
        return n;
      },
      burnEventIds: (count: number) => store.burnEventIds(count),
      hiddenEventIds: () => store.hiddenEventIds(),
      cullEventLog: (beforeId: number) => store.cullEventLog(beforeId),
      backdateEventLog: (days: number) => store.backdateEventLog(days * 86_400_000),
      expireSessions: () => auth.expireSessions(),
    };
    const uploads = new UploadRoutes(api, files, checkNumber('thumbnailPendingMs', options.thumbnailPendingMs, 0, 2 ** 31) ?? 0);
    const server = createSiteServer({
      api, faultRate, latencyMs, maxBodyBytes: options.maxBodyBytes ?? 16 * 1024 * 1024,
      random: options.random ?? Math.random, logger: options.logger,
      uploads, maxFileBytes, secrets: () => scripts.map((s) => s.key),
      webhookAdmin: (method, path, headers, raw) => handleWebhookAdmin(webhooks, (n, k) => auth.isScript(n, k), method, path, headers, raw),
    }, hooks);
    const keepAliveMs = checkNumber('keepAliveMs', options.keepAliveMs, 1, 2 ** 31) ?? SITE_KEEP_ALIVE_MS;
    server.keepAliveTimeout = keepAliveMs;
    // Headers of a request on a kept connection must be allowed to arrive after the idle wait.
    server.headersTimeout = keepAliveMs + 5000;
    const host = options.host ?? '127.0.0.1';
    server.listen(port, host);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => { throw e; })]);
    const actual = (server.address() as AddressInfo).port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
    webhooks.siteUrl = `${url}/`;
    for (const h of initialHooks) webhooks.add(h);
    let closing: Promise<void> | undefined;
    return {
      url, port: actual, store, writer, auth, webhooks, ...hooks,
      onEventsVisible(listener) {
        visible.add(listener);
        return () => visible.delete(listener);
      },
      close() {
        closing ??= (async () => {
          try {
            uploads.close();
            await webhooks.close();
            server.closeIdleConnections();
            const closed = new Promise<void>((resolve) => server.close(() => resolve()));
            const timer = setTimeout(() => server.closeAllConnections(), 2000);
            await closed;
            clearTimeout(timer);
          } finally {
            store.close();
          }
        })();
        return closing;
      },
    };
  } catch (err) {
    store.close();
    throw err;
  }
}

export { SiteStore } from './store.ts';
export { SiteWriter } from './writer.ts';
export { SiteAuth } from './auth.ts';
export { SiteFault, FAULT_CODES } from './faults.ts';
export { buildSchema, loadSchemaFile, Schema } from './schema.ts';
export { makeSchemaDump, loadSchemaDump, SCHEMA_DUMP_FORMAT, type SchemaDump } from './schema-import.ts';
export { DEMO_USERS, DEMO_PROJECTS } from './seed.ts';
export type { SiteLogger, RequestRecord } from './server.ts';
export type { Actor } from './writer.ts';
export { SiteWebhooks, WEBHOOK_DEFAULTS, seededRandom, type WebhookOptions, type WebhookInfo } from './webhooks.ts';
export { parseWebhookFlag, type WebhookSpec, type WebhookInput, type WebhookOperation } from './webhook-spec.ts';
export type { DeliveryItem } from './webhook-payload.ts';
