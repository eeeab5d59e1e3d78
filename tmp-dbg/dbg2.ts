import { pino } from 'pino';
import path from 'node:path';
import { PythonPluginHost } from '../src/hosts/index.ts';
import { daemonDefaults } from '../src/config/index.ts';
import { startSite } from '../src/site/index.ts';
import { makeEvent } from '../test/hosts/js/helpers.ts';
console.log('start'); const site = await startSite({ seed: 'demo' }); console.log('site', site.url);
const FIX = path.resolve('test/fixtures/hosts');
const host = new PythonPluginHost({ file: path.join(FIX, 'py_concurrent.py'), name: 'dbg', siteUrl: site.url, useSessionUuid: false,
  python: 'python3', callbackTimeoutMs: 8000, restartBudget: daemonDefaults().restartBudget, logger: pino({ level: 'debug' }, pino.destination({ sync: true })),
  env: { ...process.env, PYTHONPATH: path.join(FIX, 'api3'), PY_CONC_LOG: '/tmp/pydbg.log', PY_CONC_DIR: '/tmp/pydbgmeet' } });
let t0 = Date.now();
console.log(await host.load(), Date.now() - t0);
t0 = Date.now();
const rs = await Promise.all([1,2,3].map((i) => host.process(makeEvent(i, 'fine', null, { project: { type: 'Project', id: i } }), { attempt: 1, replay: false, key: `p${i}` })));
console.log(rs.map((r) => r.outcome), Date.now() - t0, host.workerPids);
await host.close();
await site.close();
