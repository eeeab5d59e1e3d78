import type { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig, pluginOptionsFor } from '../config/index.ts';
import { scanPluginFolder } from '../plugins/index.ts';
import { createHost } from '../hosts/index.ts';
import { SgeventdError, describeError } from '../shared/index.ts';
import { siteClient } from './site-client.ts';
import { runToolkitResolve } from './toolkit.ts';

export interface CheckLine {
  ok: boolean;
  what: string;
  detail: string;
}

/** Validates the config, the site connection and every plugin's import, without starting the loop. */
export async function runCheck(configPath: string, opts: { toolkit: boolean } = { toolkit: true }): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  const config = await loadConfig(configPath);
  lines.push({ ok: true, what: 'config', detail: `${config.source} (${config.format})` });
  for (const w of config.warnings) lines.push({ ok: true, what: 'config warning', detail: w });
  const sg = siteClient(config);
  try {
    const info = await sg.info();
    await sg.find('EventLogEntry', [], ['id'], { limit: 1, order: [{ field_name: 'id', direction: 'desc' }] });
    lines.push({ ok: true, what: 'site', detail: `${config.site.url} answers (version ${JSON.stringify(info['version'])}); script ${config.site.script.name} authenticated` });
  } catch (err) {
    lines.push({ ok: false, what: 'site', detail: `${config.site.url}: ${describeError(err)}` });
  } finally {
    await sg.close();
  }
  if (opts.toolkit) lines.push(...(await checkToolkit(configPath)));
  const logger = pino({ level: 'silent' });
  for (const folder of config.plugins) {
    let scan;
    try {
      scan = await scanPluginFolder(folder.path);
    } catch (err) {
      lines.push({ ok: false, what: `plugins ${folder.path}`, detail: describeError(err) });
      continue;
    }
    for (const entry of scan.plugins) {
      const what = `plugin ${entry.name}`;
      if (entry.kind === 'refused') lines.push({ ok: false, what, detail: entry.error.message });
      else {
        const host = createHost(entry, folder.path, config, { ...pluginOptionsFor(folder, entry.name), logger });
        try {
          const r = await host.load();
          lines.push(
            r.ok
              ? { ok: true, what, detail: `${entry.kind === 'python' ? 'Python, ' : ''}${r.callbacks.length} callback(s): ${r.callbacks.map((c) => c.name).join(', ')}` }
              : { ok: false, what, detail: `${r.error.code}: ${r.error.message}` },
          );
        } finally {
          await host.close();
        }
      }
    }
  }
  return lines;
}

/** Toolkit resolution for every active (not archived) project on the site. */
async function checkToolkit(configPath: string): Promise<CheckLine[]> {
  const config = await loadConfig(configPath);
  const sg = siteClient(config);
  let projects: Array<Record<string, unknown>>;
  try {
    projects = await sg.find('Project', [['archived', 'is_not', true]], ['id', 'name', 'tank_name']);
  } catch (err) {
    return [{ ok: false, what: 'toolkit', detail: `listing projects failed: ${describeError(err)}` }];
  } finally {
    await sg.close();
  }
  const lines: CheckLine[] = [];
  for (const p of projects) {
    const what = `toolkit ${String(p['name'] ?? p['id'])}`;
    try {
      const r = await runToolkitResolve(configPath, String(p['id']));
      const where = r.mode === 'centralized' ? `${r.configPath} on core ${r.coreRoot}` : `distributed (${r.mode})`;
      lines.push({ ok: true, what, detail: `${where}${r.warnings.length > 0 ? `; ${r.warnings.join('; ')}` : ''}` });
    } catch (err) {
      // A project without any Toolkit configuration is common (not every project uses Toolkit): reported, not failed.
      const code = (err as { code?: unknown }).code;
      lines.push({ ok: code === 'TK_NO_CONFIG', what, detail: code === 'TK_NO_CONFIG' ? `no Toolkit configuration (${describeError(err)})` : describeError(err) });
    }
  }
  return lines;
}

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('validate config, site access and plugin imports without starting the loop')
    .requiredOption('-c, --config <file>', 'sgeventd.yaml or shotgunEventDaemon.conf')
    .option('--no-toolkit', 'skip Toolkit resolution of every active project')
    .action(async (opts: { config: string; toolkit: boolean }) => {
      const lines = await runCheck(opts.config, { toolkit: opts.toolkit });
      for (const l of lines) process.stdout.write(`${l.ok ? 'ok  ' : 'FAIL'} ${l.what}: ${l.detail}\n`);
      // Thrown, not process.exitCode: main() returns the exit code and would overwrite it.
      const failed = lines.filter((l) => !l.ok).length;
      if (failed > 0) throw new SgeventdError('CHECK_FAILED', `${failed} check(s) failed`, { details: { failed } });
    });
}
