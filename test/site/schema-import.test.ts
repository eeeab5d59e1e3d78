/**
 * `sgeventd site dump-schema -c CONFIG` reads a site's schema over HTTP, and
 * `sgeventd site --schema-from FILE` (startSite's `schemaFrom`) serves exactly that
 * schema: a studio's own fields and types, no built-in type it does not have
 * (but the site's own: EventLogEntry, ApiUser, HumanUser, LocalStorage).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSite, type RunningSite } from '../../src/site/index.ts';
import { create, faultOf, find, results } from './helpers.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

async function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const [code] = await Promise.race([
    once(child, 'exit') as Promise<[number | null]>,
    new Promise<never>((_, reject) => setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out; stderr: ${stderr}`)); }, 30_000).unref()),
  ]);
  return { code, stdout, stderr };
}

describe('site schema import: dump-schema and --schema-from', () => {
  let studio: RunningSite;
  let dir: string;
  let dumpFile: string;

  before(async () => {
    studio = await startSite({ scripts: [{ name: 'dumper', key: 'dump-key' }] });
    const auth = { script_name: 'dumper', script_key: 'dump-key' };
    await results(studio, 'schema_field_create', { type: 'Shot', data_type: 'list', properties: [{ property_name: 'name', value: 'Lens' }, { property_name: 'valid_values', value: ['35mm', '50mm'] }] }, auth);
    dir = await mkdtemp(join(tmpdir(), 'sgeventd-schema-'));
    dumpFile = join(dir, 'schema.json');
  });
  after(async () => {
    await studio.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('dump-schema prints the site\'s schema without its key; --schema-from serves that schema', async () => {
    const config = join(dir, 'sgeventd.yaml');
    await writeFile(config, `site: { url: "${studio.url}", script: { name: dumper, key: "\${DUMP_KEY}" } }\ndaemon: { state: ./state/sgeventd.db }\n`);
    const r = await run(['site', 'dump-schema', '-c', config], { DUMP_KEY: 'dump-key' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('dump-key'));
    const dump = JSON.parse(r.stdout) as { format: string; entities: Record<string, unknown>; fields: Record<string, Record<string, unknown>> };
    assert.equal(dump.format, 'sgeventd-schema-dump/1');
    assert.ok('sg_lens' in dump.fields.Shot!);

    // A studio without Cut: the imported site has none, and keeps the studio's own field.
    delete dump.fields.Cut;
    delete dump.entities.Cut;
    delete dump.fields.EventLogEntry;
    delete dump.entities.EventLogEntry;
    await writeFile(dumpFile, JSON.stringify(dump));
    const local = await startSite({ schemaFrom: dumpFile });
    try {
      const project = await create(local, 'Project', { name: 'P' });
      const shot = await create(local, 'Shot', { code: 's', project, sg_lens: '50mm' }, ['sg_lens']);
      assert.equal(shot.sg_lens, '50mm');
      assert.equal((await faultOf(local, 'create', { type: 'Shot', fields: [{ field_name: 'sg_lens', value: '85mm' }] })).error_code, 103);
      assert.equal((await faultOf(local, 'read', { type: 'Cut', return_fields: ['id'] })).error_code, 103);
      const types = Object.keys(await results<Record<string, unknown>>(local, 'schema_entity_read', null)).sort();
      assert.deepEqual(types, Object.keys(dump.entities).concat('EventLogEntry').sort());
      const fields = await results<Record<string, { data_type: { value: string } }>>(local, 'schema_field_read', { type: 'Shot' });
      assert.deepEqual(Object.keys(fields).sort(), Object.keys(dump.fields.Shot).sort());
      // The site's own EventLogEntry type was added back: writes still log.
      assert.ok((await find(local, 'EventLogEntry', [['event_type', 'is', 'Shotgun_Shot_New']])).length >= 1);
      // A link to a type the studio does not have is left out.
      assert.ok(!('cut' in await results<Record<string, unknown>>(local, 'schema_field_read', { type: 'CutItem' })));
    } finally {
      await local.close();
    }
  });

  it('a file that is not a dump is a coded config error', async () => {
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ Shot: {} }));
    await assert.rejects(startSite({ schemaFrom: join(dir, 'bad.json') }), { code: 'CONFIG_INVALID' });
  });
});
