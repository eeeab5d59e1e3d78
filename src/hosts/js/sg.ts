// A callback's `sg` inside a plugin's thread. The thread holds no api3 client
// and no connection pool: each call goes to the host over the thread's port
// (an `sg.call` request) and runs on the main thread (sg-relay.ts),
// authenticated as the callback's own script. Errors come back rebuilt as the
// same classes the client throws (ShotgunFault and its subclasses,
// ShotgunTransportError, ShotgunClientError), so plugins tell them apart by
// `instanceof`, `name` or `code` as before. See docs/ARCHITECTURE.md
// "Plugin threads' sg runs on the main thread".
import { Secret } from '../../shared/secret.ts';
import { SgeventdError } from '../../shared/errors.ts';
import { ShotgunClientError, ShotgunTransportError, faultFor, type ShotgunClientErrorCode, type ShotgunTransportCode } from '../../shotgrid/errors.ts';
import { deserializeError, type SerializedError } from '../../plugins/errors.ts';
import type { PluginShotgun } from '../../plugins/types.ts';
import { requestHost } from './channel.ts';
import { SG_REQUEST, type SgCallParams, type SgMethod } from './sg-call.ts';

/** What a callback's `sg` is: the api3 client as the plugin API types it, with per-event views. */
export interface CallbackClient extends PluginShotgun {
  withOptions(options: { sessionUuid?: string | null; sudoAsLogin?: string | null }): CallbackClient;
}

/** What a client and its views share. */
interface Shared {
  scriptName: string;
  scriptKey: Secret;
  endpoint: string;
  closed: boolean;
}

const FAULT_NAMES = new Set(['ShotgunFault', 'AuthenticationFault', 'MissingTwoFactorAuthenticationFault',
  'UserCredentialsNotAllowedForSSOAuthenticationFault', 'UserCredentialsNotAllowedForOxygenAuthenticationFault']);

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = { Error, TypeError, RangeError, SyntaxError };

/** The error the client would have thrown in this thread, from what the host sent back. */
function rebuild(e: SerializedError, callSite: { stack?: string }): Error {
  const details = { ...e.details };
  const method = typeof details['method'] === 'string' ? details['method'] : '';
  let err: Error;
  if (FAULT_NAMES.has(e.name) && typeof details['faultCode'] === 'number') {
    // faultFor picks the class by the site's code, as the client did.
    err = faultFor(details['faultCode'], e.message, method);
  } else if (e.name === 'ShotgunTransportError') {
    const { status, attempts, method: _m, ...rest } = details;
    err = new ShotgunTransportError(e.code as ShotgunTransportCode, e.message, {
      method, attempts: typeof attempts === 'number' ? attempts : 1, ...(typeof status === 'number' ? { status } : {}), details: rest,
    });
  } else if (e.name === 'ShotgunClientError') {
    err = new ShotgunClientError(e.code as ShotgunClientErrorCode, e.message, details);
  } else if (e.name in BUILTIN_ERRORS) {
    // A TypeError on a bad argument, say: the same class, as the client threw it.
    err = new (BUILTIN_ERRORS[e.name] ?? Error)(e.message);
  } else if (e.code.startsWith('PLUGIN_')) {
    err = deserializeError(e);
  } else {
    // Anything else the call raised: same name, code and details.
    err = new SgeventdError(e.code, e.message, { details });
    err.name = e.name;
  }
  // The plugin's own frames (where it called sg; not #call and the method), under the error's first line.
  const frames = callSite.stack?.split('\n').slice(3).join('\n');
  err.stack = `${err.name}: ${err.message}${frames === undefined || frames === '' ? '' : `\n${frames}`}`;
  return err;
}

/**
 * The `sg` of one callback: the api3 client's methods, each a request to the
 * host. `withOptions` views share the parent's credentials and `close()`.
 */
class RelayedShotgun {
  readonly #shared: Shared;
  readonly #sessionUuid: string | undefined;
  readonly #sudoAsLogin: string | undefined;

  constructor(shared: Shared, sessionUuid: string | undefined, sudoAsLogin: string | undefined) {
    this.#shared = shared;
    this.#sessionUuid = sessionUuid;
    this.#sudoAsLogin = sudoAsLogin;
  }

  withOptions(options: { sessionUuid?: string | null; sudoAsLogin?: string | null }): RelayedShotgun {
    const pick = (v: string | null | undefined, current: string | undefined): string | undefined =>
      v === null ? undefined : v === undefined ? current : v;
    return new RelayedShotgun(this.#shared, pick(options.sessionUuid, this.#sessionUuid), pick(options.sudoAsLogin, this.#sudoAsLogin));
  }

  get sessionUuid(): string | undefined {
    return this.#sessionUuid;
  }

  get sudoAsLogin(): string | undefined {
    return this.#sudoAsLogin;
  }

  get endpoint(): string {
    return this.#shared.endpoint;
  }

  async #call(method: SgMethod, args: unknown[]): Promise<unknown> {
    const s = this.#shared;
    if (s.closed) throw new ShotgunClientError('SG_CLIENT_CLOSED', 'the client is closed', { method });
    const callSite: { stack?: string } = {};
    Error.captureStackTrace(callSite);
    // Trailing undefined arguments are left out: structured clone would keep them as holes anyway.
    while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
    const params: SgCallParams = {
      method, args, scriptName: s.scriptName, scriptKey: s.scriptKey.reveal(),
      ...(this.#sessionUuid === undefined ? {} : { sessionUuid: this.#sessionUuid }),
      ...(this.#sudoAsLogin === undefined ? {} : { sudoAsLogin: this.#sudoAsLogin }),
    };
    return requestHost(SG_REQUEST, params, undefined, (e) => rebuild(e, callSite));
  }

  find(...args: unknown[]): Promise<unknown> { return this.#call('find', args); }
  findOne(...args: unknown[]): Promise<unknown> { return this.#call('findOne', args); }
  create(...args: unknown[]): Promise<unknown> { return this.#call('create', args); }
  update(...args: unknown[]): Promise<unknown> { return this.#call('update', args); }
  delete(...args: unknown[]): Promise<unknown> { return this.#call('delete', args); }
  revive(...args: unknown[]): Promise<unknown> { return this.#call('revive', args); }
  batch(...args: unknown[]): Promise<unknown> { return this.#call('batch', args); }
  summarize(...args: unknown[]): Promise<unknown> { return this.#call('summarize', args); }
  schemaRead(...args: unknown[]): Promise<unknown> { return this.#call('schemaRead', args); }
  schemaEntityRead(...args: unknown[]): Promise<unknown> { return this.#call('schemaEntityRead', args); }
  schemaFieldRead(...args: unknown[]): Promise<unknown> { return this.#call('schemaFieldRead', args); }
  info(): Promise<unknown> { return this.#call('info', []); }

  /** The site's session token for this script, as a Secret (the host sends its text). */
  async getSessionToken(): Promise<Secret> {
    const token = await this.#call('getSessionToken', []);
    return new Secret(typeof token === 'string' ? token : '');
  }

  /** Later calls of this client and its views fail with SG_CLIENT_CLOSED (the host's pool stays open). */
  close(): Promise<void> {
    this.#shared.closed = true;
    return Promise.resolve();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const extra = [this.#sessionUuid ? `sessionUuid: ${this.#sessionUuid}` : '', this.#sudoAsLogin ? `sudoAsLogin: ${this.#sudoAsLogin}` : ''].filter(Boolean);
    return `ShotgunClient { ${[this.endpoint, `script ${this.#shared.scriptName}`, ...extra].join(', ')} }`;
  }

  toJSON(): Record<string, unknown> {
    return { endpoint: this.endpoint, sessionUuid: this.#sessionUuid, sudoAsLogin: this.#sudoAsLogin };
  }
}

/**
 * One client per callback, authenticated as its script. An empty script name
 * or key fails here, as the api3 client's constructor refused it.
 */
export function createCallbackClient(options: { endpoint: string; scriptName: string; scriptKey: Secret }): CallbackClient {
  if (options.scriptName.length === 0 || options.scriptKey.reveal().length === 0) {
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', `auth.${options.scriptName.length === 0 ? 'scriptName' : 'scriptKey'} must be a non-empty string`);
  }
  // The plugin API types `sg` loosely (any api3 method by name); the class is its implementation.
  return new RelayedShotgun({ ...options, closed: false }, undefined, undefined) as unknown as CallbackClient;
}
