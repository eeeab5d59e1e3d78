// Client options are checked once, at construction, and name what is wrong.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Secret } from '../../src/shared/secret.ts';
import { ShotgunClient, ShotgunClientError, apiUrl, type ShotgunClientOptions } from '../../src/shotgrid/index.ts';

const script = { kind: 'script', scriptName: 'sgeventd', scriptKey: new Secret('key-123456') } as const;

function refusal(options: ShotgunClientOptions): ShotgunClientError {
  try {
    new ShotgunClient(options);
  } catch (err) {
    assert.ok(err instanceof ShotgunClientError);
    return err;
  }
  return assert.fail('expected the options to be refused');
}

describe('client options', () => {
  it('refuses bad numbers, naming the option and the value', () => {
    const cases: [Partial<ShotgunClientOptions>, string, unknown][] = [
      [{ timeoutMs: 0 }, 'timeoutMs', 0],
      [{ maxRetries: -1 }, 'maxRetries', -1],
      [{ retryDelayMs: 1.5 }, 'retryDelayMs', 1.5],
    ];
    for (const [extra, option, value] of cases) {
      const err = refusal({ baseUrl: 'http://127.0.0.1:1', auth: script, ...extra });
      assert.equal(err.code, 'SG_INVALID_ARGUMENT');
      assert.deepEqual(err.details, { option, value });
    }
  });

  it('refuses empty credentials without echoing them', () => {
    const cases: [ShotgunClientOptions['auth'], string][] = [
      [{ kind: 'script', scriptName: '', scriptKey: new Secret('k') }, 'auth.scriptName'],
      [{ kind: 'script', scriptName: 'n', scriptKey: new Secret('') }, 'auth.scriptKey'],
      [{ kind: 'user', login: 'bob', password: new Secret('') }, 'auth.password'],
      [{ kind: 'session', sessionToken: new Secret('') }, 'auth.sessionToken'],
    ];
    for (const [auth, option] of cases) {
      const err = refusal({ baseUrl: 'http://127.0.0.1:1', auth });
      assert.equal(err.code, 'SG_INVALID_ARGUMENT');
      assert.equal(err.details['option'], option);
    }
  });

  it('refuses a URL that is not http(s), without echoing it (it may hold a password)', () => {
    for (const baseUrl of ['ftp://user:hunter2secret@site', 'not a url hunter2secret']) {
      const err = refusal({ baseUrl, auth: script });
      assert.equal(err.code, 'SG_INVALID_ARGUMENT');
      assert.equal(err.details['option'], 'baseUrl');
      assert.ok(!inspect(err).includes('hunter2secret'));
    }
  });

  it('resolves the endpoint as shotgun.py set_server_params does', async () => {
    const cases: [string, string][] = [
      ['https://studio.shotgunstudio.com', 'https://studio.shotgunstudio.com/api3/json'],
      ['http://127.0.0.1:8090/', 'http://127.0.0.1:8090/api3/json'],
      ['http://h/a/b/', 'http://h/a/b/api3/json'],
      ['http://h/prefix', 'http://h/api3/json'],
      ['http://u:p@h:81/x/', 'http://h:81/x/api3/json'],
    ];
    for (const [base, want] of cases) assert.equal(apiUrl(base).href, want, base);
    const sg = new ShotgunClient({ baseUrl: 'http://u:p@h:81/x/', auth: script });
    assert.equal(sg.endpoint, 'http://h:81/x/api3/json');
    assert.equal(sg.withOptions({ sudoAsLogin: 'x' }).endpoint, sg.endpoint);
    assert.equal(sg.withOptions({ sudoAsLogin: 'x' }).sudoAsLogin, 'x');
    await sg.close();
  });
});
