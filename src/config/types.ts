import type { Secret } from '../shared/index.ts';

/**
 * The compiled daemon configuration: every default applied, every relative
 * path made absolute (against the config file's folder), secrets wrapped in
 * `Secret`, the whole tree frozen. Other subsystems code against these types.
 */
export interface DaemonConfig {
  /** Where it came from: the config file's absolute path, or a label given to parseConfig. */
  readonly source: string;
  readonly format: 'yaml' | 'shotgunevents';
  readonly site: SiteConfig;
  readonly daemon: DaemonOptions;
  readonly plugins: readonly PluginFolderConfig[];
  readonly logging: LoggingConfig;
  readonly emails: EmailConfig;
  readonly toolkit: ToolkitConfig;
  readonly python: PythonConfig;
  readonly http: HttpConfig;
  /** The webhook receiver; absent when the config has no `webhooks` section. */
  readonly webhooks?: WebhooksConfig;
  /** Present: this daemon is a node of a cluster on NATS JetStream. */
  readonly cluster?: ClusterConfig;
  /**
   * Names of the environment variables the secrets were read from (`${VAR}` in
   * YAML, `%(VAR)s` in a shotgunEvents conf). Child processes that run studio
   * code (Toolkit runtimes) get an environment without them.
   */
  readonly secretEnvVars: readonly string[];
  /** Only for a config read from a shotgunEvents conf: what migration needs. */
  readonly legacy?: LegacyConfig;
  /** Things worth a log line that are not errors (e.g. keys of a shotgunEvents conf that sgeventd ignores). */
  readonly warnings: readonly string[];
}

export interface SiteConfig {
  readonly url: string;
  readonly script: { readonly name: string; readonly key: Secret };
  /** `host:port` or a URL, as shotgun_api3's `http_proxy`. */
  readonly proxy?: string;
  readonly timeoutMs: number;
  /** A Python plugin's or runtime's `sg` idle longer than this is closed before the next callback (a fresh connection, never a retried request). */
  readonly idleCloseMs: number;
  /** Consecutive failed attempts before an error is logged (and mailed), then `connRetrySleepMs`. */
  readonly maxConnRetries: number;
  readonly connRetrySleepMs: number;
  readonly useSessionUuid: boolean;
}

export interface DaemonOptions {
  /** Absolute path of the SQLite state file. */
  readonly state: string;
  readonly pidFile: string;
  readonly fetchIntervalMs: number;
  readonly maxEventBatchSize: number;
  readonly backlogTimeoutMs: number;
  /** Default bound on one callback; a plugin folder or plugin may override it. */
  readonly callbackTimeoutMs: number;
  /** A graceful stop waits this long for running callbacks, then cuts them off; their events run again at the next start. */
  readonly stopTimeoutMs: number;
  /** Dispatcher flushes state at least this often (ms) ... */
  readonly stateFlushMs: number;
  /** ... or after this many processed events, whichever comes first. */
  readonly stateFlushEvents: number;
  /**
   * SQLite `synchronous` of the state file (WAL). `normal`: commits survive
   * a daemon crash; a power loss may undo the last ones, which then run again
   * (never skipped). `full`: an fsync per commit, so not even that.
   */
  readonly stateSync: 'normal' | 'full';
  /** Default memory limit of a plugin's thread or process (MB); a plugin may override it (`maxMemoryMb`). */
  readonly maxPluginMemoryMb: number;
  /**
   * A plugin whose thread or process is lost (crash, timeout, memory limit)
   * more than `count` times within `windowMs` is deactivated
   * (PLUGIN_RESTART_BUDGET) until it is reloaded.
   */
  readonly restartBudget: { readonly count: number; readonly windowMs: number };
  /**
   * A plugin deactivated by an error (stopOnError, restart budget, a load that
   * failed for its own reasons) is loaded again after this delay, doubling
   * after each try that fails again, up to `reactivateMaxMs`. Absent: never
   * (only a file change, `plugin enable` or `plugin reload` bring it back).
   */
  readonly reactivateAfterMs?: number;
  readonly reactivateMaxMs: number;
  /** Events a concurrent plugin holds in memory (queued or running); past it the longest key lane drops its queued events back to ids. */
  readonly concurrencyWindow: number;
  /** Events the shared event log keeps in memory (the oldest are dropped and read again when needed). */
  readonly maxCachedEvents: number;
  /** Warn when a plugin's oldest unread event is this many days old (a hosted site keeps about 180). */
  readonly logAgeWarnDays: number;
  /** How often that age is checked. */
  readonly logAgeCheckMs: number;
  /**
   * Window of the main thread's idle trim: at the end of a window this long in
   * which the main thread was idle, its young generation is shrunk and its heap
   * compacted (once per idle period). 0: never.
   */
  readonly idleTrimMs: number;
}

/** Options that apply to every plugin of a folder, or to one plugin through `overrides`. */
export interface PluginOptions {
  readonly enabled: boolean;
  /** Event id a plugin with no state starts after (instead of the site's newest event). */
  readonly startAt?: number;
  readonly projects?: ProjectFilter;
  readonly ignoreOwnEvents: boolean;
  readonly retries: number;
  readonly retryBackoffMs: number;
  readonly deadLetter: boolean;
  readonly callbackTimeoutMs: number;
  /** Memory limit of the plugin's thread (JS heap, and Buffers sampled) or process (RSS sampled), MB. */
  readonly maxMemoryMb: number;
  /** Events of different keys run at once; absent: what the plugin file declares, else `by: none` (schema.ts). */
  readonly concurrency?: ConcurrencyOption;
  /**
   * Fold the `in_create` `_Change` rows of an entity into its `_New` event
   * (`meta.in_create_changes`) when they come within `coalesceWindowMs` of it.
   */
  readonly coalesceCreation: boolean;
  readonly coalesceWindowMs: number;
  /** `daemon.reactivateAfterMs` for this plugin (0: never); absent: never. */
  readonly reactivateAfterMs?: number;
}

/** How a plugin's events may overlap: one lane per key, up to `max` lanes running. */
export interface ConcurrencyOption {
  readonly by: 'none' | 'project' | 'entity';
  readonly max: number;
}

/** Projects by id (number) or tank_name (string). */
export interface ProjectFilter {
  readonly include?: readonly (number | string)[];
  readonly exclude?: readonly (number | string)[];
}

/** The options in force for one plugin: folder options, then that plugin's overrides. */
export type ResolvedPluginOptions = PluginOptions;

export interface PluginFolderConfig extends PluginOptions {
  /** Absolute folder path. */
  readonly path: string;
  /** How changes are noticed: fs.watch hints and a rescan (auto), the rescan alone (poll), the hints alone (events). */
  readonly watch: 'auto' | 'poll' | 'events';
  /** Rescan period of `auto` and `poll`. */
  readonly watchPollMs: number;
  /** Per plugin name (file name without extension): only the keys given. */
  readonly overrides: Readonly<Record<string, Partial<PluginOptions>>>;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface LoggingConfig {
  readonly level: LogLevel;
  /** Absolute folder for log files. */
  readonly dir: string;
  /** Base name of the engine log file (shotgunEvents `logFile`); plugin logs are `plugin-<name>.<n>.log`. */
  readonly file: string;
  /** 'per-plugin': engine log + one file per plugin (shotgunEvents logMode 1); 'single': one file (logMode 0). */
  readonly mode: 'per-plugin' | 'single';
  /** Timing log (`<file>-timing.<n>.log`): one line per callback. */
  readonly timing: boolean;
  readonly rotate: { readonly frequency: 'daily' | 'size'; readonly maxSizeMb: number; readonly keep: number };
}

export interface EmailConfig {
  readonly enabled: boolean;
  /** SMTP host; present when enabled. */
  readonly host?: string;
  readonly port: number;
  /** Implicit TLS (port 465 style). */
  readonly secure: boolean;
  /** Upgrade with STARTTLS (shotgunEvents `useTLS`). */
  readonly starttls?: boolean;
  readonly username?: string;
  readonly password?: Secret;
  readonly from?: string;
  readonly to: readonly string[];
  readonly subjectPrefix: string;
  readonly minLevel: LogLevel;
  readonly maxPerHour: number;
}

export type ToolkitProjectConfig =
  | { readonly mode: 'centralized'; readonly path: string; readonly python?: string }
  | {
      readonly mode: 'distributed';
      readonly pluginId: string;
      readonly baseConfiguration?: string;
      readonly pipelineConfiguration?: string | number;
      readonly engine?: string;
      readonly python?: string;
    };

/** Concurrent Python plugins' forked workers (see the schema's `python` section). */
export interface PythonConfig {
  /** Forked workers of all concurrent Python plugins together. */
  readonly maxProcesses: number;
  /** A plugin's workers beyond its first end after this long without an event. */
  readonly workerIdleMs: number;
}

export interface ToolkitConfig {
  /** Interpreter: a command name looked up on PATH, or an absolute path. */
  readonly python: string;
  readonly configsRoot: string;
  /** Opt-in fallback core for configurations with neither a localized core nor core_<OS>.cfg. */
  readonly studioCore?: string;
  readonly bootstrapCore?: string;
  readonly bundleCache?: string;
  readonly pythonPath: readonly string[];
  readonly maxRuntimes: number;
  /** Runtimes one key (project configuration, or shared core) may run at once when its calls queue. */
  readonly maxRuntimesPerProject: number;
  readonly idleTtlMs: number;
  readonly callTimeoutMs: number;
  readonly maxCallsPerRuntime: number;
  readonly maxRssMb: number;
  readonly queueLimit: number;
  readonly crashBudget: { readonly count: number; readonly windowMs: number; readonly backoffMs: number };
  readonly shareCoreRuntimes: boolean;
  readonly isolation: 'process' | 'swap';
  readonly syncPathCache: boolean;
  /** By project id (as a decimal string) or tank_name. */
  readonly projects: Readonly<Record<string, ToolkitProjectConfig>>;
  /** By absolute core root path. */
  readonly cores: Readonly<Record<string, { readonly python: string }>>;
}

export interface HttpConfig {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  readonly token?: Secret;
  /** The page's charts: a sample this often, kept this long. */
  readonly historySampleMs: number;
  readonly historyWindowMs: number;
}

/** One `expect` entry: an entity type and the operations the site's webhook is subscribed to. */
export interface WebhookExpectation {
  readonly entityType: string;
  readonly operations: readonly ('create' | 'update' | 'delete' | 'revive')[];
}

export interface WebhooksConfig {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Every one is accepted (rotation); none: unsigned deliveries are accepted (loopback only). */
  readonly secrets: readonly Secret[];
  /** The poll interval while webhooks are on (instead of `daemon.fetchIntervalMs`). */
  readonly fallbackPollMs: number;
  readonly expect: readonly WebhookExpectation[];
  /** An expected event found by polling and not covered by a delivery this long after: the webhook is silent. */
  readonly silentAfterMs: number;
}

export interface LegacyConfig {
  /** shotgunEvents `[daemon] eventIdFile`, absolute. */
  readonly eventIdFile?: string;
  /** `[plugins] paths` exactly as written (the keys of the pickled state). */
  readonly pluginPaths: readonly string[];
}

/** The `cluster` section, compiled: paths absolute, the password a `Secret`, the node id set. */
export interface ClusterConfig {
  readonly name: string;
  /** This node's identity in leases (default: `<hostname>-<pid>`). */
  readonly nodeId: string;
  readonly nats: {
    readonly servers: readonly string[];
    readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
    /** Absolute path of a `.creds` file. */
    readonly credentials?: string;
    readonly user?: string;
    readonly password?: Secret;
  };
  readonly replicas: number;
  readonly partitions: number;
  readonly maxAgeMs: number;
  readonly duplicateWindowMs: number;
  readonly lease: ClusterLeaseOptions;
  /** Cursor commits through the fence at most this often (sooner past `daemon.stateFlushEvents`). */
  readonly commitMs: number;
  /** The same alert is mailed once per this window for the whole cluster. */
  readonly alertWindowMs: number;
  /** How long a node collects the other nodes' answers to a control request. */
  readonly controlWaitMs: number;
  readonly poller: { readonly maxInFlight: number };
  readonly placement: ClusterPlacementOptions;
}

/** Scale-out placement (cluster/placement.ts). */
export interface ClusterPlacementOptions {
  readonly windowMs: number;
  readonly holdMs: number;
  readonly tolerance: number;
}

/** Timing of every fenced lease (fence.ts): the TTL must outlast a NATS election. */
export interface ClusterLeaseOptions {
  readonly ttlMs: number;
  readonly renewMs: number;
  readonly checkMs: number;
  readonly marginMs: number;
}
