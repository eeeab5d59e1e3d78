import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProgressBar, progressWanted } from '../../src/cli/progress.ts';
import { showCatchUp } from '../../src/cli/progress-catch-up.ts';
import type { DaemonStatus } from '../../src/daemon/index.ts';
import { daemonBed, runCli, waitFor, withSite } from '../support/index.ts';

const BIN = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

/** Runs `sgeventd <args>` under a pseudo-terminal (util-linux `script`); returns what the terminal showed. */
function underTty(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000, seen?: (screen: string) => void): Promise<{ code: number | null; screen: string }> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...env, COLUMNS: '160', TERM: 'xterm' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let screen = '';
    const add = (d: Buffer): void => {
      screen += d.toString();
      seen?.(screen);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sgeventd ${args.join(' ')} under a pty did not finish in ${timeoutMs} ms: ${screen}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

// What only the bar prints: its rate and ETA fields.
const BAR = /recorder \[[#.]+\] \d+% \d+\/\d+ · \d+ behind · (\d+|–) ev\/s · ETA /;

describe('progress bars', { timeout: 180_000 }, () => {
  it('a bar shows done/total, events behind, rate and ETA', () => {
    let now = 0;
    const writes: string[] = [];
    const bar = new ProgressBar({ write: (s: string) => writes.push(s), columns: 200 }, 'catching up', () => now);
    bar.update(0, 1000);
    now = 1000;
    bar.update(250, 1000);
    assert.equal(bar.rate(), 250);
    assert.equal(bar.line(250, 1000), 'catching up [######..................] 25% 250/1000 · 750 behind · 250 ev/s · ETA 3 s');
    assert.equal(writes.length, 2, 'each update far enough apart is drawn');
    assert.ok(writes.every((w) => w.startsWith('\r')), 'drawn in place');
    bar.finish('done');
    assert.equal(writes.at(-1), 'done\n');
    const quiet = new ProgressBar(null, 'x');
    quiet.update(1, 2);
    assert.equal(quiet.rate(), null, 'a quiet bar keeps nothing');
    assert.equal(progressWanted(undefined, { stdout: { isTTY: true }, stderr: { isTTY: true } }), true);
    assert.equal(progressWanted(false, { stdout: { isTTY: true }, stderr: { isTTY: true } }), false, '--no-progress');
    assert.equal(progressWanted(undefined, { stdout: {}, stderr: { isTTY: true } }), false, 'stdout piped');
    assert.equal(progressWanted(undefined, { stdout: { isTTY: true }, stderr: {} }), false, 'stderr piped');
  });

  it('the foreground catch-up bar follows the most-behind running plugin, then says it caught up once', async () => {
    const plugin = (lastEventId: number, status = 'running') => ({ name: 'p', status, lastEventId }) as DaemonStatus['plugins'][number];
    let status = { newestEventId: 1000, plugins: [plugin(100), plugin(900), plugin(0, 'paused')] } as unknown as DaemonStatus;
    const screen: string[] = [];
    const bar = showCatchUp({ status: () => status }, { write: (s: string) => screen.push(s), columns: 0 });
    assert.match(screen.join(''), /catching up \[\.+\] 0% 0\/900 · 900 behind/, 'drawn at once from the lowest running cursor');
    status = { ...status, plugins: [plugin(1000), plugin(1000), plugin(0, 'paused')] };
    await waitFor(() => screen.join('').includes('caught up: 900 events'), 'the caught-up line');
    const lines = screen.length;
    status = { ...status, newestEventId: 5000 };
    bar.stop();
    assert.equal(screen.length, lines, 'nothing more once caught up');

    // A daemon that starts with nothing behind draws nothing.
    const quiet: string[] = [];
    showCatchUp({ status: () => ({ newestEventId: 10, plugins: [plugin(10)] }) as unknown as DaemonStatus }, { write: (s: string) => quiet.push(s) }).stop();
    assert.deepEqual(quiet, []);
  });

  it('replay draws its bar on a terminal, and not with --no-progress or without a terminal', async (t) => {
    const site = await withSite(t);
    const h = daemonBed(t, site);
    h.addPlugin('recorder.mjs');
    const yaml = h.writeYaml();
    const from = await site.newestEventId();
    for (let i = 0; i < 5; i++) await site.newShotEvent(`bar${i}`);
    const to = await site.newestEventId();
    const args = ['replay', '-c', yaml, '--from', String(from)];
    const done = `recorder: ${to - from} event(s) replayed up to ${to}`;

    const tty = await underTty(args, h.childEnv());
    assert.equal(tty.code, 0, tty.screen);
    assert.match(tty.screen, BAR, 'the bar is drawn on a terminal');
    assert.ok(tty.screen.includes(done), tty.screen);

    const off = await underTty([...args, '--no-progress'], h.childEnv());
    assert.equal(off.code, 0, off.screen);
    assert.doesNotMatch(off.screen, BAR, 'no bar with --no-progress');
    assert.ok(off.screen.includes(done), off.screen);

    const piped = await runCli(args, h.childEnv());
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stderr + piped.stdout, BAR, 'no bar without a terminal');
    assert.ok(!piped.stderr.includes('\r'), 'no carriage return in a pipe');
    assert.ok(piped.stderr.includes(done), piped.stderr);
  });

  it('foreground shows its catch-up on a terminal, then one caught-up line', async (t) => {
    const site = await withSite(t);
    const h = daemonBed(t, site);
    h.addPlugin('gated.mjs');
    const yaml = h.writeYaml();
    const from = await site.newestEventId();
    for (let i = 0; i < 3; i++) await site.newShotEvent(`fg${i}`);
    const behind = (await site.newestEventId()) - from;
    const gate = join(h.dir, 'gate');
    let screen = '';
    const run = underTty(['foreground', '-c', yaml, '--from', String(from)], { ...h.childEnv(), SGEVENTD_TEST_GATE: gate }, 90_000, (s) => (screen = s));
    // The plugin holds its first event: the bar shows where the catch-up stands.
    await waitFor(() => new RegExp(`catching up \\[\\.+\\] 0% 0/${behind} · ${behind} behind`).test(screen), 'the catch-up bar', 60_000);
    writeFileSync(gate, '');
    await waitFor(() => screen.includes(`caught up: ${behind} events`), 'the caught-up line', 60_000);
    process.kill(Number(readFileSync(join(h.dir, 'sgeventd.pid'), 'utf8')), 'SIGTERM');
    const done = await run;
    assert.equal(done.code, 0, done.screen);
    assert.equal(done.screen.split('caught up:').length, 2, 'one caught-up line');
  });
});
