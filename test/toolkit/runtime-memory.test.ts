import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Secret } from '../../src/shared/secret.ts';
import { RuntimePool } from '../../src/toolkit/pool.ts';
import { runtimePoolOptions } from '../../src/toolkit/options.ts';
import { writeStudio, type FakeStudio } from '../fixtures/toolkit/fake-cores.ts';
import { FIXTURES, PYTHON, tempDir } from './helpers.ts';

describe('runtime memory in the status', () => {
  const tmp = tempDir();
  let studio: FakeStudio;
  let pool: RuntimePool;
  before(() => {
    studio = writeStudio(tmp.dir);
    pool = new RuntimePool(runtimePoolOptions({
      python: PYTHON, studioCore: studio.studioCore, pythonPath: [path.join(FIXTURES, 'studio_py')], callTimeoutMs: 20_000,
      projects: { 70: { mode: 'centralized', path: studio.alpha } },
    }), {
      site: { url: 'http://127.0.0.1:9', scriptName: 'sgeventd-test', scriptKey: new Secret('pool-test-key-123') },
      stateDir: path.join(tmp.dir, 'state'),
      env: { ...process.env, FAKE_STUDIO_ROOT: tmp.dir },
      initTimeoutMs: 10_000,
      stopTimeoutMs: 2000,
    });
  });
  after(async () => {
    await pool.close();
    tmp.cleanup();
  });

  it('shows a runtime\'s current memory and its peak apart', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    await pool.forProject(70).run('memory_hooks:grow_and_free', [300]);
    const [row] = pool.list();
    assert.ok(row);
    assert.ok(row.peakRssMb !== null && row.peakRssMb >= 300, `peak ${row.peakRssMb}`);
    assert.ok(row.rssMb !== null && row.rssMb < row.peakRssMb - 200, `current ${row.rssMb}, peak ${row.peakRssMb}`);
  });
});
