import { readdirSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { loadConfig, loadShotgunEventsConf } from '../config/index.ts';
import type { DaemonConfig } from '../config/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { openSqliteState, pluginId, readShotgunEventsEventIdFile } from '../state/index.ts';
import type { BacklogEntry, LegacyEventIdData, PluginState, StateBatch } from '../state/index.ts';

export interface MigrateCliOptions {
  /** Absent with `toCluster`. */
  fromShotgunevents?: string;
  /** Move the state file of `config` into its cluster instead (migrate-cluster.ts). */
  toCluster?: boolean;
  config?: string;
  state?: string;
  force?: boolean;
  dryRun?: boolean;
}

/** Migration cannot go ahead (cursors already there, nothing to migrate...). */
export class MigrateError extends SgeventdError {
  constructor(code: 'MIGRATE_WOULD_OVERWRITE' | 'MIGRATE_NO_EVENT_ID_FILE', message: string, details: Record<string, unknown>) {
    super(code, message, { details });
  }
}

/** One plugin's seed: where it comes from and what it gets. */
export interface PluginSeed {
  folder: string;
  name: string;
  lastEventId: number;
  backlog: BacklogEntry[];
  /** Why this cursor: the pickle key it came from, or the fallback used. */
  origin: string;
}

export interface MigrationPlan {
  seeds: PluginSeed[];
  /** Lines for what was left alone and why. */
  notes: string[];
}

/**
 * Maps shotgunEvents' event-id data onto plugins, the way its
 * `_loadEventIdData` does: state per conf path and plugin name; a collection
 * or file holding one integer applies it to every `.py` plugin of the folder;
 * a folder missing from the file takes, per plugin name, the highest cursor
 * that name has elsewhere (the folder was moved); anything else has no cursor
 * and starts where a new plugin starts.
 */
export function planMigration(conf: DaemonConfig, data: LegacyEventIdData, listPlugins: (folder: string) => string[] = listPythonPlugins): MigrationPlan {
  const seeds: PluginSeed[] = [];
  const notes: string[] = [];
  const rawPaths = conf.legacy?.pluginPaths ?? [];
  const folders = conf.plugins.map((p) => p.path);
  const safeList = (folder: string): string[] => {
    try {
      return listPlugins(folder);
    } catch (err) {
      notes.push(`skipped folder ${folder}: cannot list its plugins (${(err as Error).message})`);
      return [];
    }
  };
  const seedAll = (folder: string, lastEventId: number, origin: string) => {
    for (const name of safeList(folder)) seeds.push({ folder, name, lastEventId, backlog: [], origin });
  };

  if (data.format === 'int') {
    folders.forEach((folder) => seedAll(folder, data.lastEventId, 'old-style single id file'));
    return { seeds, notes };
  }

  const used = new Set<string>();
  const best = new Map<string, { lastEventId: number; backlog: BacklogEntry[]; key: string }>();
  for (const [key, c] of Object.entries(data.collections)) {
    if (!('plugins' in c)) continue;
    for (const [name, s] of Object.entries(c.plugins)) {
      const prev = best.get(name);
      if (s.lastEventId !== null && (prev === undefined || s.lastEventId > prev.lastEventId)) best.set(name, { lastEventId: s.lastEventId, backlog: s.backlog, key });
    }
  }
  folders.forEach((folder, i) => {
    const raw = rawPaths[i] ?? folder;
    const key = raw in data.collections ? raw : Object.keys(data.collections).find((k) => resolve(conf.source, '..', k) === folder);
    const c = key === undefined ? undefined : data.collections[key];
    if (key !== undefined) used.add(key);
    if (c === undefined) {
      for (const name of safeList(folder)) {
        const b = best.get(name);
        if (b === undefined) notes.push(`no cursor for ${pluginId({ folder, name })}: not in the event id file (starts as a new plugin)`);
        else seeds.push({ folder, name, lastEventId: b.lastEventId, backlog: b.backlog, origin: `plugin ${name} of ${b.key} (folder not in the file; shotgunEvents' moved-folder fallback)` });
      }
    } else if ('lastEventId' in c) {
      seedAll(folder, c.lastEventId, `${key} (one id for the folder)`);
    } else {
      for (const [name, s] of Object.entries(c.plugins)) {
        if (s.lastEventId === null) notes.push(`no cursor for ${pluginId({ folder, name })}: it never processed an event (starts as a new plugin)`);
        else seeds.push({ folder, name, lastEventId: s.lastEventId, backlog: s.backlog, origin: String(key) });
      }
      for (const name of safeList(folder)) {
        if (!(name in c.plugins)) notes.push(`no cursor for ${pluginId({ folder, name })}: not in the event id file (starts as a new plugin)`);
      }
    }
  });
  for (const key of Object.keys(data.collections)) {
    if (!used.has(key)) notes.push(`ignored ${key} in the event id file: not in [plugins] paths`);
  }
  return { seeds, notes };
}

function listPythonPlugins(folder: string): string[] {
  return readdirSync(folder)
    .filter((f) => f.endsWith('.py') && !f.startsWith('.'))
    .map((f) => f.slice(0, -3))
    .sort();
}

/** Builds the batch that writes the seeds; existing backlog of seeded plugins is replaced. */
export function seedBatch(seeds: readonly PluginSeed[], existing: ReadonlyMap<string, PluginState>): StateBatch {
  const batch: Required<Pick<StateBatch, 'plugins' | 'backlogAdd' | 'backlogRemove'>> = { plugins: [], backlogAdd: [], backlogRemove: [] };
  for (const s of seeds) {
    const id = pluginId(s);
    batch.plugins.push({ id, folder: s.folder, name: s.name, lastEventId: s.lastEventId, active: true, lastError: null });
    for (const b of existing.get(id)?.backlog ?? []) batch.backlogRemove.push({ pluginId: id, eventId: b.eventId });
    for (const b of s.backlog) batch.backlogAdd.push({ pluginId: id, ...b });
  }
  return batch;
}

async function runMigrate(o: MigrateCliOptions & { fromShotgunevents: string }, out: (line: string) => void): Promise<void> {
  const conf = await loadShotgunEventsConf(o.fromShotgunevents);
  const target = o.config === undefined ? undefined : await loadConfig(o.config);
  const statePath = o.state !== undefined ? resolve(o.state) : (target ?? conf).daemon.state;
  const eventIdFile = conf.legacy?.eventIdFile;
  if (eventIdFile === undefined) {
    throw new MigrateError('MIGRATE_NO_EVENT_ID_FILE', `${conf.source} has no [daemon] eventIdFile: nothing to migrate`, { conf: conf.source });
  }
  const data = await readShotgunEventsEventIdFile(eventIdFile);
  const plan = planMigration(conf, data);
  out(`${o.dryRun ? 'would migrate' : 'migrating'} ${eventIdFile} (${data.format === 'int' ? 'old-style single id' : 'pickle'}) into ${statePath}`);
  if (target !== undefined) {
    const known = new Set(target.plugins.map((p) => p.path));
    for (const folder of new Set(plan.seeds.map((s) => s.folder))) {
      if (!known.has(folder)) out(`  warning: ${folder} is not among the plugin folders of ${target.source}; its cursors will not be used until it is`);
    }
  }

  const state = await openSqliteState(statePath);
  try {
    await state.bindSite((target ?? conf).site.url);
    const existing = new Map((await state.loadPlugins()).map((p) => [p.id, p]));
    const clashes = plan.seeds.map((s) => existing.get(pluginId(s))).filter((p): p is PluginState => p !== undefined && p.lastEventId !== null);
    if (clashes.length > 0 && !o.force) {
      throw new MigrateError('MIGRATE_WOULD_OVERWRITE',
        `${statePath} already has cursors for ${clashes.map((p) => `${p.id} (at ${p.lastEventId})`).join(', ')}; use --force to replace them`,
        { state: statePath, plugins: clashes.map((p) => ({ id: p.id, lastEventId: p.lastEventId })) });
    }
    for (const s of plan.seeds) {
      const id = pluginId(s);
      const before = existing.get(id)?.lastEventId;
      const replaced = before === undefined || before === null ? '' : `, replacing cursor ${before}`;
      out(`  ${o.dryRun ? 'would seed' : 'seeded'} ${id}: cursor ${s.lastEventId}, backlog ${s.backlog.length}${replaced} (from ${s.origin})`);
    }
    for (const n of plan.notes) out(`  ${n}`);
    if (!o.dryRun) await state.commit(seedBatch(plan.seeds, existing));
    out(`${plan.seeds.length} plugin${plan.seeds.length === 1 ? '' : 's'} ${o.dryRun ? 'would be ' : ''}seeded`);
  } finally {
    await state.close();
  }
}

/** `sgeventd migrate --from-shotgunevents shotgunEventDaemon.conf [-c sgeventd.yaml | --state FILE] [--force] [--dry-run]` */
export async function migrateCommand(o: MigrateCliOptions): Promise<void> {
  if (o.toCluster === true) {
    if (o.config === undefined) throw new SgeventdError('MIGRATE_USAGE', '--to-cluster needs -c CONFIG: the config naming the state file and the cluster');
    await (await import('./migrate-cluster.ts')).migrateToClusterCommand({ config: o.config, ...(o.force === true ? { force: true } : {}) });
    return;
  }
  const from = o.fromShotgunevents;
  if (from === undefined) throw new SgeventdError('MIGRATE_USAGE', 'give --from-shotgunevents CONF (from shotgunEvents) or --to-cluster -c CONFIG (into a cluster)');
  if (o.state !== undefined && !isAbsolute(o.state)) o.state = resolve(o.state);
  await runMigrate({ ...o, fromShotgunevents: from }, (line) => process.stdout.write(`${line}\n`));
}
