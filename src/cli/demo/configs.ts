import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const STAND_IN = readFileSync(join(import.meta.dirname, 'stand_in_tank.py'), 'utf8');

function write(file: string, text: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
}

/**
 * Writes a stand-in Toolkit core (clearly named as such: `tank.STAND_IN` is
 * True and its version ends in `-stand-in`) under `root/install/core`.
 */
export function writeStandInCore(root: string, version: string): string {
  const python = join(root, 'install', 'core', 'python');
  write(join(python, 'tank', '__init__.py'), STAND_IN.replace('__STAND_IN_VERSION__', version));
  write(join(python, 'sgtk', '__init__.py'), 'from tank import *  # noqa: F401,F403 - the stand-in core\nfrom tank import __version__  # noqa: F401\n');
  write(join(root, 'install', 'core', 'info.yml'), `# sgeventd demo stand-in core, not tk-core\nversion: "${version}"\n`);
  write(join(root, 'config', 'core', 'shotgun.yml'), 'host: http://127.0.0.1\n');
  return root;
}

/**
 * Writes a centralized pipeline configuration in the layout real tk-core
 * reads (roots.yml makes it a configuration; the core comes from
 * core_Linux.cfg), with a `shot_work` template.
 */
export function writeDemoConfig(root: string, opts: { projectId: number; projectName: string; coreRoot: string }): string {
  const core = join(root, 'config', 'core');
  write(join(core, 'roots.yml'), `primary:\n  default: true\n  linux_path: '${join(root, 'data')}'\n  mac_path: null\n  windows_path: null\n`);
  write(join(core, 'pipeline_configuration.yml'), `project_name: ${opts.projectName}\nproject_id: ${opts.projectId}\npc_id: ${opts.projectId}\npc_name: Primary\npublished_file_entity_type: PublishedFile\nuse_shotgun_path_cache: true\n`);
  write(join(core, 'install_location.yml'), `Linux: '${root}'\nDarwin: ''\nWindows: ''\n`);
  write(join(core, 'templates.yml'), [
    'keys:',
    '  Shot:',
    '    type: str',
    '  version:',
    '    type: int',
    '    format_spec: "03"',
    'paths:',
    `  shot_work: '${join(root, 'data', 'shots', '{Shot}', 'work', 'v{version}.ma')}'`,
    'strings: {}',
    '',
  ].join('\n'));
  mkdirSync(join(core, 'schema'), { recursive: true });
  const here = process.platform === 'darwin' ? 'Darwin' : process.platform === 'win32' ? 'Windows' : 'Linux';
  for (const os of ['Linux', 'Darwin', 'Windows']) {
    // As `tank setup_project` writes it: one bare path, `undefined` where there is none.
    write(join(root, 'install', 'core', `core_${os}.cfg`), os === here ? opts.coreRoot : 'undefined');
  }
  mkdirSync(join(root, 'data'), { recursive: true });
  chmodSync(root, 0o755);
  return root;
}
