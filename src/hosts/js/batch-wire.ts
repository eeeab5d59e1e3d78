// A batch's events written once for every plugin thread. postMessage of the
// event objects runs a structured clone per thread: with ten plugins the same
// batch was serialised ten times on the main thread (a quarter of its time in
// a catch-up). Here the batch is serialised once with node:v8's serializer,
// the one structured clone uses (Dates, undefined, -0, Maps, shared objects
// all come back as a clone would bring them), and each thread gets a copy of
// the bytes (a memory copy) and reads them on its own side. A later batch
// holding the same event objects in the same order, as the other plugins'
// cursors hand them out during a catch-up, or a tail of them, reuses the bytes.
import { deserialize, serialize } from 'node:v8';

interface Written {
  /** The events the bytes hold, in order (compared by identity). */
  events: readonly object[];
  bytes: Uint8Array;
}

/**
 * By last event: events are not changed once read from the site (a fold
 * makes a new object), so the same objects make the same bytes. A batch a
 * thread cut short on its time budget comes back as the tail of the one
 * before: keyed by the last event, the tail finds the bytes of the whole and
 * the thread skips what ran already. Weak: the bytes go with the events.
 */
const written = new WeakMap<object, Written>();

/**
 * The batch's events as structured-clone bytes, with how many leading events
 * of those bytes the thread skips; null when they cannot be serialised (a
 * function inside, say): the caller then posts the objects, and postMessage
 * reports the fault as before.
 */
export function encodeBatch(events: readonly object[]): { bytes: Uint8Array; skip: number } | null {
  const last = events.at(-1);
  if (last === undefined) return null;
  const known = written.get(last);
  if (known !== undefined && known.events.length >= events.length) {
    const skip = known.events.length - events.length;
    let same = true;
    for (let i = 0; i < events.length && same; i++) same = known.events[skip + i] === events[i];
    if (same) return { bytes: known.bytes, skip };
  }
  let bytes: Uint8Array;
  try {
    bytes = serialize(events);
  } catch {
    return null;
  }
  written.set(last, { events: [...events], bytes });
  return { bytes, skip: 0 };
}

/** The events of bytes from encodeBatch, less the first `skip`; a string saying what is wrong otherwise. */
export function decodeBatch(bytes: Uint8Array, skip = 0): unknown[] | string {
  let events: unknown;
  try {
    events = deserialize(bytes);
  } catch {
    return 'batch: events bytes cannot be read';
  }
  if (!Array.isArray(events)) return 'batch: events bytes must hold a list';
  return skip === 0 ? (events as unknown[]) : (events as unknown[]).slice(skip);
}
