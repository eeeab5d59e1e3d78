import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/index.ts';
import { rawConfigSchema } from '../../src/config/schema.ts';
import { Assembly } from '../../src/daemon/index.ts';
import { runtimePoolOptions } from '../../src/toolkit/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MINIMAL = { site: { url: 'http://127.0.0.1:9', script: { name: 'sgeventd', key: 'k' } }, plugins: [{ path: '/plugins' }] };

/** Every leaf of the schema's defaults for a minimal config, by key name. */
function defaultLeaves(): Map<string, unknown> {
  const leaves = new Map<string, unknown>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (x !== null && typeof x === 'object') walk(x);
        else leaves.set(k, x);
      }
    }
  };
  walk(rawConfigSchema.parse(MINIMAL));
  return leaves;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

// Key names other subsystems also use for options of their own (a plugin
// thread's restart budget, the api3 client's timeout, a port in an example).
const GENERIC = new Set(['count', 'windowMs', 'backoffMs', 'port', 'keep', 'maxSizeMb', 'maxPerHour', 'timeoutMs']);
// Places that set a value on purpose, not a default: file → keys.
const DELIBERATE: Record<string, readonly string[]> = {
  'src/cli/demo.ts': ['fetchIntervalMs', 'maxRuntimes'], // the demo's own config
  'src/daemon/replay.ts': ['retries', 'retryBackoffMs'], // a side run never retries
  'src/http/health.ts': ['fetchIntervalMs'], // no interval given: the minimum window alone
  'src/toolkit/python-plugin.ts': ['queueLimit'], // a plugin's own process, not the pool
  'src/toolkit/runtime-spawn.ts': ['stopTimeoutMs'], // how long a runtime process gets to exit, not daemon.stopTimeoutMs
  'src/hosts/python/host.ts': ['stopTimeoutMs'], // how long a forked worker gets to exit, not daemon.stopTimeoutMs
  'src/hosts/python/process-options.ts': ['stopTimeoutMs'], // how long a plugin process gets to exit, not daemon.stopTimeoutMs
};

describe('defaults: the config schema is the one table', () => {
  it('a pool built from runtimePoolOptions() and the daemon\'s pool use the compiled config\'s toolkit values', async (t) => {
    const config = parseConfig(MINIMAL, { source: 'defaults', env: {} });
    const pool = runtimePoolOptions();
    const { configsRoot: _computed, ...fromConfig } = config.toolkit;
    assert.deepEqual({ ...pool }, { ...fromConfig }, 'runtimePoolOptions() has no defaults of its own');
    assert.equal(pool.callTimeoutMs, 300_000);

    const parts = await Assembly.open(config, { command: 'check' });
    t.after(() => parts.close());
    assert.deepEqual(parts.toolkit.pool.options, config.toolkit, 'the daemon hands the pool the compiled section as is');
  });

  it('plugin folders get their defaults from the schema; a folder\'s callback timeout is the daemon\'s', () => {
    const config = parseConfig({ ...MINIMAL, daemon: { callbackTimeoutMs: 1234 } }, { source: 'defaults', env: {} });
    const folder = config.plugins[0];
    assert.ok(folder);
    const leaves = defaultLeaves();
    for (const key of ['enabled', 'ignoreOwnEvents', 'retries', 'retryBackoffMs', 'deadLetter'] as const) assert.equal(folder[key], leaves.get(key), key);
    assert.equal(folder.callbackTimeoutMs, 1234);
  });

  it('the event log keeps four batches in memory, at least 5000 events, unless told', () => {
    const at = (daemon: Record<string, unknown>): number => parseConfig({ ...MINIMAL, daemon }, { source: 'defaults', env: {} }).daemon.maxCachedEvents;
    assert.equal(at({}), 5000);
    assert.equal(at({ maxEventBatchSize: 2000 }), 8000);
    assert.equal(at({ maxCachedEvents: 100 }), 100);
  });

  it('no config default is written again as a literal outside the schema', () => {
    const keys = [...defaultLeaves()].filter(([k, v]) => typeof v === 'number' && !GENERIC.has(k)).map(([k]) => k);
    const found: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      const rel = relative(ROOT, file);
      // The local site is a program of its own, with its own options.
      if (rel === 'src/config/schema.ts' || rel.startsWith('src/site/')) continue;
      const text = readFileSync(file, 'utf8');
      for (const key of keys) {
        if (DELIBERATE[rel]?.includes(key)) continue;
        for (const m of text.matchAll(new RegExp(`\\b${key}\\s*(?::|\\?\\?|=)\\s*[\\d_]+`, 'g'))) found.push(`${rel}: ${m[0]}`);
      }
    }
    assert.deepEqual(found, [], 'set these from the compiled config, or add the default to src/config/schema.ts');
  });
});
