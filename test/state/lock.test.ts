import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lockStateFile, networkFilesystemName, openSqliteState, StateError } from '../../src/state/index.ts';

const HOLD = fileURLToPath(new URL('../fixtures/state/hold-lock.ts', import.meta.url));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-lock-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** This process's children, from /proc (the lock once ran in a Python child). */
function childCount(): number {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
    } catch {
      return false;
    }
  }).length;
}

async function lockedError(path: string): Promise<StateError> {
  try {
    const lock = await lockStateFile(path);
    await lock.release();
  } catch (err) {
    assert.ok(err instanceof StateError);
    return err;
  }
  assert.fail('the second lock was granted');
}

describe('state file lock', () => {
  it('lets one holder in; a second is refused with STATE_LOCKED naming the holder pid and host; readers still open the file', async () => {
    const state = join(await tempDir(), 'state.db');
    const lock = await lockStateFile(state);
    after(() => lock.release());
    assert.equal(lock.path, `${state}.lock`);
    assert.equal(lock.networkFilesystem, null);
    const err = await lockedError(state);
    assert.equal(err.code, 'STATE_LOCKED');
    assert.equal(err.details['pid'], process.pid);
    assert.equal(err.details['host'], hostname());
    // status and dlq open the state without the lock.
    const reader = await openSqliteState(state);
    await reader.close();
    await lock.release();
    const again = await lockStateFile(state);
    await again.release();
  });

  it('dies with its process: a SIGKILLed holder frees the state file', async () => {
    const state = join(await tempDir(), 'state.db');
    const child = spawn(process.execPath, [HOLD, state], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    let out = '';
    await new Promise<void>((ok, fail) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('locked')) ok();
      });
      child.once('exit', (code) => fail(new Error(`holder exited early (${code})`)));
    });
    const err = await lockedError(state);
    assert.equal(err.code, 'STATE_LOCKED');
    assert.equal(err.details['pid'], child.pid);
    child.kill('SIGKILL');
    await exited;
    // The kernel drops the lock once the holder's pipe closes; no stale file blocks the next daemon.
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const lock = await lockStateFile(state);
        await lock.release();
        break;
      } catch (e) {
        if (!(e instanceof StateError) || e.code !== 'STATE_LOCKED' || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  });

  it('fails with STATE_IO when the lock file cannot be made', async () => {
    const dir = await tempDir();
    writeFileSync(join(dir, 'file'), '');
    await assert.rejects(lockStateFile(join(dir, 'file', 'state.db')), (e: unknown) => e instanceof StateError && e.code === 'STATE_IO');
  });

  it('needs no other process: a daemon holding it starts none', async () => {
    const state = join(await tempDir(), 'state.db');
    const before = childCount();
    const lock = await lockStateFile(state);
    assert.equal(childCount(), before);
    await lock.release();
  });

  it('names network filesystems by their statfs type', () => {
    assert.equal(networkFilesystemName(0x6969), 'nfs');
    assert.equal(networkFilesystemName(0xff534d42), 'cifs');
    assert.equal(networkFilesystemName(-11317950), 'cifs'); // the same magic read as a signed 32-bit number
    assert.equal(networkFilesystemName(0xef53), null); // ext4
    assert.equal(networkFilesystemName(0x01021994), null); // tmpfs
  });
});
