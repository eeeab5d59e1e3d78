// The daemon's loop starts while its status server loads and listens
// (daemon/serve.ts): what used to fail before the loop still fails, and a
// failure to listen leaves nothing running.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveDaemon } from '../../src/daemon/index.ts';
import { SgeventdError } from '../../src/shared/index.ts';
import { daemonBed, onCleanup, waitFor, withSite } from '../support/index.ts';

const coded = (code: string) => (err: unknown): boolean => err instanceof SgeventdError && err.code === code;

describe('serveDaemon: the loop starts while the servers listen', () => {
  it('a host that other machines reach without a token is refused before the state file is locked or opened', async (t) => {
    const h = daemonBed(t, await withSite(t));
    const config = h.config({ http: { port: 0 } });
    assert.equal(config.http.token, undefined);
    // Built by hand: the config's own validation refuses it too (CONFIG_INVALID).
    const exposed = { ...config, http: { ...config.http, host: '0.0.0.0' } };
    await assert.rejects(serveDaemon({ config: exposed, console: false, logFiles: false, recordUrl: true }, { register: () => undefined }), coded('HTTP_TOKEN_REQUIRED'));
    assert.equal(existsSync(config.daemon.state), false, 'the state file was opened');
    assert.equal(existsSync(`${config.daemon.state}.lock`), false, 'the state file was locked');
  });

  it('a status port that is taken fails the start with HTTP_LISTEN_FAILED, stops the daemon and frees its state file', async (t) => {
    const h = daemonBed(t, await withSite(t));
    h.addPlugin('recorder.mjs');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    onCleanup(t, () => new Promise<void>((resolve) => taken.close(() => resolve())));
    const config = h.config({ http: { port: (taken.address() as AddressInfo).port } });
    const steps: Array<() => Promise<void>> = [];
    const register = (step: () => Promise<void>): void => {
      steps.push(step);
    };
    onCleanup(t, async () => {
      for (const step of steps.reverse()) await step();
    });
    await assert.rejects(serveDaemon({ config, console: false, logFiles: false, recordUrl: true }, { register }), coded('HTTP_LISTEN_FAILED'));
    assert.equal(steps.length, 0, 'nothing left running for the caller to stop');
    assert.equal(existsSync(`${config.daemon.pidFile}.url`), false, 'no URL recorded');
    // Its lock was released: a daemon on the same state file starts and delivers.
    const served = await serveDaemon({ config: h.config({ http: { port: 0 } }), console: false, logFiles: false, recordUrl: false }, { register });
    assert.ok(served.statusUrl);
    const e1 = await h.site.newShotEvent('serve-1');
    await waitFor(() => h.records().some((r) => r[0] === 'recorder' && r[1] === String(e1)), 'the plugin to see the shot');
  });
});
