// tk-core's own connection (the Shotgun client its authenticated user builds,
// behind tk.shotgun, bootstrap and descriptors) goes through `site.proxy` and
// waits at most `site.timeoutMs`, as every other connection to the site does.
// A stand-in core whose user builds its connections as tk-core's ScriptUser
// does (the test's stand-in shotgun_api3), a real local site over HTTP and a
// real proxy on loopback that counts what went through it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { Secret } from '../../src/shared/secret.ts';
import { api3Proxy } from '../../src/shotgrid/index.ts';
import { ProjectRuntime } from '../../src/toolkit/runtime.ts';
import { writeStudio } from '../fixtures/toolkit/fake-cores.ts';
import { onCleanup, tempDir, withProxy, withSite } from '../support/index.ts';
import { launch } from './helpers.ts';

const API3 = fileURLToPath(new URL('../fixtures/hosts/api3', import.meta.url));
const corePy = (root: string): string => path.join(root, 'install', 'core', 'python');

describe('tk-core\'s own connection', () => {
  it('goes through site.proxy and takes site.timeoutMs', async (t) => {
    process.env['SGEVENTD_TEST_API3'] = API3;
    onCleanup(t, () => {
      delete process.env['SGEVENTD_TEST_API3'];
    });
    const site = await withSite(t);
    const proxy = await withProxy(t);
    const dir = tempDir(t, 'sgeventd-tk-proxy-');
    const studio = writeStudio(dir);
    const siteParams = { url: site.url, scriptName: DEFAULT_SCRIPT.name, scriptKey: new Secret(DEFAULT_SCRIPT.key) };

    const direct = await ProjectRuntime.start(launch(dir, studio.alpha, corePy(studio.alpha), {}, { site: siteParams }));
    onCleanup(t, () => direct.close());
    const plain = await direct.request('call', { target: 'tk', path: 'site_read', args: ['Project'] }) as { found: { type: string } | null; timeoutSecs: number | null };
    assert.equal(plain.found?.type, 'Project', 'the core read the site');
    assert.equal(plain.timeoutSecs, null, 'no timeout set: shotgun_api3\'s own default');
    assert.deepEqual(proxy.methods(), [], 'nothing went through the proxy without site.proxy');

    const proxied = await ProjectRuntime.start(launch(dir, studio.alpha, corePy(studio.alpha), {}, { site: { ...siteParams, proxy: api3Proxy(proxy.url), timeoutMs: 4321 } }));
    onCleanup(t, () => proxied.close());
    const through = await proxied.request('call', { target: 'tk', path: 'site_read', args: ['Project'] }) as { found: { type: string } | null; timeoutSecs: number | null };
    assert.equal(through.found?.type, 'Project');
    assert.equal(through.timeoutSecs, 4.321);
    assert.ok(proxy.tunnels >= 1, 'the core\'s connection tunnelled through the proxy');
    assert.deepEqual(proxy.methods(), ['read'], 'its request went through the proxy');
  });
});
