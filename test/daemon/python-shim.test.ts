import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pythonShim, whichPython } from '../../src/daemon/python-shim.ts';

function folder(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sgeventd-shim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function executable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

describe('toolkit.python through a version manager shim', () => {
  it('finds a bare name on PATH as spawn would, the first executable file', (t) => {
    const dir = folder(t);
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'a', 'python3'), 'not executable');
    executable(join(dir, 'b', 'python3'), '#!/bin/sh\n');
    assert.equal(whichPython('python3', { PATH: `${join(dir, 'a')}:${join(dir, 'b')}` }), join(dir, 'b', 'python3'));
    assert.equal(whichPython('python3', { PATH: join(dir, 'a') }), null);
  });

  it('names a pyenv shim, and not an interpreter or another script', (t) => {
    const dir = folder(t);
    mkdirSync(join(dir, 'shims'));
    // pyenv 2's shim, as `pyenv rehash` writes it.
    executable(join(dir, 'shims', 'python3'), [
      '#!/usr/bin/env bash', 'set -e', '[ -n "$PYENV_DEBUG" ] && set -x', '', 'program="${0##*/}"', '', 'export PYENV_ROOT="/root/.pyenv"',
      'exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"', '',
    ].join('\n'));
    executable(join(dir, 'asdf-python3'), '#!/usr/bin/env bash\n# asdf-plugin: python 3.11.7\nexec /root/.asdf/bin/asdf exec "python3" "$@"\n');
    executable(join(dir, 'wrapper'), '#!/bin/sh\nexec /usr/bin/python3 "$@"\n');
    executable(join(dir, 'binary'), '\x7fELF\x02\x01\x01');
    assert.deepEqual(pythonShim('python3', { PATH: join(dir, 'shims') }), { path: join(dir, 'shims', 'python3'), manager: 'pyenv' });
    assert.deepEqual(pythonShim(join(dir, 'asdf-python3')), { path: join(dir, 'asdf-python3'), manager: 'asdf' });
    assert.equal(pythonShim(join(dir, 'wrapper')), null);
    assert.equal(pythonShim(join(dir, 'binary')), null);
    assert.equal(pythonShim('no-such-python', { PATH: dir }), null);
  });
});
