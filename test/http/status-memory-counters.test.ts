import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderStatusPage, statusDocument, statusDocumentSchema } from '../../src/http/index.ts';
import { sampleStatus } from './fake-status.ts';

describe('status document: memory and counters', () => {
  it('carries a runtime\'s current and peak memory apart, and a plugin\'s totals beside its counts since the last reload', () => {
    const base = sampleStatus();
    const [first, ...others] = base.plugins;
    assert.ok(first);
    const status = sampleStatus({
      plugins: [{ ...first, processed: 812, processedSinceReload: 17, failed: 0, failedSinceReload: 0 }, ...others],
      runtimes: [{ key: 'k', projects: [122], mode: 'centralized', coreVersion: 'v0.20.17', pid: 5001, rssMb: 64.5, peakRssMb: 350.2, calls: 3, ageMs: 1000, pending: 0, state: 'ready' }],
    });
    const doc = statusDocumentSchema.parse(JSON.parse(JSON.stringify(statusDocument(status, Date.now()))));
    assert.equal(doc.runtimes[0]?.rssMb, 64.5);
    assert.equal(doc.runtimes[0]?.peakRssMb, 350.2);
    assert.equal(doc.plugins[0]?.processed, 812);
    assert.equal(doc.plugins[0]?.processedSinceReload, 17);
    // A plugin never reloaded: since-reload equals its totals.
    assert.equal(doc.plugins[1]?.processedSinceReload, doc.plugins[1]?.processed);
    const page = renderStatusPage(doc);
    assert.ok(page.includes('64.5 MB') && page.includes('350.2 MB'));
  });
});
