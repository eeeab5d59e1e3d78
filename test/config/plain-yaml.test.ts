// The quick reader of plain YAML (config/plain-yaml.ts) must agree with the
// `yaml` package wherever it answers: on every YAML text of the repository,
// on hand-made cases at the edges of its subset, and on thousands of
// mutations of those (a character deleted, doubled or inserted), where it
// may refuse (null) but never read a different value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { parsePlainYaml } from '../../src/config/plain-yaml.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What `yaml` reads, or 'error' when it refuses the text. */
function byYaml(text: string): unknown {
  try {
    return parse(text, { uniqueKeys: true }) as unknown;
  } catch {
    return 'error';
  }
}

/** The reader agrees with `yaml` or refuses; returns whether it answered. */
function agrees(text: string): boolean {
  const plain = parsePlainYaml(text);
  if (plain === null) return false;
  const expected = byYaml(text);
  assert.notEqual(expected, 'error', `read a text that yaml refuses: ${JSON.stringify(text)}`);
  assert.deepEqual(plain.value, expected, `differs from yaml on ${JSON.stringify(text)}`);
  return true;
}

/** The ```yaml blocks of README.md and docs/*.md, and the YAML files of the repository. */
function corpus(): string[] {
  const docs = [join(ROOT, 'README.md'), ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f))];
  const texts: string[] = [];
  for (const file of docs) {
    for (const m of readFileSync(file, 'utf8').matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)) texts.push(m[1] ?? '');
  }
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) texts.push(readFileSync(p, 'utf8'));
    }
  };
  walk(ROOT);
  return texts;
}

/** A config as the tests' harness and the bench write it (yaml's stringify). */
const WRITTEN = stringify({
  site: { url: 'http://127.0.0.1:8090', script: { name: 'sgeventd', key: '${SGEVENTD_TEST_KEY}' }, connRetrySleepMs: 50, maxConnRetries: 3 },
  daemon: { state: '/tmp/x y/state.db', pidFile: '/tmp/sgeventd.pid', fetchIntervalMs: 50, stateFlushMs: 50 },
  plugins: [{ path: '/tmp/plugins', watch: 'poll', options: { a: { retries: 2 } } }, { path: './more' }],
  logging: { dir: '/tmp/logs', level: 'info', timing: true },
  http: { port: 0, token: 'se:cret #1', host: '::1' },
  webhooks: { secrets: ['a', 'b: c', "it's"] },
  toolkit: { projects: { '176': { mode: 'distributed', pluginId: 'basic.shell' } }, pythonPath: [] },
  emails: { enabled: false, to: [], port: 25.5, tls: null },
});

/** Texts at the edges of the subset. */
const CASES = [
  'a: 1\nb: -2.5e3\nc: .5\nd: true\ne: False\nf: ~\ng: null\nh:\ni: "x"\nj: \'it\'\'s\'\n',
  'site: { url: http://h:8090/x?y=1, script: { name: n, key: "${K}" } }\nhttp: { port: 0 }\n',
  'plugins: [ { path: ./plugins }, { path: "/a b", watch: poll } ]\nlist: [1, two, "3", [4]]\n',
  'plugins:\n- path: a\n  watch: off\n- path: b\nnext: 1\n',
  'plugins:\n  - path: a\n    extra:\n      - x\n      - - y\n        - z\n  -\n    path: c\n',
  'a: b # comment\nc: d#not a comment\ne: "f # g"  # h\n# only\n  # indented comment\n',
  'key: ${SGEVENTD_KEY}\nurl: http://u:p@h/\nwin: C:\\dir\\file\n',
  '176: x\n"177": y\n\'178\': z\n',
  'a:\n  b:\n    c: 1\n  d: 2\ne: 3\n',
  '- a\n- b: 1\n  c: 2\n- [x]\n- {y: 1}\n',
  'a: "esc \\" \\\\ \\n \\t"\n',
  'a: [ ]\nb: { }\nc: []\n',
  // Outside the subset: each must be refused or read as yaml reads it.
  'a: &x 1\nb: *x\n', 'a: !!str 1\n', 'a: |\n  text\n', 'a: >\n  folded\n', 'a: one\n  two\n', 'a: "one\n  two"\n',
  '? a\n: b\n', 'a: 1\na: 2\n', 'a: 0x1f\n', 'a: 0o17\n', 'a: .inf\n', 'a: .NaN\n', 'a: 99999999999999999999\n',
  'site: { key: ${K} }\n', '---\na: 1\n', '%YAML 1.2\n---\na: 1\n', 'a:\tb\n', '\ta: 1\n', 'a: "\\u00e9"\n',
  'a b: 1\n', 'true: 1\n', 'null: 1\n', '1.5: x\n', '__proto__: 1\n', '<<: {a: 1}\n', '[a]: 1\n', '{a: 1}: 2\n',
  'a: {b: 1,}\n', 'a: [1,,2]\n', 'a: {b}\n', 'a: {b:1}\n', 'a: [b: 1]\n', 'a: - b\n', 'a: b: c\n', 'a: b:\n',
  'a:\n  - b\n - c\n', 'a:\n   b: 1\n  c: 2\n', '- a\n  - b\n', 'a: 1\n b: 2\n', '', '# nothing\n', 'just text\n',
  'a: @x\n', 'a: `x`\n', 'a: %x\n', 'a: x\r\nb: y\r\n', 'a: x\rb: y\n', 'a: "x\u0001"\n', '\uFEFFa: 1\n',
];

describe('plain YAML reader', () => {
  it('reads every YAML text of the repository as yaml does, or leaves it to yaml', () => {
    const texts = corpus();
    assert.ok(texts.length > 5, `found ${texts.length} YAML texts`);
    const read = texts.filter((t) => agrees(t)).length;
    // The README's configs are plain YAML: most must be read without the package.
    assert.ok(read >= texts.length / 2, `read ${read} of ${texts.length}`);
  });

  it('reads a config as the test harness and the bench write it (the quick commands depend on it)', () => {
    assert.equal(agrees(WRITTEN), true, WRITTEN);
  });

  it('agrees with yaml on the edges of its subset, and refuses what it does not read', () => {
    const read = CASES.filter((t) => agrees(t));
    // The first twelve are inside the subset.
    assert.deepEqual(CASES.slice(0, 12).filter((t) => !read.includes(t)), []);
    for (const t of ['a: &x 1\nb: *x\n', 'a: |\n  text\n', 'a: one\n  two\n', 'a: 1\na: 2\n', 'site: { key: ${K} }\n', 'a: 0x1f\n', '1.5: x\n']) {
      assert.equal(parsePlainYaml(t), null, JSON.stringify(t));
    }
  });

  it('never reads a mutated config differently from yaml', () => {
    // A fixed seed: a failure repeats.
    let seed = 18;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pieces = [':', ' ', '#', '-', "'", '"', '{', '}', '[', ']', ',', '\n', '\t', '&', '*', '!', '|', '>', '?', '\\', '0', 'x', '.', '$', '  '];
    const bases = [WRITTEN, ...CASES.slice(0, 12), ...corpus()];
    let read = 0;
    for (let i = 0; i < 4000; i++) {
      const base = bases[random(bases.length)] ?? '';
      const at = random(base.length + 1);
      const kind = random(3);
      const text = kind === 0 ? base.slice(0, at) + base.slice(at + 1)
        : kind === 1 ? base.slice(0, at) + base.slice(at, at + 1) + base.slice(at)
          : base.slice(0, at) + (pieces[random(pieces.length)] ?? '') + base.slice(at);
      if (agrees(text)) read++;
    }
    assert.ok(read > 1000, `read ${read} of 4000 mutations`);
  });
});
