// A batch's events written once for every plugin thread. postMessage of the
// event objects runs a structured clone per thread: with ten plugins the same
// batch was serialised ten times on the main thread (a quarter of its time in
// a catch-up). Here the batch is serialised once with node:v8's serializer,
// the one structured clone uses (Dates, undefined, -0, Maps, shared objects
// all come back as a clone would bring them), and each thread gets a copy of
// the bytes (a memory copy) and reads them on its own side. A later batch
// holding the same event objects in the same order, as the other plugins'
// cursors hand them out during a catch-up, reuses the bytes.
import { deserialize, serialize } from 'node:v8';

interface Written {
  /** The events the bytes hold, in order (compared by identity). */
  events: readonly object[];
  bytes: Uint8Array;
}

/**
 * By first event: events are not changed once read from the site (a fold
 * makes a new object), so the same objects make the same bytes. Weak: the
 * bytes go with the events.
 */
const written = new WeakMap<object, Written>();

function same(a: readonly object[], b: readonly object[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The batch's events as structured-clone bytes, or null when they cannot be
 * serialised (a function inside, say): the caller then posts the objects, and
 * postMessage reports the fault as before.
 */
export function encodeBatch(events: readonly object[]): Uint8Array | null {
  const first = events[0];
  if (first === undefined) return null;
  const known = written.get(first);
  if (known !== undefined && same(known.events, events)) return known.bytes;
  let bytes: Uint8Array;
  try {
    bytes = serialize(events);
  } catch {
    return null;
  }
  written.set(first, { events: [...events], bytes });
  return bytes;
}

/** The events of bytes from encodeBatch; a string saying what is wrong otherwise. */
export function decodeBatch(bytes: Uint8Array): unknown[] | string {
  let events: unknown;
  try {
    events = deserialize(bytes);
  } catch {
    return 'batch: events bytes cannot be read';
  }
  return Array.isArray(events) ? events : 'batch: events bytes must hold a list';
}
