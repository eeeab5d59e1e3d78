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
