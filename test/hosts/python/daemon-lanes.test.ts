// A concurrent Python plugin in a real daemon over the local site: events of
// several projects, per-key order, overlap across keys, module state per process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { daemonBed, tempDir, waitFor, withDaemon, withSite } from '../../support/index.ts';

const FIXTURE = path.join(import.meta.dirname, '..', '..', 'fixtures', 'hosts', 'py_lanes.py');

describe('a Python plugin with SGEVENTD_CONCURRENCY in the daemon', () => {
  it('keeps each project\'s events in id order, runs projects at once, in forked workers that count their own events', async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    const meet = path.join(tempDir(t, 'sgeventd-lanes-'), 'meet');
    mkdirSync(meet);
    process.env['PY_LANES_DIR'] = meet;
    process.env['PY_LANES_PROJECTS'] = '3';
    t.after(() => { delete process.env['PY_LANES_DIR']; delete process.env['PY_LANES_PROJECTS']; });
    copyFileSync(FIXTURE, path.join(bed.plugins, 'py_lanes.py'));
    const daemon = await withDaemon(t, bed.config());
    const projects: number[] = [];
    for (const name of ['lanes A', 'lanes B', 'lanes C']) projects.push((await site.sg.create('Project', { name }))['id']);
    // Interleaved creations: shot i of each project in turn.
    for (let i = 0; i < 4; i++) {
      for (const p of projects) await site.sg.create('Shot', { code: `s${String(i)}-${String(p)}`, project: { type: 'Project', id: p } });
    }
    const ends = await waitFor(() => {
      const e = bed.records().filter((r) => r[0] === 'end');
      return e.length >= 12 ? e : undefined;
    }, 'twelve events handled', 120_000);
    assert.equal(ends.length, 12, 'each event once');
    for (const p of projects) {
      const ids = ends.filter((r) => r[1] === String(p)).map((r) => Number(r[2]));
      assert.equal(ids.length, 4);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `project ${String(p)} in id order`);
    }
    // The first event of each project waited for the others' first: they overlapped.
    assert.deepEqual(ends.filter((r) => r[5] !== '-').map((r) => r[5]), ['met', 'met', 'met']);
    // Module state is per process: each pid counts 1, 2, 3... on its own.
    const byPid = new Map<string, number[]>();
    for (const r of ends) byPid.set(r[3] ?? '', [...(byPid.get(r[3] ?? '') ?? []), Number(r[4])]);
    assert.ok(byPid.size >= 3, `at least three workers, got ${String(byPid.size)}`);
    for (const counts of byPid.values()) assert.deepEqual(counts, counts.map((_, i) => i + 1));
    const snap = daemon.status().plugins.find((p) => p.name === 'py_lanes');
    assert.equal(snap?.status, 'running');
  });
});
