import { pino } from 'pino';
import path from 'node:path';
import { PythonPluginHost } from '/work/wt-py/src/hosts/index.ts';
import { daemonDefaults } from '/work/wt-py/src/config/index.ts';
const FIX = '/work/wt-py/test/fixtures/hosts';
const host = new PythonPluginHost({ file: path.join(FIX, 'py_concurrent.py'), name: 'dbg', siteUrl: 'http://127.0.0.1:1', useSessionUuid: false,
  python: 'python3', callbackTimeoutMs: 8000, restartBudget: daemonDefaults().restartBudget, logger: pino({ level: 'debug' }),
  env: { ...process.env, PY_CONC_LOG: '/tmp/pydbg.log', PY_CONC_DIR: '/tmp' } });
const t0 = Date.now();
console.log(await host.load(), Date.now() - t0);
await host.close();
