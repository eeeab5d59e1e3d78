import type { Secret } from '../shared/secret.ts';
import type { ToolkitLogger } from './log.ts';
import type { InitParams } from './protocol.ts';
import type { ResolveHost, ResolveSite } from './resolve.ts';
import type { RuntimeState } from './runtime.ts';

/** The site as the pool needs it; the daemon adapts its api3 client to this. */
export interface PoolSite extends ResolveSite {
  /** Gives tank_name for configsRoot/<tank_name>; optional. */
  findProject?(projectId: number): Promise<{ id: number; name?: string | null; tank_name?: string | null } | null>;
}

export interface RuntimePoolDeps {
  /** Credentials runtimes authenticate with; sent over the pipe in init only. */
  site: { url: string; scriptName: string; scriptKey: Secret; proxy?: string | undefined; timeoutMs?: number | undefined } | null;
  /** The daemon's state folder: runtimes get SHOTGUN_HOME under <stateDir>/toolkit. */
  stateDir: string;
  lookup?: PoolSite | undefined;
  /** What resolution sees; defaults to this machine. */
  host?: ResolveHost | undefined;
  /** The environment runtimes start from; defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Variables holding the daemon's own secrets: never passed to runtimes. */
  secretVars?: readonly string[] | undefined;
  logger?: ToolkitLogger | undefined;
  /** Replaces the bundled runtime.py (tests use misbehaving ones). */
  runtimeScript?: string | undefined;
  initTimeoutMs?: number | undefined;
  stopTimeoutMs?: number | undefined;
  maxMessageBytes?: number | undefined;
  maxLogLineBytes?: number | undefined;
  /** How often the files of a configuration are checked for changes. */
  changeCheckIntervalMs?: number | undefined;
  /** Told when a runtime is ready, and when one crashed (for metrics); the label names its project(s). */
  onRuntimeStarted?: ((label: string) => void) | undefined;
  onRuntimeCrashed?: ((label: string) => void) | undefined;
}

/** A Python plugin as a runtime imports it. */
export interface RuntimePluginSpec {
  file: string;
  name: string;
  siteUrl: string;
  proxy: string | null;
  /** `site.timeoutMs`: what the plugin's `sg` waits for the site at most. */
  timeoutMs?: number | undefined;
  /** `site.idleCloseMs`: a connection idle longer is closed before the next callback. */
  idleCloseMs?: number | undefined;
  useSessionUuid: boolean;
  /** Changes on every load of the plugin (file change, `sgeventd plugin reload`): a runtime re-imports it then. */
  generation: number;
  /** Bounds the call that runs a batch of its events (re-armed by each finished event); not sent to Python. */
  callbackTimeoutMs: number;
}

/** One row of `sgeventd toolkit ps`. */
export interface RuntimeStatus {
  key: string;
  projects: number[];
  mode: InitParams['mode'];
  configPaths: string[];
  coreRoot: string | null;
  coreVersion: string | null;
  pid: number | null;
  /** Resident memory now (read from /proc on Linux), else null. */
  rssMb: number | null;
  /** The most the runtime has held, as it reports it with each answer. */
  peakRssMb: number | null;
  calls: number;
  ageMs: number;
  idleMs: number;
  pending: number;
  state: RuntimeState | 'failed';
  retryAt?: number | undefined;
}
