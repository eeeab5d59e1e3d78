// The reverse switch's merge of partition cursors into one (pure: no NATS).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshCursor, type WorkerCursorState } from '../../src/cluster/cursor.ts';
import { mergeCursors, type PartitionPosition } from '../../src/cluster/partition-merge.ts';

function at(state: WorkerCursorState): PartitionPosition {
  return { highSeq: state.highSeq, highId: state.highId, pending: state.pending, state };
}

describe('mergeCursors', () => {
  it('keeps a migrated id only while no partition has handed it out; the highest watermark and every pending event stay', () => {
    const migrated = { afterId: 100, ids: [50, 55, 58] };
    const origin: WorkerCursorState = { ...freshCursor(10, 60), migrated, spread: { generation: 1, merged: false } };
    // Partition 0 handed out 50 (gone from its copy), partition 1 handed out 58; nobody handed out 55.
    const p0: WorkerCursorState = { ...freshCursor(30, 90), pending: [{ seq: 25, id: 85 }], migrated: { afterId: 100, ids: [55, 58] }, generation: 1 };
    const p1: WorkerCursorState = { ...freshCursor(20, 80), migrated: { afterId: 100, ids: [50, 55] }, generation: 1 };
    const merged = mergeCursors(origin, new Map([[0, at(p0)], [1, at(p1)]]), new Map([[1, [{ seq: 28, id: 88 }]]]));
    assert.deepEqual(merged.migrated, { afterId: 100, ids: [55] });
    assert.equal(merged.highSeq, 30);
    assert.equal(merged.highId, 90);
    assert.deepEqual(merged.pending, [{ seq: 25, id: 85 }, { seq: 28, id: 88 }]);
    assert.deepEqual(merged.spread, { generation: 1, merged: true });
  });

  it('a plugin never migrated merges without a migrated part', () => {
    const origin: WorkerCursorState = { ...freshCursor(10, 60), spread: { generation: 2, merged: false } };
    const merged = mergeCursors(origin, new Map([[3, at({ ...freshCursor(12, 61), generation: 2 })]]), new Map());
    assert.equal('migrated' in merged, false);
    assert.equal(merged.highSeq, 12);
  });
});
