// Logs every event: the smallest useful plugin, typed as a plugin author writes one.
import type { CallbackContext, Registrar } from 'sgeventd';

export function registerCallbacks(reg: Registrar): void {
  reg.registerCallback({
    scriptName: process.env['SGEVENTD_DEMO_SCRIPT'] ?? 'sgeventd',
    scriptKey: process.env['SGEVENTD_DEMO_KEY'] ?? '',
    callback: logEvent,
    // No matchEvents: every event.
  });
}

function logEvent({ event, logger }: CallbackContext): void {
  const what = event.attribute_name ? `${event.event_type}.${event.attribute_name}` : event.event_type;
  const entity = event.entity ? `${event.entity.type} ${event.entity.name ?? event.entity.id}` : '-';
  logger.info(`#${event.id} ${what} on ${entity} by ${event.user?.name ?? '?'} in ${event.project?.name ?? 'no project'}`);
}
