// Bundles the compiled CLI (dist/cli/main.js and every module it imports,
// statically or on demand) into dist/bundle/, run by an installed copy
// (bin/sgeventd.mjs). Node's module loader costs about as much per module as
// the module's own code at start-up (resolving, reading, linking): the
// daemon's main thread loaded about 420 modules before its first event; the
// bundle is a few dozen files (one per command loaded on demand, and shared
// chunks). See docs/ARCHITECTURE.md, "Start-up: decisions and why".
//
// What is not bundled, and why:
// - plugin threads and the webhook thread start from their own files
//   (dist/hosts/js/worker.js, dist/http/webhooks-thread.js), as before;
// - packages stay in node_modules, except the few pure-JavaScript ones every
//   command loads first (INLINE): native code (better-sqlite3), packages that
//   find files of their own at run time (pino's transports, pino-roll's hook
//   in logging/pino-roll-load.ts) and those loaded late are left alone.
//
// Each module's `import.meta.url`, `dirname` and `filename` are rewritten to
// the module's own file in dist/, so the paths it builds from them (Python
// scripts, worker files, package.json, examples) stay what they were.
import * as esbuild from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Packages bundled in: pure JavaScript, no files of their own read at run time. */
export const INLINE = new Set(['zod', 'commander']);

/** The package a bare specifier names (`@scope/name` or `name`). */
export function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * `source` (a module compiled to `file`) with its `import.meta` paths made
 * relative to the bundle's folder `outdir`, so they name `file` again once the
 * module runs from a file in `outdir`.
 */
export function pinImportMeta(source, file, outdir) {
  const url = `new URL(${JSON.stringify(path.relative(outdir, file).split(path.sep).join('/'))}, import.meta.url)`;
  return source
    .replaceAll('import.meta.url', `${url}.href`)
    .replaceAll('import.meta.dirname', `__sgeventdDirname(__sgeventdPath(${url}))`)
    .replaceAll('import.meta.filename', `__sgeventdPath(${url})`);
}

/** Put before every output file: what the rewritten modules and esbuild's `require` shim use. */
export const BANNER = [
  "import { createRequire as __sgeventdCreateRequire } from 'node:module';",
  "import { dirname as __sgeventdDirname } from 'node:path';",
  "import { fileURLToPath as __sgeventdPath } from 'node:url';",
  // Inlined CommonJS packages require Node's modules: esbuild's shim needs a `require` in scope.
  'const require = __sgeventdCreateRequire(import.meta.url);',
].join(' ');

/** Bundles `entry` (a module in `dist`) into `outdir`; resolves with the files written. */
export async function bundle({ dist, entry, outdir, inline = INLINE }) {
  const distDir = path.resolve(dist);
  const result = await esbuild.build({
    entryPoints: { main: path.resolve(entry) },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir,
    chunkNames: 'chunk-[hash]',
    // Class and function names as written: logs and errors show them (pino's `type`).
    keepNames: true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    banner: { js: BANNER },
    plugins: [{
      name: 'sgeventd-dist',
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:') || !inline.has(packageOf(args.path))) return { external: true };
          return undefined;
        });
        build.onLoad({ filter: /\.js$/ }, async (args) => {
          if (!args.path.startsWith(distDir + path.sep)) return undefined;
          return { contents: pinImportMeta(await readFile(args.path, 'utf8'), args.path, path.resolve(outdir)), loader: 'js' };
        });
      },
    }],
  });
  return Object.keys(result.metafile.outputs);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const outdir = path.join(root, 'dist', 'bundle');
  await rm(outdir, { recursive: true, force: true });
  const files = await bundle({ dist: path.join(root, 'dist'), entry: path.join(root, 'dist', 'cli', 'main.js'), outdir });
  process.stdout.write(`bundled the CLI into dist/bundle/: ${files.filter((f) => f.endsWith('.js')).length} files\n`);
}
