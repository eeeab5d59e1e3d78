import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { within } from '../support/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

describe('sgeventd site (CLI)', () => {
  it('prints its URL first, serves requests, warns about the default script, and exits 0 on SIGTERM', async (t) => {
    const child = spawn(process.execPath, [bin, 'site', '--port', '0', '--seed', 'demo'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const lines = createInterface({ input: child.stdout });
    const first = await Promise.race([
      once(lines, 'line').then(([l]) => String(l)),
      new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`no first line; stderr: ${stderr}`)), 20_000).unref()),
    ]);
    const m = /^site listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(first);
    assert.ok(m, first);
    const res = await fetch(`${m[1]}/api3/json`, {
      method: 'POST', signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({ method_name: 'read', params: [{ script_name: 'sgeventd', script_key: 'sgeventd-key' }, { type: 'Project', return_fields: ['tank_name'] }] }),
    });
    const body = await res.json() as { results: { entities: Array<{ tank_name: string }> } };
    assert.deepEqual(body.results.entities.map((e) => e.tank_name), ['demo_alpha', 'demo_beta']);
    assert.match(stderr, /default script/);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await Promise.race([exited as Promise<[number | null]>, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('did not exit')), 10_000).unref())]);
    assert.equal(code, 0);
  });

  it('--latency-ms delays every answer by at least that much', async (t) => {
    const latencyMs = 300;
    const child = spawn(process.execPath, [bin, 'site', '--port', '0', '--seed', 'empty', '--latency-ms', String(latencyMs)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const first = await within(once(createInterface({ input: child.stdout }), 'line').then(([l]) => String(l)), 20_000, `the first line; stderr: ${stderr}`);
    const url = /^site listening on (\S+)$/.exec(first)?.[1];
    assert.ok(url, first);
    const started = performance.now();
    const res = await fetch(`${url}/api3/json`, { method: 'POST', signal: AbortSignal.timeout(10_000), body: JSON.stringify({ method_name: 'info', params: [] }) });
    assert.equal(res.status, 200);
    await res.json();
    const elapsed = performance.now() - started;
    // A lower bound only (a busy machine answers later, never earlier); timers round to whole milliseconds.
    assert.ok(elapsed >= latencyMs - 1, `answered after ${elapsed.toFixed(1)} ms, before the ${latencyMs} ms latency`);
  });

  it('rejects a bad --script with a non-zero exit', async () => {
    const child = spawn(process.execPath, [bin, 'site', '--script', 'nokey'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const [code] = await Promise.race([once(child, 'exit') as Promise<[number | null]>, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('did not exit')), 20_000).unref())]);
    assert.notEqual(code, 0);
  });
});
