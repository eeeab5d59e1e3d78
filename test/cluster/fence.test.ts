import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  clusterNames, connectCluster, FencedLease, LeaseLostError, type ClusterConnection, type LeaseRecord, type LeaseTenure,
} from '../../src/cluster/index.ts';
import { clusterSectionSchema, type ClusterLeaseOptions } from '../../src/config/index.ts';
import { onCleanup, waitFor, within, type Cleanup } from '../support/index.ts';
import { natsSkip, startNats } from '../support/nats.ts';

const stateSchema = z.object({ n: z.number().int(), by: z.string() });
type State = z.infer<typeof stateSchema>;
const FAST: ClusterLeaseOptions = { ttlMs: 1500, renewMs: 200, checkMs: 200, marginMs: 500 };

async function connectTo(t: Cleanup, servers: string[], nodeId: string): Promise<ClusterConnection> {
  const conn = await connectCluster({ nats: { servers }, nodeId });
  onCleanup(t, () => conn.close());
  return conn;
}

function leaseFor(t: Cleanup, conn: ClusterConnection, nodeId: string, timing: ClusterLeaseOptions, key = 'poller'): Promise<FencedLease<State>> {
  return FencedLease.open({
    conn, names: clusterNames('t', 'http://127.0.0.1:8090'), key, nodeId, timing, replicas: 3,
    state: stateSchema, initial: { n: 0, by: 'nobody' }, history: 100_000,
  }).then((lease) => {
    onCleanup(t, () => lease.abandon());
    return lease;
  });
}

/** Every record of a lease stream, in stream order. */
async function allRecords(conn: ClusterConnection, stream: string): Promise<Array<{ seq: number; record: LeaseRecord<State> }>> {
  const info = await conn.jsm.streams.info(stream);
  const out: Array<{ seq: number; record: LeaseRecord<State> }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const msg = await conn.jsm.streams.getMessage(stream, { seq });
    if (msg !== null) out.push({ seq, record: msg.json<LeaseRecord<State>>() });
  }
  return out;
}

/** The chain of records is linear: renewals and writes of one tenure, then a claim raising the epoch by one; nothing of an older epoch after a newer one. */
function assertLinear(records: Array<{ seq: number; record: LeaseRecord<State> }>): void {
  assert.ok(records.length > 0);
  assert.equal(records[0]?.record.epoch, 1, 'the first record is the first claim');
  for (let i = 1; i < records.length; i++) {
    const prev = (records[i - 1] as { record: LeaseRecord<State> }).record;
    const cur = (records[i] as { seq: number; record: LeaseRecord<State> }).record;
    const at = `record at seq ${records[i]?.seq}: ${JSON.stringify(cur)} after ${JSON.stringify(prev)}`;
    if (cur.epoch === prev.epoch) {
      assert.notEqual(prev.released, true, `nothing of a tenure after its release (${at})`);
      assert.ok(cur.holder === prev.holder || (cur.holder === null && cur.released === true), `one holder per epoch (${at})`);
    } else {
      assert.equal(cur.epoch, prev.epoch + 1, `a claim raises the epoch by one; no deposed holder's write after it (${at})`);
      assert.ok(cur.holder !== null && cur.released !== true, `a new epoch starts with a claim (${at})`);
    }
    assert.ok(cur.state.n >= prev.state.n, `a successor continues from the stored state (${at})`);
  }
}

describe('cluster fence: a lease on one stream written with expect.lastSequence', natsSkip(), () => {
  it('3 contenders racing on a 3-server cluster: one holder per epoch, a linear chain of records, every accepted write in it', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    // Each contender on its own server, so the claims meet at the stream leader from three routes.
    const leases: Array<FencedLease<State>> = [];
    const conns: ClusterConnection[] = [];
    for (let i = 0; i < 3; i++) {
      const conn = await connectTo(t, [nats.urls[i] as string], `node${i}`);
      conns.push(conn);
      leases.push(await leaseFor(t, conn, `node${i}`, FAST));
    }
    const ROUNDS = 24;
    const epochs: number[] = [];
    const accepted: Array<{ epoch: number; holder: string; n: number }> = [];
    const overlaps: string[] = [];
    const stop = new AbortController();
    t.after(() => stop.abort());
    const tenures: Array<LeaseTenure<State> | undefined> = [undefined, undefined, undefined];
    // Whenever a contender holds, no other may (the same clock for all three here).
    const sampler = setInterval(() => {
      const held = tenures.filter((x) => x?.held === true).length;
      if (held > 1) overlaps.push(`${held} holders at ${performance.now()}`);
    }, 5);
    t.after(() => clearInterval(sampler));

    const contender = async (i: number): Promise<void> => {
      const lease = leases[i] as FencedLease<State>;
      const me = `node${i}`;
      while (epochs.length < ROUNDS && !stop.signal.aborted) {
        let tenure: LeaseTenure<State>;
        try {
          tenure = await lease.acquire(stop.signal);
        } catch (err) {
          if (stop.signal.aborted) return;
          throw err;
        }
        tenures[i] = tenure;
        epochs.push(tenure.epoch);
        for (let j = 0; j < 3 && tenure.held; j++) {
          const next = { n: tenure.state.n + 1, by: me };
          try {
            await tenure.write(next);
            accepted.push({ epoch: tenure.epoch, holder: me, n: next.n });
          } catch (err) {
            if (!(err instanceof LeaseLostError)) throw err;
          }
        }
        // Every fourth tenure ends as a crash would (the others wait out the TTL); the rest release.
        if (tenure.epoch % 4 === 0) tenure.abandon();
        else await tenure.release().catch((err: unknown) => { if (!(err instanceof LeaseLostError)) throw err; });
        tenures[i] = undefined;
      }
      stop.abort();
    };
    await within(Promise.all([0, 1, 2].map(contender)), 240_000, `${ROUNDS} tenures`);

    assert.deepEqual(overlaps, [], 'never two holders at once');
    assert.equal(new Set(epochs).size, epochs.length, `every claim accepted got its own epoch: ${epochs.join(',')}`);
    const records = await allRecords(conns[0] as ClusterConnection, leases[0]?.stream as string);
    assertLinear(records);
    for (const a of accepted) {
      assert.ok(records.some((r) => r.record.epoch === a.epoch && r.record.holder === a.holder && r.record.state.n === a.n),
        `accepted write ${JSON.stringify(a)} is in the chain`);
    }
    assert.ok(new Set(records.map((r) => r.record.holder).filter((h) => h !== null)).size >= 2, 'the lease changed hands');
  });

  it('a holder that stops renewing is replaced after the TTL; a release hands over at once; a deposed holder\'s write fails', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    const a = await leaseFor(t, await connectTo(t, nats.urls, 'a'), 'a', FAST, 'stops');
    const b = await leaseFor(t, await connectTo(t, nats.urls, 'b'), 'b', FAST, 'stops');
    const ta = await a.acquire();
    await ta.write({ n: 1, by: 'a' });
    const tbPromise = b.acquire();
    ta.abandon();
    assert.equal(ta.held, false);
    const tb = await within(tbPromise, 30_000, 'b taking over after the TTL');
    assert.equal(tb.epoch, ta.epoch + 1);
    assert.deepEqual(tb.state, { n: 1, by: 'a' }, 'the successor starts from the stored state');
    await assert.rejects(ta.write({ n: 9, by: 'a' }), (err: unknown) => err instanceof LeaseLostError && err.code === 'CLUSTER_LEASE_LOST');

    // Release: with a TTL of ten minutes, only the release can hand over within the wait.
    const slow: ClusterLeaseOptions = { ttlMs: 600_000, renewMs: 200, checkMs: 200, marginMs: 500 };
    const c = await leaseFor(t, await connectTo(t, nats.urls, 'c'), 'c', slow, 'release');
    const d = await leaseFor(t, await connectTo(t, nats.urls, 'd'), 'd', slow, 'release');
    const tc = await c.acquire();
    const tdPromise = d.acquire();
    await tc.release({ n: 5, by: 'c' });
    assert.equal((tc.signal.reason as LeaseLostError).reason, 'released');
    const td = await within(tdPromise, 20_000, 'd taking over after the release');
    assert.deepEqual(td.state, { n: 5, by: 'c' });
    assert.equal(td.epoch, tc.epoch + 1);
  });

  it('a release whose write fails (no answer, or an answer lost after the record was stored) is tried again: the successor takes over at once', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    // With a TTL of ten minutes, only a release can hand over within the wait.
    const slow: ClusterLeaseOptions = { ttlMs: 600_000, renewMs: 200, checkMs: 200, marginMs: 500 };
    for (const fault of ['unanswered', 'answer lost'] as const) {
      const real = await connectTo(t, nats.urls, `h-${fault}`);
      let failed = 0;
      // A misbehaving connection: the first release record fails as a timeout would, before or after it is stored.
      const js = new Proxy(real.js, {
        get(target, prop, receiver) {
          if (prop !== 'publish') return Reflect.get(target, prop, receiver) as unknown;
          return async (subject: string, data: string, opts: Parameters<typeof target.publish>[2]) => {
            const isRelease = (JSON.parse(data) as { released?: boolean }).released === true;
            if (isRelease && failed === 0) {
              failed++;
              if (fault === 'answer lost') await target.publish(subject, data, opts);
              throw new Error('TIMEOUT');
            }
            return target.publish(subject, data, opts);
          };
        },
      });
      const key = fault === 'unanswered' ? 'release-unanswered' : 'release-lost';
      const holder = await leaseFor(t, { ...real, js }, 'h', slow, key);
      const heir = await leaseFor(t, await connectTo(t, nats.urls, `s-${fault}`), 's', slow, key);
      const th = await holder.acquire();
      const standing = new AbortController();
      onCleanup(t, () => standing.abort());
      const tsPromise = heir.acquire(standing.signal);
      tsPromise.catch(() => undefined); // awaited below; a failed test aborts it
      await th.release({ n: 7, by: 'h' });
      assert.equal(failed, 1, `${fault}: the first release write failed`);
      assert.equal((th.signal.reason as LeaseLostError).reason, 'released', `${fault}: released, not lost`);
      const ts = await within(tsPromise, 20_000, `${fault}: the successor taking over after the release`);
      assert.deepEqual(ts.state, { n: 7, by: 'h' });
      assert.equal(ts.epoch, th.epoch + 1);
      assertLinear(await allRecords(real, holder.stream));
    }
  });

  it('a holder deposed while it did not renew: its next write fails with CLUSTER_LEASE_LOST (superseded) and it reports lost', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    // The old holder renews rarely and trusts a long TTL; the standby judges with a short one.
    const oldTiming: ClusterLeaseOptions = { ttlMs: 600_000, renewMs: 300_000, checkMs: 200, marginMs: 500 };
    const old = await leaseFor(t, await connectTo(t, nats.urls, 'old'), 'old', oldTiming, 'deposed');
    const heir = await leaseFor(t, await connectTo(t, nats.urls, 'heir'), 'heir', FAST, 'deposed');
    const to = await old.acquire();
    const th = await within(heir.acquire(), 30_000, 'the heir claiming');
    assert.equal(to.held, true, 'the old holder does not know yet');
    await assert.rejects(to.write({ n: 1, by: 'old' }), (err: unknown) => err instanceof LeaseLostError && err.code === 'CLUSTER_LEASE_LOST' && err.reason === 'superseded');
    assert.equal(to.held, false);
    assert.equal(to.signal.aborted, true, 'it reports lost');
    await th.write({ n: 2, by: 'heir' });
    const last = await heir.read();
    assert.deepEqual(last?.record.state, { n: 2, by: 'heir' }, 'the successor\'s state stands');
  });

  it('a record of another format version is refused with CLUSTER_FORMAT_MISMATCH', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    const conn = await connectTo(t, nats.urls, 'x');
    const lease = await leaseFor(t, conn, 'x', FAST, 'format');
    await conn.js.publish(lease.subject, JSON.stringify({ format: 2, holder: 'future', epoch: 1, state: { n: 0, by: 'future' } }));
    const isMismatch = (err: unknown): boolean => err instanceof Error && (err as { code?: string }).code === 'CLUSTER_FORMAT_MISMATCH';
    await assert.rejects(lease.read(), isMismatch);
    await assert.rejects(within(lease.acquire(), 10_000, 'acquire refusing'), isMismatch);
  });

  it('kill -9 of the server leading the lease stream: with the default TTL the lease does not change hands', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    const timing = clusterSectionSchema.parse({ name: 't', nats: { servers: nats.urls } }).lease;
    assert.equal(timing.ttlMs, 15_000, 'the default TTL');
    const probe = await leaseFor(t, await connectTo(t, nats.urls, 'probe'), 'probe', timing, 'election');
    const { leader } = await waitFor(async () => {
      const i = await nats.streamLeader(probe.stream);
      return i === undefined ? undefined : { leader: i };
    }, 'the lease stream leader');
    // The holder talks to a surviving server; the standbys to any.
    const conn = await connectTo(t, nats.urls.filter((_u, i) => i !== leader), 'holder');
    const holder = await leaseFor(t, conn, 'holder', timing, 'election');
    const tenure = await holder.acquire();
    const standbys = await Promise.all(['s1', 's2'].map(async (id) => leaseFor(t, await connectTo(t, [...nats.urls].reverse(), id), id, timing, 'election')));
    const stolen: string[] = [];
    const stop = new AbortController();
    t.after(() => stop.abort());
    for (const s of standbys) {
      s.acquire(stop.signal).then((x) => stolen.push(`epoch ${x.epoch}`), () => undefined);
    }
    const first = await waitFor(async () => {
      const last = await holder.read();
      return last !== undefined && last.seq >= 2 ? last : undefined;
    }, 'a first renewal');
    await nats.kill(leader, 'SIGKILL');
    // Through the election and past it: three renewals confirmed after the kill.
    await waitFor(async () => {
      const last = await holder.read().catch(() => undefined);
      return last !== undefined && last.seq >= first.seq + 3;
    }, 'renewals after the election', 60_000);
    assert.equal(tenure.held, true, 'the holder kept the lease through the election');
    assert.deepEqual(stolen, [], 'no other holder');
    const records = await allRecords(conn, holder.stream);
    assert.ok(records.every((r) => r.record.holder === 'holder' && r.record.epoch === tenure.epoch), 'every record is the one tenure');
    stop.abort();
  });
});
