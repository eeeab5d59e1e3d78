import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describeError, SgeventdError } from '../shared/errors.ts';
import { ToolkitError } from './errors.ts';
import type { RuntimePoolOptions } from './options.ts';
import { PreparedSchema } from './protocol.ts';
import type { CentralizedResolution, DistributedResolution } from './resolve.ts';
import type { ProjectRuntime } from './runtime.ts';

export type BootstrapSpawner = (key: string, python: string, label: string, corePython: string, bundleCache: string) => Promise<ProjectRuntime>;

/** TK_NO_BOOTSTRAP_CORE: a distributed project while `toolkit.bootstrapCore` is not set (the daemon's first event, and `sgeventd check`). */
export function noBootstrapCore(res: DistributedResolution): ToolkitError {
  const who = res.project.tankName ? `${res.project.id} (${res.project.tankName})` : String(res.project.id);
  return new ToolkitError('TK_NO_BOOTSTRAP_CORE', `project ${who} uses a distributed configuration, which needs toolkit.bootstrapCore (a tk-core to run prepare_engine with)`, {
    details: { project: res.project.id, key: 'toolkit.bootstrapCore', pluginId: res.pluginId ?? null, steps: res.steps },
  });
}

/**
 * A distributed configuration: ToolkitManager.prepare_engine in a short-lived
 * process on toolkit.bootstrapCore, then runtimes start directly on the
 * prepared configuration's own core (never a core swap in place).
 */
export async function prepareDistributed(res: DistributedResolution, o: RuntimePoolOptions, stateDir: string, spawn: BootstrapSpawner): Promise<CentralizedResolution> {
  const projectId = res.project.id;
  if (o.bootstrapCore === undefined) throw noBootstrapCore(res);
  // A core root (install/core/python) or a tk-core checkout (python/).
  const installed = path.join(o.bootstrapCore, 'install', 'core', 'python');
  const corePython = existsSync(installed) ? installed : path.join(o.bootstrapCore, 'python');
  const bundleCache = o.bundleCache ?? path.join(stateDir, 'toolkit', 'bundle_cache');
  mkdirSync(bundleCache, { recursive: true });
  const rt = await spawn(`bootstrap:${projectId}`, res.python, `bootstrap for project ${projectId}`, corePython, bundleCache);
  let prepared;
  try {
    const raw = await rt.request('prepare', {
      pluginId: res.pluginId ?? null, baseConfiguration: res.baseConfiguration ?? res.descriptor ?? null,
      pipelineConfiguration: res.pipelineConfiguration ?? null, engine: res.engine ?? 'tk-shell', entity: { type: 'Project', id: projectId },
    });
    prepared = PreparedSchema.parse(raw);
  } catch (e) {
    const d = e instanceof SgeventdError ? e.details : {};
    throw new ToolkitError('TK_PREPARE_FAILED', `cannot prepare the distributed configuration of project ${projectId}: ${describeError(e)}`, {
      cause: e, details: { ...d, project: projectId, pluginId: res.pluginId ?? null, cause: e instanceof SgeventdError ? e.code : null },
    });
  } finally {
    await rt.close();
  }
  res.steps.push(`bootstrap: prepare_engine on ${corePython} -> ${prepared.configPath} (${String(prepared.descriptor)})`);
  return {
    mode: 'centralized', project: res.project, source: res.source, python: res.python, steps: res.steps, warnings: res.warnings,
    configPath: prepared.configPath, coreRoot: prepared.configPath, corePython: prepared.corePython, coreSource: 'bootstrap',
    watchFiles: [path.join(prepared.configPath, 'install', 'core', 'info.yml')], watchDirs: [path.join(prepared.configPath, 'config', 'core')],
    bundleCache,
  };
}
