import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonBed, waitFor, withDaemon, withSite } from '../support/index.ts';

// Each plugin appends "<name> load" per load attempt and "<name> event <id>" per event.
// Until <record>.ready exists, the site plugins fail their registration as a
// site that cannot be reached does; "broken" fails with a plugin bug every time.
const PY_SITE = `import os
def registerCallbacks(reg):
    rec = os.environ["SGEVENTD_TEST_RECORD"]
    with open(rec, "a") as f:
        f.write("py_site load\\n")
    if not os.path.exists(rec + ".ready"):
        raise ConnectionRefusedError(111, "Connection refused")
    reg.registerCallback("sgeventd", "sgeventd-key", on_event, {"Shotgun_Shot_New": None}, None)

def on_event(sg, logger, event, args):
    with open(os.environ["SGEVENTD_TEST_RECORD"], "a") as f:
        f.write("py_site event %d\\n" % event["id"])
`;
const PY_BROKEN = `import os
def registerCallbacks(reg):
    with open(os.environ["SGEVENTD_TEST_RECORD"], "a") as f:
        f.write("broken load\\n")
    raise ValueError("a bug in the plugin")
`;
const JS_SITE = `import { appendFileSync, existsSync } from 'node:fs';
export function registerCallbacks(reg) {
  const rec = process.env.SGEVENTD_TEST_RECORD;
  appendFileSync(rec, 'js_site load\\n');
  if (!existsSync(rec + '.ready')) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => appendFileSync(rec, 'js_site event ' + ctx.event.id + '\\n'), { Shotgun_Shot_New: null });
}
`;

describe('plugin loads that hit a site error', () => {
  it('are tried again with backoff until the site answers (Python and JS); a plugin bug is not retried', async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    for (const [file, text] of [['py_site.py', PY_SITE], ['broken.py', PY_BROKEN], ['js_site.mjs', JS_SITE]] as const) {
      const path = join(bed.plugins, file);
      writeFileSync(path, text);
      chmodSync(path, 0o644);
    }
    const loads = (name: string): number => bed.records().filter((r) => r[0] === name && r[1] === 'load').length;
    const daemon = await withDaemon(t, bed.config());
    await waitFor(() => (loads('py_site') >= 3 && loads('js_site') >= 3) || undefined, 'three load attempts of each plugin that hit the site error', 60_000);
    assert.equal(loads('broken'), 1, 'a plugin bug waits for a fix: loaded once');
    const status = daemon.status().plugins.find((p) => p.name === 'py_site');
    assert.equal(status?.status, 'load-failed');

    writeFileSync(`${bed.record}.ready`, '');
    await waitFor(() => daemon.status().plugins.filter((p) => p.name.endsWith('_site')).every((p) => p.status === 'running') || undefined,
      'both plugins loaded once the site answers', 60_000);
    const shot = await site.newShotEvent('after-retry');
    await waitFor(() => ['py_site', 'js_site'].every((n) => bed.records().some((r) => r[0] === n && r[1] === 'event' && Number(r[2]) === shot)) || undefined,
      'both plugins handle a new event');
    assert.equal(loads('broken'), 1);
  });
});
