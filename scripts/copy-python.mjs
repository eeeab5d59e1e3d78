// Copies the Python files that ship beside the TypeScript sources into dist/,
// which tsc does not do.
import { cpSync } from 'node:fs';

cpSync(new URL('../src/', import.meta.url), new URL('../dist/', import.meta.url), {
  recursive: true,
  filter: (src) => !src.includes('__pycache__') && (!/\.[a-z]+$/i.test(src) || src.endsWith('.py')),
});
