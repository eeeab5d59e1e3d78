// The per-callback api3 clients inside a plugin's worker thread: one client
// per registered callback (authenticated as that callback's script), all
// sharing one keep-alive pool.
import type { Dispatcher } from 'undici';
import type { Secret } from '../../shared/secret.ts';
import { ShotgunClient } from '../../shotgrid/index.ts';
import type { PluginShotgun } from '../../plugins/types.ts';

/** What a callback's `sg` is: the api3 client as the plugin API types it, with per-event views. */
export interface CallbackClient extends PluginShotgun {
  withOptions(options: { sessionUuid?: string | null }): CallbackClient;
}

/** One client per callback; all of a plugin's clients share `dispatcher` (one keep-alive pool). */
export function createCallbackClient(options: { siteUrl: string; scriptName: string; scriptKey: Secret; dispatcher: Dispatcher; timeoutMs?: number | undefined }): CallbackClient {
  // The plugin API types `sg` loosely (any api3 method by name); the class is its implementation.
  return new ShotgunClient({
    baseUrl: options.siteUrl,
    auth: { kind: 'script', scriptName: options.scriptName, scriptKey: options.scriptKey },
    dispatcher: options.dispatcher,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  }) as unknown as CallbackClient;
}
