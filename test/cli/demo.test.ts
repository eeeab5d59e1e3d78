import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup, tempDir, waitFor } from '../support/index.ts';

const BIN = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

describe('sgeventd demo', () => {
  it('shows events reaching TS and Python plugins and two projects on two different cores, then stops cleanly on SIGINT', async (t) => {
    const dir = join(tempDir(t, 'sgeventd-demo-'), 'demo');
    const child = spawn(process.execPath, [BIN, 'demo', '--dir', dir, '--activity-ms', '300'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const seen = (): { ts: boolean; py: boolean; cores: Set<string>; latency: boolean } => ({
      latency: /latency\s+change → callback \(webhooks\): \d+ changes?, p50 \d+ ms/.test(out),
      ts: /\[log_events\] #\d+ Shotgun_Shot_New/.test(out),
      py: /\[status_changed\] .*went \w+ -> \w+/.test(out),
      cores: new Set([...out.matchAll(/\[shot_toolkit\] .* → core (\S+) \(pid/g)].map((m) => m[1] ?? '')),
    });
    onCleanup(t, async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    });
    // Wait for all three (or for the demo to exit); the assertions below then say which is missing.
    await waitFor(() => {
      const s = seen();
      return (s.ts && s.py && s.cores.size >= 2 && s.latency) || child.exitCode !== null;
    }, 'TS and Python plugin output, two cores and a latency line in the demo output', 60_000).catch(() => undefined);
    const s = seen();
    assert.ok(s.ts, `a TS plugin logged events:\n${out.slice(-3000)}`);
    assert.ok(s.py, `the Python plugin logged a status change:\n${out.slice(-3000)}`);
    assert.deepEqual([...s.cores].sort(), ['v0.20.17-stand-in', 'v0.23.6-stand-in'], 'each project answered from its own core');
    assert.match(out, /site\s+http:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /webhooks\s+site → http:\/\/127\.0\.0\.1:\d+\/webhooks\/shotgrid/, 'the site sends webhooks to the daemon');
    assert.ok(s.latency, `the demo printed the change → callback latency it sees:\n${out.slice(-3000)}`);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /sgeventd stopped/);
  });
});
