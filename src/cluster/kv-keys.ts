// A KV bucket's keys in one request, answered by its stream's leader: the
// subjects of `KV_<bucket>` that still hold a message. Not `kv.keys()`: its
// listing ends on a message with nothing pending after it, or on an idle
// heartbeat 5 s after the last message; with the bucket written more often
// than that, a listing that missed its last message never ended (measured:
// 58 s for one listing of 361 on a 3-server cluster with a write a second),
// and whatever awaited it stopped with it. Keys whose last entry is a delete
// or purge marker are listed too: the caller's read of each key tells.
import type { JetStreamManager } from '@nats-io/jetstream';

/**
 * The keys of `bucket` under `filter` (a KV key pattern, `>` for all),
 * deleted ones included.
 *
 * @example
 * const nodes = await kvKeys(conn.jsm, names.nodesBucket);
 */
export async function kvKeys(jsm: JetStreamManager, bucket: string, filter = '>'): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
  return Object.keys(info.state.subjects ?? {}).filter((s) => s.startsWith(prefix)).map((s) => s.slice(prefix.length));
}
