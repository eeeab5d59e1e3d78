// The worker-side Registrar handed to a plugin's registerCallbacks.
import { Secret } from '../shared/secret.ts';
import { PluginError } from './errors.ts';
import { checkMatchEvents } from './match.ts';
import type { CallbackRegistration, ConcurrencyDeclaration, EmailRecipients, MatchEvents, PluginCallback, PluginLogger, Registrar } from './types.ts';

/** One registered callback, as the worker keeps it. */
export interface RegisteredCallback {
  index: number;
  name: string;
  scriptName: string;
  scriptKey: Secret;
  callback: PluginCallback;
  matchEvents: MatchEvents;
  args: unknown;
  stopOnError: boolean;
}

function bad(message: string, details: Record<string, unknown> = {}): PluginError {
  return new PluginError('PLUGIN_BAD_REGISTRATION', message, { details });
}

function toSecret(key: unknown): Secret {
  if (typeof key === 'string') return new Secret(key);
  // A Secret from another copy of the module still has reveal().
  if (typeof key === 'object' && key !== null && typeof (key as { reveal?: unknown }).reveal === 'function') {
    const value = (key as { reveal: () => unknown }).reveal();
    if (typeof value === 'string') return new Secret(value);
  }
  throw bad('scriptKey must be a string or a Secret');
}

/** Collects registrations; `callbacks` and `emails` are read after registerCallbacks returns. */
export class PluginRegistrar implements Registrar {
  readonly logger: PluginLogger;
  readonly callbacks: RegisteredCallback[] = [];
  emails: EmailRecipients = true;
  /** What the file declared with setConcurrency, if anything. */
  concurrency: ConcurrencyDeclaration | undefined;

  constructor(logger: PluginLogger) {
    this.logger = logger;
  }

  setEmails(...emails: unknown[]): void {
    const [first] = emails;
    if (emails.length === 1 && typeof first === 'boolean') {
      this.emails = first;
    } else if (emails.length === 1 && Array.isArray(first)) {
      this.emails = checkAddresses(first);
    } else {
      this.emails = checkAddresses(emails);
    }
  }

  setConcurrency(concurrency: unknown): void {
    const c = concurrency as Partial<ConcurrencyDeclaration> | null;
    if (typeof c !== 'object' || c === null || !['none', 'project', 'entity'].includes(c.by as string)) {
      throw bad("setConcurrency takes { by: 'none' | 'project' | 'entity', max }", { by: c?.by });
    }
    if (typeof c.max !== 'number' || !Number.isInteger(c.max) || c.max < 1) throw bad('setConcurrency max must be a positive integer', { max: c.max });
    this.concurrency = { by: c.by as ConcurrencyDeclaration['by'], max: c.max };
  }

  registerCallback(...params: unknown[]): void {
    const first = params[0];
    const reg: Partial<CallbackRegistration> & Record<string, unknown> =
      params.length === 1 && typeof first === 'object' && first !== null
        ? { ...(first as Record<string, unknown>) }
        : {
          scriptName: params[0] as string,
          scriptKey: params[1] as string,
          callback: params[2] as PluginCallback,
          matchEvents: params[3] as MatchEvents,
          args: params[4],
          stopOnError: params[5] as boolean | undefined,
        };

    if (typeof reg.scriptName !== 'string' || reg.scriptName.length === 0) throw bad('scriptName must be a non-empty string');
    const scriptKey = toSecret(reg.scriptKey);
    if (typeof reg.callback !== 'function') {
      throw bad('callback must be a function', { scriptName: reg.scriptName });
    }
    const problem = checkMatchEvents(reg.matchEvents);
    if (problem !== null) throw bad(problem, { scriptName: reg.scriptName });
    if (reg.stopOnError !== undefined && reg.stopOnError !== null && typeof reg.stopOnError !== 'boolean') {
      throw bad('stopOnError must be a boolean', { scriptName: reg.scriptName });
    }
    if (reg.name !== undefined && (typeof reg.name !== 'string' || reg.name.length === 0)) {
      throw bad('name must be a non-empty string', { scriptName: reg.scriptName });
    }

    const index = this.callbacks.length;
    const base = reg.name ?? (reg.callback.name.length > 0 ? reg.callback.name : `callback${index}`);
    this.callbacks.push({
      index,
      name: this.#unique(base),
      scriptName: reg.scriptName,
      scriptKey,
      callback: reg.callback,
      matchEvents: reg.matchEvents ?? null,
      args: reg.args ?? null,
      stopOnError: reg.stopOnError ?? true,
    });
  }

  // Callback names end up in idempotency keys and counters: keep them unique.
  #unique(base: string): string {
    const taken = new Set(this.callbacks.map((c) => c.name));
    if (!taken.has(base)) return base;
    let n = 2;
    while (taken.has(`${base}_${n}`)) n++;
    return `${base}_${n}`;
  }
}

function checkAddresses(list: readonly unknown[]): string[] {
  for (const a of list) {
    if (typeof a !== 'string' || !a.includes('@')) {
      throw bad('setEmails takes true, false, or email addresses', { got: typeof a === 'string' ? a : typeof a });
    }
  }
  return [...list] as string[];
}
