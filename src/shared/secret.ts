import { inspect } from 'node:util';

const MASK = '********';

/**
 * A value that must never reach a log line or an error message (script keys,
 * SMTP passwords, session tokens). Printing, JSON-encoding or inspecting it
 * shows a mask; only `reveal()` gives the value, at the one place that sends it.
 *
 * @example
 * const key = new Secret(process.env.SG_KEY ?? '');
 * logger.info({ key }, 'connecting'); // logs "key":"********"
 * body.script_key = key.reveal();
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  get isEmpty(): boolean {
    return this.#value.length === 0;
  }

  toString(): string {
    return MASK;
  }

  toJSON(): string {
    return MASK;
  }

  [inspect.custom](): string {
    return `Secret(${MASK})`;
  }
}

/** Replaces every occurrence of each secret in `text` with a mask. */
export function redact(text: string, secrets: Iterable<Secret | string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    const v = s instanceof Secret ? s.reveal() : s;
    if (v !== undefined && v.length >= 4) out = out.split(v).join(MASK);
  }
  return out;
}

/**
 * Masks a fixed set of secret values wherever they occur in text that leaves
 * the daemon (log lines, pages, CLI output, mail, stored error texts), as
 * written and as JSON or HTML would escape them. Values shorter than 4
 * characters are not masked (they would mask ordinary text).
 *
 * @example
 * const mask = new SecretMask([config.site.script.key, config.http.token]);
 * res.end(mask.mask(JSON.stringify(doc)));
 */
export class SecretMask {
  readonly #forms: readonly string[];

  constructor(secrets: Iterable<Secret | string | undefined>) {
    const forms = new Set<string>();
    for (const s of secrets) {
      const v = s instanceof Secret ? s.reveal() : s;
      if (v === undefined || v.length < 4) continue;
      forms.add(v);
      forms.add(JSON.stringify(v).slice(1, -1));
      forms.add(JSON.stringify(JSON.stringify(v).slice(1, -1)).slice(1, -1));
      forms.add(escapeHtml(v));
    }
    // Longest first, so a secret containing another is masked whole.
    this.#forms = [...forms].sort((a, b) => b.length - a.length);
  }

  get isEmpty(): boolean {
    return this.#forms.length === 0;
  }

  mask(text: string): string {
    let out = text;
    for (const f of this.#forms) if (out.includes(f)) out = out.split(f).join(MASK);
    return out;
  }

  /** A copy of a JSON value with every string masked (the mask leaves JSON valid). */
  maskJson<T>(value: T): T {
    if (this.isEmpty || value === undefined) return value;
    return JSON.parse(this.mask(JSON.stringify(value))) as T;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
