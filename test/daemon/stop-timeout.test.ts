import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteState } from '../../src/state/index.ts';
import { daemonBed, waitFor, withDaemon, withSite, within } from '../support/index.ts';

// Records "<id> enter" for each Shot creation, and hangs for good on the shot
// named hang-me while the file <record>.hang exists.
const HANGS = `import { appendFileSync, existsSync } from 'node:fs';
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', async (ctx) => {
    const file = process.env.SGEVENTD_TEST_RECORD;
    appendFileSync(file, ctx.event.id + ' enter\\n');
    if (ctx.event.meta?.entity_type === 'Shot' && existsSync(file + '.hang')) {
      const shot = await ctx.sg.findOne('Shot', [['id', 'is', ctx.event.entity.id]], ['code']);
      if (shot?.code === 'hang-me') await new Promise(() => {});
    }
    appendFileSync(file, ctx.event.id + ' done\\n');
  }, { Shotgun_Shot_New: null });
}
`;

describe('daemon.stopTimeoutMs', () => {
  it('a stop cuts off a hung callback after stopTimeoutMs (not callbackTimeoutMs); the event runs again at the next start, nothing after it is skipped', async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    const file = join(bed.plugins, 'hangs.mjs');
    writeFileSync(file, HANGS);
    chmodSync(file, 0o644);
    writeFileSync(`${bed.record}.hang`, '');
    const config = bed.config({ daemon: { stopTimeoutMs: 300, callbackTimeoutMs: 600_000 } });
    const lines = (): string[] => bed.records().map((f) => f.join(' '));

    const first = await withDaemon(t, config);
    const before = await site.newShotEvent('fine');
    await waitFor(() => lines().includes(`${before} done`), 'the first shot handled');
    const hung = await site.newShotEvent('hang-me');
    await waitFor(() => lines().includes(`${hung} enter`), 'the hanging callback entered');
    // callbackTimeoutMs is 10 minutes: only stopTimeoutMs can end this stop in time.
    await within(first.stop(), 30_000, 'the stop with a hung callback');
    assert.ok(!lines().includes(`${hung} done`));

    const store = await openSqliteState(config.daemon.state);
    const [row] = await store.loadPlugins();
    await store.close();
    assert.ok(row !== undefined && row.lastEventId !== null && row.lastEventId >= before && row.lastEventId < hung, `cursor ${String(row?.lastEventId)} stays before the cut-off event ${hung}`);
    assert.equal(row.active, true, 'a cut-off callback is not a failure');

    rmSync(`${bed.record}.hang`);
    const after = await site.newShotEvent('later');
    await withDaemon(t, config);
    await waitFor(() => lines().includes(`${hung} done`) && lines().includes(`${after} done`), 'the cut-off event and the later one at the next start');
    assert.deepEqual(lines().filter((l) => l.endsWith(' done')).map((l) => Number(l.split(' ')[0])), [before, hung, after], 'each finished once, in order');
  });
});
