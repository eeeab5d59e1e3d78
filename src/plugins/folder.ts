// Reading a plugin folder: which files are plugins, and whether the folder
// and files are safe to run (plugins are code that runs with the daemon's
// credentials, so nobody but the owner may be able to change them).
import type { Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PluginError } from './errors.ts';

const JS_EXTENSIONS = ['.js', '.mjs', '.ts', '.mts'];

/** A JS/TS plugin file: runs in a worker thread (PluginHost). */
export interface JsPluginFile {
  kind: 'js';
  /** The file name without extension; keys cursors and logs. */
  name: string;
  file: string;
  mtimeMs: number;
  size: number;
  mode: number;
}

/** A Python plugin file: listed until a Python runtime runs it. */
export interface PythonPluginFile {
  kind: 'python';
  name: string;
  file: string;
  status: 'waiting for a Python runtime';
  mtimeMs: number;
  size: number;
  mode: number;
}

/** A plugin that must not run: unsafe permissions, or its name used twice. */
export interface RefusedPluginFile {
  kind: 'refused';
  name: string;
  file: string;
  error: PluginError;
  mtimeMs: number;
  size: number;
  mode: number;
}

export type PluginFileEntry = JsPluginFile | PythonPluginFile | RefusedPluginFile;

/** The plugins of one folder, sorted by name (shotgunEvents runs plugins alphabetically). */
export interface PluginFolderScan {
  folder: string;
  plugins: PluginFileEntry[];
}

/** `0775`-style text for a mode. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

type Checked = 'folder' | 'file' | 'helper folder' | 'helper file' | 'toolkit.pythonPath folder';

function unsafe(what: Checked, p: string, mode: number): PluginError {
  const by = `${mode & 0o020 ? 'group' : 'others'}${mode & 0o020 && mode & 0o002 ? ' and others' : ''}`;
  return new PluginError('PLUGIN_UNSAFE_PERMISSIONS', `plugin ${what} ${p} is writable by ${by} (mode ${formatMode(mode)}); refusing to run code others can change; fix: chmod go-w ${p}`, {
    details: { path: p, mode: formatMode(mode), fix: `chmod go-w ${p}` },
  });
}

/** Throws PLUGIN_UNSAFE_PERMISSIONS when `mode` lets group or others write. */
export function checkSafeMode(what: Checked, p: string, mode: number): void {
  if ((mode & 0o022) !== 0) throw unsafe(what, p, mode);
}

// Plugins run with the daemon's rights: code they load must belong to the daemon's user or to root.
function foreignOwner(st: Stats): boolean {
  const me = process.getuid?.();
  return me !== undefined && st.uid !== me && st.uid !== 0;
}

function unsafeOwner(what: Checked, p: string, uid: number): PluginError {
  const me = process.getuid?.() ?? -1;
  return new PluginError('PLUGIN_UNSAFE_OWNER', `plugin ${what} ${p} is owned by uid ${uid}, not by the daemon's user (uid ${me}) or root; refusing to run code another user can change; fix: chown ${me} ${p}`, {
    details: { path: p, uid, expected: me, fix: `chown ${me} ${p}` },
  });
}

/** Throws when `st` may be changed by someone other than the daemon's user (or root). */
function checkTrusted(what: Checked, p: string, st: Stats): void {
  checkSafeMode(what, p, st.mode);
  if (foreignOwner(st)) throw unsafeOwner(what, p, st.uid);
}

/** How many entries of helper folders are checked at most (a plugin folder is code, not data). */
const MAX_HELPER_ENTRIES = 20_000;

/**
 * Checks the subfolders of a plugin folder and everything in them (helper
 * modules that plugins import): group/world-writable or owned by another
 * user is refused, as for plugin files. Symlinks are not followed.
 */
async function checkHelpers(dir: string): Promise<void> {
  const queue = [dir];
  let seen = 0;
  while (queue.length > 0 && seen < MAX_HELPER_ENTRIES) {
    const current = queue.shift()!;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      continue; // Removed meanwhile, or unreadable: nothing of it can be imported either.
    }
    for (const e of entries) {
      if (++seen > MAX_HELPER_ENTRIES) break;
      const p = path.join(current, e.name);
      const inHelper = current !== dir;
      if (!e.isDirectory() && !inHelper) continue; // Top-level files are plugins, checked one by one.
      let st: Stats;
      try {
        st = await lstat(p);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        checkTrusted('helper folder', p, st);
        queue.push(p);
      } else if (st.isFile()) {
        checkTrusted('helper file', p, st);
      }
    }
  }
}

/**
 * Refuses a `toolkit.pythonPath` folder that anyone may write to (its code
 * runs in every project runtime): PLUGIN_UNSAFE_PERMISSIONS with the path and
 * the fix. A missing folder is left to the runtime to report.
 */
export async function checkPythonPathFolder(dir: string): Promise<void> {
  let st: Stats;
  try {
    st = await stat(dir);
  } catch {
    return;
  }
  if ((st.mode & 0o002) !== 0) {
    throw new PluginError('PLUGIN_UNSAFE_PERMISSIONS', `toolkit.pythonPath folder ${dir} is writable by everyone (mode ${formatMode(st.mode)}); its code runs in every project runtime; fix: chmod o-w ${dir}`, {
      details: { key: 'toolkit.pythonPath', path: dir, mode: formatMode(st.mode), fix: `chmod o-w ${dir}` },
    });
  }
}

function pluginName(fileName: string): { name: string; kind: 'js' | 'python' } | null {
  if (fileName.startsWith('.')) return null;
  const ext = path.extname(fileName);
  const base = fileName.slice(0, -ext.length);
  if (base.length === 0) return null;
  if (ext === '.py') return { name: base, kind: 'python' };
  if (!JS_EXTENSIONS.includes(ext)) return null;
  if (/\.d$/.test(base) || /\.test(\.|$)/.test(base)) return null;
  return { name: base, kind: 'js' };
}

/**
 * Lists the plugins of `folder`: every `.js`, `.mjs`, `.ts`, `.mts` file
 * (not dotfiles, `*.d.ts`, `*.test.*`), plus `.py` files as Python plugins.
 * Throws PLUGIN_FOLDER_MISSING, PLUGIN_FOLDER_UNREADABLE,
 * PLUGIN_UNSAFE_PERMISSIONS or PLUGIN_UNSAFE_OWNER for the folder itself or
 * any helper subfolder or file in one (plugins import them); a bad plugin
 * file is listed as `refused` so the other plugins still run.
 */
export async function scanPluginFolder(folder: string): Promise<PluginFolderScan> {
  const dir = path.resolve(folder);
  let dirStat;
  try {
    dirStat = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PluginError('PLUGIN_FOLDER_MISSING', `plugin folder ${dir} does not exist`, { cause: err, details: { path: dir } });
    }
    throw new PluginError('PLUGIN_FOLDER_UNREADABLE', `plugin folder ${dir} cannot be read (${code ?? 'error'})`, { cause: err, details: { path: dir, errno: code } });
  }
  if (!dirStat.isDirectory()) {
    throw new PluginError('PLUGIN_FOLDER_MISSING', `plugin folder ${dir} is not a folder`, { details: { path: dir } });
  }
  checkTrusted('folder', dir, dirStat);
  await checkHelpers(dir);

  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PluginError('PLUGIN_FOLDER_UNREADABLE', `plugin folder ${dir} cannot be listed (${code ?? 'error'})`, { cause: err, details: { path: dir, errno: code } });
  }

  const byName = new Map<string, PluginFileEntry[]>();
  for (const fileName of names.sort()) {
    const parsed = pluginName(fileName);
    if (parsed === null) continue;
    const file = path.join(dir, fileName);
    let st;
    try {
      st = await stat(file);
    } catch {
      continue; // Removed between readdir and stat, or a dangling link.
    }
    if (!st.isFile()) continue;
    const base = { name: parsed.name, file, mtimeMs: st.mtimeMs, size: st.size, mode: st.mode & 0o7777 };
    let entry: PluginFileEntry;
    if ((st.mode & 0o022) !== 0) entry = { ...base, kind: 'refused', error: unsafe('file', file, st.mode) };
    else if (foreignOwner(st)) entry = { ...base, kind: 'refused', error: unsafeOwner('file', file, st.uid) };
    else if (parsed.kind === 'python') entry = { ...base, kind: 'python', status: 'waiting for a Python runtime' };
    else entry = { ...base, kind: 'js' };
    const list = byName.get(parsed.name) ?? [];
    list.push(entry);
    byName.set(parsed.name, list);
  }

  const plugins: PluginFileEntry[] = [];
  for (const [name, list] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [first] = list;
    if (first === undefined) continue;
    if (list.length === 1) {
      plugins.push(first);
      continue;
    }
    const files = list.map((e) => e.file);
    plugins.push({
      ...first,
      kind: 'refused',
      // Changes to any of the clashing files must show, so size and mtime cover them all.
      mtimeMs: Math.max(...list.map((e) => e.mtimeMs)),
      size: list.reduce((n, e) => n + e.size, 0),
      error: new PluginError('PLUGIN_DUPLICATE_NAME', `plugin name ${name} is used by ${files.join(' and ')}; rename one`, { details: { name, files } }),
    });
  }
  return { folder: dir, plugins };
}
