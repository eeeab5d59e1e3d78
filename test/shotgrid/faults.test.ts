// Faults (HTTP 200 with exception: true, shotgun.py _response_errors) and
// transport errors, kept apart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthenticationFault,
  MissingTwoFactorAuthenticationFault,
  ShotgunFault,
  ShotgunTransportError,
  UserCredentialsNotAllowedForOxygenAuthenticationFault,
  UserCredentialsNotAllowedForSSOAuthenticationFault,
} from '../../src/shotgrid/index.ts';
import { SgeventdError } from '../../src/shared/errors.ts';
import { clientFor, startFakeSite, type Reply } from './fake-site.ts';
import { onCleanup } from '../support/index.ts';

/** A site answering every non-info call with `reply`. */
function siteAnswering(reply: Reply) {
  return startFakeSite((req) => (req.body.method_name === 'info' ? undefined : reply));
}

describe('faults', () => {
  const cases = [
    { errorCode: 102, cls: AuthenticationFault, code: 'SG_AUTHENTICATION_FAULT' },
    { errorCode: 106, cls: MissingTwoFactorAuthenticationFault, code: 'SG_MISSING_2FA_FAULT' },
    { errorCode: 108, cls: UserCredentialsNotAllowedForSSOAuthenticationFault, code: 'SG_SSO_CREDENTIALS_NOT_ALLOWED_FAULT' },
    { errorCode: 110, cls: UserCredentialsNotAllowedForOxygenAuthenticationFault, code: 'SG_OXYGEN_CREDENTIALS_NOT_ALLOWED_FAULT' },
    { errorCode: 103, cls: ShotgunFault, code: 'SG_FAULT' },
  ];
  for (const c of cases) {
    it(`error_code ${c.errorCode} is ${c.cls.name} (${c.code})`, async (t) => {
      const site = await siteAnswering({ json: { exception: true, error_code: c.errorCode, message: 'nope' } });
      const sg = clientFor(site);
      onCleanup(t, () => site.close());
      onCleanup(t, () => sg.close());
      const err = await sg.find('Shot', []).then(
        () => assert.fail('expected a fault'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof c.cls);
      assert.ok(err instanceof ShotgunFault);
      assert.ok(err instanceof SgeventdError);
      assert.equal(err.code, c.code);
      assert.equal(err.faultCode, c.errorCode);
      assert.equal(err.method, 'read');
      assert.deepEqual(err.details, { faultCode: c.errorCode, method: 'read' });
      // A fault is an answer, never retried.
      assert.equal(site.calls('read').length, 1);
    });
  }

  it('a fault without error_code is a plain ShotgunFault', async (t) => {
    const site = await siteAnswering({ json: { exception: true, message: 'Go BANG' } });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(sg.delete('Shot', 1), (e) => e instanceof ShotgunFault && e.code === 'SG_FAULT' && e.faultCode === 0);
  });

  it('an auth fault on info itself surfaces as AuthenticationFault', async (t) => {
    const site = await startFakeSite(() => ({ json: { exception: true, error_code: 102, message: 'bad' } }));
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(sg.info(), (e) => e instanceof AuthenticationFault);
  });
});

describe('transport errors', () => {
  it('an HTTP 500 is SG_HTTP_STATUS with the status, method and attempts, not retried', async (t) => {
    const site = await siteAnswering({ raw: 'oops', status: 500, contentType: 'text/plain' });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const err = await sg.find('Shot', []).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ShotgunTransportError);
    assert.ok(!(err instanceof ShotgunFault));
    assert.equal(err.code, 'SG_HTTP_STATUS');
    assert.equal(err.status, 500);
    assert.equal(err.method, 'read');
    assert.equal(err.attempts, 1);
    assert.equal(site.calls('read').length, 1);
  });

  it('a redirect (expired SAML) is SG_HTTP_STATUS 302 with its location', async (t) => {
    const site = await startFakeSite((req) => (req.body.method_name === 'info' ? undefined : { raw: '', status: 302 }));
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(sg.delete('Shot', 1), (e) => e instanceof ShotgunTransportError && e.code === 'SG_HTTP_STATUS' && e.status === 302);
  });

  it('invalid JSON, a non-JSON content type and a wrong shape are SG_BAD_RESPONSE', async () => {
    const replies: Reply[] = [
      { raw: '{"results": ', contentType: 'application/json' },
      { raw: '<html>maintenance</html>', contentType: 'text/html' },
      { json: { results: { entities: 'not a list' } } },
    ];
    for (const reply of replies) {
      const site = await siteAnswering(reply);
      const sg = clientFor(site);
      try {
        await assert.rejects(sg.find('Shot', []), (e) => e instanceof ShotgunTransportError && e.code === 'SG_BAD_RESPONSE');
        assert.equal(site.calls('read').length, 1);
      } finally {
        await sg.close();
        await site.close();
      }
    }
  });

  it('text/javascript and a missing content type are decoded as JSON (shotgun.py _decode_response)', async (t) => {
    let n = 0;
    const site = await startFakeSite((req) =>
      req.body.method_name === 'info'
        ? undefined
        : { raw: '{"results": true}', contentType: n++ === 0 ? 'text/javascript' : '' },
    );
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.equal(await sg.delete('Shot', 1), true);
    assert.equal(await sg.revive('Shot', 1), true);
    assert.equal(site.calls().length, 2);
  });
});
