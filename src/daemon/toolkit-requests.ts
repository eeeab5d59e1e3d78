import { z } from 'zod';
import { PluginError } from '../plugins/index.ts';
import type { RequestHandler } from '../hosts/index.ts';
import { transformOutbound } from '../shotgrid/index.ts';
import type { RuntimePool } from '../toolkit/index.ts';

const project = z.union([z.number().int().positive(), z.object({ type: z.literal('Project'), id: z.number().int().positive() })]);
const requests = {
  'toolkit.call': z.object({
    project,
    target: z.enum(['tk', 'sgtk', 'engine', 'context']),
    path: z.string().min(1),
    args: z.array(z.unknown()),
    kwargs: z.record(z.string(), z.unknown()),
  }),
  'toolkit.run': z.object({ project, fn: z.string().regex(/^[\w.]+:\w+$/, 'module:function'), args: z.unknown(), event: z.unknown() }),
  'toolkit.info': z.object({ project }),
  'toolkit.command': z.object({ project, name: z.string().min(1), args: z.array(z.unknown()) }),
};

/**
 * Answers `ctx.toolkit` requests from plugin threads with the daemon's one
 * runtime pool. The request's signal aborts when the asking thread is gone
 * (callback timeout): the runtime call is then abandoned and that runtime
 * replaced, as the pool does for its own call timeout.
 */
export function toolkitRequestHandler(pool: () => RuntimePool): RequestHandler {
  return async (method, params, { signal, onStarted }) => {
    if (!(method in requests)) throw new PluginError('PLUGIN_REQUEST_FAILED', `unknown request ${method}`, { details: { method } });
    const m = method as keyof typeof requests;
    const parsed = requests[m].safeParse(params);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new PluginError('PLUGIN_REQUEST_FAILED', `${method}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`, { details: { method } });
    }
    const p = parsed.data;
    const tk = pool().forProject(p.project, { signal, onStarted });
    switch (m) {
      case 'toolkit.call': {
        const c = p as z.infer<(typeof requests)['toolkit.call']>;
        return tk.call(c.target, c.path, c.args, c.kwargs);
      }
      case 'toolkit.run': {
        const r = p as z.infer<(typeof requests)['toolkit.run']>;
        return tk.run(r.fn, r.args, transformOutbound(r.event));
      }
      case 'toolkit.info':
        return tk.info();
      case 'toolkit.command': {
        const c = p as z.infer<(typeof requests)['toolkit.command']>;
        return tk.command(c.name, c.args);
      }
    }
  };
}
