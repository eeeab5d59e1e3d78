// An idle plugin thread stays small: it loads neither undici, nor zod, nor the
// api3 client, even when its plugin uses `sg` (the calls run on the main
// thread). Asserted on the modules each thread loads (a module trace
// preloaded into the process and so into its worker threads), not on bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_SCRIPT } from '../../../src/site/index.ts';
import { tempDir, withSite, within } from '../../support/index.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'hosts');
const HEAVY = [/\/node_modules\/undici\//, /\/node_modules\/zod\//, /\/src\/shotgrid\/client\.ts$/, /\/src\/shotgrid\/transport\.ts$/];

function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(FIXTURES, 'module-trace.mjs')).href, join(FIXTURES, 'idle-threads.ts')], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('idle plugin threads', () => {
  it('load neither undici, zod nor the api3 client, while their sg works through the main thread', async (t) => {
    const site = await withSite(t);
    const project = await site.firstProject();
    const shot = (await site.sg.create('Shot', { code: 'idle010', project }))['id'];
    const plugins = tempDir(t, 'sgeventd-idle-plugins-');
    const trace = tempDir(t, 'sgeventd-idle-trace-');
    writeFileSync(join(plugins, 'noop.mjs'), 'export function registerCallbacks(reg) {\n  reg.registerCallback(\'s\', \'k\', () => undefined);\n}\n');
    writeFileSync(join(plugins, 'writer.mjs'), `export function registerCallbacks(reg) {
  reg.registerCallback('${DEFAULT_SCRIPT.name}', '${DEFAULT_SCRIPT.key}', async (ctx) => {
    await ctx.sg.update('Shot', ctx.event.entity.id, { description: 'from a light thread' });
  });
}
`);
    const out = await within(run({ ...process.env, MODULE_TRACE_DIR: trace, PLUGIN_DIR: plugins, SITE_URL: site.url, SHOT_ID: String(shot) }), 120_000, 'the two plugins');
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout.trim()), { noop: 'ok', writer: 'ok' });
    const updated = await site.sg.findOne('Shot', [['id', 'is', shot]], ['description']);
    assert.equal(updated?.['description'], 'from a light thread');

    const loaded = (threadId: string): string[] => readFileSync(join(trace, threadId), 'utf8').split('\n').filter(Boolean);
    // The trace sees what it should: the main thread ran the writer's sg, so it loaded the client.
    assert.ok(existsSync(join(trace, '0')), 'a trace of the main thread');
    const main = loaded('0');
    for (const heavy of HEAVY) assert.ok(main.some((u) => heavy.test(u)), `the main thread loaded ${String(heavy)}`);
    const threads = readdirSync(trace).filter((f) => f !== '0');
    assert.equal(threads.length, 2, 'one trace per plugin thread');
    for (const id of threads) {
      const urls = loaded(id);
      assert.ok(urls.some((u) => u.endsWith('/src/hosts/js/worker.ts')), `thread ${id} is a plugin thread`);
      for (const heavy of HEAVY) assert.deepEqual(urls.filter((u) => heavy.test(u)), [], `thread ${id} loaded nothing matching ${String(heavy)}`);
    }
  });
});
