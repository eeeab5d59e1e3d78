// A webhook sender as a site is (protocol.md §4): the body and headers of a
// delivery, signed with a secret, posted over real HTTP to the daemon's receiver.
import { createHmac, randomUUID } from 'node:crypto';
import type { RunningSite } from '../../src/site/index.ts';
import { serveDaemon, type Daemon } from '../../src/daemon/index.ts';
import type { DaemonConfig } from '../../src/config/index.ts';
import { onCleanup, type Cleanup } from '../support/index.ts';

export const SECRET = 'wh-secret-0f3c9a';

export function sign(body: string, secret: string): string {
  return `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;
}

/** The `data` of one delivery for event `id` (a Shot change unless told). */
export function deliveryData(id: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `${id}.1.0`, event_log_entry_id: id, event_type: 'Shotgun_Shot_Change', operation: 'update',
    user: { type: 'ApiUser', id: 1 }, entity: { type: 'Shot', id: 1 }, project: { type: 'Project', id: 1 },
    meta: { type: 'attribute_change', attribute_name: 'description', entity_type: 'Shot', entity_id: 1, new_value: 'x' },
    created_at: '2026-11-30 12:00:00.000000', attribute_name: 'description', session_uuid: null, ...extra,
  };
}

/** A single delivery body. */
export function singleBody(id: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ data: deliveryData(id, extra), timestamp: new Date().toISOString() });
}

/** A batched body: each item as a single delivery would be, without delivery_id. */
export function batchBody(ids: readonly number[]): string {
  return JSON.stringify({ data: { deliveries: ids.map((id) => ({ data: deliveryData(id), timestamp: new Date().toISOString() })) }, timestamp: new Date().toISOString() });
}

export interface PostOptions {
  /** Sign with this secret; none: unsigned. */
  secret?: string;
  /** A signature header as given (a wrong one). */
  signature?: string;
  method?: string;
  headers?: Record<string, string>;
}

/** Posts `body` as the site does; returns the status code. */
export async function post(url: string, body: string, o: PostOptions = {}): Promise<number> {
  const headers: Record<string, string> = {
    'content-type': 'application/json', 'x-sg-webhook-id': 'wh-1', 'x-sg-delivery-id': randomUUID(), ...o.headers,
  };
  const signature = o.signature ?? (o.secret === undefined ? undefined : sign(body, o.secret));
  if (signature !== undefined) headers['x-sg-signature'] = signature;
  const method = o.method ?? 'POST';
  const res = await fetch(url, { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body }) });
  await res.arrayBuffer();
  return res.status;
}

export interface Served {
  daemon: Daemon;
  statusUrl: string | null;
  webhookUrl: string;
}

/** The daemon as `foreground` runs it (status server, webhook receiver, loop), stopped when the test ends. */
export async function serve(t: Cleanup, config: DaemonConfig, opts: { logFiles?: boolean } = {}): Promise<Served> {
  const steps: Array<() => Promise<void>> = [];
  onCleanup(t, async () => {
    for (const step of steps.reverse()) await step();
  });
  const { daemon, statusUrl, webhookUrl } = await serveDaemon({
    config, console: false, logFiles: opts.logFiles ?? false, recordUrl: false, watch: { pollIntervalMs: 100, debounceMs: 20 },
  }, { register: (step) => steps.push(step) });
  if (webhookUrl === null) throw new Error('the config has no webhooks section');
  return { daemon, statusUrl, webhookUrl };
}

/** Writes `count` Shot changes in the site's own process; returns their event ids. */
export function writeChanges(site: RunningSite, count: number, entity = 'Shot'): number[] {
  const actor = site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
  const project = site.store.db.prepare('SELECT id FROM e_Project ORDER BY id LIMIT 1').get() as { id: number };
  const before = site.store.lastEventId();
  const rec = site.writer.create(actor, entity, [{ field_name: 'code', value: `wh${before}` }, { field_name: 'project', value: { type: 'Project', id: project.id } }]);
  const afterCreate = site.store.lastEventId();
  for (let i = 0; i < count; i++) site.writer.update(actor, entity, rec.id, [{ field_name: 'description', value: `v${before}-${i}` }]);
  const after = site.store.lastEventId();
  return Array.from({ length: after - afterCreate }, (_, i) => afterCreate + 1 + i);
}

/** The value of a Prometheus series in exposition text (0 when absent). */
export function metric(text: string, series: string): number {
  const escaped = series.replace(/[{}"]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}
