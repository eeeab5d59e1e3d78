import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { LineSplitter, LineWriter, forwardLines, readMessages, type PyrpcError } from '../../src/pyrpc/index.ts';
import { rejectsWith, waitFor } from '../toolkit/helpers.ts';

describe('LineSplitter', () => {
  it('joins lines across chunks and never holds more than maxBytes of one line', () => {
    const lines: string[] = [];
    const overflows: number[] = [];
    const s = new LineSplitter(10, (l) => lines.push(l.toString()), (n) => overflows.push(n));
    s.push(Buffer.from('ab'));
    s.push(Buffer.from('c\nde'));
    s.push(Buffer.from('f\n0123456789'));
    s.push(Buffer.from('X'));
    assert.equal(s.takePartial().toString(), '0123456789');
    s.push(Buffer.from('YZ\nlast'));
    s.flush();
    assert.deepEqual(lines, ['abc', 'def', 'last']);
    assert.deepEqual(overflows, [11]);
  });
});

describe('readMessages', () => {
  it('hands over JSON messages and reports a line that is not JSON or too long as TK_PROTOCOL', async () => {
    const stream = new PassThrough();
    const got: unknown[] = [];
    const faults: PyrpcError[] = [];
    readMessages(stream, { maxBytes: 20, details: { who: 'me' }, onMessage: (m) => got.push(m), onFault: (e) => faults.push(e) });
    stream.write('{"id":1,"result":2}\nnot json\n');
    stream.write(`{"id":2,"result":"${'x'.repeat(40)}"}\n`);
    await waitFor(() => faults.length === 2, 2000, 'two faults');
    assert.deepEqual(got, [{ id: 1, result: 2 }]);
    assert.deepEqual(faults.map((f) => f.code), ['TK_PROTOCOL', 'TK_PROTOCOL']);
    assert.equal(faults[0]?.details.sample, 'not json');
    assert.equal(faults[1]?.details.limit, 20);
    assert.equal(faults[1]?.details.who, 'me');
  });

  it('forwards log lines, cutting long ones and keeping a last line without a newline', async () => {
    const stream = new PassThrough();
    const out: [string, boolean][] = [];
    forwardLines(stream, 5, (text, cut) => out.push([text, cut]));
    stream.end('one\nlonger line\ntail');
    await waitFor(() => out.length === 3, 2000, 'three lines');
    assert.deepEqual(out, [['one', false], ['longe', true], ['tail', false]]);
  });
});

describe('LineWriter', () => {
  it('writes in order, waiting for drain when the pipe is full', async () => {
    const written: string[] = [];
    let release: (() => void) | undefined;
    const slow = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _enc, cb) {
        written.push(chunk.toString());
        release = cb;
      },
    });
    const w = new LineWriter(slow, {});
    const writes = [w.write({ n: 1, pad: 'x'.repeat(20) }), w.write({ n: 2 }), w.write({ n: 3 })];
    await waitFor(() => release !== undefined, 2000, 'the first write');
    assert.equal(written.length, 1, 'the second line waits for the first to drain');
    for (let i = 0; i < 3; i += 1) {
      await waitFor(() => written.length === i + 1 && release !== undefined, 2000, `write ${String(i + 1)}`);
      const r = release;
      release = undefined;
      r?.();
    }
    await Promise.all(writes);
    assert.deepEqual(written.map((l) => (JSON.parse(l) as { n: number }).n), [1, 2, 3]);
    assert.ok(written.every((l) => l.endsWith('\n')));
  });

  it('fails with TK_WRITE_FAILED for a value JSON cannot carry, after end, and on a broken pipe', async () => {
    const sink = new PassThrough();
    const w = new LineWriter(sink, { who: 'me' });
    const bad = await rejectsWith(w.write({ big: 1n }), 'TK_WRITE_FAILED');
    assert.equal(bad.details.who, 'me');
    await w.write({ ok: true });
    w.end();
    await rejectsWith(w.write({ late: true }), 'TK_WRITE_FAILED');
    const broken = new Writable({ write(_c, _e, cb) { cb(new Error('EPIPE')); } });
    const w2 = new LineWriter(broken, {});
    await rejectsWith(w2.write({ a: 1 }), 'TK_WRITE_FAILED');
    await rejectsWith(w2.write({ a: 2 }), 'TK_WRITE_FAILED');
  });
});
