/**
 * Plain-data options of the toolkit subsystem. They map one to one onto the
 * compiled `toolkit` section of sgeventd.yaml, so the daemon passes that
 * section through unchanged; defaults are the config schema's.
 */
import { toolkitSectionSchema } from '../config/index.ts';


export interface CentralizedProjectEntry {
  mode: 'centralized';
  path: string;
  python?: string | undefined;
}

export interface DistributedProjectEntry {
  mode: 'distributed';
  pluginId: string;
  baseConfiguration?: string | undefined;
  pipelineConfiguration?: string | number | undefined;
  engine?: string | undefined;
  python?: string | undefined;
}

export type ToolkitProjectEntry = CentralizedProjectEntry | DistributedProjectEntry;

export interface CrashBudget {
  /** This many crashes within windowMs mark the key failed... */
  count: number;
  windowMs: number;
  /** ...and calls fail fast for this long. */
  backoffMs: number;
}

/** What resolution needs: where to look for configurations and cores. */
export interface ResolveOptions {
  /** Default interpreter for runtimes. */
  python: string;
  configsRoot?: string | undefined;
  /** Opt-in fallback core (a studio root holding install/core/python). */
  studioCore?: string | undefined;
  /** Keyed by project id (as a string) or tank_name. */
  projects: Readonly<Record<string, ToolkitProjectEntry>>;
  /** Keyed by core root: an interpreter per core. */
  cores: Readonly<Record<string, { python: string }>>;
}

export interface RuntimePoolOptions extends ResolveOptions {
  bootstrapCore?: string | undefined;
  bundleCache?: string | undefined;
  /** Folders put on sys.path for `run` (the studio's own Python). */
  pythonPath: readonly string[];
  maxRuntimes: number;
  /** Runtimes of one key started side by side when its calls queue (within maxRuntimes). */
  maxRuntimesPerProject: number;
  idleTtlMs: number;
  callTimeoutMs: number;
  maxCallsPerRuntime: number;
  maxRssMb: number;
  queueLimit: number;
  crashBudget: CrashBudget;
  shareCoreRuntimes: boolean;
  isolation: 'process' | 'swap';
  syncPathCache: boolean;
}

/**
 * Pool options with the config schema's defaults for anything left out
 * (tests and benches): the `toolkit` section of sgeventd.yaml is the one
 * table of defaults, so a pool built here and one built from a config agree.
 */
export function runtimePoolOptions(partial: Partial<RuntimePoolOptions> = {}): RuntimePoolOptions {
  const defaults: RuntimePoolOptions = toolkitSectionSchema.parse({});
  return {
    ...defaults,
    ...partial,
    crashBudget: { ...defaults.crashBudget, ...partial.crashBudget },
  };
}
