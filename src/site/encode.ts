/**
 * Answers encoded in pieces: a page of 500 events is about 270 KB of JSON, and
 * V8 makes a string that large (over its regular object size) in its large
 * object space, where each one is costly to make and to collect: writing a page
 * as one string cost three times what writing it 50 records at a time does.
 * So the records of a `{results: {entities: [...]}}` answer are stringified a
 * slice at a time and the bytes joined; the bytes are those JSON.stringify of
 * the whole body gives (JSON.stringify of an array is its items' texts joined
 * by commas, an object's its keys in order).
 */

/** Records stringified together: well under V8's regular string size for any page of events. */
const SLICE = 50;

/** The UTF-8 bytes of JSON.stringify(body). */
export function encodeBody(body: unknown): Buffer {
  const entities = pageOf(body);
  if (entities === undefined) return Buffer.from(JSON.stringify(body), 'utf8');
  const results = (body as { results: Record<string, unknown> }).results;
  const parts: Buffer[] = [Buffer.from('{"results":{"entities":[', 'utf8')];
  for (let i = 0; i < entities.length; i += SLICE) {
    const text = JSON.stringify(entities.slice(i, i + SLICE));
    // `[a,b]` without its brackets; slices after the first start with a comma.
    parts.push(Buffer.from(`${i === 0 ? '' : ','}${text.slice(1, -1)}`, 'utf8'));
  }
  const { entities: _entities, ...rest } = results;
  const restText = JSON.stringify(rest);
  // The other keys of `results` (paging_info) close it: `,"paging_info":{...}}`; then the body's brace.
  parts.push(Buffer.from(`]${restText === '{}' ? '}' : `,${restText.slice(1)}`}}`, 'utf8'));
  return Buffer.concat(parts);
}

/**
 * The records of a read answer worth encoding in pieces: `body` is exactly
 * `{results}`, `results` a plain object whose first key is `entities`, a plain
 * array longer than one slice, nothing with a `toJSON` of its own on the way.
 */
function pageOf(body: unknown): unknown[] | undefined {
  if (!isPlain(body)) return undefined;
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'results') return undefined;
  const results = (body as { results: unknown }).results;
  if (!isPlain(results)) return undefined;
  const first = Object.keys(results)[0];
  const entities = (results as { entities?: unknown }).entities;
  if (first !== 'entities' || !Array.isArray(entities) || Object.getPrototypeOf(entities) !== Array.prototype) return undefined;
  return entities.length > SLICE ? entities : undefined;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype && !('toJSON' in v);
}
