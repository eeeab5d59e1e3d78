#!/usr/bin/env node
// Runs the TypeScript sources directly (Node's type stripping) from a checkout;
// an installed package runs the compiled dist/ instead (bundled), because Node
// does not strip types under node_modules.
import { existsSync } from 'node:fs';
// The module namespace, not a named import: an old Node (refused below) has
// no enableCompileCache, and a missing named export fails before any line runs.
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `sgeventd needs Node.js >= 22.18 (24 LTS recommended); this is ${process.version} at ${process.execPath}.\n`
    + 'Fix: install Node 24 beside sgeventd (npm install --prefix /opt/sgeventd node@24) and put /opt/sgeventd/node_modules/.bin\n'
    + 'first on PATH (the systemd unit in examples/ does), or install Node 24 system-wide.\n',
  );
  process.exit(1);
}
// V8's code cache on disk (NODE_COMPILE_CACHE names the folder, default: the
// temp folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off): the second start
// of a command skips compiling (and type stripping) the modules it loads.
// Named in the environment too, so plugin threads use it (each thread
// otherwise strips and compiles the same modules again, and keeps a stripper
// of its own in memory). A failure to set it up only costs speed.
const cache = nodeModule.enableCompileCache?.();
if (cache?.directory && process.env.NODE_COMPILE_CACHE === undefined) process.env.NODE_COMPILE_CACHE = cache.directory;
const root = new URL('../', import.meta.url);
const inNodeModules = fileURLToPath(root).split(/[\\/]/).includes('node_modules');
// Installed: the bundle (scripts/bundle.mjs: a few dozen files where the
// compiled modules are hundreds, which Node's loader pays for one by one), else
// the compiled modules themselves.
const installed = [new URL('dist/bundle/main.js', root), new URL('dist/cli/main.js', root)];
const entry = (inNodeModules ? installed.find((u) => existsSync(fileURLToPath(u))) : undefined) ?? new URL('src/cli/main.ts', root);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
