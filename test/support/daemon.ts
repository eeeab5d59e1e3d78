import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseConfig, type DaemonConfig } from '../../src/config/index.ts';
import { Daemon, type DaemonOptions } from '../../src/daemon/index.ts';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { onCleanup, type Cleanup } from './cleanup.ts';
import { tempDir } from './temp.ts';
import type { TestSite } from './site.ts';

/** Plugins that record what they saw (test/fixtures/daemon). */
export const DAEMON_FIXTURES = fileURLToPath(new URL('../fixtures/daemon/', import.meta.url));

/** A daemon's folder beside a test site: plugins, state, logs and the record file plugins append to. */
export interface DaemonBed {
  dir: string;
  plugins: string;
  logs: string;
  /** File the fixture plugins append "<plugin> <id> ..." lines to (`SGEVENTD_TEST_RECORD`). */
  record: string;
  site: TestSite;
  /** A compiled config for this bed; `extra.daemon` and `extra.plugins` merge into the defaults. */
  config(extra?: Record<string, unknown>): DaemonConfig;
  /** The same config as an `sgeventd.yaml` (key from `${SGEVENTD_TEST_KEY}`); returns its path. */
  writeYaml(daemon?: Record<string, unknown>, plugins?: Record<string, unknown>, rest?: Record<string, unknown>): string;
  /** Environment for an `sgeventd` child process using this bed. */
  childEnv(): NodeJS.ProcessEnv;
  /** Copies a fixture plugin (test/fixtures/daemon) into the plugin folder, mode 0644. */
  addPlugin(fixture: string, as?: string): string;
  /** Lines of the record file, split into fields. */
  records(): string[][];
  /** Every JSON line of every file in the log folder (a daemon run with `logFiles: true`). */
  logLines(): Array<Record<string, unknown>>;
}

/** Folders and config for a daemon talking to `site`; removed when the test ends. */
export function daemonBed(t: Cleanup, site: TestSite): DaemonBed {
  const dir = tempDir(t, 'sgeventd-daemon-');
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins, { mode: 0o755 });
  chmodSync(plugins, 0o755);
  const logs = join(dir, 'logs');
  const record = join(dir, 'record.txt');
  // Plugin threads read it from the environment they inherit.
  process.env['SGEVENTD_TEST_RECORD'] = record;
  process.env['SGEVENTD_TEST_KEY'] = DEFAULT_SCRIPT.key;
  const raw = (daemon: Record<string, unknown>, pluginExtra: Record<string, unknown>, rest: Record<string, unknown>, key: string): Record<string, unknown> => ({
    site: { url: site.url, script: { name: DEFAULT_SCRIPT.name, key }, connRetrySleepMs: 50, maxConnRetries: 3 },
    daemon: { state: join(dir, 'state.db'), pidFile: join(dir, 'sgeventd.pid'), fetchIntervalMs: 50, stateFlushMs: 50, ...daemon },
    plugins: [{ path: plugins, ...pluginExtra }],
    logging: { dir: logs, level: process.env['SGEVENTD_TEST_LOG'] ?? 'warn' },
    http: { enabled: false },
    ...rest,
  });
  return {
    dir,
    plugins,
    logs,
    record,
    site,
    config(extra = {}) {
      const { daemon = {}, plugins: pluginExtra = {}, ...rest } = extra as { daemon?: Record<string, unknown>; plugins?: Record<string, unknown> };
      return parseConfig(raw(daemon, pluginExtra, rest, DEFAULT_SCRIPT.key), { source: join(dir, 'sgeventd.yaml') });
    },
    writeYaml(daemon = {}, pluginExtra = {}, rest = {}) {
      const file = join(dir, 'sgeventd.yaml');
      writeFileSync(file, stringify(raw(daemon, pluginExtra, rest, '${SGEVENTD_TEST_KEY}')));
      return file;
    },
    childEnv() {
      return { PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: DEFAULT_SCRIPT.key, SGEVENTD_TEST_RECORD: record };
    },
    addPlugin(fixture, as) {
      const target = join(plugins, as ?? fixture);
      copyFileSync(join(DAEMON_FIXTURES, fixture), target);
      chmodSync(target, 0o644);
      return target;
    },
    records() {
      if (!existsSync(record)) return [];
      return readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
    },
    logLines() {
      return logLines(logs);
    },
  };
}

/** Every JSON line of every file under `dir`; a line still being written is skipped. */
export function logLines(dir: string): Array<Record<string, unknown>> {
  if (!existsSync(dir)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const f of readdirSync(dir)) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
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

/**
 * A real daemon from a compiled config, started (plugins loaded, loop
 * running); it stops when the test ends (stop is idempotent, so a test may
 * stop it earlier itself).
 */
export async function withDaemon(t: Cleanup, config: DaemonConfig, options: Partial<Omit<DaemonOptions, 'config'>> = {}): Promise<Daemon> {
  const daemon = await Daemon.open({
    config,
    console: process.env['SGEVENTD_TEST_LOG'] !== undefined,
    logFiles: false,
    watch: { pollIntervalMs: 100, debounceMs: 20 },
    ...options,
  });
  onCleanup(t, () => daemon.stop());
  await daemon.start();
  return daemon;
}
