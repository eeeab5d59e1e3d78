/**
 * The site's webhooks: the registry (added by `--webhook`, the start options or
 * `POST /admin/webhooks`), and the step from committed EventLogEntry rows to
 * deliveries. The writer announces the rows of each transaction once it commits
 * (writer.ts); they are read back and queued on the next turn of the event loop,
 * so a write's answer never waits on a webhook. A row held invisible (a late
 * commit, `holdEvents`) is delivered when it is released.
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'undici';
import { ConfigError, Secret } from '../shared/index.ts';
import type { SiteLogger } from './server.ts';
import type { SiteStore } from './store.ts';
import { WebhookSender, type SenderTuning, type WebhookCounts, type WebhookState } from './webhook-sender.ts';
import type { DeliveryItem } from './webhook-payload.ts';
import { ResponseBudget } from './webhook-throttle.ts';
import { describeTypes, lifecycleOf, specFromInput, subscribes, webhookInput, type WebhookInput, type WebhookSpec } from './webhook-spec.ts';

/** Tuning of the site's webhooks; every field optional (defaults in WEBHOOK_DEFAULTS). */
export interface WebhookOptions {
  /** Webhooks present from the start. */
  hooks?: Array<WebhookSpec | WebhookInput>;
  /** Each delivery is sent this long after its row commits (a site that delivers late). */
  delayMs?: number;
  /** Share (0..1) of requests dropped, duplicated or reordered (a third each). */
  faultRate?: number;
  /** Random source of the faults (default: seeded by `faultSeed`, else Math.random). */
  random?: () => number;
  faultSeed?: number;
  /** A batched webhook sends at once when its last request is this old, else it gathers rows until then (real sites: 2 s). */
  batchWindowMs?: number;
  /** The site-wide throttle: answer time allowed to all webhooks together per `throttleWindowMs` (real sites: 1 min per min). */
  throttleBudgetMs?: number;
  throttleWindowMs?: number;
  /** Answer time allowed per request (batched: max(this, 1 s per event)). */
  timeoutMs?: number;
  /** Attempts per delivery, the first included. */
  maxAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Failed requests within `failureWindowMs` that mark the webhook failed (no further attempts). */
  failureThreshold?: number;
  failureWindowMs?: number;
  /** Deliveries waiting per webhook; more are abandoned (counted). */
  maxQueued?: number;
  /** A reordered request waits at most this long for a successor to overtake it. */
  reorderHoldMs?: number;
}

/** The one table of webhook defaults (protocol.md 4 where a real site documents one). */
export const WEBHOOK_DEFAULTS = {
  delayMs: 0,
  faultRate: 0,
  batchWindowMs: 2000,
  throttleBudgetMs: 60_000,
  throttleWindowMs: 60_000,
  timeoutMs: 6000,
  maxAttempts: 5,
  retryBaseMs: 1000,
  retryMaxMs: 60_000,
  failureThreshold: 100,
  failureWindowMs: 24 * 60 * 60 * 1000,
  maxQueued: 100_000,
  reorderHoldMs: 1000,
} as const;

/** A deterministic random source (mulberry32), so seeded fault runs repeat. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checked(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < min || v > max) throw new ConfigError(`webhooks.${name}`, `must be a number in [${min}, ${max}], got ${v}`, { value: v });
  return v;
}

/** Options → validated tuning, once, at start. */
export function compileWebhookTuning(o: WebhookOptions): SenderTuning {
  const d = WEBHOOK_DEFAULTS;
  const day = d.failureWindowMs;
  return {
    delayMs: checked('delayMs', o.delayMs, d.delayMs, 0, day),
    faultRate: checked('faultRate', o.faultRate, d.faultRate, 0, 1),
    batchWindowMs: checked('batchWindowMs', o.batchWindowMs, d.batchWindowMs, 0, 60_000),
    timeoutMs: checked('timeoutMs', o.timeoutMs, d.timeoutMs, 1, 600_000),
    maxAttempts: checked('maxAttempts', o.maxAttempts, d.maxAttempts, 1, 100),
    retryBaseMs: checked('retryBaseMs', o.retryBaseMs, d.retryBaseMs, 0, day),
    retryMaxMs: checked('retryMaxMs', o.retryMaxMs, d.retryMaxMs, 0, day),
    failureThreshold: checked('failureThreshold', o.failureThreshold, d.failureThreshold, 1, 1_000_000),
    failureWindowMs: checked('failureWindowMs', o.failureWindowMs, d.failureWindowMs, 1, 30 * day),
    maxQueued: checked('maxQueued', o.maxQueued, d.maxQueued, 1, 10_000_000),
    reorderHoldMs: checked('reorderHoldMs', o.reorderHoldMs, d.reorderHoldMs, 0, 600_000),
    budget: new ResponseBudget(
      checked('throttleBudgetMs', o.throttleBudgetMs, d.throttleBudgetMs, 1, day),
      checked('throttleWindowMs', o.throttleWindowMs, d.throttleWindowMs, 1, day),
    ),
    random: o.random ?? (o.faultSeed === undefined ? Math.random : seededRandom(o.faultSeed)),
  };
}

/** What the admin route lists for one webhook (never its secret). */
export interface WebhookInfo extends WebhookCounts {
  id: string;
  url: string;
  types?: string[];
  batch: boolean;
  signed: boolean;
  status: WebhookState;
  queued: number;
  lastError?: string;
}

interface EventRow {
  id: number;
  _hidden: number;
  event_type: string;
  attribute_name: string | null;
  meta: string | null;
  entity__type: string | null;
  entity__id: number | null;
  user__type: string | null;
  user__id: number | null;
  project__type: string | null;
  project__id: number | null;
  session_uuid: string | null;
  created_at: string | null;
}

/** The JSON form checked against its schema; the error names the webhook field. */
export function parseInput(raw: unknown): WebhookInput {
  const r = webhookInput.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue === undefined || issue.path.length === 0 ? 'webhook' : `webhook.${issue.path.join('.')}`;
  throw new ConfigError(path, `expected {url: string, secret?: non-empty string, types?: ["Shot:create|update", ...], batch?: boolean}: ${issue?.message ?? 'invalid'}`);
}

/** A spec as given, or parsed from the JSON form. */
export function toWebhookSpec(spec: WebhookSpec | WebhookInput): WebhookSpec {
  return spec.secret instanceof Secret || spec.types instanceof Map ? spec as WebhookSpec : specFromInput(parseInput(spec));
}

const ref = (type: string | null, id: number | null) => (type === null || id === null ? null : { type, id });

/** `2026-01-02T03:04:05Z` (as stored) → `2026-01-02 03:04:05.000000` (as a webhook writes it). */
function webhookTime(stored: string | null): string {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?/.exec(stored ?? '');
  if (m === null) return stored ?? '';
  return `${m[1]} ${m[2]}.${(m[3] ?? '').padEnd(6, '0').slice(0, 6)}`;
}

export class SiteWebhooks {
  readonly #store: SiteStore;
  readonly #tuning: SenderTuning;
  readonly #logger: SiteLogger | undefined;
  readonly #senders = new Map<string, { sender: WebhookSender; n: number }>();
  readonly #agent = new Agent({ keepAliveTimeout: 10_000 });
  #committed: number[][] = [];
  #scheduled: NodeJS.Immediate | undefined;
  #transactions = 0;
  #added = 0;
  #closed = false;
  /** `x-sg-webhook-site-url`; set once the site listens. */
  siteUrl = '';

  constructor(store: SiteStore, tuning: SenderTuning, logger?: SiteLogger) {
    this.#store = store;
    this.#tuning = tuning;
    this.#logger = logger;
  }

  /** Adds a webhook (a parsed spec, or the admin route's JSON form); bad input is a ConfigError. */
  add(spec: WebhookSpec | WebhookInput): WebhookInfo {
    const parsed = toWebhookSpec(spec);
    const id = randomUUID();
    const sender = new WebhookSender(id, parsed, this.#tuning, this.siteUrl, this.#agent, this.#logger);
    this.#senders.set(id, { sender, n: ++this.#added });
    return this.#info(sender);
  }

  /** Stops and forgets a webhook; false when there is none with that id. */
  async remove(id: string): Promise<boolean> {
    const s = this.#senders.get(id);
    if (s === undefined) return false;
    this.#senders.delete(id);
    await s.sender.close();
    return true;
  }

  /** Enables a failed webhook again (as a site admin does); undefined when there is none with that id. */
  enable(id: string): WebhookInfo | undefined {
    const s = this.#senders.get(id);
    if (s === undefined) return undefined;
    s.sender.enable();
    return this.#info(s.sender);
  }

  list(): WebhookInfo[] {
    return [...this.#senders.values()].map((s) => this.#info(s.sender));
  }

  get(id: string): WebhookInfo | undefined {
    const s = this.#senders.get(id);
    return s === undefined ? undefined : this.#info(s.sender);
  }

  #info(w: WebhookSender): WebhookInfo {
    const types = describeTypes(w.spec.types);
    return {
      id: w.id, url: w.shownUrl, ...(types === undefined ? {} : { types }), batch: w.spec.batch, signed: w.spec.secret !== undefined,
      status: w.state, queued: w.queued, ...w.counts, ...(w.lastError === undefined ? {} : { lastError: w.lastError }),
    };
  }

  /** The ids one transaction made visible (a commit, or a release of held rows). */
  committed(ids: number[]): void {
    if (this.#closed || ids.length === 0 || this.#senders.size === 0) return;
    this.#committed.push(ids);
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = undefined;
      const batches = this.#committed;
      this.#committed = [];
      try {
        for (const ids of batches) this.#deliver(ids);
      } catch (err) {
        this.#logger?.error({ err: String(err) }, 'site: webhook deliveries not queued');
      }
    });
  }

  #deliver(ids: number[]): void {
    if (this.#closed || !this.#store.db.open) return;
    const rows = (this.#store.prepare(`SELECT id, _hidden, event_type, attribute_name, meta, entity__type, entity__id, user__type, user__id,
      project__type, project__id, session_uuid, created_at FROM e_EventLogEntry WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`)
      .all(JSON.stringify(ids)) as EventRow[]).filter((r) => r._hidden === 0 && lifecycleOf(r.event_type) !== undefined);
    if (rows.length === 0) return;
    const tx = ++this.#transactions;
    const parsed = rows.map((r) => ({ row: r, meta: r.meta === null ? null : JSON.parse(r.meta) as unknown }));
    for (const { sender, n } of this.#senders.values()) {
      const mine = parsed.filter((p) => subscribes(sender.spec, p.row.event_type, p.meta));
      if (mine.length === 0) continue;
      const batchId = String(tx);
      sender.enqueue(mine.map((p, index) => ({ item: this.#item(`${tx}.${n}.${index}`, p.row, p.meta), eventBatch: { id: batchId, size: mine.length, index } })));
    }
  }

  #item(id: string, r: EventRow, meta: unknown): DeliveryItem {
    return {
      id, event_log_entry_id: r.id, event_type: r.event_type, operation: lifecycleOf(r.event_type)!.operation,
      user: ref(r.user__type, r.user__id), entity: ref(r.entity__type, r.entity__id), project: ref(r.project__type, r.project__id),
      meta, attribute_name: r.attribute_name, created_at: webhookTime(r.created_at), session_uuid: r.session_uuid,
    };
  }

  /** Stops every sender; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    const results = await Promise.allSettled([...this.#senders.values()].map((s) => s.sender.close()));
    this.#senders.clear();
    await this.#agent.close();
    for (const r of results) if (r.status === 'rejected') this.#logger?.error({ err: String(r.reason) }, 'site: webhook sender did not stop cleanly');
  }
}
