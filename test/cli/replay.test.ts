import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeConfig, writeCore } from '../fixtures/toolkit/fake-cores.ts';
import { makeHarness, addPlugin, newestEventId, waitFor, type Harness } from '../dispatch/harness.ts';
import { writeYaml, childEnv } from '../dispatch/child.ts';
import { runCli } from './run-cli.ts';

/** Two projects whose Primary configurations use two different cores (a localized one and a studio one). */
async function twoProjectsOnTwoCores(h: Harness): Promise<[number, number]> {
  const studio = writeCore(join(h.dir, 'studio'), { version: 'v9.1.0-studio', api3Version: '3.9.1' });
  const projects = await h.sg.find('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
  const aId = Number(projects[0]?.['id']);
  const bId = Number(projects[1]?.['id']);
  assert.ok(aId > 0 && bId > 0, 'the demo seed has two projects');
  const configs: Record<number, string> = {
    [aId]: writeConfig(join(h.dir, 'configs', 'a'), { core: { localized: { version: 'v1.2.3-alpha', api3Version: '3.1.2' } }, projectId: aId }),
    [bId]: writeConfig(join(h.dir, 'configs', 'b'), { core: { cfg: studio }, projectId: bId }),
  };
  for (const [projectId, path] of Object.entries(configs)) {
    const pc = await h.sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id: Number(projectId) }], ['code', 'is', 'Primary']], ['id']);
    assert.ok(pc, `project ${projectId} has a Primary configuration`);
    await h.sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: path, mac_path: null, windows_path: null, plugin_ids: null, descriptor: null });
  }
  return [aId, bId];
}

// A TypeScript plugin asking the event's project runtime for its core.
const TS_PROBE = `import { appendFileSync } from 'node:fs';

interface Toolkit {
  info(): Promise<{ coreVersion: string; shotgunApi3: string }>;
  call(target: string, path: string): Promise<unknown>;
}
interface Ctx {
  event: { id: number; project: { id: number } };
  replay: boolean;
  toolkit: { forProject(event: unknown): Toolkit };
}

export function registerCallbacks(reg: { registerCallback(...args: unknown[]): void }): void {
  reg.registerCallback('sgeventd', 'sgeventd-key', async (ctx: Ctx) => {
    const tk = ctx.toolkit.forProject(ctx.event);
    const info = await tk.info();
    const version = String(await tk.call('sgtk', '__version__'));
    appendFileSync(process.env.SGEVENTD_TEST_RECORD ?? '', \`tsrep \${ctx.event.id} \${ctx.event.project.id} \${info.coreVersion} \${version} \${info.shotgunApi3} \${ctx.replay}\\n\`);
  }, { Shotgun_Shot_New: null });
}
`;

const CORES: Record<'a' | 'b', [string, string]> = { a: ['v1.2.3-alpha', '3.1.2'], b: ['v9.1.0-studio', '3.9.1'] };

describe('sgeventd replay', () => {
  it('runs TS and SGEVENTD_TOOLKIT Python plugins on each event\'s own project core, and writes no state', async (t) => {
    const h = await makeHarness();
    t.after(() => h.close());
    const [aId, bId] = await twoProjectsOnTwoCores(h);
    const ts = join(h.plugins, 'tk_probe_ts.ts');
    await writeFile(ts, TS_PROBE);
    await chmod(ts, 0o644);
    await addPlugin(h, 'classic_tk.py');
    const from = await newestEventId(h);
    const order = [aId, bId, aId, bId];
    for (const [i, id] of order.entries()) await h.sg.create('Shot', { code: `replay${i}`, project: { type: 'Project', id } });
    const shotEvents = await h.sg.find('EventLogEntry', [['event_type', 'is', 'Shotgun_Shot_New'], ['id', 'greater_than', from]], ['id', 'project'], { order: [{ field_name: 'id', direction: 'asc' }] });
    const expected = shotEvents.map((e) => [Number(e['id']), Number((e['project'] as { id: number }).id)]);
    assert.deepEqual(expected.map(([, p]) => p), order);
    const yaml = await writeYaml(h);

    const run = await runCli(['replay', '-c', yaml, '--from', String(from)], childEnv(h), 120_000);
    assert.equal(run.code, 0, run.stderr);

    const core = (project: number): [string, string] => (project === aId ? CORES.a : CORES.b);
    const records = await h.records();
    const tsRecs = records.filter((r) => r[0] === 'tsrep');
    assert.deepEqual(tsRecs.map((r) => [Number(r[1]), Number(r[2])]), expected, 'the TS plugin saw every new Shot once, in order');
    for (const r of tsRecs) {
      const [version, api3] = core(Number(r[2]));
      assert.deepEqual([r[3], r[4], r[5], r[6]], [version, version, api3, 'true'], `event ${r[1]} of project ${r[2]}: its own core, as a replay`);
    }
    const pyRecs = records.filter((r) => r[0] === 'pytk');
    assert.deepEqual(pyRecs.map((r) => [Number(r[1]), Number(r[2])]), expected, 'the Python plugin saw every new Shot once, in order');
    for (const r of pyRecs) assert.deepEqual([r[3], r[4]], core(Number(r[2])), `event ${r[1]} of project ${r[2]}: import sgtk gave its own core`);
    assert.notEqual(pyRecs.find((r) => Number(r[2]) === aId)?.[5], pyRecs.find((r) => Number(r[2]) === bId)?.[5], 'two projects, two runtimes');
    assert.equal(existsSync(join(h.dir, 'state.db')), false, 'a replay opens no state file');
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const pids = [...new Set(pyRecs.map((r) => Number(r[5])))];
    await waitFor('the project runtimes to be gone after the replay', () => pids.every((pid) => !alive(pid)), 10_000);
  });
});
