import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * Where `python` (as `toolkit.python` names it) is found: a path as given, a
 * bare name through PATH as `spawn` finds it. Null when it is not found.
 */
export function whichPython(python: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (python.includes('/')) return isAbsolute(python) ? python : resolve(python);
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, python);
    try {
      const st = statSync(candidate);
      if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
    } catch {
      // not in this folder
    }
  }
  return null;
}

/**
 * The version manager behind `python` when it is a shim script (pyenv's,
 * asdf's): a shell script that picks an interpreter at every start. Each
 * Python process the daemon starts (each Python plugin's process, each
 * Toolkit runtime) then pays for it: about 0.4 s of wall time
 * and as much CPU per start on the machine measured, against 0.02 s for the
 * interpreter itself (BENCHMARKS.md, Start-up). Null for anything else.
 */
export function pythonShim(python: string, env: NodeJS.ProcessEnv = process.env): { path: string; manager: string } | null {
  const path = whichPython(python, env);
  if (path === null) return null;
  let head: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(512);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('latin1');
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  if (!head.startsWith('#!')) return null;
  // pyenv's shim ends `exec "$PYENV_ROOT/libexec/pyenv" exec "$program" "$@"`, asdf's `exec <asdf> exec "python3" "$@"`.
  for (const manager of ['pyenv', 'asdf']) {
    if (new RegExp(`\\b${manager}"?\\s+exec\\b`).test(head)) return { path, manager };
  }
  return null;
}
