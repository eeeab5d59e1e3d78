// Every config snippet in README.md and docs/*.md is parsed and validated the
// way `sgeventd` reads a config file. A ```yaml block is a whole
// `sgeventd.yaml`; one that is deliberately partial says so on the line
// before its fence with `<!-- config: partial -->`, and each of its sections
// is validated in a minimal config; `<!-- config: none -->` marks YAML that
// is not a daemon config. ```ini blocks are `shotgunEventDaemon.conf` files.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/index.ts';
import { tempDir } from '../support/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = [join(ROOT, 'README.md'), ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f))];

type Kind = 'full' | 'partial' | 'none';

interface Snippet {
  /** file:line of the opening fence. */
  where: string;
  lang: 'yaml' | 'ini';
  kind: Kind;
  text: string;
}

/** The fenced yaml/ini blocks of a Markdown file, with the marker on the line before each. */
function snippetsOf(file: string, markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})\s*(yaml|yml|ini|conf)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const fence = open[2] ?? '```';
    const end = lines.findIndex((l, k) => k > i && l.trim() === fence);
    if (end === -1) throw new Error(`${file}:${i + 1}: a fence that is never closed`);
    const before = lines.slice(0, i).reverse().find((l) => l.trim() !== '') ?? '';
    const marker = /<!--\s*config:\s*(partial|none)\s*-->/.exec(before)?.[1] as Kind | undefined;
    out.push({
      where: `${relative(ROOT, file)}:${i + 1}`,
      lang: open[3] === 'ini' || open[3] === 'conf' ? 'ini' : 'yaml',
      kind: marker ?? 'full',
      text: lines.slice(i + 1, end).map((l) => l.slice(open[1]?.length ?? 0)).join('\n'),
    });
    i = end;
  }
  return out;
}

/** Every `${VAR}` without a default gets a value, as a user's environment would give it. */
function envFor(text: string): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const m of text.matchAll(/\$\{(\w+)\}|%\((\w+)\)s/g)) {
    const name = m[1] ?? m[2] ?? '';
    env[name] = `value-of-${name}`;
  }
  return env;
}

const MINIMAL_INI = '[shotgun]\nserver: http://127.0.0.1:8090\nname: sgeventd\nkey: k\n[plugins]\npaths: /srv/plugins\n';
const MINIMAL = { site: { url: 'http://127.0.0.1:8090', script: { name: 'sgeventd', key: 'k' } } };

const snippets = DOCS.flatMap((f) => snippetsOf(f, readFileSync(f, 'utf8')));

describe('config snippets in the docs', () => {
  it('finds the README\'s config snippets (the extraction itself works)', () => {
    assert.ok(snippets.some((s) => s.where.startsWith('README.md:') && s.lang === 'yaml' && s.kind === 'full'), JSON.stringify(snippets.map((s) => s.where)));
    const md = ['text', '<!-- config: partial -->', '', '```yaml', 'logging: { level: debug }', '```', '```ini', '[daemon]', '```', '```sh', 'x', '```'].join('\n');
    assert.deepEqual(snippetsOf('x.md', md).map((s) => [s.lang, s.kind, s.text]), [['yaml', 'partial', 'logging: { level: debug }'], ['ini', 'full', '[daemon]']]);
  });

  it('a broken snippet fails the check (the check can fail)', async (t) => {
    const dir = tempDir(t, 'sgeventd-snippet-');
    const file = join(dir, 'sgeventd.yaml');
    writeFileSync(file, 'site:\n  url: http://127.0.0.1:8090\n  script: { name: sgeventd, key: ${SGEVENTD_KEY} }\n');
    await assert.rejects(loadConfig(file, envFor('${SGEVENTD_KEY}')), (e: Error & { code?: string }) => e.code === 'CONFIG_SYNTAX');
    assert.throws(() => parseConfig({ ...MINIMAL, daemon: { fetchIntervalMs: -1 } }, { source: 'snippet' }), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID');
  });

  for (const s of snippets.filter((x) => x.kind !== 'none')) {
    it(`${s.where}: a valid ${s.kind === 'partial' ? 'part of an' : 'whole'} ${s.lang === 'ini' ? 'shotgunEventDaemon.conf' : 'sgeventd.yaml'}`, async (t) => {
      const dir = tempDir(t, 'sgeventd-snippet-');
      const env = envFor(s.text);
      if (s.lang === 'ini') {
        // Partial: the sections it shows, after the minimal required ones.
        const file = join(dir, 'shotgunEventDaemon.conf');
        writeFileSync(file, s.kind === 'partial' ? `${MINIMAL_INI}\n${s.text}\n` : s.text);
        assert.equal((await loadConfig(file, env)).format, 'shotgunevents');
        return;
      }
      if (s.kind === 'full') {
        const file = join(dir, 'sgeventd.yaml');
        writeFileSync(file, s.text);
        assert.equal((await loadConfig(file, env)).format, 'yaml');
        return;
      }
      // Partial: each section it shows, in an otherwise minimal config.
      const part = parse(s.text) as unknown;
      assert.ok(part !== null && typeof part === 'object' && !Array.isArray(part), 'a partial snippet is a mapping of sections');
      for (const [section, value] of Object.entries(part as Record<string, unknown>)) {
        parseConfig({ ...MINIMAL, [section]: value }, { source: join(dir, 'sgeventd.yaml'), env });
      }
    });
  }
});
