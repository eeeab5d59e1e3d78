// The plugin author's API: what a plugin file sees. Everything here is
// re-exported from the package root (src/index.ts).
import type { EventLogEntry } from '../shared/events.ts';
import type { Secret } from '../shared/secret.ts';

export type { EventLogEntry, EntityLink } from '../shared/events.ts';

/**
 * Which events a callback receives, with shotgunEvents' exact meaning
 * (`Callback.canProcess`):
 * - `undefined`, `null` or `{}`: every event;
 * - a `'*'` key: every event type, and only the `'*'` entry counts (the other
 *   keys are then ignored, as in shotgunEvents);
 * - otherwise the event type must be a key;
 * - the value is `null` (any attribute), a list containing `'*'` (any
 *   attribute), or a list of attribute names the event's `attribute_name`
 *   must be one of (an event without `attribute_name` then never matches).
 *   A plain string is matched as Python's `in` on a string does (substring).
 *
 * @example
 * const matchEvents: MatchEvents = {
 *   Shotgun_Shot_New: null,                          // every new Shot
 *   Shotgun_Shot_Change: ['sg_status_list', 'code'], // only these fields
 *   Shotgun_Task_Change: ['*'],                      // any field
 * };
 */
export type MatchEvents = Readonly<Record<string, readonly string[] | string | null>> | null | undefined;

/** Extra levels a plugin logger accepts; the same names as pino's. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** A pino-style log method: `(msg)`, `(obj, msg?)`. */
export interface LogFn {
  (msg: string): void;
  (obj: unknown, msg?: string): void;
}

/**
 * A pino-style logger. Records go to the daemon's log (with a `plugin`
 * binding, and a `callback` binding inside a callback); `error` and `fatal`
 * records are the ones mailed to the plugin's `setEmails` recipients.
 *
 * @example
 * reg.logger.info('loading');
 * ctx.logger.warn({ shot: event.entity?.id }, 'shot has no sequence');
 * ctx.logger.error(err, 'could not create the version');
 */
export interface PluginLogger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger whose records carry `bindings` too. */
  child(bindings: Record<string, unknown>): PluginLogger;
}

/**
 * The api3 client a callback gets as `ctx.sg`: authenticated as the
 * callback's own script (and carrying the event's `session_uuid` when the
 * daemon runs with `useSessionUuid`). It is the `ShotgunClient` of
 * `src/shotgrid/`; this is the part of it a plugin typically uses.
 *
 * @example
 * const shot = await sg.findOne('Shot', [['id', 'is', event.entity!.id]], ['code', 'sg_status_list']);
 * await sg.update('Shot', shot!.id as number, { description: 'approved' });
 */
export interface PluginShotgun {
  find(entityType: string, filters: unknown, fields?: readonly string[], options?: Record<string, unknown>): Promise<Record<string, unknown>[]>;
  findOne(entityType: string, filters: unknown, fields?: readonly string[], options?: Record<string, unknown>): Promise<Record<string, unknown> | null>;
  create(entityType: string, data: Record<string, unknown>, returnFields?: readonly string[]): Promise<Record<string, unknown>>;
  update(entityType: string, id: number, data: Record<string, unknown>, options?: Record<string, unknown>): Promise<Record<string, unknown>>;
  delete(entityType: string, id: number): Promise<boolean>;
  revive(entityType: string, id: number): Promise<boolean>;
  batch(requests: readonly Record<string, unknown>[]): Promise<unknown[]>;
  [method: string]: unknown;
}

/** Where a Toolkit call runs: the `tk` object, the `sgtk` module, the current engine, or its context. */
export type ToolkitTarget = 'tk' | 'sgtk' | 'engine' | 'context';

/**
 * Toolkit for one project: every call runs in that project's warm Python
 * runtime, on that project's own core. Values come back as plain JSON
 * (templates, contexts and paths included).
 *
 * @example
 * const tk = ctx.toolkit.forProject(ctx.event);
 * const version = await tk.call('sgtk', '__version__');
 * const paths = await tk.call('tk', 'paths_from_template', [{ $template: 'shot_work' }, { Shot: 'sh010', version: 3 }]);
 */
export interface PluginToolkitHandle {
  /** A dotted path on tk, sgtk, engine or context; called with args/kwargs when callable. `{ $template: name }` in args stands for tk.templates[name]. */
  call(target: ToolkitTarget, path: string, args?: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>): Promise<unknown>;
  /** `module:function` from `toolkit.pythonPath`, called with a context holding tk, sgtk, engine, the event and args. */
  run(fn: string, args?: unknown): Promise<unknown>;
  /** Python version, core version and path, configuration path, rss. */
  info(): Promise<Record<string, unknown>>;
  /** An engine command by name (the engine starts on first use). */
  command(name: string, args?: readonly unknown[]): Promise<unknown>;
}

/**
 * Toolkit access for a callback: `forProject` takes a project id, a
 * project link, or an event (its `project`).
 *
 * @example
 * const info = await ctx.toolkit.forProject(ctx.event).info();
 * ctx.logger.info({ core: info['coreVersion'] }, 'this project runs on its own core');
 */
export interface PluginToolkit {
  forProject(project: number | { type?: string; id: number } | EventLogEntry): PluginToolkitHandle;
}

/**
 * What a callback receives for one event.
 *
 * @example
 * async function onShotCreated({ sg, logger, event, args, key }: CallbackContext<{ template: string }>) {
 *   logger.info({ key }, 'new shot');
 *   await sg.create('Note', { subject: args.template, note_links: [event.entity] });
 * }
 */
export interface CallbackContext<Args = unknown> {
  /** The api3 client authenticated as this callback's script. */
  readonly sg: PluginShotgun;
  /** This callback's logger (bindings `plugin`, `callback`). */
  readonly logger: PluginLogger;
  /** The event, as read from the site (`created_at` is a `Date`). */
  readonly event: EventLogEntry;
  /** The `args` given to `registerCallback`, as given. */
  readonly args: Args;
  /** 1 on the first delivery of this event to this plugin, 2 on the first retry... */
  readonly attempt: number;
  /** `${site}:${eventId}:${plugin}:${callback}`: a stable key for idempotent side effects. */
  readonly key: string;
  /** True when the event is replayed (`sgeventd replay`): cursors don't move. */
  readonly replay: boolean;
  /** Toolkit access; `undefined` until project runtimes are wired. */
  readonly toolkit: PluginToolkit;
}

/**
 * A callback: sync or async. Throwing (or rejecting) is a failure handled by
 * the callback's `stopOnError` (shotgunEvents semantics).
 *
 * @example
 * const onChange: PluginCallback = ({ event, logger }) => logger.info({ id: event.id }, 'changed');
 */
export type PluginCallback<Args = unknown> = (ctx: CallbackContext<Args>) => void | Promise<void>;

/**
 * The object form of `registerCallback`, for TypeScript.
 *
 * @example
 * reg.registerCallback({
 *   scriptName: 'status_sync', scriptKey: process.env.STATUS_SYNC_KEY!,
 *   callback: onStatusChange, matchEvents: { Shotgun_Shot_Change: ['sg_status_list'] },
 *   args: { notify: true }, stopOnError: false,
 * });
 */
export interface CallbackRegistration<Args = unknown> {
  scriptName: string;
  /** The script's key (a string, or a `Secret`); it stays in the plugin's thread. */
  scriptKey: string | Secret;
  callback: PluginCallback<Args>;
  matchEvents?: MatchEvents;
  args?: Args;
  /** Default true: a failure deactivates the whole plugin until its file changes. */
  stopOnError?: boolean;
  /** Defaults to the function's name. */
  name?: string;
}

/**
 * Error-mail recipients: `true` for the daemon's default recipients (the
 * default), `false` for none, or a list of addresses.
 *
 * @example
 * reg.setEmails(['td@studio.com', 'pipeline@studio.com']);
 */
export type EmailRecipients = boolean | readonly string[];

/**
 * What `registerCallbacks` receives; the same three members as shotgunEvents'
 * `Registrar`.
 *
 * @example
 * export function registerCallbacks(reg: Registrar) {
 *   reg.setEmails(['td@studio.com']);
 *   reg.logger.info('loading');
 *   reg.registerCallback('my_script', process.env.MY_KEY!, onShotNew, { Shotgun_Shot_New: null });
 * }
 */
export interface Registrar {
  /** The plugin's logger. */
  readonly logger: PluginLogger;
  /** Sets who receives this plugin's error mails (`true`, `false`, a list, or addresses as arguments). */
  setEmails(emails: EmailRecipients): void;
  setEmails(...emails: string[]): void;
  /** shotgunEvents' positional form; `stopOnError` defaults to true. */
  registerCallback<Args = unknown>(
    scriptName: string,
    scriptKey: string | Secret,
    callback: PluginCallback<Args>,
    matchEvents?: MatchEvents,
    args?: Args,
    stopOnError?: boolean,
  ): void;
  /** The object form. */
  registerCallback<Args = unknown>(registration: CallbackRegistration<Args>): void;
  /**
   * Declares how this plugin's events may overlap; a `concurrency` in
   * sgeventd.yaml wins over it. Events of one key keep their order; up to
   * `max` keys run at once (async callbacks in the plugin's thread).
   *
   * @example
   * reg.setConcurrency({ by: 'project', max: 8 });
   */
  setConcurrency(concurrency: ConcurrencyDeclaration): void;
}

/** What a plugin file may declare with `reg.setConcurrency`. */
export interface ConcurrencyDeclaration {
  by: 'none' | 'project' | 'entity';
  max: number;
}

/**
 * A plugin's entry point, exported as `registerCallbacks` (or as the default
 * export).
 *
 * @example
 * export const registerCallbacks: RegisterCallbacks = (reg) => { reg.logger.info('hi'); };
 */
export type RegisterCallbacks = (reg: Registrar) => void | Promise<void>;
