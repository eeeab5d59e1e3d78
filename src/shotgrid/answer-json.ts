/**
 * Decoding an answer's bytes: JSON.parse of their UTF-8 text, as
 * `Response.text()` gives it. A read page of 500 events is about 270 KB of
 * text; V8 makes a string that large (over its regular object size) in its
 * large-object space, where each one is costly to make and to collect: as one
 * string a page cost the daemon's main thread about twice what it does parsed
 * in pieces of about 16 KB. So an answer that starts `{"results": {"entities": [`
 * (the shape of every read page) has its records parsed a piece at a time,
 * cut at the commas between them, and the rest of the answer parsed with the
 * records left out; they are put back in order. Anything else, and any answer
 * the pieces do not parse (bad JSON, a shape other than expected), is parsed
 * whole, so what comes back, or the error thrown, is what JSON.parse of the
 * whole text gives.
 */

const decoder = new TextDecoder();

/** Answers smaller than this are parsed whole. */
const LARGE = 64 * 1024;
/** Bytes of records parsed together. */
const PIECE = 16 * 1024;

const OPEN = /^\{\s*"results"\s*:\s*\{\s*"entities"\s*:\s*\[$/;

/** The text of an answer (what `Response.text()` gives: UTF-8, a leading BOM dropped). */
export function answerText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** JSON.parse(answerText(bytes)); throws as that does. */
export function parseAnswer(bytes: Uint8Array): unknown {
  if (bytes.length >= LARGE) {
    const v = parseInPieces(bytes);
    if (v !== undefined) return v;
  }
  return JSON.parse(answerText(bytes)) as unknown;
}

/** The answer parsed in pieces, or undefined when it does not have the shape (then it is parsed whole). */
export function parseInPieces(bytes: Uint8Array): unknown {
  const cut = cuts(bytes);
  if (cut === undefined) return undefined;
  const { open, close, commas } = cut;
  const head = decoder.decode(bytes.subarray(0, open + 1));
  if (!OPEN.test(head)) return undefined;
  try {
    // The answer with an empty list of records, then the records.
    const answer = JSON.parse(head + decoder.decode(bytes.subarray(close))) as { results?: { entities?: unknown } };
    const records = answer.results?.entities;
    if (!Array.isArray(records) || records.length !== 0) return undefined;
    let from = open + 1;
    for (const end of [...commas, close]) {
      const piece = JSON.parse(`[${decoder.decode(bytes.subarray(from, end))}]`) as unknown[];
      for (const r of piece) records.push(r);
      from = end + 1;
    }
    return answer;
  } catch {
    return undefined;
  }
}

/**
 * Where the first list three levels deep opens and closes, and commas between
 * its items about every PIECE bytes (none inside a string: `"` and `\` are
 * followed; UTF-8 continuation bytes are never ASCII). Undefined without one.
 */
function cuts(b: Uint8Array): { open: number; close: number; commas: number[] } | undefined {
  let depth = 0;
  let open = -1;
  let last = 0;
  const commas: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x22) {
      // A string: to its closing quote, skipping escaped characters.
      for (i++; i < b.length && b[i] !== 0x22; i++) if (b[i] === 0x5c) i++;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 3 && c === 0x5b && open < 0) {
        open = i;
        last = i;
      }
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 3 && open >= 0) return c === 0x5d ? { open, close: i, commas } : undefined;
      depth--;
    } else if (c === 0x2c && depth === 3 && open >= 0 && i - last >= PIECE) {
      commas.push(i);
      last = i;
    }
  }
  return undefined;
}
