// pino-roll (log rotation) does `require('date-fns')`, which loads all of
// date-fns (about 300 files, half of pino-roll's start-up cost) for the five
// functions it calls. Its require of date-fns is answered with a module made
// of those five files only; nothing else in the process is affected.
import { registerHooks } from 'node:module';
import type roll from 'pino-roll';

/** The date-fns functions pino-roll's lib/utils.js takes (pino-roll 4). */
const USED = ['format', 'addDays', 'addHours', 'parse', 'isValid'];
const SUBSET = 'sgeventd-pino-roll-subset.cjs';

let loaded: Promise<typeof roll> | undefined;

/** pino-roll's `roll`, imported on first use (only a daemon that writes log files needs it). */
export function loadRoll(): Promise<typeof roll> {
  loaded ??= (async () => {
    registerHooks({
      resolve(specifier, context, next) {
        if (specifier !== 'date-fns' || context.parentURL?.includes('/node_modules/pino-roll/') !== true) return next(specifier, context);
        // Beside date-fns' own files, so the subset's relative requires resolve there.
        return { url: new URL(`./${SUBSET}`, next(specifier, context).url).href, format: 'commonjs', shortCircuit: true };
      },
      load(url, context, next) {
        if (!url.endsWith(`/${SUBSET}`)) return next(url, context);
        return { format: 'commonjs', shortCircuit: true, source: `module.exports = { ${USED.map((n) => `${n}: require('./${n}.cjs').${n}`).join(', ')} };` };
      },
    });
    return (await import('pino-roll')).default;
  })();
  return loaded;
}
