import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statfsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { StateError } from './errors.ts';

const HELPER = join(import.meta.dirname, 'state_lock.py');

/** Who holds a state file, as the holder wrote it into the sidecar lock file. */
export interface StateLockHolder {
  pid: number | null;
  host: string | null;
  since: string | null;
}

/** The lock a daemon holds on its state file while it runs. */
export interface StateLock {
  /** The sidecar file the lock is on: `<state>.lock`. */
  readonly path: string;
  /** The network filesystem the state file lives on (`nfs`, `cifs`...), or null for a local one. */
  readonly networkFilesystem: string | null;
  /** Drops the lock; idempotent. */
  release(): Promise<void>;
}

export interface StateLockOptions {
  /** The Python that runs the lock holder (the daemon's `toolkit.python`). */
  python: string;
}

/**
 * Takes the kernel lock (fcntl) on `<state>.lock` so that only one daemon
 * runs on a state file; `status`, `dlq` and other readers never take it, so
 * they keep working beside a running daemon. Fails with STATE_LOCKED (the
 * holder's pid and host in `details`) when another process holds it.
 *
 * Node has no flock/fcntl-lock API, so a small Python process holds the lock
 * and blocks on a pipe from the daemon: when the daemon ends in any way
 * (including SIGKILL), the kernel closes the pipe, the holder exits and the
 * kernel drops the lock. A pid file check cannot tell a live holder from a
 * recycled pid; SQLite's exclusive locking mode would lock out the readers.
 *
 * @example
 * const lock = await lockStateFile(config.daemon.state, { python: config.toolkit.python });
 * if (lock.networkFilesystem) logger.warn({ fs: lock.networkFilesystem }, 'state file on a network filesystem');
 * ...
 * await lock.release();
 */
export async function lockStateFile(statePath: string, opts: StateLockOptions): Promise<StateLock> {
  const state = resolve(statePath);
  const path = `${state}.lock`;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new StateError('STATE_IO', `cannot create the folder of ${path}: ${(err as Error).message}`, { cause: err, details: { path } });
  }
  const owner = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  // -S: the helper needs the standard library only, so no `site` (its .pth
  // files may import packages: about 50 ms of CPU measured on one machine).
  const child = spawn(opts.python, ['-I', '-S', HELPER, path, owner], { stdio: ['pipe', 'pipe', 'pipe'] });
  const answer = await firstAnswer(child, path);
  if (!answer.locked) {
    const holder = holderOf(answer.holder);
    const who = holder.pid === null ? 'another process' : `pid ${holder.pid} on ${holder.host ?? 'an unknown host'}`;
    throw new StateError('STATE_LOCKED', `state file ${state} is in use by ${who} (lock ${path}); stop that daemon or point daemon.state elsewhere`, {
      details: { path: state, lock: path, pid: holder.pid, host: holder.host, since: holder.since },
    });
  }
  // The lock must not keep a finished daemon alive; the pipe still closes when this process ends.
  child.unref();
  unrefStream(child.stdin);
  unrefStream(child.stdout);
  unrefStream(child.stderr);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let releasing: Promise<void> | null = null;
  return {
    path,
    networkFilesystem: networkFilesystemOf(dirname(state)),
    release: () => {
      releasing ??= (async () => {
        // Held again so that the process waits for the holder's exit instead of ending mid-release.
        child.ref();
        child.stdin?.end();
        await exited;
      })();
      return releasing;
    },
  };
}

type Answer = { locked: true } | { locked: false; holder: unknown };

function firstAnswer(child: ChildProcess, path: string): Promise<Answer> {
  return new Promise((done, fail) => {
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-2000); });
    const lines = createInterface({ input: child.stdout! });
    let settled = false;
    const failWith = (why: string, cause?: unknown): void => {
      if (settled) return;
      settled = true;
      lines.close();
      fail(new StateError('STATE_IO', `cannot lock ${path}: ${why}`, { cause, details: { path } }));
    };
    child.once('error', (err) => failWith(`cannot run ${child.spawnfile}: ${err.message}`, err));
    child.once('exit', (code, signal) => failWith(`the lock holder exited (${signal ?? `code ${code}`}) ${stderr.trim()}`));
    lines.once('line', (line) => {
      if (settled) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (err) {
        failWith(`unexpected answer from the lock holder: ${line.slice(0, 200)}`, err);
        return;
      }
      const p = parsed as { locked?: unknown; holder?: unknown };
      if (p.locked === true) {
        settled = true;
        lines.close();
        done({ locked: true });
      } else if (p.locked === false) {
        settled = true;
        lines.close();
        done({ locked: false, holder: p.holder });
      } else {
        failWith(`unexpected answer from the lock holder: ${line.slice(0, 200)}`);
      }
    });
  });
}

function holderOf(raw: unknown): StateLockHolder {
  const o = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  return {
    pid: typeof o.pid === 'number' ? o.pid : null,
    host: typeof o.host === 'string' ? o.host : null,
    since: typeof o.since === 'string' ? o.since : null,
  };
}

function unrefStream(s: unknown): void {
  const r = s as { unref?: () => void } | null;
  r?.unref?.();
}

// statfs(2) f_type magic numbers of filesystems whose locks and fsyncs cross a network.
const NETWORK_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x00c36400, 'ceph'],
  [0x5346414f, 'afs'],
  [0x01021997, '9p'],
  [0x0bd00bd0, 'lustre'],
  [0x47504653, 'gpfs'],
  [0x01161970, 'gfs2'],
  [0x7461636f, 'ocfs2'],
  [0x73757245, 'coda'],
  [0x564c, 'ncp'],
]);

/** The name of the network filesystem `type` (statfs f_type) stands for, or null for a local one. */
export function networkFilesystemName(type: number): string | null {
  return NETWORK_FILESYSTEMS.get(type >>> 0) ?? null;
}

function networkFilesystemOf(dir: string): string | null {
  try {
    return networkFilesystemName(statfsSync(dir).type);
  } catch {
    // statfs is not available everywhere (nor meaningful): no warning then.
    return null;
  }
}
