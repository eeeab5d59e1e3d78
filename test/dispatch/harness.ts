import { mkdtemp, mkdir, copyFile, chmod, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig, type DaemonConfig } from '../../src/config/index.ts';
import { Daemon } from '../../src/daemon/index.ts';
import { ShotgunClient } from '../../src/shotgrid/index.ts';
import { Secret } from '../../src/shared/index.ts';
import { startSite, type RunningSite, type SiteOptions } from '../../src/site/index.ts';

export const FIXTURES = new URL('../fixtures/daemon/', import.meta.url).pathname;

export interface Harness {
  dir: string;
  plugins: string;
  record: string;
  site: RunningSite;
  sg: ShotgunClient;
  config(extra?: Record<string, unknown>): DaemonConfig;
  /** Lines of the record file, split into fields. */
  records(): Promise<string[][]>;
  close(): Promise<void>;
}

export async function makeHarness(siteOptions: SiteOptions = { seed: 'demo' }): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-daemon-'));
  await chmod(dir, 0o755);
  const plugins = join(dir, 'plugins');
  await mkdir(plugins, { mode: 0o755 });
  await chmod(plugins, 0o755);
  const record = join(dir, 'record.txt');
  process.env['SGEVENTD_TEST_RECORD'] = record;
  const site = await startSite(siteOptions);
  const sg = new ShotgunClient({ baseUrl: site.url, auth: { kind: 'script', scriptName: 'sgeventd', scriptKey: new Secret('sgeventd-key') }, retryDelayMs: 20 });
  return {
    dir,
    plugins,
    record,
    site,
    sg,
    config(extra = {}) {
      const { daemon, plugins: pluginExtra, ...rest } = extra as { daemon?: object; plugins?: object };
      return parseConfig(
        {
          site: { url: site.url, script: { name: 'sgeventd', key: 'sgeventd-key' }, connRetrySleepMs: 50, maxConnRetries: 3 },
          daemon: { state: join(dir, 'state.db'), pidFile: join(dir, 'sgeventd.pid'), fetchIntervalMs: 50, stateFlushMs: 50, ...daemon },
          plugins: [{ path: plugins, ...pluginExtra }],
          logging: { dir: join(dir, 'logs'), level: (process.env['SGEVENTD_TEST_LOG'] ?? 'warn') as 'warn' },
          http: { enabled: false },
          ...rest,
        },
        { source: join(dir, 'sgeventd.yaml') },
      );
    },
    async records() {
      if (!existsSync(record)) return [];
      return (await readFile(record, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' '));
    },
    async close() {
      await sg.close();
      await site.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Copies a fixture plugin into the harness's plugin folder (mode 0644). */
export async function addPlugin(h: Harness, fixture: string, as?: string): Promise<string> {
  const target = join(h.plugins, as ?? fixture);
  await copyFile(join(FIXTURES, fixture), target);
  await chmod(target, 0o644);
  return target;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export async function runDaemon(config: DaemonConfig, fromId?: number, opts: { logFiles?: boolean } = {}): Promise<Daemon> {
  const d = await Daemon.open({ config, console: process.env['SGEVENTD_TEST_LOG'] !== undefined, logFiles: opts.logFiles ?? false, watch: { pollIntervalMs: 100, debounceMs: 20 }, ...(fromId !== undefined ? { fromId } : {}) });
  await d.start();
  return d;
}

/** Every JSON line of every log file under `dir` (a daemon run with `logFiles: true`). */
export async function logLines(dir: string): Promise<Array<Record<string, unknown>>> {
  if (!existsSync(dir)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const f of await readdir(dir)) {
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line still being written
      }
    }
  }
  return out;
}

/** Creates a Shot in the site's first project; returns the id of its Shotgun_Shot_New event. */
export async function newShotEvent(h: Harness, code: string): Promise<number> {
  const project = await h.sg.findOne('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
  const shot = await h.sg.create('Shot', { code, ...(project ? { project: { type: 'Project', id: project['id'] } } : {}) });
  const ev = await h.sg.findOne('EventLogEntry', [['event_type', 'is', 'Shotgun_Shot_New'], ['entity', 'is', { type: 'Shot', id: shot['id'] }]], ['id']);
  if (typeof ev?.['id'] !== 'number') throw new Error(`no Shotgun_Shot_New event for shot ${code}`);
  return ev['id'];
}

/** The newest EventLogEntry id on the site (0 when it has none). */
export async function newestEventId(h: Harness): Promise<number> {
  const row = await h.sg.findOne('EventLogEntry', [], ['id'], { order: [{ field_name: 'id', direction: 'desc' }] });
  const id = row?.['id'];
  return typeof id === 'number' ? id : 0;
}

/**
 * Writes `count` EventLogEntry rows in-process, in one SQLite transaction (a
 * bulk edit): one Shot, then description changes on it. Returns the ids.
 */
export function bulkEvents(site: RunningSite, count: number, actorScript = { script_name: 'sgeventd', script_key: 'sgeventd-key' }): number[] {
  const actor = site.auth.authenticate(actorScript);
  const before = site.store.lastEventId();
  site.store.db.transaction(() => {
    const project = site.store.db.prepare('SELECT id FROM e_Project ORDER BY id LIMIT 1').get() as { id: number } | undefined;
    const fields = [{ field_name: 'code', value: `bulk${before}` }, ...(project ? [{ field_name: 'project', value: { type: 'Project', id: project.id } }] : [])];
    const shot = site.writer.create(actor, 'Shot', fields);
    while (site.store.lastEventId() - before < count) site.writer.update(actor, 'Shot', shot.id, [{ field_name: 'description', value: `v${site.store.lastEventId()}` }]);
  })();
  const after = site.store.lastEventId();
  return Array.from({ length: after - before }, (_, i) => before + 1 + i);
}
