import type { RunningSite } from '../../src/site/index.ts';

export const SCRIPT = { script_name: 'sgeventd', script_key: 'sgeventd-key' };

export interface Fault {
  exception: true;
  message: string;
  error_code: number;
}

/** Posts one raw api3 envelope and returns the decoded body. */
export async function rpc(site: RunningSite, method: string, params?: unknown, auth: Record<string, unknown> | null = SCRIPT): Promise<Record<string, unknown>> {
  const envelope = { method_name: method, params: [...(auth === null ? [] : [auth]), ...(params === undefined ? [] : [params])] };
  const res = await fetch(`${site.url}/api3/json`, {
    method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(envelope), signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

/** `results` of a successful call; throws with the fault when there is one. */
export async function results<T = unknown>(site: RunningSite, method: string, params?: unknown, auth: Record<string, unknown> | null = SCRIPT): Promise<T> {
  const body = await rpc(site, method, params, auth);
  if (body.exception === true) throw new Error(`fault ${String(body.error_code)}: ${String(body.message)}`);
  return body.results as T;
}

export type Entity = Record<string, unknown> & { type: string; id: number };

/** find: the filters in list form, wrapped as the Python client sends them. */
export async function find(site: RunningSite, type: string, conditions: unknown[], fields: string[] = ['id'], extra: Record<string, unknown> = {}): Promise<Entity[]> {
  const r = await results<{ entities: Entity[] }>(site, 'read', {
    type, return_fields: fields, filters: { logical_operator: 'and', conditions: conditions.map(cond) }, return_only: 'active',
    paging: { current_page: 1, entities_per_page: 500 }, ...extra,
  });
  return r.entities;
}

function cond(c: unknown): unknown {
  if (!Array.isArray(c)) return c;
  const [path, relation, ...values] = c as unknown[];
  return { path, relation, values: values.length === 1 && Array.isArray(values[0]) ? values[0] : values };
}

export async function create(site: RunningSite, type: string, data: Record<string, unknown>, returnFields: string[] = [], auth = SCRIPT): Promise<Entity> {
  return results<Entity>(site, 'create', { type, fields: Object.entries(data).map(([field_name, value]) => ({ field_name, value })), return_fields: returnFields }, auth);
}

export async function update(site: RunningSite, type: string, id: number, data: Record<string, unknown>, modes: Record<string, string> = {}): Promise<Entity> {
  return results<Entity>(site, 'update', {
    type, id, fields: Object.entries(data).map(([field_name, value]) => ({ field_name, value, ...(modes[field_name] ? { multi_entity_update_mode: modes[field_name] } : {}) })),
  });
}

export async function faultOf(site: RunningSite, method: string, params?: unknown, auth: Record<string, unknown> | null = SCRIPT): Promise<Fault> {
  const body = await rpc(site, method, params, auth);
  if (body.exception !== true) throw new Error(`expected a fault, got ${JSON.stringify(body).slice(0, 200)}`);
  return body as unknown as Fault;
}

export async function events(site: RunningSite, afterId = 0): Promise<Entity[]> {
  return find(site, 'EventLogEntry', [['id', 'greater_than', afterId]],
    ['event_type', 'attribute_name', 'meta', 'entity', 'user', 'project', 'session_uuid', 'created_at', 'description'],
    { sorts: [{ field_name: 'id', direction: 'asc' }] });
}

export async function lastEventId(site: RunningSite): Promise<number> {
  const r = await find(site, 'EventLogEntry', [], ['id'], { sorts: [{ field_name: 'id', direction: 'desc' }], paging: { current_page: 1, entities_per_page: 1 } });
  return r[0]?.id ?? 0;
}

/**
 * Empties the event log of a fresh site, ids included: the recorded transcripts were
 * made on a site whose demo seed wrote no events.
 */
export function clearEventLog(site: RunningSite): void {
  site.store.db.exec("DELETE FROM e_EventLogEntry; DELETE FROM sqlite_sequence WHERE name = 'e_EventLogEntry'");
}
