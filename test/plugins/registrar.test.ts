import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { PluginRegistrar } from '../../src/plugins/registrar.ts';
import { Secret, type PluginCallback, type PluginLogger, type Registrar } from '../../src/index.ts';

const noop = (): void => {};
const logger: PluginLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, child: () => logger };

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('PluginRegistrar', () => {
  it('takes the positional form with shotgunEvents defaults', () => {
    const reg = new PluginRegistrar(logger);
    function onEvent(): void {}
    reg.registerCallback('script', 'key-1234', onEvent);
    const [cb] = reg.callbacks;
    assert.ok(cb !== undefined);
    assert.deepEqual(
      { name: cb.name, scriptName: cb.scriptName, matchEvents: cb.matchEvents, args: cb.args, stopOnError: cb.stopOnError, index: cb.index },
      { name: 'onEvent', scriptName: 'script', matchEvents: null, args: null, stopOnError: true, index: 0 },
    );
    assert.equal(cb.scriptKey.reveal(), 'key-1234');
    assert.ok(!inspect(cb).includes('key-1234'));
  });

  it('takes the object form, a Secret key, and every optional field', () => {
    const reg = new PluginRegistrar(logger);
    reg.registerCallback({ scriptName: 's', scriptKey: new Secret('abcd-efgh'), callback: noop, matchEvents: { '*': ['code'] }, args: [1], stopOnError: false, name: 'custom' });
    const [cb] = reg.callbacks;
    assert.equal(cb?.name, 'custom');
    assert.equal(cb?.stopOnError, false);
    assert.deepEqual(cb?.args, [1]);
    assert.deepEqual(cb?.matchEvents, { '*': ['code'] });
    assert.equal(cb?.scriptKey.reveal(), 'abcd-efgh');
  });

  it('keeps callback names unique and names anonymous callbacks by position', () => {
    const reg = new PluginRegistrar(logger);
    function same(): void {}
    reg.registerCallback('s', 'k', same);
    reg.registerCallback('s', 'k', same);
    reg.registerCallback({ scriptName: 's', scriptKey: 'k', callback: [noop][0] as PluginCallback, name: 'same' });
    reg.registerCallback('s', 'k', (() => () => {})());
    assert.deepEqual(reg.callbacks.map((c) => c.name), ['same', 'same_2', 'same_3', 'callback3']);
  });

  it('rejects bad registrations with PLUGIN_BAD_REGISTRATION', () => {
    const impl = new PluginRegistrar(logger);
    const reg: Registrar = impl; // what a plugin sees
    const cases: (() => void)[] = [
      () => reg.registerCallback('', 'k', noop),
      () => reg.registerCallback('s', 42 as unknown as string, noop),
      () => reg.registerCallback('s', 'k', 'nope' as unknown as PluginCallback),
      () => reg.registerCallback('s', 'k', noop, ['Shotgun_Shot_New'] as unknown as null),
      () => reg.registerCallback('s', 'k', noop, { Shotgun_Shot_New: 5 } as unknown as null),
      () => reg.registerCallback('s', 'k', noop, null, null, 'yes' as unknown as boolean),
      () => reg.registerCallback({ scriptName: 's', scriptKey: 'k', callback: noop, name: '' }),
    ];
    for (const c of cases) assert.equal(codeOf(c), 'PLUGIN_BAD_REGISTRATION');
    assert.equal(impl.callbacks.length, 0);
  });

  it('setEmails: true (default), false, a list, or addresses as arguments', () => {
    const reg = new PluginRegistrar(logger);
    assert.equal(reg.emails, true);
    reg.setEmails(false);
    assert.equal(reg.emails, false);
    reg.setEmails(['a@studio.com', 'b@studio.com']);
    assert.deepEqual(reg.emails, ['a@studio.com', 'b@studio.com']);
    reg.setEmails('c@studio.com', 'd@studio.com');
    assert.deepEqual(reg.emails, ['c@studio.com', 'd@studio.com']);
    reg.setEmails(true);
    assert.equal(reg.emails, true);
    assert.equal(codeOf(() => reg.setEmails(['not-an-address'])), 'PLUGIN_BAD_REGISTRATION');
  });
});
