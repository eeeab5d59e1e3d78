import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { scanPluginFolder } from '../../src/plugins/index.ts';

async function put(dir: string, name: string, text = 'export function registerCallbacks() {}\n', mode = 0o644): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  await chmod(file, mode);
  return file;
}

describe('scanPluginFolder', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'sgeventd-folder-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function folder(name: string): Promise<string> {
    const dir = path.join(root, name);
    await mkdir(dir);
    await chmod(dir, 0o755);
    return dir;
  }

  it('lists JS/TS plugins and Python plugins, sorted by name, and ignores the rest', async () => {
    const dir = await folder('mixed');
    for (const f of ['b.ts', 'a.js', 'c.mjs', 'd.mts', 'legacy.py', 'types.d.ts', 'a2.test.ts', '.hidden.ts', 'README.md', 'x.ts~', 'notes.json']) await put(dir, f);
    await mkdir(path.join(dir, 'sub.ts'));
    const scan = await scanPluginFolder(dir);
    assert.equal(scan.folder, dir);
    assert.deepEqual(scan.plugins.map((p) => [p.name, p.kind, path.basename(p.file)]), [
      ['a', 'js', 'a.js'],
      ['b', 'js', 'b.ts'],
      ['c', 'js', 'c.mjs'],
      ['d', 'js', 'd.mts'],
      ['legacy', 'python', 'legacy.py'],
    ]);
    const py = scan.plugins.find((p) => p.kind === 'python');
    assert.equal(py?.kind === 'python' ? py.status : null, 'waiting for a Python runtime');
  });

  it('refuses a name used twice, naming both files, and keeps the others', async () => {
    const dir = await folder('dupes');
    const a = await put(dir, 'same.ts');
    const b = await put(dir, 'same.js');
    await put(dir, 'other.ts');
    const scan = await scanPluginFolder(dir);
    assert.deepEqual(scan.plugins.map((p) => [p.name, p.kind]), [['other', 'js'], ['same', 'refused']]);
    const same = scan.plugins.find((p) => p.name === 'same');
    assert.ok(same?.kind === 'refused');
    assert.equal(same.error.code, 'PLUGIN_DUPLICATE_NAME');
    assert.deepEqual([...(same.error.details.files as string[])].sort(), [a, b].sort());
  });

  it('refuses a folder writable by group or others with its path and mode', async () => {
    for (const mode of [0o775, 0o757, 0o777]) {
      const dir = await folder(`open-${mode.toString(8)}`);
      await chmod(dir, mode);
      await assert.rejects(scanPluginFolder(dir), (err: unknown) => {
        const e = err as { code: string; details: Record<string, unknown> };
        assert.equal(e.code, 'PLUGIN_UNSAFE_PERMISSIONS');
        assert.equal(e.details.path, dir);
        assert.equal(e.details.mode, `0${mode.toString(8)}`);
        return true;
      });
    }
  });

  it('refuses a plugin file writable by group or others, and runs the others', async () => {
    const dir = await folder('openfile');
    const bad = await put(dir, 'bad.ts', undefined, 0o664);
    await put(dir, 'ok.ts');
    const scan = await scanPluginFolder(dir);
    const entry = scan.plugins.find((p) => p.name === 'bad');
    assert.ok(entry?.kind === 'refused');
    assert.equal(entry.error.code, 'PLUGIN_UNSAFE_PERMISSIONS');
    assert.deepEqual(entry.error.details, { path: bad, mode: '0664', fix: `chmod go-w ${bad}` });
    assert.equal(scan.plugins.find((p) => p.name === 'ok')?.kind, 'js');
  });

  it('reports a missing folder, or a file in its place, with a code', async () => {
    await assert.rejects(scanPluginFolder(path.join(root, 'nope')), { code: 'PLUGIN_FOLDER_MISSING' });
    const file = await put(root, 'plain.ts');
    await assert.rejects(scanPluginFolder(file), { code: 'PLUGIN_FOLDER_MISSING' });
  });
});
