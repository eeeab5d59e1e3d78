// Loader hooks for plugin threads: TypeScript plugin files that use syntax
// Node's type stripping refuses (`enum`, parameter properties, namespaces)
// and relative imports written without an extension (`./helpers`), as tsc
// and IDEs accept them. Installed inside the plugin's own thread only
// (`module.registerHooks` is per thread), so the daemon's own code and other
// plugins never go through them.
//
// A plugin loads through Node's own type stripping first. Only when that
// refuses its syntax (ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX) does the thread turn
// on the transform and import it again under fresh URLs (`?sgeventd-transform`,
// so no failed module is reused), compiled by amaro (the Node.js project's
// own TypeScript wrapper) in its transform mode, not Node's
// `--experimental-transform-types` flag (gone in Node 26). Plugins that strip
// cleanly never load a second compiler into their thread. Source maps are
// inlined, so stack traces name the plugin's own lines.
import { createRequire, registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import type * as Amaro from 'amaro';

// Loaded on the first TypeScript file only: plain JS plugin threads never pay for the compiler.
let amaro: typeof Amaro | undefined;
function compiler(): typeof Amaro {
  amaro ??= createRequire(import.meta.url)('amaro') as typeof Amaro;
  return amaro;
}

const TS_FILE = /\.(?:ts|mts|cts)$/;
const RELATIVE = /^\.{1,2}\//;
/** What an extensionless relative import may mean, tried in this order. */
const CANDIDATES = ['.ts', '.mts', '.js', '.mjs', '.cjs', '/index.ts', '/index.js'];

// Node refuses to strip types under node_modules; a plugin folder there (the
// examples of an installed sgeventd, say) is still the studio's source code.
function isPluginSource(url: string): boolean {
  return url.startsWith('file:') && TS_FILE.test(new URL(url).pathname);
}

function notFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNSUPPORTED_DIR_IMPORT';
}

/** The query that marks a plugin source for the transform (and gives it a URL no failed import used). */
export const TRANSFORM_QUERY = 'sgeventd-transform';
let installed = false;
let transform = false;

/** Compile plugin sources with the transform from now on (after Node's stripping refused one). */
export function enableTransform(): void {
  transform = true;
}

function marked(url: string): string {
  if (!transform || !isPluginSource(url) || url.includes(TRANSFORM_QUERY)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}${TRANSFORM_QUERY}`;
}

/** Installs the hooks in this thread (once). */
export function installPluginLoader(): void {
  if (installed) return;
  installed = true;
  process.setSourceMapsEnabled(true);
  registerHooks({
    resolve(specifier, context, nextResolve) {
      let resolved;
      try {
        resolved = nextResolve(specifier, context);
      } catch (err) {
        const parent = context.parentURL;
        if (!notFound(err) || !RELATIVE.test(specifier) || parent === undefined || !isPluginSource(parent)) throw err;
        for (const ext of CANDIDATES) {
          try {
            resolved = nextResolve(specifier + ext, context);
            break;
          } catch (again) {
            if (!notFound(again)) throw again;
          }
        }
        if (resolved === undefined) throw err;
      }
      return { ...resolved, url: marked(resolved.url) };
    },
    load(url, context, nextLoad) {
      if (!isPluginSource(url) || !url.includes(TRANSFORM_QUERY)) return nextLoad(url, context);
      const file = fileURLToPath(url);
      const source = readFileSync(file, 'utf8');
      let out: { code: string; map?: string };
      try {
        out = compiler().transformSync(source, { mode: 'transform', sourceMap: true, filename: file });
      } catch (err) {
        // amaro reports a plain object with the position; a plugin author expects a SyntaxError naming the line.
        const e = err as { message?: unknown; startLine?: unknown; startColumn?: unknown; snippet?: unknown };
        const where = typeof e.startLine === 'number' ? `:${e.startLine}:${typeof e.startColumn === 'number' ? e.startColumn : 0}` : '';
        const syntax = new SyntaxError(`${file}${where}: ${String(e.message ?? err)}${typeof e.snippet === 'string' ? `\n${e.snippet}` : ''}`);
        throw Object.assign(syntax, { code: 'ERR_INVALID_TYPESCRIPT_SYNTAX' });
      }
      const map = out.map === undefined ? '' : `\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(out.map).toString('base64')}`;
      const format = file.endsWith('.cts') ? 'commonjs' : 'module';
      return { format, source: out.code + map, shortCircuit: true };
    },
  });
}
