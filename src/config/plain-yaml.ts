// A reader for the plain part of YAML that config files are written in:
// block mappings and sequences, one-line flow collections, plain and quoted
// one-line scalars, comments. It exists for start-up speed only: the `yaml`
// package is about 70 modules, most of what a quick command (`status`,
// `plugin ls`) would otherwise load. For any text outside that subset it
// answers null and the caller uses the `yaml` package, so it never decides
// what a document means where it could differ from `yaml` (anchors, tags,
// block scalars, multi-line scalars, odd keys, duplicate keys: null).
// test/config/plain-yaml.test.ts holds it to `yaml`'s answer on every config
// of the repository and on the cases it refuses.

type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

interface Line {
  /** Column of the first character of `text`. */
  indent: number;
  /** The line from that column on (a comment-only line is dropped). */
  text: string;
}

/** Thrown inside the reader when the text leaves the subset; never escapes it. */
class OutsideSubset extends Error {}

function out(): never {
  throw new OutsideSubset();
}

// YAML 1.2 core schema, as the `yaml` package resolves plain scalars.
const NULL = /^(?:~|null|Null|NULL)$/;
const BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const INT = /^[-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
/** Plain scalars the core schema reads in forms left to the `yaml` package (hex, octal, infinities, NaN). */
const OTHER_NUMBER = /^(?:[-+]?0[xo]|[-+]?\.(?:inf|Inf|INF)$|\.(?:nan|NaN|NAN)$)/;
/** Keys read the same by any schema: names, and decimal integers without a leading zero. */
const KEY = /^(?:[A-Za-z_$][A-Za-z0-9_$-]*|0|[1-9][0-9]{0,14})$/;
/** Characters that start something other than a plain scalar. */
const INDICATOR = /^[&*!|>%@`?,\]}#]|^-(?:\s|$)|^:(?:\s|$)/;

function resolvePlain(text: string): Value {
  if (text === '' || NULL.test(text)) return null;
  if (BOOL.test(text)) return text.toLowerCase() === 'true';
  if (OTHER_NUMBER.test(text)) out();
  if (INT.test(text) || FLOAT.test(text)) {
    const n = Number(text);
    // Past 2^53 the `yaml` package and Number may round differently.
    if (!Number.isFinite(n) || (Number.isInteger(n) && !Number.isSafeInteger(n))) out();
    return n;
  }
  return text;
}

function checkKey(key: string): string {
  if (!KEY.test(key) || NULL.test(key) || BOOL.test(key) || key === '__proto__') out();
  return key;
}

/** A quoted scalar starting at `s[at]`; returns its value and the index after the closing quote. */
function readQuoted(s: string, at: number): { value: string; end: number } {
  const quote = s[at];
  let value = '';
  for (let i = at + 1; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c !== "'") {
        value += c;
      } else if (s[i + 1] === "'") {
        value += "'";
        i++;
      } else {
        return { value, end: i + 1 };
      }
    } else if (c === '"') {
      return { value, end: i + 1 };
    } else if (c === '\\') {
      const e = s[++i];
      const escaped = e === undefined ? undefined : ({ '\\': '\\', '"': '"', '/': '/', n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e];
      if (escaped === undefined) out();
      value += escaped;
    } else {
      value += c;
    }
  }
  return out(); // not closed on this line: a multi-line scalar
}

/** What may follow a value on its line: spaces, then a comment or nothing. */
function checkRest(s: string, at: number): void {
  const rest = s.slice(at);
  if (rest.trim() !== '' && !/^\s+#/.test(rest)) out();
}

/** A one-line flow collection or scalar inside `{ }` / `[ ]`, starting at `s[at]`. */
function readFlow(s: string, at: number): { value: Value; end: number } {
  let i = at;
  const skip = (): void => {
    while (s[i] === ' ' || s[i] === '\t') i++;
  };
  skip();
  const c = s[i];
  if (c === '"' || c === "'") {
    const q = readQuoted(s, i);
    return { value: q.value, end: q.end };
  }
  if (c === '{' || c === '[') {
    const close = c === '{' ? '}' : ']';
    const map: Record<string, Value> = {};
    const seq: Value[] = [];
    i++;
    skip();
    if (s[i] === close) return { value: c === '{' ? map : seq, end: i + 1 };
    for (;;) {
      if (c === '{') {
        // Keys are names here (a plain `176` would be a number to `yaml`: left to it).
        const key = readFlow(s, i);
        if (typeof key.value !== 'string') out();
        const name = checkKey(String(key.value));
        i = key.end;
        skip();
        if (s[i] !== ':' || Object.hasOwn(map, name)) out();
        const v = readFlow(s, i + 1);
        map[name] = v.value;
        i = v.end;
      } else {
        const v = readFlow(s, i);
        seq.push(v.value);
        i = v.end;
      }
      skip();
      if (s[i] === close) return { value: c === '{' ? map : seq, end: i + 1 };
      if (s[i] !== ',') out();
      i++;
      skip();
      if (s[i] === close || s[i] === ',') out(); // a trailing or empty entry
    }
  }
  // In flow context a plain scalar may not start with "-", "?" or ":" before a flow indicator either.
  if (c === undefined || INDICATOR.test(s.slice(i)) || /^[-?:](?:[\s,[\]{}]|$)/.test(s.slice(i)) || '{[]}'.includes(c)) out();
  // A plain scalar in flow context ends at , [ ] { } or a ": "; nothing may follow it but those.
  let j = i;
  while (j < s.length && !',[]{}'.includes(s[j]!) && !(s[j] === ':' && /[\s,\]}]/.test(s[j + 1] ?? ' ')) && !(s[j] === '#' && /\s/.test(s[j - 1] ?? ''))) j++;
  if (s[j] === '#' || s[j] === '[' || s[j] === '{') out();
  return { value: resolvePlain(s.slice(i, j).trim()), end: j };
}

/** The value written after `key:` or `- ` on one line: a scalar or a flow collection, and nothing after it but a comment. */
function readInline(s: string): Value {
  const c = s[0]!;
  if (c === '"' || c === "'" || c === '{' || c === '[') {
    const v = readFlow(s, 0);
    checkRest(s, v.end);
    return v.value;
  }
  if (INDICATOR.test(s) || c === ']' || c === '}') out();
  const comment = /\s#/.exec(s);
  const text = (comment === null ? s : s.slice(0, comment.index)).trim();
  // "a: b" in a plain scalar, or a trailing ":", is a mapping where none may start.
  if (/:(?:\s|$)/.test(text)) out();
  return resolvePlain(text);
}

/** `key: rest` at the start of `text`, or null when the line is not a mapping entry. */
function splitKey(text: string): { key: string; rest: string } | null {
  if (text[0] === '{' || text[0] === '[') return null;
  if (text[0] === '"' || text[0] === "'") {
    const q = readQuoted(text, 0);
    if (text[q.end] !== ':' || !/^(?:\s|$)/.test(text.slice(q.end + 1))) return null;
    return { key: checkKey(q.value), rest: text.slice(q.end + 1).trim() };
  }
  const m = /^([^\s:#][^:]*?):(?:\s+|$)(.*)$/.exec(text);
  if (m === null) return null;
  return { key: checkKey(m[1]!), rest: m[2]! };
}

const isItem = (text: string): boolean => text === '-' || text.startsWith('- ');
const commentOnly = (s: string): boolean => s === '' || s.startsWith('#');

class BlockReader {
  readonly #lines: Line[];
  #at = 0;

  constructor(lines: Line[]) {
    this.#lines = lines;
  }

  document(): Value {
    const first = this.#lines[0];
    if (first === undefined) out(); // empty, or comments only
    const value = this.#node(first.indent);
    if (this.#at < this.#lines.length) out();
    return value;
  }

  /** A block node whose first line is the current one, at column `indent`. */
  #node(indent: number): Value {
    const line = this.#lines[this.#at]!;
    if (isItem(line.text)) return this.#sequence(indent);
    if (splitKey(line.text) !== null) return this.#mapping(indent);
    // A lone scalar or flow collection as the whole node.
    const value = readInline(line.text);
    this.#at++;
    return value;
  }

  /** The value after `key:` or `-` with nothing else on its line: the lines below, indented more (or a sequence at the key's own column). */
  #below(indent: number, sequenceHere: boolean): Value {
    const next = this.#lines[this.#at];
    if (next === undefined || next.indent < indent || (next.indent === indent && !(sequenceHere && isItem(next.text)))) return null;
    return this.#node(next.indent);
  }

  /** After a one-line value, the next line may not be indented more (it would continue a scalar). */
  #afterInline(indent: number): void {
    const next = this.#lines[this.#at];
    if (next !== undefined && next.indent > indent) out();
  }

  #mapping(indent: number): Record<string, Value> {
    const map: Record<string, Value> = {};
    while (this.#at < this.#lines.length) {
      const line = this.#lines[this.#at]!;
      if (line.indent < indent) break;
      if (line.indent > indent) out();
      const entry = splitKey(line.text);
      if (entry === null || Object.hasOwn(map, entry.key)) out();
      const { key, rest } = entry;
      this.#at++;
      if (commentOnly(rest)) {
        map[key] = this.#below(indent, true);
      } else {
        map[key] = readInline(rest);
        this.#afterInline(indent);
      }
    }
    return map;
  }

  #sequence(indent: number): Value[] {
    const seq: Value[] = [];
    while (this.#at < this.#lines.length) {
      const line = this.#lines[this.#at]!;
      if (line.indent < indent || (line.indent === indent && !isItem(line.text))) break;
      if (line.indent > indent) out();
      const rest = line.text.slice(1).trimStart();
      // A tab between the dash and a node on its line would count as indentation: left to `yaml`.
      if (line.text.slice(1, line.text.length - rest.length).includes('\t')) out();
      if (commentOnly(rest)) {
        this.#at++;
        seq.push(this.#below(indent, false));
      } else if (isItem(rest) || splitKey(rest) !== null) {
        // `- key: v` or `- - v`: a node that starts on the item's line, at the column after the dash.
        this.#lines[this.#at] = { indent: indent + line.text.length - rest.length, text: rest };
        seq.push(this.#node(indent + line.text.length - rest.length));
      } else {
        this.#at++;
        seq.push(readInline(rest));
        this.#afterInline(indent);
      }
    }
    return seq;
  }
}

/**
 * The value of a YAML document written in the plain subset described above,
 * equal to what `yaml`'s `parse(text, { uniqueKeys: true })` returns; null
 * when the text is outside that subset (the caller then uses `yaml`).
 */
export function parsePlainYaml(text: string): { value: unknown } | null {
  const source = text.replace(/^\uFEFF/, '');
  // Control characters, non-characters, white space other than spaces and
  // tabs (JavaScript's trim would take it, YAML does not) and lone carriage
  // returns: left to `yaml`.
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF\uFFFE\uFFFF]|\r(?!\n)/.test(source)) return null;
  const lines: Line[] = [];
  for (const raw of source.split(/\r?\n/)) {
    const body = raw.trimStart();
    const lead = raw.slice(0, raw.length - body.length);
    if (commentOnly(body.trimEnd())) continue;
    // Tabs in indentation, directives and document markers: left to `yaml`.
    if (lead.includes('\t') || body.startsWith('%') || /^(?:---|\.\.\.)(?:\s|$)/.test(body)) return null;
    lines.push({ indent: lead.length, text: body.trimEnd() });
  }
  try {
    return { value: new BlockReader(lines).document() };
  } catch (err) {
    if (err instanceof OutsideSubset) return null;
    throw err;
  }
}
