/**
 * The local site under load, through real HTTP on loopback:
 * - reading 500 EventLogEntry rows with `id > N` (random N) from a log of 1,000,000
 *   rows, with the fields and sort the event daemon uses (goal: p50 ≤ 10 ms);
 * - creates per second, each writing its New and Change events.
 * The log is filled by direct SQL inserts into the site's SQLite file during setup
 * (rows shaped like real Change events on 1,000 shots), which takes seconds instead of
 * the hours a million API creates would. The site then runs as its own process
 * (`sgeventd site --db FILE`), as it does for a daemon, and every read and create goes
 * through the full HTTP stack from this process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startSite } from '../src/site/index.ts';
import { Reader } from '../src/site/read.ts';
import type { BenchResult } from './run.ts';

const LOG_ROWS = Number(process.env.SGEVENTD_BENCH_LOG_ROWS ?? 1_000_000);
const SHOTS = 1_000;
const READS = 300;
const CREATES = 500;
const AUTH = { script_name: 'sgeventd', script_key: 'sgeventd-key' };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sgeventd-bench-site-'));
  const dbFile = join(dir, 'site.db');
  const site = await startSite({ db: dbFile });
  const agent = new Agent({ connections: 1, keepAliveTimeout: 10_000 });
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const db = site.store.db;
    const fillStart = performance.now();
    db.transaction(() => {
      const shot = db.prepare("INSERT INTO e_Shot (code, sg_status_list, created_at, updated_at) VALUES (?, 'wtg', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')");
      for (let i = 1; i <= SHOTS; i++) shot.run(`sh${String(i).padStart(4, '0')}`);
      db.prepare("INSERT INTO e_Project (name, tank_name, created_at) VALUES ('Bench', 'bench', '2024-01-01T00:00:00Z')").run();
      const ev = db.prepare(`INSERT INTO e_EventLogEntry (event_type, attribute_name, meta, entity__type, entity__id, user__type, user__id,
        project__type, project__id, session_uuid, created_at, description) VALUES ('Shotgun_Shot_Change', 'sg_status_list', ?, 'Shot', ?, 'ApiUser', 1, 'Project', 1, NULL, ?, 'bench')`);
      const base = Date.UTC(2024, 0, 1);
      for (let i = 0; i < LOG_ROWS; i++) {
        const shotId = (i % SHOTS) + 1;
        const meta = `{"type":"attribute_change","attribute_name":"sg_status_list","entity_type":"Shot","entity_id":${shotId},"field_data_type":"status_list","old_value":"wtg","new_value":"ip"}`;
        ev.run(meta, shotId, new Date(base + i * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'));
      }
    })();
    const fillSeconds = (performance.now() - fillStart) / 1000;

    // The same read without HTTP, in this process: how much of the time is the store's own.
    const reader = new Reader(site.store, 500);
    const inProcess: number[] = [];
    for (let i = 0; i < READS; i++) {
      const n = Math.floor(Math.random() * (LOG_ROWS - 500));
      const t0 = performance.now();
      reader.read({
        type: 'EventLogEntry', return_fields: ['id', 'event_type', 'attribute_name', 'meta', 'entity', 'user', 'project', 'session_uuid', 'created_at'],
        filters: { logical_operator: 'and', conditions: [{ path: 'id', relation: 'greater_than', values: [n] }] },
        sorts: [{ field_name: 'id', direction: 'asc' }], paging: { current_page: 1, entities_per_page: 500 },
      });
      inProcess.push(performance.now() - t0);
    }
    inProcess.sort((a, b) => a - b);
    await site.close();

    const bin = fileURLToPath(new URL('../bin/sgeventd.mjs', import.meta.url));
    const proc = spawn(process.execPath, [bin, 'site', '--db', dbFile, '--port', '0', '--script', `${AUTH.script_name}:${AUTH.script_key}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    child = proc;
    const [line] = (await once(createInterface({ input: proc.stdout }), 'line')) as [string];
    const url = /^site listening on (\S+)$/.exec(line)?.[1];
    if (url === undefined) throw new Error(`unexpected first line: ${line}`);

    const call = async (method: string, params: unknown): Promise<unknown> => {
      const r = await request(`${url}/api3/json`, { method: 'POST', dispatcher: agent, body: JSON.stringify({ method_name: method, params: [AUTH, params] }) });
      const body = (await r.body.json()) as { results?: unknown; exception?: boolean };
      if (body.exception === true) throw new Error(`fault: ${JSON.stringify(body)}`);
      return body.results;
    };
    const readAfter = (n: number) => call('read', {
      type: 'EventLogEntry', return_fields: ['id', 'event_type', 'attribute_name', 'meta', 'entity', 'user', 'project', 'session_uuid', 'created_at'],
      filters: { logical_operator: 'and', conditions: [{ path: 'id', relation: 'greater_than', values: [n] }] },
      sorts: [{ field_name: 'id', direction: 'asc' }], paging: { current_page: 1, entities_per_page: 500 }, return_only: 'active',
      return_paging_info: false, api_return_image_urls: true,
    });
    for (let i = 0; i < 20; i++) await readAfter(Math.floor(Math.random() * (LOG_ROWS - 500)));
    const times: number[] = [];
    for (let i = 0; i < READS; i++) {
      const n = Math.floor(Math.random() * (LOG_ROWS - 500));
      const t0 = performance.now();
      const r = (await readAfter(n)) as { entities: unknown[] };
      times.push(performance.now() - t0);
      if (r.entities.length !== 500) throw new Error(`expected 500 rows, got ${r.entities.length}`);
    }
    times.sort((a, b) => a - b);


    const lastEvent = async () => ((await call('read', { type: 'EventLogEntry', return_fields: ['id'], sorts: [{ field_name: 'id', direction: 'desc' }], paging: { current_page: 1, entities_per_page: 1 } })) as { entities: Array<{ id: number }> }).entities[0]?.id ?? 0;
    const before = await lastEvent();
    const c0 = performance.now();
    for (let i = 0; i < CREATES; i++) {
      await call('create', {
        type: 'Shot', return_fields: ['id'],
        fields: [{ field_name: 'code', value: `bench_${i}` }, { field_name: 'project', value: { type: 'Project', id: 1 } }, { field_name: 'sg_cut_in', value: 1001 }],
      });
    }
    const createSeconds = (performance.now() - c0) / 1000;
    const eventsWritten = (await lastEvent()) - before;

    return {
      name: 'site',
      results: {
        'log rows': LOG_ROWS,
        'log fill (direct SQL), s': fillSeconds,
        'read 500 events id > N, p50 ms': percentile(times, 50),
        'read 500 events id > N, p99 ms': percentile(times, 99),
        'read 500 events id > N, max ms': times.at(-1)!,
        'same read in process (no HTTP), p50 ms': percentile(inProcess, 50),
        'same read in process (no HTTP), p99 ms': percentile(inProcess, 99),
        'creates/s (HTTP, sequential)': CREATES / createSeconds,
        'events written per create': eventsWritten / CREATES,
        'events/s written by creates': eventsWritten / createSeconds,
      },
      notes: [
        `load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (the machine is shared; figures are inflated when it is busy)`,
        `${READS} reads after 20 warm-up reads, one keep-alive connection, fields and sort as the event daemon asks`,
        'the log is filled by direct SQL inserts in setup; creates go through the API and write their events in the same transaction',
        'the site runs as its own process (sgeventd site --db FILE); its database is a file in the temp dir (WAL, synchronous=NORMAL)',
      ],
    };
  } finally {
    await agent.close();
    if (child !== undefined && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await site.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
