import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkPythonPathFolder, scanPluginFolder } from '../../src/plugins/index.ts';
import { PluginError } from '../../src/plugins/errors.ts';

const OTHER_UID = 65534; // nobody
const asRoot = process.getuid?.() === 0;

async function refusal(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PluginError, String(err));
    return err;
  }
  assert.fail('accepted');
}

describe('plugin folder trust', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'sgeventd-trust-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function folder(name: string): Promise<string> {
    const dir = path.join(root, name);
    await mkdir(dir);
    await chmod(dir, 0o755);
    await writeFile(path.join(dir, 'plugin.py'), 'def registerCallbacks(reg):\n    pass\n');
    await chmod(path.join(dir, 'plugin.py'), 0o644);
    return dir;
  }

  it('refuses a world-writable helper subfolder, at any depth, naming the path and the fix', async () => {
    const dir = await folder('helpers');
    const lib = path.join(dir, 'lib');
    const deep = path.join(lib, 'deep');
    await mkdir(deep, { recursive: true });
    await chmod(lib, 0o755);
    await chmod(deep, 0o755);
    assert.equal((await scanPluginFolder(dir)).plugins.length, 1, 'safe helpers are fine');
    await chmod(deep, 0o777);
    const err = await refusal(scanPluginFolder(dir));
    assert.equal(err.code, 'PLUGIN_UNSAFE_PERMISSIONS');
    assert.equal(err.details['path'], deep);
    assert.equal(err.details['fix'], `chmod go-w ${deep}`);
  });

  it('refuses a writable helper file inside a helper folder', async () => {
    const dir = await folder('helper-file');
    await mkdir(path.join(dir, 'lib'));
    await chmod(path.join(dir, 'lib'), 0o755);
    const util = path.join(dir, 'lib', 'util.py');
    await writeFile(util, 'X = 1\n');
    await chmod(util, 0o666);
    const err = await refusal(scanPluginFolder(dir));
    assert.equal(err.code, 'PLUGIN_UNSAFE_PERMISSIONS');
    assert.equal(err.details['path'], util);
  });

  it('refuses files and folders owned by another user', { skip: !asRoot && 'needs root to chown' }, async () => {
    const dir = await folder('owners');
    const plugin = path.join(dir, 'plugin.py');
    await chown(plugin, OTHER_UID, OTHER_UID);
    const scan = await scanPluginFolder(dir);
    const entry = scan.plugins[0];
    assert.ok(entry?.kind === 'refused');
    assert.equal(entry.error.code, 'PLUGIN_UNSAFE_OWNER');
    assert.equal(entry.error.details['path'], plugin);
    assert.equal(entry.error.details['uid'], OTHER_UID);
    await chown(plugin, 0, 0);

    const lib = path.join(dir, 'lib');
    await mkdir(lib);
    await chmod(lib, 0o755);
    await chown(lib, OTHER_UID, OTHER_UID);
    const helper = await refusal(scanPluginFolder(dir));
    assert.equal(helper.code, 'PLUGIN_UNSAFE_OWNER');
    assert.equal(helper.details['path'], lib);
    assert.equal(helper.details['fix'], `chown 0 ${lib}`);
    await rm(lib, { recursive: true });

    await chown(dir, OTHER_UID, OTHER_UID);
    const top = await refusal(scanPluginFolder(dir));
    assert.equal(top.code, 'PLUGIN_UNSAFE_OWNER');
    assert.equal(top.details['path'], dir);
  });

  it('refuses a world-writable toolkit.pythonPath folder, naming the key, the path and the fix', async () => {
    const dir = path.join(root, 'studio_py');
    await mkdir(dir);
    await chmod(dir, 0o755);
    await checkPythonPathFolder(dir);
    await checkPythonPathFolder(path.join(root, 'missing'));
    await chmod(dir, 0o777);
    const err = await refusal(checkPythonPathFolder(dir));
    assert.equal(err.code, 'PLUGIN_UNSAFE_PERMISSIONS');
    assert.equal(err.details['key'], 'toolkit.pythonPath');
    assert.equal(err.details['path'], dir);
    assert.equal(err.details['fix'], `chmod o-w ${dir}`);
  });
});
