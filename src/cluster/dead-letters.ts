// Dead letters in cluster mode: a KV bucket per cluster and site, one key per
// (plugin, event, callback), written by the plugin's owner before the cursor
// commit that passes the event, so a dead letter survives the owner's death.
// `sgeventd dlq retry` marks entries; the owner (whichever node it is then)
// runs them through its lanes and deletes them once they pass.
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { z } from 'zod';
import type { DeadLetter, DeadLetterStatus, NewDeadLetter } from '../state/index.ts';
import { SgeventdError } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import { ClusterRecordError } from './errors.ts';
import { CLUSTER_FORMAT, checkFormat } from './format.ts';
import { kvKeys } from './kv-keys.ts';
import { keyToken, type ClusterNames } from './names.ts';

const OPEN_ATTEMPTS = 4;

/** The KV bucket of one cluster and site's dead letters. */
export function deadLetterBucket(names: ClusterNames): string {
  return `SGE_${names.cluster}_${names.site}_DLQ`;
}

const recordSchema = z.object({
  format: z.number().int(),
  pluginId: z.string(),
  callback: z.string(),
  eventId: z.number().int().positive(),
  event: z.unknown(),
  error: z.string(),
  attempts: z.number().int().nonnegative(),
  status: z.enum(['dead', 'retry']),
  createdAt: z.number(),
  updatedAt: z.number(),
});

type DeadLetterRecord = z.infer<typeof recordSchema>;

/** A stored dead letter with its KV key. In cluster mode its `id` is its event's id. */
export interface ClusterDeadLetter extends DeadLetter {
  readonly key: string;
}

/**
 * The cluster's dead letters. Only a plugin's owner adds entries; the CLI
 * marks them for retry or drops them (last writer wins: an operator's word).
 *
 * @example
 * const book = await DeadLetterBook.open(conn, names, 3);
 * await book.requestRetry([1234], pluginId);
 */
export class DeadLetterBook {
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;

  private constructor(kv: KV, jsm: JetStreamManager, bucket: string) {
    this.#kv = kv;
    this.#jsm = jsm;
    this.#bucket = bucket;
  }

  /** Opens (or makes) the bucket; parallel creates may time out on 2.9.x (#3880): tried again. */
  static async open(conn: Pick<ClusterConnection, 'js' | 'jsm'>, names: ClusterNames, replicas: number): Promise<DeadLetterBook> {
    const kvm = new Kvm(conn.js);
    for (let attempt = 1; ; attempt++) {
      try {
        return new DeadLetterBook(await kvm.create(deadLetterBucket(names), { replicas, history: 1 }), conn.jsm, deadLetterBucket(names));
      } catch (err) {
        if (attempt >= OPEN_ATTEMPTS) {
          throw new SgeventdError('CLUSTER_DLQ_UNAVAILABLE', `the dead-letter bucket ${deadLetterBucket(names)} could not be opened`, { cause: err, details: { bucket: deadLetterBucket(names) } });
        }
      }
    }
  }

  /** Stores a dead letter (again: the same event and callback keep one entry). */
  async add(entry: NewDeadLetter): Promise<void> {
    const key = entryKey(entry.pluginId, entry.eventId, entry.callback);
    const prev = await this.#get(key);
    const now = Date.now();
    const rec: DeadLetterRecord = {
      format: CLUSTER_FORMAT, pluginId: entry.pluginId, callback: entry.callback, eventId: entry.eventId, event: entry.event,
      error: entry.error, attempts: entry.attempts, status: 'dead', createdAt: prev?.createdAt ?? now, updatedAt: now,
    };
    await this.#kv.put(key, JSON.stringify(rec));
  }

  /** Ordered by plugin, then event id, then callback. */
  async list(filter: { pluginId?: string; status?: DeadLetterStatus } = {}): Promise<ClusterDeadLetter[]> {
    // One bounded request (kv-keys.ts); deleted and purged keys read as null below.
    const keys = await kvKeys(this.#jsm, this.#bucket, filter.pluginId === undefined ? '>' : `${keyToken(filter.pluginId)}.>`);
    const out: ClusterDeadLetter[] = [];
    for (const key of keys) {
      const rec = await this.#get(key);
      if (rec === null || (filter.status !== undefined && rec.status !== filter.status)) continue;
      out.push({ ...rec, id: rec.eventId, key });
    }
    return out.sort((a, b) => (a.pluginId < b.pluginId ? -1 : a.pluginId > b.pluginId ? 1 : a.eventId - b.eventId || (a.callback < b.callback ? -1 : 1)));
  }

  /** Marks dead entries (by event id, or all) for retry; returns how many changed. */
  async requestRetry(ids: number[] | 'all', pluginId?: string): Promise<number> {
    let n = 0;
    for (const d of await this.#chosen(ids, pluginId)) {
      if (d.status !== 'dead') continue;
      await this.#kv.put(d.key, JSON.stringify({ ...record(d), status: 'retry', updatedAt: Date.now() }));
      n++;
    }
    return n;
  }

  /** Deletes entries (by event id, or all); returns how many. */
  async drop(ids: number[] | 'all', pluginId?: string): Promise<number> {
    const chosen = await this.#chosen(ids, pluginId);
    for (const d of chosen) await this.#kv.purge(d.key);
    return chosen.length;
  }

  /** The retried event went through: the entry goes. */
  async resolve(d: ClusterDeadLetter): Promise<void> {
    await this.#kv.purge(d.key);
  }

  /** The retried event failed again: back to dead, attempts + 1, error replaced. */
  async fail(d: ClusterDeadLetter, error: string): Promise<void> {
    await this.#kv.put(d.key, JSON.stringify({ ...record(d), status: 'dead', attempts: d.attempts + 1, error, updatedAt: Date.now() }));
  }

  async #chosen(ids: number[] | 'all', pluginId?: string): Promise<ClusterDeadLetter[]> {
    const all = await this.list(pluginId === undefined ? {} : { pluginId });
    if (ids === 'all') return all;
    const wanted = new Set(ids);
    return all.filter((d) => wanted.has(d.eventId));
  }

  async #get(key: string): Promise<DeadLetterRecord | null> {
    const e = await this.#kv.get(key);
    if (e === null || e.operation !== 'PUT' || e.length === 0) return null;
    const raw = e.json<unknown>();
    checkFormat(typeof raw === 'object' && raw !== null ? (raw as { format?: unknown }).format : undefined, `dead letter ${key}`);
    const parsed = recordSchema.safeParse(raw);
    if (!parsed.success) throw new ClusterRecordError(`dead letter ${key}`, `not a dead-letter record (${parsed.error.issues.map((i) => i.message).join('; ')})`);
    return parsed.data;
  }
}

function record(d: ClusterDeadLetter): DeadLetterRecord {
  return {
    format: CLUSTER_FORMAT, pluginId: d.pluginId, callback: d.callback, eventId: d.eventId, event: d.event,
    error: d.error, attempts: d.attempts, status: d.status, createdAt: d.createdAt, updatedAt: d.updatedAt,
  };
}

/** `<plugin>.<event id>.<callback>`, each part a token of letters, digits, '-' and `_XX`. */
function entryKey(pluginId: string, eventId: number, callback: string): string {
  return `${keyToken(pluginId)}.${eventId}.${keyToken(callback)}`;
}
