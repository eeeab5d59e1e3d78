import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { concretePluginId, resolveProject } from '../../src/toolkit/resolve.ts';
import type { PipelineConfigurationRecord, ResolveHost, ResolveSite } from '../../src/toolkit/resolve.ts';
import type { ResolveOptions } from '../../src/toolkit/options.ts';
import type { ToolkitPlatform } from '../../src/toolkit/platform-paths.ts';
import { ToolkitError } from '../../src/toolkit/errors.ts';

/** An in-memory machine: a set of existing paths and file contents. */
function host(platform: ToolkitPlatform, files: Record<string, string>, dirs: string[], env: Record<string, string> = {}): ResolveHost {
  const all = new Set([...Object.keys(files), ...dirs]);
  return {
    platform,
    env,
    homedir: platform === 'win32' ? 'C:\\Users\\td' : platform === 'darwin' ? '/Users/td' : '/home/td',
    exists: (p) => all.has(p),
    readFile: (p) => {
      const v = files[p];
      if (v === undefined) throw new Error(`ENOENT ${p}`);
      return v;
    },
  };
}

function site(rec: PipelineConfigurationRecord | null): ResolveSite & { calls: number[] } {
  const calls: number[] = [];
  return { calls, findPrimaryPipelineConfiguration: (id) => { calls.push(id); return Promise.resolve(rec); } };
}

const base: ResolveOptions = { python: 'python3', projects: {}, cores: {} };

interface Table {
  platform: ToolkitPlatform;
  pcField: 'linux_path' | 'mac_path' | 'windows_path';
  config: string;
  cfgName: string;
  studio: string;
  cfgText: string; // what the cfg file holds, with a variable and no newline
  env: Record<string, string>;
  join: (...p: string[]) => string;
}

const tables: Table[] = [
  {
    platform: 'linux', pcField: 'linux_path', config: '/mnt/pipe/configs/alpha', cfgName: 'core_Linux.cfg',
    studio: '/mnt/studio/core', cfgText: '  $STUDIO_ROOT/core\n', env: { STUDIO_ROOT: '/mnt/studio' },
    join: (...p) => p.join('/'),
  },
  {
    platform: 'darwin', pcField: 'mac_path', config: '/Volumes/pipe/configs/alpha', cfgName: 'core_Darwin.cfg',
    studio: '/Users/td/studio/core', cfgText: '~/studio/core', env: {},
    join: (...p) => p.join('/'),
  },
  {
    platform: 'win32', pcField: 'windows_path', config: 'P:\\configs\\alpha', cfgName: 'core_Windows.cfg',
    studio: 'S:\\studio\\core', cfgText: '%studio_drive%\\studio\\core', env: { STUDIO_DRIVE: 'S:' },
    join: (...p) => p.join('\\'),
  },
];

for (const t of tables) {
  describe(`resolveProject on ${t.platform}`, () => {
    const roots = t.join(t.config, 'config', 'core', 'roots.yml');
    const localized = {
      files: { [roots]: 'primary: {}', [t.join(t.config, 'install', 'core', '_core_upgrader.py')]: '' },
      dirs: [t.join(t.config, 'install', 'core', 'python')],
    };
    const shared = {
      files: { [roots]: 'primary: {}', [t.join(t.config, 'install', 'core', t.cfgName)]: t.cfgText },
      dirs: [t.studio, t.join(t.studio, 'install', 'core', 'python')],
    };

    it('finds a localized core through the site record for this OS', async () => {
      const s = site({ id: 3, code: 'Primary', [t.pcField]: t.config, linux_path: t.platform === 'linux' ? t.config : '/wrong' });
      const r = await resolveProject({ id: 70, tankName: 'alpha' }, base, host(t.platform, localized.files, localized.dirs), s);
      assert.equal(r.mode, 'centralized');
      if (r.mode !== 'centralized') return;
      assert.equal(r.source, 'site');
      assert.equal(r.configPath, t.config);
      assert.equal(r.coreRoot, t.config);
      assert.equal(r.coreSource, 'localized');
      assert.equal(r.corePython, t.join(t.config, 'install', 'core', 'python'));
      assert.deepEqual(s.calls, [70]);
      assert.ok(r.steps.length >= 3);
    });

    it(`reads ${t.cfgName} (stripped, variables and ~ expanded)`, async () => {
      const opts = { ...base, projects: { alpha: { mode: 'centralized' as const, path: t.config } }, cores: { [t.studio]: { python: 'py-studio' } } };
      const s = site(null);
      const r = await resolveProject({ id: 70, tankName: 'alpha' }, opts, host(t.platform, shared.files, shared.dirs, t.env), s);
      assert.equal(r.mode, 'centralized');
      if (r.mode !== 'centralized') return;
      assert.equal(r.source, 'projects');
      assert.equal(r.coreSource, 'core-cfg');
      assert.equal(r.coreRoot, t.studio);
      assert.equal(r.corePython, t.join(t.studio, 'install', 'core', 'python'));
      assert.equal(r.coreCfgFile, t.join(t.config, 'install', 'core', t.cfgName));
      assert.equal(r.python, 'py-studio');
      assert.ok(r.watchFiles.includes(t.join(t.studio, 'install', 'core', 'info.yml')));
      assert.deepEqual(s.calls, [], 'an explicit entry never asks the site');
    });

    for (const bad of ['undefined', '', '  \n']) {
      it(`rejects ${JSON.stringify(bad)} in ${t.cfgName}, naming the file`, async () => {
        const files = { ...shared.files, [t.join(t.config, 'install', 'core', t.cfgName)]: bad };
        const opts = { ...base, projects: { alpha: { mode: 'centralized' as const, path: t.config } } };
        const err = await resolveProject({ id: 70, tankName: 'alpha' }, opts, host(t.platform, files, shared.dirs, t.env), undefined)
          .then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof ToolkitError);
        assert.equal(err.code, 'TK_CORE_INVALID');
        assert.equal(err.details.file, t.join(t.config, 'install', 'core', t.cfgName));
      });
    }

    it('rejects a core_<OS>.cfg naming a missing folder', async () => {
      const opts = { ...base, projects: { '70': { mode: 'centralized' as const, path: t.config } } };
      const err = await resolveProject({ id: 70 }, opts, host(t.platform, shared.files, [], t.env), undefined).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'TK_CORE_INVALID');
      assert.equal(err.details.file, t.join(t.config, 'install', 'core', t.cfgName));
      assert.equal(err.details.value, t.studio);
    });

    it('falls back to studioCore only when asked, with a warning', async () => {
      const files = { [roots]: '' };
      const dirs = [t.join(t.studio, 'install', 'core', 'python')];
      const opts = { ...base, projects: { alpha: { mode: 'centralized' as const, path: t.config } } };
      const err = await resolveProject({ id: 70, tankName: 'alpha' }, opts, host(t.platform, files, dirs), undefined).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'TK_NO_CORE');
      const r = await resolveProject({ id: 70, tankName: 'alpha' }, { ...opts, studioCore: t.studio }, host(t.platform, files, dirs), undefined);
      assert.equal(r.mode, 'centralized');
      if (r.mode !== 'centralized') return;
      assert.equal(r.coreSource, 'studio-core');
      assert.equal(r.coreRoot, t.studio);
      assert.equal(r.warnings.length, 1);
    });

    it('uses configsRoot/<tank_name> when the site has no Primary configuration', async () => {
      const configsRoot = t.config.slice(0, t.config.length - '/alpha'.length);
      const r = await resolveProject({ id: 70, tankName: 'alpha' }, { ...base, configsRoot }, host(t.platform, localized.files, localized.dirs), site(null));
      assert.equal(r.mode, 'centralized');
      assert.equal(r.source, 'configsRoot');
      if (r.mode === 'centralized') assert.equal(r.configPath, t.config);
    });

    it('treats plugin_ids or descriptor on the record as distributed', async () => {
      for (const rec of [{ id: 9, plugin_ids: 'basic.*' }, { id: 9, sg_plugin_ids: 'basic.*' }, { id: 9, descriptor: 'sgtk:descriptor:app_store?name=tk-config-basic' }, { id: 9, sg_descriptor: 'sgtk:descriptor:path?path=/x' }]) {
        const r = await resolveProject({ id: 70 }, base, host(t.platform, {}, []), site(rec));
        assert.equal(r.mode, 'distributed');
        if (r.mode === 'distributed') assert.equal(r.pipelineConfigurationId, 9);
      }
    });

    it('bootstraps a record\'s plugin_ids pattern as a concrete plugin id that matches it', async () => {
      const r = await resolveProject({ id: 70 }, base, host(t.platform, {}, []), site({ id: 9, plugin_ids: 'basic.*' }));
      assert.equal(r.mode === 'distributed' ? r.pluginId : null, 'basic.sgeventd');
      assert.equal(concretePluginId('basic.shell, basic.*'), 'basic.shell');
      assert.equal(concretePluginId(' ,basic.?aya'), 'basic.saya');
      assert.equal(concretePluginId('basic.[mn]aya'), 'basic.maya');
    });
  });
}

describe('resolveProject errors', () => {
  it('says where it looked when there is no configuration', async () => {
    const err = await resolveProject({ id: 5, tankName: 'nope' }, { ...base, configsRoot: '/cfgs' }, host('linux', {}, []), site(null))
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ToolkitError);
    assert.equal(err.code, 'TK_NO_CONFIG');
    assert.deepEqual(err.details.lookedIn, ['toolkit.projects', 'the Primary PipelineConfiguration on the site', '/cfgs/nope']);
  });

  it('refuses a folder without config/core/roots.yml', async () => {
    const opts = { ...base, projects: { '5': { mode: 'centralized' as const, path: '/not/a/config' } } };
    const err = await resolveProject({ id: 5 }, opts, host('linux', {}, ['/not/a/config']), undefined).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ToolkitError);
    assert.equal(err.code, 'TK_NOT_A_CONFIG');
  });

  it('returns explicit distributed entries with their settings', async () => {
    const opts = { ...base, projects: { '5': { mode: 'distributed' as const, pluginId: 'basic.shell', engine: 'tk-shell', python: 'py3.10' } } };
    const r = await resolveProject({ id: 5 }, opts, host('linux', {}, []), undefined);
    assert.equal(r.mode, 'distributed');
    if (r.mode !== 'distributed') return;
    assert.equal(r.pluginId, 'basic.shell');
    assert.equal(r.engine, 'tk-shell');
    assert.equal(r.python, 'py3.10');
  });
});
