import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import {
  clusterNames, ClusterPoller, connectCluster, EPOCH_HEADER, LeaseLostError, partitionOf, wakePoller,
  type ClusterConnection, type ClusterNames, type ClusterPollerOptions,
} from '../../src/cluster/index.ts';
import { clusterSectionSchema, type ClusterLeaseOptions } from '../../src/config/index.ts';
import type { EventLogEntry } from '../../src/shared/index.ts';
import { Api3EventSource, type EventSource } from '../../src/source/index.ts';
import { onCleanup, waitFor, withSite, type Cleanup } from '../support/index.ts';
import { MemorySource } from '../support/memory-source.ts';
import { natsSkip, startNats, type TestNats } from '../support/nats.ts';

const FAST: ClusterLeaseOptions = { ttlMs: 1500, renewMs: 200, checkMs: 200, marginMs: 500 };
const quiet = pino({ level: process.env['SGEVENTD_TEST_LOG'] ?? 'silent' });

interface Bed {
  urls: string[];
  nats: TestNats;
  names: ClusterNames;
  poller(t: Cleanup, nodeId: string, source: EventSource, extra?: { lease?: ClusterLeaseOptions; fetchIntervalMs?: number; startAfter?: number }): Promise<{
    poller: ClusterPoller; conn: ClusterConnection; stop: AbortController; running: Promise<void>;
  }>;
}

async function bed(t: Cleanup, siteUrl = 'http://127.0.0.1:8090'): Promise<Bed> {
  const nats = await startNats(t, { servers: 3 });
  const names = clusterNames('t', siteUrl);
  return {
    urls: nats.urls,
    nats,
    names,
    async poller(tc, nodeId, source, extra = {}) {
      const conn = await connectCluster({ nats: { servers: nodeId.endsWith('b') ? [...nats.urls].reverse() : nats.urls }, nodeId });
      onCleanup(tc, () => conn.close());
      const cluster = { ...clusterSectionSchema.parse({ name: 't', nats: { servers: nats.urls } }), nodeId, lease: extra.lease ?? FAST };
      const opts: ClusterPollerOptions = {
        conn, names, cluster, source, logger: quiet.child({ node: nodeId }),
        daemon: { maxEventBatchSize: 200, fetchIntervalMs: extra.fetchIntervalMs ?? 50, backlogTimeoutMs: 300_000 },
        ...(extra.startAfter === undefined ? {} : { startAfter: extra.startAfter }),
      };
      const poller = await ClusterPoller.open(opts);
      const stop = new AbortController();
      const running = poller.run(stop.signal);
      onCleanup(tc, async () => {
        stop.abort();
        await running.catch(() => undefined);
        poller.abandon();
      });
      return { poller, conn, stop, running };
    },
  };
}

interface StreamMsg { seq: number; subject: string; id: number | undefined; epoch: number; event?: EventLogEntry }

/** Every message of the event stream, in stream order. */
async function readStream(conn: ClusterConnection, names: ClusterNames): Promise<StreamMsg[]> {
  const info = await conn.jsm.streams.info(names.eventStream);
  const out: StreamMsg[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.last_seq > 0; seq++) {
    const m = await conn.jsm.streams.getMessage(names.eventStream, { seq });
    if (m === null) continue;
    const isEvent = m.subject !== names.pollerMarkSubject;
    const event = isEvent ? m.json<EventLogEntry>() : undefined;
    out.push({ seq, subject: m.subject, id: event?.id, epoch: Number(m.header.get(EPOCH_HEADER)), ...(event === undefined ? {} : { event }) });
  }
  return out;
}

const eventIds = (msgs: readonly StreamMsg[]): number[] => msgs.flatMap((m) => (m.id === undefined ? [] : [m.id]));

/** In stream order, nothing of an older poller tenure after a newer one's first message. */
function assertEpochsInOrder(msgs: readonly StreamMsg[]): void {
  let highest = 0;
  for (const m of msgs) {
    assert.ok(m.epoch >= highest, `message seq ${m.seq} of epoch ${m.epoch} after epoch ${highest}: a deposed poller published after its successor`);
    highest = m.epoch;
  }
}

describe('cluster poller: one node publishes the event log to the stream', natsSkip(), () => {
  it('2,000 site events published once each in stream order; the holder dies mid-stream and another poller takes over', async (t) => {
    const site = await withSite(t);
    const b = await bed(t, site.url);
    const startAfter = await site.newestEventId();
    const source = new Api3EventSource(site.sg, quiet);
    const a = await b.poller(t, 'node-a', source, { startAfter });
    await waitFor(() => a.poller.lease.tenure, 'node-a holding the poller lease');
    const other = await b.poller(t, 'node-b', source, { startAfter });

    // Events keep arriving while the pollers run.
    const project = await site.firstProject();
    const writing = (async () => {
      for (let i = 0; (await site.newestEventId()) - startAfter < 2000; i++) {
        await site.sg.batch(Array.from({ length: 100 }, (_x, j) => ({
          request_type: 'create' as const, entity_type: 'Shot', data: { code: `sh${i}_${j}`, project },
        })));
      }
    })();
    await waitFor(() => a.poller.stats.published >= 500, 'node-a publishing', 180_000);
    // As a crash: no release, publishing stops, the lease runs out.
    a.stop.abort();
    a.poller.abandon();
    await writing;
    const newest = await site.newestEventId();
    await waitFor(() => other.poller.lastId >= newest, `node-b publishing up to ${newest}`, 120_000);

    const msgs = await readStream(other.conn, b.names);
    const ids = eventIds(msgs);
    const expected = (await site.sg.find('EventLogEntry', [['id', 'greater_than', startAfter]], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] }))
      .map((e) => e['id']);
    assert.ok(expected.length >= 2000);
    assert.equal(new Set(ids).size, ids.length, 'no id twice');
    assert.deepEqual(ids, expected, 'every id, in increasing order');
    assertEpochsInOrder(msgs);
    assert.equal(new Set(msgs.map((m) => m.epoch)).size, 2, 'both tenures published');
    for (const m of msgs) {
      if (m.event !== undefined) assert.equal(m.subject, b.names.eventSubject(partitionOf(m.event.project?.id, 32)));
    }
  });

  it('kill -9 of the server leading the event stream mid-stream: every id once, in order, and the lease stays', async (t) => {
    const b = await bed(t);
    const source = new MemorySource();
    const lease = clusterSectionSchema.parse({ name: 't', nats: { servers: b.urls } }).lease;
    const p = await b.poller(t, 'node-a', source, { startAfter: 0, lease });
    const tenure = await waitFor(() => p.poller.lease.tenure, 'node-a holding the poller lease');
    const leader = await waitFor(async () => {
      const i = await b.nats.streamLeader(b.names.eventStream);
      return i === undefined ? undefined : { i };
    }, 'the event stream leader');
    const feeding = setInterval(() => { if (source.lastId < 3000) source.append(50); }, 20);
    t.after(() => clearInterval(feeding));
    await waitFor(() => p.poller.lastId >= 500, 'publishing under way');
    await b.nats.kill(leader.i, 'SIGKILL');
    await waitFor(() => p.poller.lastId >= 3000, 'every event published after the election', 90_000);
    clearInterval(feeding);
    assert.equal(tenure.held, true, 'the poller kept its lease through the election');
    const msgs = await readStream(p.conn, b.names);
    assert.deepEqual(eventIds(msgs), Array.from({ length: 3000 }, (_x, i) => i + 1), 'every id once, in order');
  });

  it('a late-committing id is published when it appears, after higher ones; the gap is in the fenced state meanwhile', async (t) => {
    const b = await bed(t);
    const source = new MemorySource();
    source.append(5);
    const late = source.appendHeld();
    source.append(5);
    const p = await b.poller(t, 'node-a', source, { startAfter: 0 });
    await waitFor(() => p.poller.lastId >= 11, 'ids up to 11 published');
    const held = await p.poller.lease.read();
    assert.deepEqual(held?.record.state.gaps.map((g) => g.id), [late], 'the missing id is a gap in the stored state');
    assert.equal(source.release(late), 1);
    await waitFor(async () => eventIds(await readStream(p.conn, b.names)).includes(late), 'the late id published');
    assert.deepEqual(eventIds(await readStream(p.conn, b.names)), [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 6]);
    await waitFor(async () => (await p.poller.lease.read())?.record.state.gaps.length === 0, 'the gap closed in the stored state');
  });

  it('failed reads of the log are retried while the lease is held: nothing skipped, nothing twice', async (t) => {
    const b = await bed(t);
    const source = new MemorySource();
    source.append(10);
    const p = await b.poller(t, 'node-a', source, { startAfter: 0 });
    await waitFor(() => p.poller.lastId >= 10, 'the first events');
    source.failNext(3, 'readAfter');
    source.append(10);
    await waitFor(() => p.poller.lastId >= 20, 'the events after the failures');
    assert.equal(source.pendingFailures, 0);
    assert.ok(p.poller.lease.tenure !== undefined, 'still the holder');
    assert.deepEqual(eventIds(await readStream(p.conn, b.names)), Array.from({ length: 20 }, (_x, i) => i + 1));
  });

  it('a wake message on the wake subject makes the holder read at once', async (t) => {
    const b = await bed(t);
    const source = new MemorySource();
    source.append(3);
    // A minute between reads: only the wake can bring the next events within the wait.
    const p = await b.poller(t, 'node-a', source, { startAfter: 0, fetchIntervalMs: 60_000 });
    await waitFor(() => p.poller.lastId >= 3, 'the first events');
    const [, , last] = source.append(3);
    wakePoller(p.conn, b.names, last as number);
    await waitFor(() => p.poller.lastId >= (last as number), 'the events after the wake', 20_000);
  });

  it('a deposed poller stops publishing: after its successor took over, nothing of it lands but the very message the successor was sending', async (t) => {
    const b = await bed(t);
    const source = new MemorySource();
    source.append(20);
    // node-a trusts a long TTL and renews only by its writes; node-b judges with a short TTL, so it claims while node-a idles.
    const a = await b.poller(t, 'node-a', source, { startAfter: 0, lease: { ttlMs: 600_000, renewMs: 300_000, checkMs: 200, marginMs: 500 } });
    await waitFor(() => a.poller.lastId >= 20, 'node-a publishing');
    const aTenure = a.poller.lease.tenure;
    assert.ok(aTenure !== undefined);
    const other = await b.poller(t, 'node-b', source, { startAfter: 0 });
    await waitFor(() => other.poller.lease.tenure, 'node-b claiming', 30_000);
    await waitFor(async () => (await readStream(other.conn, b.names)).some((m) => m.epoch === aTenure.epoch + 1), 'node-b\'s takeover mark');
    assert.equal(aTenure.held, true, 'node-a does not know yet');

    source.append(50);
    wakePoller(other.conn, b.names, source.lastId);
    await waitFor(() => other.poller.lastId >= 70, 'node-b publishing the new events');
    await waitFor(() => aTenure.signal.aborted, 'node-a reporting the lease lost');
    assert.ok(aTenure.signal.reason instanceof LeaseLostError);
    assert.equal(aTenure.signal.reason.reason, 'superseded');

    const msgs = await readStream(other.conn, b.names);
    assert.deepEqual(eventIds(msgs), Array.from({ length: 70 }, (_x, i) => i + 1), 'every id once, in order');
    // Publishes are chained by message id, and an event's message id is the same whoever sends it
    // (so a republish is a duplicate). A publish node-a had in flight when it was deposed can still
    // land if node-b has just published the very message it names as last: it is then the next
    // event after one of node-b's, the same row node-b reads, and node-b's own send of it is answered
    // as a duplicate (docs/ARCHITECTURE.md, "The poller"). Nothing else of node-a's lands after the mark.
    const mark = msgs.find((m) => m.id === undefined && m.epoch === aTenure.epoch + 1);
    assert.ok(mark !== undefined, 'node-b\'s takeover mark');
    for (const m of msgs.filter((x) => x.seq > mark.seq && x.epoch !== aTenure.epoch + 1)) {
      assert.equal(m.epoch, aTenure.epoch, `message seq ${m.seq}: only the two tenures published`);
      assert.ok(m.id !== undefined && m.id > 20, `message seq ${m.seq}: node-a's late publish is a new event, not a mark or a repeat`);
      const [row] = await source.readAfter(m.id - 1, 1);
      assert.deepEqual(m.event, JSON.parse(JSON.stringify(row)), `message seq ${m.seq}: the same row node-b was publishing`);
      assert.equal(m.subject, b.names.eventSubject(partitionOf(row?.project?.id, 32)));
    }
  });
});
