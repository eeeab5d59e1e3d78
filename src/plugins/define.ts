import type { RegisterCallbacks } from './types.ts';

/**
 * Types a plugin's entry point; returns it unchanged. Export the result as
 * `registerCallbacks` or as the default export.
 *
 * @example
 * import { definePlugin } from 'sgeventd';
 *
 * export default definePlugin((reg) => {
 *   reg.setEmails(['td@studio.com']);
 *   reg.registerCallback({
 *     scriptName: 'shot_notes', scriptKey: process.env.SHOT_NOTES_KEY ?? '',
 *     matchEvents: { Shotgun_Shot_New: null },
 *     callback: async ({ sg, event, logger }) => {
 *       await sg.create('Note', { subject: 'welcome', note_links: [event.entity] });
 *       logger.info({ shot: event.entity?.id }, 'note created');
 *     },
 *   });
 * });
 */
export function definePlugin(registerCallbacks: RegisterCallbacks): RegisterCallbacks {
  return registerCallbacks;
}
