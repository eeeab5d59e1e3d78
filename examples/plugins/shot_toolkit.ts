// On every new Shot, asks the shot's own project runtime for Toolkit work:
// which core it runs on, and the shot's work file path from the project's
// `shot_work` template. Each project answers from its own core.
import type { CallbackContext, Registrar } from 'sgeventd';

export function registerCallbacks(reg: Registrar): void {
  reg.registerCallback({
    scriptName: process.env['SGEVENTD_DEMO_SCRIPT'] ?? 'sgeventd',
    scriptKey: process.env['SGEVENTD_DEMO_KEY'] ?? '',
    callback: onShotCreated,
    matchEvents: { Shotgun_Shot_New: null },
    stopOnError: false,
  });
}

async function onShotCreated({ event, toolkit, logger }: CallbackContext): Promise<void> {
  if (!event.project || !event.entity) return;
  const tk = toolkit.forProject(event);
  const info = await tk.info();
  const path = await tk.call('tk', 'templates.shot_work.apply_fields', [{ Shot: event.entity.name ?? `shot${event.entity.id}`, version: 1 }]);
  logger.info(
    { project: event.project.name, core: info['coreVersion'], pid: info['pid'] },
    `${event.project.name ?? event.project.id}: shot ${event.entity.name ?? event.entity.id} → core ${String(info['coreVersion'])} (pid ${String(info['pid'])}) → ${String(path)}`,
  );
}
