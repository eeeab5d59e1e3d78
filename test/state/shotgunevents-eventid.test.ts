import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readShotgunEventsEventIdFile, LegacyStateError } from '../../src/state/index.ts';

function pickle(dir: string, name: string, expr: string, protocol: number | 'HIGHEST' = 'HIGHEST'): string {
  const out = join(dir, name);
  const proto = protocol === 'HIGHEST' ? 'pickle.HIGHEST_PROTOCOL' : String(protocol);
  execFileSync('python3', ['-c', `import datetime, pickle, sys\nwith open(sys.argv[1], "wb") as fh:\n    pickle.dump(${expr}, fh, protocol=${proto})`, out]);
  return out;
}

describe('shotgunEvents event id file reader', () => {
  let dir: string;
  const env = { PATH: process.env.PATH, TZ: 'UTC' };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sgeventd-eventid-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const protocol of [0, 2, 5]) {
    it(`reads pickle protocol ${protocol} with tuple states and naive datetime expiries`, async () => {
      const file = pickle(dir, `p${protocol}.id`, `{"/p": {"a": (10, {9: datetime.datetime(2030, 1, 1, 0, 0, 0, 500000)}), "b": 7}, "/q": 3}`, protocol);
      const data = await readShotgunEventsEventIdFile(file, env);
      assert.deepEqual(data, {
        format: 'pickle',
        collections: {
          '/p': { plugins: { a: { lastEventId: 10, backlog: [{ eventId: 9, expiresAt: Date.UTC(2030, 0, 1) + 500 }] }, b: { lastEventId: 7, backlog: [] } } },
          '/q': { lastEventId: 3 },
        },
      });
    });
  }

  it('accepts {id, backlog} dict states', async () => {
    const file = pickle(dir, 'dict.id', `{"/p": {"a": {"id": 4, "backlog": {3: datetime.datetime(2030, 1, 1)}}}}`);
    const data = await readShotgunEventsEventIdFile(file, env);
    assert.deepEqual(data.format === 'pickle' && data.collections['/p'], { plugins: { a: { lastEventId: 4, backlog: [{ eventId: 3, expiresAt: Date.UTC(2030, 0, 1) }] } } });
  });

  it('refuses a pickle that would run code, without running it', async () => {
    const marker = join(dir, 'pwned');
    const file = join(dir, 'evil.id');
    execFileSync('python3', ['-c', `import os, pickle, sys
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
with open(sys.argv[1], "wb") as fh:
    pickle.dump({"/p": {"a": (1, {2: Evil()})}}, fh)`, file, marker]);
    await assert.rejects(readShotgunEventsEventIdFile(file, env), (e: unknown) => e instanceof LegacyStateError && e.code === 'LEGACY_STATE_UNREADABLE');
    assert.equal(existsSync(marker), false);
  });

  it('refuses shapes shotgunEvents never wrote', async () => {
    const file = pickle(dir, 'list.id', `["not", "a", "dict"]`);
    await assert.rejects(readShotgunEventsEventIdFile(file, env), (e: unknown) => e instanceof LegacyStateError && e.code === 'LEGACY_STATE_UNSUPPORTED');
  });
});
