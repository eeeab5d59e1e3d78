// A typed plugin: when a Shot's status becomes `args.to`, note it on the Shot.
import type { Registrar, CallbackContext } from 'sgeventd';

export function registerCallbacks(reg: Registrar): void {
  reg.setEmails(['td@studio.com']);
  reg.registerCallback({
    scriptName: 'shot_status',
    scriptKey: process.env.SHOT_STATUS_KEY ?? '',
    callback: onStatus,
    matchEvents: { Shotgun_Shot_Change: ['sg_status_list'] },
    args: { to: 'ip' },
    stopOnError: true,
  });
}

async function onStatus({ sg, logger, event, args, key }: CallbackContext<{ to: string }>): Promise<void> {
  if (event.meta?.['new_value'] !== args.to || !event.entity) return;
  // `key` (site:eventId:plugin:callback) makes side effects idempotent across re-deliveries.
  await sg.update('Shot', event.entity.id, { description: `went to ${args.to} (${key})` });
  logger.info({ shot: event.entity.id }, 'shot in progress');
}
