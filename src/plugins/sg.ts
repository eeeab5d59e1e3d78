// Creating the per-callback api3 clients inside a plugin's worker thread.
// The client class is looked up at run time so this folder does not depend
// on the client's module while both are being written; once it settles, this
// can become a plain static import.
import type { Secret } from '../shared/secret.ts';
import { PluginError } from './errors.ts';
import type { PluginShotgun } from './types.ts';

/** The part of ShotgunClient the worker relies on. */
export interface CallbackClient extends PluginShotgun {
  withOptions(options: { sessionUuid?: string | null }): CallbackClient;
}

/** The ShotgunClient constructor shape (src/shotgrid/). */
export type ShotgunClientClass = new (options: {
  baseUrl: string;
  auth: { kind: 'script'; scriptName: string; scriptKey: Secret };
  dispatcher?: unknown;
}) => CallbackClient;

// Sources run as .ts under type stripping and as .js from dist/.
const SHOTGRID_MODULE = new URL(`../shotgrid/index${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

/** Loads the ShotgunClient class, or explains why it is not available. */
export async function loadShotgunClientClass(): Promise<ShotgunClientClass | PluginError> {
  try {
    const mod = await import(SHOTGRID_MODULE) as { ShotgunClient?: unknown };
    if (typeof mod.ShotgunClient !== 'function') {
      return new PluginError('PLUGIN_SG_UNAVAILABLE', 'the api3 client module has no ShotgunClient export');
    }
    return mod.ShotgunClient as ShotgunClientClass;
  } catch (err) {
    return new PluginError('PLUGIN_SG_UNAVAILABLE', 'the api3 client could not be loaded', { cause: err });
  }
}

/** One client per callback; all of a plugin's clients share `dispatcher` (one keep-alive pool). */
export function createCallbackClient(
  Client: ShotgunClientClass,
  options: { siteUrl: string; scriptName: string; scriptKey: Secret; dispatcher: unknown },
): CallbackClient {
  return new Client({
    baseUrl: options.siteUrl,
    auth: { kind: 'script', scriptName: options.scriptName, scriptKey: options.scriptKey },
    dispatcher: options.dispatcher,
  });
}
