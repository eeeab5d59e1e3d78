import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { EventLogEntry } from '../../src/shared/index.ts';
import { WebhookWatch, type WebhookSilence } from '../../src/source/index.ts';

const HOUR = 3_600_000;
const SILENT_AFTER = 30_000;

function shotChange(id: number): EventLogEntry {
  return {
    id, event_type: 'Shotgun_Shot_Change', attribute_name: 'description', created_at: new Date(0), entity: { type: 'Shot', id: 1 },
    meta: { type: 'attribute_change' }, project: { type: 'Project', id: 1 }, user: { type: 'HumanUser', id: 1 }, session_uuid: null,
  } as unknown as EventLogEntry;
}

describe('silent-webhook mail', () => {
  it('mails the first silence, not another within the hour, and the next one after the hour (an injected clock: no waiting)', () => {
    let now = 1_000_000;
    const told: Array<{ at: number; silence: WebhookSilence; mail: boolean }> = [];
    const watch = new WebhookWatch({
      expect: [{ entityType: 'Shot', operations: ['update'] }], silentAfterMs: SILENT_AFTER, mailIntervalMs: HOUR,
      logger: pino({ enabled: false }), now: () => now, onSilent: (silence, mail) => told.push({ at: now, silence, mail }),
    });
    const start = now;
    // One silence: polling finds an expected event, no delivery covers it, and it grows old.
    const silence = (id: number): void => {
      watch.polled([shotChange(id)]);
      now += SILENT_AFTER + 1;
      watch.check();
    };
    const recover = (id: number): void => watch.delivered(id);

    silence(10);
    recover(10);
    now = start + HOUR - SILENT_AFTER - 2; // the second silence is noticed just before the hour is up
    silence(11);
    recover(11);
    now = start + HOUR; // the third just after
    silence(12);
    assert.deepEqual(told.map((t) => [t.silence.eventId, t.mail]), [[10, true], [11, false], [12, true]]);
    assert.ok(told[1]!.at - told[0]!.at < HOUR && told[2]!.at - told[0]!.at >= HOUR);
    assert.equal(watch.silences, 3, 'every silence is counted, mailed or not');
    // Still silent: no further call until a delivery ends it.
    now += HOUR;
    watch.check();
    assert.equal(told.length, 3);
  });
});
