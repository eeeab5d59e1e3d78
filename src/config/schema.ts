import { z } from 'zod';
import { DAEMON_FILE_DEFAULTS } from './file-defaults.ts';

// `${VAR}` interpolation yields strings; numbers and booleans written as
// quoted or interpolated text are read as such ("9090" → 9090, "true" → true).
const numeric = (v: unknown): unknown => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);
const boolean = (v: unknown): unknown => (v === 'true' ? true : v === 'false' ? false : v);

// Every leaf carries the phrase that completes "<key> must be ..., got <value>".
const str = () => z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' });
const bool = () => z.preprocess(boolean, z.boolean({ error: 'true or false' }));
const posInt = () => z.preprocess(numeric,
  z.number({ error: 'a positive integer' }).int({ error: 'a positive integer' }).positive({ error: 'a positive integer' }));
const nonNegInt = () => z.preprocess(numeric,
  z.number({ error: 'a non-negative integer' }).int({ error: 'a non-negative integer' }).min(0, { error: 'a non-negative integer' }));
// A span of time in ms. Spans beyond the platform's timer limit (2^31-1 ms,
// about 24.8 days) are fine: timers re-arm (shared/long-timer.ts).
const duration = (min: number) => {
  const expected = `a whole number of milliseconds, at least ${min}`;
  return z.preprocess(numeric, z.number({ error: expected }).int({ error: expected }).min(min, { error: expected })
    .max(Number.MAX_SAFE_INTEGER, { error: expected }));
};
const port = () => z.preprocess(numeric,
  z.number({ error: 'a port number (0-65535)' }).int({ error: 'a port number (0-65535)' })
    .min(0, { error: 'a port number (0-65535)' }).max(65535, { error: 'a port number (0-65535)' }));
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `one of ${values.map((v) => `'${v}'`).join(', ')}` });
const projectRef = () =>
  z.union([z.number().int().positive(), z.string().min(1)], { error: 'a project id (positive integer) or tank_name (string)' });
const logLevel = () => oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/**
 * `concurrency: { by, max }`: `by: none` runs a plugin's events one at a time
 * (shotgunEvents); `project` or `entity` keeps each key's events in order and
 * runs up to `max` keys at once. Absent everywhere: what the plugin file
 * declares, else `concurrencyDefaults()`.
 */
export const concurrencySchema = z.strictObject({
  by: oneOf(['none', 'project', 'entity']).default('none'),
  max: posInt().default(8),
}, { error: 'a mapping with by (none, project or entity) and max' });

/** The concurrency a plugin gets when neither the config nor its file says (the one place of this default). */
export function concurrencyDefaults(): z.output<typeof concurrencySchema> {
  return concurrencySchema.parse({});
}

/** The config wins over what the plugin file declares; the default when neither says. */
export function resolveConcurrency(
  configured: z.output<typeof concurrencySchema> | undefined, declared: z.output<typeof concurrencySchema> | undefined,
): z.output<typeof concurrencySchema> {
  return configured ?? declared ?? concurrencyDefaults();
}

// A plugin's options: a folder gives them (with defaults), `overrides` names only the keys it changes.
const pluginOptionsShape = {
  enabled: bool().optional(),
  startAt: nonNegInt().optional(),
  projects: z
    .strictObject({
      include: z.array(projectRef(), { error: 'a list of project ids or tank_names' }).optional(),
      exclude: z.array(projectRef(), { error: 'a list of project ids or tank_names' }).optional(),
    }, { error: 'a mapping with include and/or exclude' })
    .optional(),
  ignoreOwnEvents: bool().optional(),
  retries: nonNegInt().optional(),
  retryBackoffMs: duration(0).optional(),
  deadLetter: bool().optional(),
  callbackTimeoutMs: duration(100).optional(),
  maxMemoryMb: posInt().optional(),
  concurrency: concurrencySchema.optional(),
  coalesceCreation: bool().optional(),
  coalesceWindowMs: duration(0).optional(),
  // Absent: daemon.reactivateAfterMs; 0: never (a plugin opted out of a global default).
  reactivateAfterMs: duration(0).optional(),
};

export const pluginOptionsSchema = z.strictObject(pluginOptionsShape, { error: 'a mapping of plugin options' });

export const pluginFolderSchema = z.strictObject(
  {
    path: str(),
    ...pluginOptionsShape,
    enabled: bool().default(true),
    /** How changes to the folder are noticed: fs.watch hints plus a rescan every watchPollMs (auto), the rescan alone (poll: NFS, SMB), or the hints alone (events). */
    watch: oneOf(['auto', 'poll', 'events']).default('auto'),
    watchPollMs: duration(100).default(5000),
    ignoreOwnEvents: bool().default(false),
    retries: nonNegInt().default(0),
    retryBackoffMs: duration(0).default(1000),
    deadLetter: bool().default(true),
    coalesceCreation: bool().default(false),
    coalesceWindowMs: duration(0).default(1000),
    // Absent: daemon.callbackTimeoutMs and daemon.maxPluginMemoryMb (see compile.ts).
    overrides: z.record(z.string(), pluginOptionsSchema, { error: 'a mapping of plugin name to plugin options' }).optional(),
  },
  { error: 'a mapping with at least a path' },
);

const toolkitProjectSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({ mode: z.literal('centralized'), path: str(), python: str().optional() }),
    z.strictObject({
      mode: z.literal('distributed'),
      pluginId: str(),
      baseConfiguration: str().optional(),
      pipelineConfiguration: z.union([str(), posInt()], { error: 'a name or an id' }).optional(),
      engine: str().optional(),
      python: str().optional(),
    }),
  ],
  { error: "a mapping with mode 'centralized' (path) or 'distributed' (pluginId)" },
);

/**
 * The `toolkit` section: the one table of the runtime pool's defaults
 * (`runtimePoolOptions` in toolkit/ reads it too).
 */
export const toolkitSectionSchema = z.strictObject({
  python: str().default('python3'),
  configsRoot: str().optional(),
  studioCore: str().optional(),
  bootstrapCore: str().optional(),
  bundleCache: str().optional(),
  pythonPath: z.array(str(), { error: 'a list of folders' }).default([]),
  maxRuntimes: posInt().default(8),
  maxRuntimesPerProject: posInt().default(2),
  idleTtlMs: duration(1000).default(1800000),
  callTimeoutMs: duration(100).default(300000),
  maxCallsPerRuntime: posInt().default(10000),
  maxRssMb: posInt().default(2048),
  queueLimit: posInt().default(100),
  crashBudget: z.strictObject({
    count: posInt().default(3),
    windowMs: duration(1000).default(600000),
    backoffMs: duration(100).default(300000),
  }, { error: 'a mapping' }).prefault({}),
  shareCoreRuntimes: bool().default(false),
  isolation: oneOf(['process', 'swap']).default('process'),
  syncPathCache: bool().default(false),
  projects: z.record(z.string(), toolkitProjectSchema, { error: 'a mapping of project id or tank_name to a configuration' }).default({}),
  cores: z.record(z.string(), z.strictObject({ python: str() }, { error: 'a mapping with python' }), { error: 'a mapping of core root to options' }).default({}),
}, { error: 'a mapping' }).prefault({});

/** The `http` section: the status server. */
/**
 * Python plugins that run events concurrently fork workers from their loaded
 * process: `maxProcesses` bounds those workers daemon-wide (each such plugin
 * always gets its first one), `workerIdleMs` ends a plugin's extra workers
 * (all but one) after that long without an event, so their slots go back.
 */
export const pythonSectionSchema = z.strictObject({
  maxProcesses: posInt().default(16),
  workerIdleMs: duration(1000).default(60000),
}, { error: 'a mapping with maxProcesses and workerIdleMs' }).prefault({});

export const httpSectionSchema = z.strictObject({
  enabled: bool().default(true),
  host: str().default('127.0.0.1'),
  port: port().default(9090),
  token: str().optional(),
  // The page's charts: the daemon samples its rates and lags this often, and keeps this long.
  historySampleMs: duration(100).default(10000),
  historyWindowMs: duration(1000).default(3600000),
}, { error: 'a mapping' }).prefault({});

// `Shot:create|update`: an entity type and the operations the site's webhook is subscribed to.
const WEBHOOK_EXPECT = /^[A-Za-z][A-Za-z0-9_]*:(create|update|delete|revive)(\|(create|update|delete|revive))*$/;

/**
 * The `webhooks` section: the receiver of the site's webhook deliveries (a
 * delivery wakes the poller; the event log stays the truth). Absent: no
 * receiver, polling at `daemon.fetchIntervalMs`.
 */
export const webhooksSectionSchema = z.strictObject({
  host: str().default('127.0.0.1'),
  port: port().default(9091),
  path: z.string({ error: 'a URL path starting with /' }).regex(/^\/[^?#\s]*$/, { error: 'a URL path starting with /' }).default('/webhooks/shotgrid'),
  secrets: z.array(str(), { error: 'a list of secret tokens' }).default([]),
  // With webhooks on, polling continues at this interval as the safety net.
  fallbackPollMs: duration(50).default(5000),
  expect: z.array(z.string().regex(WEBHOOK_EXPECT, { error: 'an entity type and operations, e.g. "Shot:create|update"' }),
    { error: 'a list of "EntityType:operation|operation" entries' }).default([]),
  silentAfterMs: duration(100).default(300000),
}, { error: 'a mapping' });

// A NATS name token (stream and subject parts): no dots, wildcards or spaces.
const natsToken = () => z.string({ error: 'a name of letters, digits, - and _' })
  .regex(/^[A-Za-z0-9_-]+$/, { error: 'a name of letters, digits, - and _' });

/**
 * The `cluster` section: present, `sgeventd foreground` runs as a node of a
 * cluster on NATS JetStream (docs/ARCHITECTURE.md, "Cluster mode"); absent,
 * the single-machine mode with SQLite.
 */
export const clusterSectionSchema = z.strictObject({
  /** Namespaces every stream and subject, with the site. */
  name: natsToken(),
  /** This node's identity in leases; default: host name and process id (compile.ts). */
  nodeId: str().optional(),
  nats: z.strictObject({
    servers: z.array(z.url({ error: 'a NATS URL (nats://host:port, tls://host:port)', protocol: /^(nats|tls|wss?)$/ }), { error: 'a list of NATS URLs' })
      .min(1, { error: 'a list of at least one NATS URL' }),
    tls: z.strictObject({ caFile: str().optional(), certFile: str().optional(), keyFile: str().optional() },
      { error: 'a mapping with caFile, certFile and keyFile' }).optional(),
    /** A `.creds` file (JWT + nkey seed). */
    credentials: str().optional(),
    user: str().optional(),
    password: str().optional(),
  }, { error: 'a mapping with servers' }),
  /** Replicas of every stream (3 on a 3-server cluster; 1 on a single server). */
  replicas: posInt().default(3),
  /** Events are spread over this many subjects by project (scale-out). */
  partitions: posInt().default(32),
  /** How long the event stream keeps events (limits retention). */
  maxAgeMs: duration(120000).default(604800000),
  /** Republished event ids within this window are dropped (Nats-Msg-Id). */
  duplicateWindowMs: duration(1000).default(120000),
  lease: z.strictObject({
    /** A standby takes over when the lease has not moved for this long; must outlast a NATS election (4-9 s). */
    ttlMs: duration(1000).default(15000),
    renewMs: duration(50).default(2000),
    checkMs: duration(50).default(3000),
    /** The holder counts itself out this long before the TTL runs out on its own clock. */
    marginMs: duration(0).default(2000),
  }, { error: 'a mapping with ttlMs, renewMs, checkMs' }).prefault({})
    .refine((l) => l.renewMs + l.marginMs < l.ttlMs, { error: 'a mapping where renewMs + marginMs is below ttlMs', path: [] }),
  /**
   * A plugin's (or partition's) cursor is committed through its fence at most this often, and sooner once
   * `daemon.stateFlushEvents` events finished uncommitted: each commit is a replicated write on every NATS server.
   */
  commitMs: duration(10).default(1000),
  /** The same alert (plugin and title) raised on several nodes is mailed once per this window, for the whole cluster. */
  alertWindowMs: duration(1000).default(3600000),
  /** How long a node collects the other nodes' answers (status `nodes`, `toolkit ps`, `toolkit recycle`). */
  controlWaitMs: duration(50).default(1000),
  poller: z.strictObject({
    /** Publishes awaiting their acknowledgement at once. */
    maxInFlight: posInt().default(256),
  }, { error: 'a mapping' }).prefault({}),
  /** Scale-out: which node owns which partition of the plugins with `concurrency: { by: project | entity }`. */
  placement: z.strictObject({
    /** Recent work (events per project) that placement weighs is counted over this window. */
    windowMs: duration(1000).default(60000),
    /** A node keeps a partition at least this long before a rebalance may move it (no flapping). */
    holdMs: duration(0).default(30000),
    /** Partitions move off a live node only while the load gap exceeds this share of the mean load. */
    tolerance: z.number({ error: 'a number between 0 and 1' }).min(0, { error: 'a number between 0 and 1' }).max(1, { error: 'a number between 0 and 1' }).default(0.1),
  }, { error: 'a mapping with windowMs, holdMs, tolerance' }).prefault({}),
}, { error: 'a mapping with name and nats' });

/** The raw native config (after `${ENV}` interpolation); defaults that need no context are applied here. */
export const rawConfigSchema = z.strictObject({
  site: z.strictObject({
    url: z.url({ error: 'an http(s) URL', protocol: /^https?$/ }),
    script: z.strictObject({ name: str(), key: str() }, { error: 'a mapping with name and key' }),
    proxy: z.string({ error: 'a proxy address (host:port or URL)' }).optional(),
    timeoutMs: duration(100).default(60000),
    // Below the site's keep-alive (a real site's is longer; Node's default 5 s): a Python `sg` idle longer is closed before a callback.
    idleCloseMs: duration(0).default(4000),
    maxConnRetries: posInt().default(5),
    connRetrySleepMs: duration(10).default(5000),
    useSessionUuid: bool().default(false),
  }, { error: 'a mapping with url and script' }),
  daemon: z.strictObject({
    state: str().default(DAEMON_FILE_DEFAULTS.state),
    pidFile: str().default(DAEMON_FILE_DEFAULTS.pidFile),
    // Below 50 ms an idle daemon polls the site flat out.
    fetchIntervalMs: duration(50).default(1000),
    maxEventBatchSize: posInt().default(500),
    backlogTimeoutMs: duration(0).default(300000),
    callbackTimeoutMs: duration(100).default(600000),
    // A graceful stop waits this long for running callbacks, then cuts them off
    // (their events run again at the next start): below the example unit's
    // TimeoutStopSec=120, so systemd never has to SIGKILL a stopping daemon.
    stopTimeoutMs: duration(100).default(90000),
    stateFlushMs: duration(10).default(200),
    stateFlushEvents: posInt().default(500),
    stateSync: oneOf(['normal', 'full']).default('normal'),
    maxPluginMemoryMb: posInt().default(1024),
    restartBudget: z.strictObject({
      count: posInt().default(5),
      windowMs: duration(1000).default(60000),
    }, { error: 'a mapping with count and windowMs' }).prefault({}),
    /** Opt-in: a deactivated plugin is loaded again after this delay, doubling after each failed try (absent: only by hand). */
    reactivateAfterMs: duration(100).optional(),
    /** The longest delay between two reactivation tries. */
    reactivateMaxMs: duration(100).default(3_600_000),
    /** Events a concurrent plugin holds in memory (queued or running) before its longest key lane is parked. */
    concurrencyWindow: posInt().default(10000),
    // A hosted site keeps its event log readable for about six months (180 days):
    // warn when a plugin's oldest unread event is this old, checked this often.
    logAgeWarnDays: posInt().default(150),
    logAgeCheckMs: duration(100).default(3600000),
    // The main thread's heap is trimmed at the end of each window this long in which it was idle (0: never).
    idleTrimMs: duration(0).refine((ms) => ms === 0 || ms >= 1000, { error: 'a whole number of milliseconds, 0 (off) or at least 1000' }).default(5000),
    /** Events the shared event log keeps in memory; default: four batches, at least 5000. */
    maxCachedEvents: posInt().optional(),
  }, { error: 'a mapping' }).prefault({})
    .transform((d) => ({ ...d, maxCachedEvents: d.maxCachedEvents ?? Math.max(4 * d.maxEventBatchSize, 5000) })),
  plugins: z.array(pluginFolderSchema, { error: 'a list of plugin folders' }).default([]),
  logging: z.strictObject({
    level: logLevel().default('info'),
    dir: str().default('./logs'),
    file: str().default('sgeventd'),
    mode: oneOf(['per-plugin', 'single']).default('per-plugin'),
    timing: bool().default(false),
    rotate: z.strictObject({
      frequency: oneOf(['daily', 'size']).default('daily'),
      maxSizeMb: posInt().default(50),
      keep: posInt().default(14),
    }, { error: 'a mapping' }).prefault({}),
  }, { error: 'a mapping' }).prefault({}),
  emails: z.strictObject({
    enabled: bool().default(false),
    host: str().optional(),
    port: port().default(25),
    secure: bool().default(false),
    starttls: bool().optional(),
    username: str().optional(),
    password: str().optional(),
    from: str().optional(),
    to: z.array(str(), { error: 'a list of addresses' }).default([]),
    subjectPrefix: z.string({ error: 'a string' }).default('[sgeventd]'),
    minLevel: logLevel().default('error'),
    maxPerHour: posInt().default(20),
  }, { error: 'a mapping' }).prefault({}),
  toolkit: toolkitSectionSchema,
  python: pythonSectionSchema,
  http: httpSectionSchema,
  webhooks: webhooksSectionSchema.optional(),
  cluster: clusterSectionSchema.optional(),
}, { error: 'a mapping' });

export type RawConfig = z.output<typeof rawConfigSchema>;

/** Paths of the values that are secrets: never printed, wrapped in `Secret`. */
export const SECRET_PATHS: readonly string[] = ['site.script.key', 'emails.password', 'http.token', 'webhooks.secrets', 'cluster.nats.password'];

/** True for a secret's key path, or an item of a list of secrets (`webhooks.secrets.0`). */
export function isSecretPath(key: string): boolean {
  return SECRET_PATHS.some((p) => key === p || (key.startsWith(`${p}.`) && /^\d+$/.test(key.slice(p.length + 1))));
}

/** The `daemon` section's defaults, from the table above (for code that builds parts without a config file). */
export function daemonDefaults(): RawConfig['daemon'] {
  return rawConfigSchema.shape.daemon.parse({});
}
