import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Secret } from '../../src/shared/secret.ts';
import { runtimeEnv } from '../../src/toolkit/env.ts';
import type { ToolkitLogger } from '../../src/toolkit/log.ts';
import type { RuntimeLaunch } from '../../src/toolkit/runtime.ts';
import type { InitParams } from '../../src/toolkit/protocol.ts';

export const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'toolkit');
/** The interpreter itself, not a pyenv shim that costs a second per start. */
export const PYTHON = process.env.SGEVENTD_TK_PYTHON ?? execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
export const SCRIPT_KEY = 'k3y-that-must-stay-secret-0451';

export function tempDir(prefix = 'sgeventd-tk-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function site(): NonNullable<InitParams['site']> {
  return { url: 'http://127.0.0.1:9', scriptName: 'sgeventd-test', scriptKey: new Secret(SCRIPT_KEY) };
}

/** A logger that keeps what it was given. */
export function memoryLogger(): ToolkitLogger & { lines: { level: string; obj: Record<string, unknown>; msg: string }[] } {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string): void => { lines.push({ level, obj, msg }); };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function launch(dir: string, configPath: string | undefined, corePython: string, over: Partial<RuntimeLaunch> = {}, init: Partial<InitParams> = {}): RuntimeLaunch {
  const mode = init.mode ?? 'centralized';
  return {
    label: path.basename(configPath ?? corePython),
    python: PYTHON,
    cwd: dir,
    env: runtimeEnv(process.env, {
      configPath: mode === 'centralized' ? configPath : undefined,
      shotgunHome: path.join(dir, 'shotgun_home'),
      secretVars: [],
      holdsCore: (d) => existsSync(path.join(d, 'tank')) || existsSync(path.join(d, 'sgtk')),
    }),
    init: { site: site(), mode, configPath, corePython, pythonPath: [path.join(FIXTURES, 'studio_py')], syncPathCache: false, ...init },
    initTimeoutMs: 10_000,
    callTimeoutMs: 10_000,
    queueLimit: 10,
    maxMessageBytes: 4 * 1024 * 1024,
    maxLogLineBytes: 1000,
    stopTimeoutMs: 2000,
    ...over,
  };
}

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Alive and not a zombie waiting for a reaper (a container's pid 1 may never reap). */
export function running(pid: number | undefined): boolean {
  if (!alive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform === 'linux' ? false : true;
  }
}

export async function rejectsWith(p: Promise<unknown>, code: string): Promise<Record<string, unknown> & { code: string; details: Record<string, unknown> }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof Error) || !('code' in err)) throw new Error(`expected a rejection with ${code}, got ${String(err)}`);
  const e = err as Error & { code: string; details: Record<string, unknown> };
  if (e.code !== code) throw new Error(`expected ${code}, got ${e.code}: ${e.message}`);
  return e as unknown as Record<string, unknown> & { code: string; details: Record<string, unknown> };
}

/** Polls until `cond` holds; fails after `timeoutMs` (never hangs a test). */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
