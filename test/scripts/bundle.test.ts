// The installed copy runs a bundle of the compiled CLI (scripts/bundle.mjs):
// each module's import.meta paths must still name its own compiled file, the
// modules loaded on demand must still load, the inlined packages must be in the
// bundle and the others left to node_modules; bin/sgeventd.mjs must pick the
// bundle when installed. Checked on a small compiled tree bundled for real and
// run by Node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../support/index.ts';
import { bundle, packageOf, pinImportMeta } from '../../scripts/bundle.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function write(file: string, text: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
}

describe('the CLI bundle', () => {
  it('pins import.meta to the module\'s own compiled file', () => {
    const out = pinImportMeta('a(import.meta.url); b(import.meta.dirname); c(import.meta.filename);', '/p/dist/toolkit/scripts.js', '/p/dist/bundle');
    const url = 'new URL("../toolkit/scripts.js", import.meta.url)';
    assert.equal(out, `a(${url}.href); b(__sgeventdDirname(__sgeventdPath(${url}))); c(__sgeventdPath(${url}));`);
    assert.equal(packageOf('@nats-io/kv/lib/x.js'), '@nats-io/kv');
    assert.equal(packageOf('zod/v4'), 'zod');
  });

  it('runs a compiled tree from the bundle: paths, modules on demand, inlined and external packages', async (t) => {
    const dir = tempDir(t, 'sgeventd-bundle-');
    // Packages resolve from the checkout's node_modules, as an installed copy's do from its own.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const dist = join(dir, 'dist');
    write(join(dist, 'toolkit', 'python', 'runner.py'), 'print("runner")\n');
    write(join(dist, 'toolkit', 'scripts.js'), [
      "import path from 'node:path';",
      "import { readFileSync } from 'node:fs';",
      "export const SCRIPT = path.join(import.meta.dirname, 'python', 'runner.py');",
      'export const HERE = import.meta.url;',
      'export const FILE = import.meta.filename;',
      'export const script = () => readFileSync(SCRIPT, \'utf8\');',
    ].join('\n'));
    write(join(dist, 'cli', 'later.js'), [
      "import { z } from 'zod';",
      "import { parse } from 'yaml';",
      "export const checked = z.object({ n: z.number() }).parse(parse('n: 3')).n;",
    ].join('\n'));
    write(join(dist, 'cli', 'main.js'), [
      "import { SCRIPT, HERE, FILE, script } from '../toolkit/scripts.js';",
      'export async function main() {',
      "  const { checked } = await import('./later.js');",
      '  process.stdout.write(JSON.stringify({ SCRIPT, HERE, FILE, script: script(), checked }));',
      '  return 0;',
      '}',
      'await main();',
    ].join('\n'));
    const outdir = join(dist, 'bundle');
    const files = await bundle({ dist, entry: join(dist, 'cli', 'main.js'), outdir });
    // One file per module loaded on demand, beside the entry.
    assert.ok(files.some((f) => f.endsWith('/main.js')), files.join(', '));
    assert.ok(files.filter((f) => f.endsWith('.js')).length >= 2, `later.js should be a chunk of its own: ${files.join(', ')}`);
    // The compiled modules go: the bundle must not need them (only the files they name at run time).
    for (const f of ['cli/main.js', 'cli/later.js', 'toolkit/scripts.js']) rmSync(join(dist, f));
    const { stdout } = await run(process.execPath, [join(outdir, 'main.js')], { cwd: dir });
    const got = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(got['SCRIPT'], join(dist, 'toolkit', 'python', 'runner.py'));
    assert.equal(got['HERE'], pathToFileURL(join(dist, 'toolkit', 'scripts.js')).href);
    assert.equal(got['FILE'], join(dist, 'toolkit', 'scripts.js'));
    assert.equal(got['script'], 'print("runner")\n');
    assert.equal(got['checked'], 3);
    // zod is in the bundle; yaml is imported from node_modules.
    const text = readdirSync(outdir).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(outdir, f), 'utf8')).join('\n');
    assert.doesNotMatch(text, /from ["']zod["']/);
    assert.match(text, /from ["']yaml["']/);
  });

  it('is what bin/sgeventd.mjs runs when installed, else the compiled modules', async (t) => {
    const pkg = join(tempDir(t, 'sgeventd-bin-'), 'node_modules', 'sgeventd');
    mkdirSync(join(pkg, 'bin'), { recursive: true });
    copyFileSync(join(ROOT, 'bin', 'sgeventd.mjs'), join(pkg, 'bin', 'sgeventd.mjs'));
    const entry = (what: string): string => `export async function main() { process.stdout.write(${JSON.stringify(what)}); return 0; }\n`;
    write(join(pkg, 'dist', 'bundle', 'main.js'), entry('bundle'));
    write(join(pkg, 'dist', 'cli', 'main.js'), entry('compiled'));
    const env = { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' };
    assert.equal((await run(process.execPath, [join(pkg, 'bin', 'sgeventd.mjs'), '--version'], { env })).stdout, 'bundle');
    rmSync(join(pkg, 'dist', 'bundle'), { recursive: true });
    assert.equal((await run(process.execPath, [join(pkg, 'bin', 'sgeventd.mjs'), '--version'], { env })).stdout, 'compiled');
  });
});
