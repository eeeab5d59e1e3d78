/**
 * What a webhook of the local site is subscribed to, and which EventLogEntry rows
 * it receives (protocol.md 4): one delivery per row of an entity lifecycle event
 * (`Shotgun_<Type>_New|Change|Retirement|Revival` → create|update|delete|revive),
 * never for EventLogEntry, ApiUser or `*Connection` types; update hooks skip the
 * `in_create` rows of a creation.
 *
 * Two spellings of one spec: `sgeventd site --webhook URL[,secret=S][,types=T][,batch]`
 * and the admin route's JSON `{url, secret?, types?, batch?}`. A type is
 * `Shot` (every operation) or `Shot:create|update`.
 */
import { z } from 'zod';
import { ConfigError, Secret } from '../shared/index.ts';

export const WEBHOOK_OPERATIONS = ['create', 'update', 'delete', 'revive'] as const;
export type WebhookOperation = (typeof WEBHOOK_OPERATIONS)[number];

const OPERATION_OF: Readonly<Record<string, WebhookOperation>> = { New: 'create', Change: 'update', Retirement: 'delete', Revival: 'revive' };
const EVENT_TYPE_RE = /^Shotgun_([A-Za-z][A-Za-z0-9_]*?)_(New|Change|Retirement|Revival)$/;

/** The entity type and operation of a lifecycle event type; undefined for any other event. */
export function lifecycleOf(eventType: string): { entityType: string; operation: WebhookOperation } | undefined {
  const m = EVENT_TYPE_RE.exec(eventType);
  if (m === null) return undefined;
  return { entityType: m[1]!, operation: OPERATION_OF[m[2]!]! };
}

/** Entity types a real site never sends webhooks for. */
export function isExcludedType(entityType: string): boolean {
  return entityType === 'EventLogEntry' || entityType === 'ApiUser' || entityType.endsWith('Connection');
}

export interface WebhookSpec {
  url: string;
  secret?: Secret;
  /** entity type → operations; undefined: every type and operation. */
  types?: ReadonlyMap<string, ReadonlySet<WebhookOperation>>;
  /** Deliver in batched format (`data.deliveries`). */
  batch: boolean;
}

/** Does a row of `eventType` with `meta` reach a webhook subscribed to `types`? */
export function subscribes(spec: Pick<WebhookSpec, 'types'>, eventType: string, meta: unknown): boolean {
  const life = lifecycleOf(eventType);
  if (life === undefined || isExcludedType(life.entityType)) return false;
  if (life.operation === 'update' && meta !== null && typeof meta === 'object' && (meta as { in_create?: unknown }).in_create === true) return false;
  if (spec.types === undefined) return true;
  return spec.types.get(life.entityType)?.has(life.operation) ?? false;
}

/** Parses `Shot` or `Shot:create|update`, adding to `into`. `key` names the option in errors. */
function addType(key: string, token: string, into: Map<string, Set<WebhookOperation>>): void {
  const [type = '', ops, ...rest] = token.split(':');
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(type) || rest.length > 0) {
    throw new ConfigError(key, `expected an entity type, optionally with operations (Shot or Shot:create|update), got ${JSON.stringify(token)}`, { value: token });
  }
  const set = into.get(type) ?? new Set<WebhookOperation>();
  into.set(type, set);
  for (const op of ops === undefined ? WEBHOOK_OPERATIONS : ops.split('|')) {
    const known = WEBHOOK_OPERATIONS.find((o) => o === op);
    if (known === undefined) throw new ConfigError(key, `operation ${JSON.stringify(op)} of ${type}: expected one of ${WEBHOOK_OPERATIONS.join(', ')}`, { value: token });
    set.add(known);
  }
}

function checkUrl(key: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(key, `expected an http:// or https:// URL, got ${JSON.stringify(raw)}`, { value: raw });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(key, `expected an http:// or https:// URL, got ${JSON.stringify(raw)}`, { value: raw });
  return u.toString();
}

/**
 * `URL[,secret=S][,types=Shot:create|update,Task:update][,batch]`: after `types=`,
 * bare `Type[:ops]` items keep adding types. A secret cannot hold a comma.
 */
export function parseWebhookFlag(raw: string, key = '--webhook'): WebhookSpec {
  const [first = '', ...parts] = raw.split(',');
  const url = checkUrl(key, first.trim());
  let secret: Secret | undefined;
  let types: Map<string, Set<WebhookOperation>> | undefined;
  let batch = false;
  let inTypes = false;
  for (const part of parts) {
    const p = part.trim();
    if (p.startsWith('secret=')) {
      const s = p.slice('secret='.length);
      if (s.length === 0) throw new ConfigError(key, 'secret= needs a value', { value: url });
      secret = new Secret(s);
      inTypes = false;
    } else if (p.startsWith('types=')) {
      types ??= new Map();
      addType(key, p.slice('types='.length), types);
      inTypes = true;
    } else if (p === 'batch') {
      batch = true;
      inTypes = false;
    } else if (inTypes && types !== undefined && !p.includes('=')) {
      addType(key, p, types);
    } else {
      // Never echo the raw flag: it may hold the secret.
      throw new ConfigError(key, `unknown part ${JSON.stringify(p.split('=')[0])} after the URL: expected secret=S, types=Type[:op|op],... or batch`, { value: url });
    }
  }
  return { url, ...(secret === undefined ? {} : { secret }), ...(types === undefined ? {} : { types }), batch };
}

/** The admin route's body (and the programmatic form). */
export const webhookInput = z.object({
  url: z.string(),
  secret: z.string().min(1).optional(),
  types: z.array(z.string()).optional(),
  batch: z.boolean().optional(),
});
export type WebhookInput = z.infer<typeof webhookInput>;

export function specFromInput(input: WebhookInput, key = 'webhook'): WebhookSpec {
  const url = checkUrl(`${key}.url`, input.url);
  let types: Map<string, Set<WebhookOperation>> | undefined;
  if (input.types !== undefined) {
    types = new Map();
    for (const t of input.types) addType(`${key}.types`, t, types);
  }
  return { url, ...(input.secret === undefined ? {} : { secret: new Secret(input.secret) }), ...(types === undefined ? {} : { types }), batch: input.batch ?? false };
}

/** `Shot:create|update` strings of a spec, for listings. */
export function describeTypes(types: WebhookSpec['types']): string[] | undefined {
  if (types === undefined) return undefined;
  return [...types].map(([t, ops]) => `${t}:${[...ops].join('|')}`);
}
