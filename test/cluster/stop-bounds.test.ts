// A graceful stop finishes whatever NATS does: with every NATS server frozen
// (SIGSTOP: connections stay open and nothing answers, so a drain's flush
// waits forever), a node told to stop still ends on its own with exit 0
// (not the shutdown guard's exit 1), naming in its log each step that
// overran its bound.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

/** The JSON lines of node `id`'s log files. */
function logRecords(dir: string, id: string): Array<Record<string, unknown>> {
  const logs = join(dir, `logs-${id}`);
  if (!existsSync(logs)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const f of readdirSync(logs).filter((n) => n.endsWith('.log'))) {
    for (const line of readFileSync(join(logs, f), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the process's end
      }
    }
  }
  return out;
}

describe('a cluster node\'s graceful stop', natsSkip(), () => {
  it('ends within its bounds with every NATS server frozen, naming the steps that overran', async (t) => {
    const bed = await clusterBed(t, { plugins: ['serial'], nodes: 1, daemon: { stopTimeoutMs: 6000 } });
    await bed.allHeld();
    for (let i = 0; i < bed.nats.servers.length; i++) bed.nats.freeze(i);
    await bed.kill(0, 'SIGTERM');
    // The shutdown guard (stopTimeoutMs + 30 s) would end it with exit 1: it stopped on its own.
    assert.equal(bed.exitCode(0), 0, 'the node stopped on its own');
    const overran = logRecords(bed.dir, 'n1').filter((r) => r['code'] === 'CLUSTER_STOP_STEP_OVERRAN');
    assert.ok(overran.length > 0, 'an overrunning stop step was logged');
    assert.ok(overran.every((r) => typeof r['step'] === 'string' && r['step'] !== ''), 'each names its step');
    assert.ok(overran.some((r) => r['step'] === 'NATS connection'), 'the connection\'s drain, which waits for an answer, overran');
  });
});
