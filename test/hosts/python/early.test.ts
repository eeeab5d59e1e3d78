// Python plugins' processes started before their hosts (hosts/python/early.ts):
// real processes from a real config and plugin folder. A stand-in shotgun_api3
// package in the plugin folder appends its process's pid to a file when it is
// imported, so what ran where is read from the processes themselves.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { parseConfig, type DaemonConfig } from '../../../src/config/index.ts';
import { HostFactory } from '../../../src/hosts/index.ts';
import { EarlyPythonProcesses } from '../../../src/hosts/python/early.ts';
import { configuredProcess } from '../../../src/hosts/python/process-options.ts';
import { silentLogger } from '../../../src/pyrpc/index.ts';
import { PYTHON, running, tempDir } from '../../toolkit/helpers.ts';
import { waitFor } from '../../support/index.ts';

const PLUGIN = `def registerCallbacks(reg):
    reg.registerCallback("sgeventd", "sgeventd-key", cb, None, None)


def cb(sg, logger, event, args):
    pass
`;

const STAND_IN = `import os

with open(os.environ["EARLY_IMPORTS"], "a") as f:
    f.write("%d\\n" % os.getpid())


class _Config(object):
    timeout_secs = None


class Shotgun(object):
    server_caps = None

    def __init__(self, *args, **kwargs):
        self.config = _Config()
`;

interface Bed { config: DaemonConfig; folder: string; imports: string }

/** A plugin folder with `plugins` (each a no-op plugin) and the stand-in shotgun_api3; the config runs them with the interpreter itself. */
function bed(t: TestContext, plugins: string[], overrides: Record<string, unknown> = {}, python = PYTHON): Bed {
  const { dir, cleanup } = tempDir('sgeventd-early-');
  t.after(cleanup);
  chmodSync(dir, 0o755);
  const folder = path.join(dir, 'plugins');
  mkdirSync(path.join(folder, 'shotgun_api3'), { recursive: true, mode: 0o755 });
  for (const p of plugins) writeFileSync(path.join(folder, `${p}.py`), PLUGIN, { mode: 0o644 });
  writeFileSync(path.join(folder, 'shotgun_api3', '__init__.py'), STAND_IN, { mode: 0o644 });
  const imports = path.join(dir, 'imports.txt');
  // The plugins' processes inherit the daemon's environment.
  process.env['EARLY_IMPORTS'] = imports;
  const config = parseConfig({
    site: { url: 'http://127.0.0.1:1', script: { name: 'sgeventd', key: 'k3y-0451' } },
    daemon: { state: path.join(dir, 'state.db'), pidFile: path.join(dir, 'sgeventd.pid') },
    plugins: [{ path: folder, overrides }],
    toolkit: { python },
  }, { source: path.join(dir, 'sgeventd.yaml') });
  return { config, folder, imports };
}

const importers = (file: string): number[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : []);

describe('Python plugins\' processes started early', () => {
  it('starts the process as soon as the config is known; it imports shotgun_api3 from the plugin\'s folder before any host exists, and the host adopts it', async (t) => {
    const b = bed(t, ['early_one']);
    const early = EarlyPythonProcesses.begin(b.config);
    t.after(() => early.close());
    await early.started;
    assert.deepEqual(early.files, [path.join(b.folder, 'early_one.py')]);
    // No host yet: the process is up and has imported shotgun_api3 on its own.
    const [pid] = await waitFor(() => (importers(b.imports).length > 0 ? importers(b.imports) : undefined), 'shotgun_api3 imported by the early process', 60_000);

    const folder = b.config.plugins[0];
    assert.ok(folder !== undefined);
    const host = new HostFactory(b.config, undefined, early).create({ kind: 'python', name: 'early_one', file: path.join(b.folder, 'early_one.py'), mtimeMs: 0, size: 0, mode: 0o644, status: 'waiting for a Python runtime' }, folder, pino({ level: 'silent' }));
    t.after(() => host.close());
    const loaded = await host.load();
    assert.ok(loaded.ok, JSON.stringify(loaded));
    assert.equal((loaded as { shotgunApi3Error?: string | null }).shotgunApi3Error, null, 'the plugin got the stand-in shotgun_api3');
    assert.equal((host as { pid?: number }).pid, pid, 'the host runs in the process started early');
    assert.deepEqual(importers(b.imports), [pid], 'shotgun_api3 was imported once, by that process');
    assert.deepEqual(early.files, [], 'adopted');
  });

  it('starts none for a plugin disabled in the config, and ends the ones no host adopted', async (t) => {
    const b = bed(t, ['used', 'unused'], { used: { enabled: false } });
    const early = EarlyPythonProcesses.begin(b.config);
    await early.started;
    assert.deepEqual(early.files, [path.join(b.folder, 'unused.py')]);
    const [pid] = await waitFor(() => (importers(b.imports).length > 0 ? importers(b.imports) : undefined), 'the early process up', 60_000);
    assert.equal(running(pid), true);
    await early.close();
    assert.equal(running(pid), false, 'the unused process was ended');
    assert.deepEqual(importers(b.imports), [pid], 'only the enabled plugin got a process');
  });

  it('ends the early process instead of handing it out when the host would start a different one', async (t) => {
    const b = bed(t, ['changed']);
    const early = EarlyPythonProcesses.begin(b.config);
    t.after(() => early.close());
    await early.started;
    const [pid] = await waitFor(() => (importers(b.imports).length > 0 ? importers(b.imports) : undefined), 'the early process up', 60_000);
    const folder = b.config.plugins[0];
    assert.ok(folder !== undefined);
    const file = path.join(b.folder, 'changed.py');
    const same = configuredProcess(b.config, folder, file, 'changed', silentLogger);
    const other = { ...same, env: { ...same.env, EXTRA: '1' } };
    assert.equal(early.take(file, other), null);
    await waitFor(() => !running(pid), 'the early process ended', 30_000);
    assert.equal(early.take(file, same), null, 'taken once');
  });

  it('reports an early process whose init timed out, without waiting for a second one', async (t) => {
    const { dir, cleanup } = tempDir('sgeventd-early-py-');
    t.after(cleanup);
    const starts = path.join(dir, 'starts.txt');
    const hung = path.join(dir, 'hung-python.sh');
    // A Python that never answers init.
    writeFileSync(hung, `#!/bin/sh\necho $$ >> '${starts}'\nexec sleep 600\n`, { mode: 0o755 });
    const b = bed(t, ['slow'], { slow: { callbackTimeoutMs: 300 } }, hung);
    const early = EarlyPythonProcesses.begin(b.config);
    t.after(() => early.close());
    await early.started;
    const folder = b.config.plugins[0];
    assert.ok(folder !== undefined);
    const host = new HostFactory(b.config, undefined, early).create({ kind: 'python', name: 'slow', file: path.join(b.folder, 'slow.py'), mtimeMs: 0, size: 0, mode: 0o644, status: 'waiting for a Python runtime' }, folder, pino({ level: 'silent' }));
    t.after(() => host.close());
    const loaded = await host.load();
    assert.ok(!loaded.ok && loaded.error.code === 'PLUGIN_LOAD_TIMEOUT', JSON.stringify(loaded));
    const pids = importers(starts);
    assert.equal(pids.length, 1, `one process started: ${pids.join(', ')}`);
    assert.equal(running(pids[0]), false);
  });
});
