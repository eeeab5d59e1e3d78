import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Secret, redact } from '../../src/shared/index.ts';

describe('Secret', () => {
  it('never shows its value when printed, inspected or JSON-encoded', () => {
    const s = new Secret('super-secret-key-123');
    assert.equal(String(s), '********');
    assert.equal(JSON.stringify({ s }), '{"s":"********"}');
    assert.ok(!inspect({ s }).includes('super-secret'));
    assert.equal(s.reveal(), 'super-secret-key-123');
  });

  it('redacts every occurrence in a text', () => {
    const out = redact('key=abcdef1234 again abcdef1234', [new Secret('abcdef1234')]);
    assert.equal(out, 'key=******** again ********');
  });
});
