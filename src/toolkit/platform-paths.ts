import path from 'node:path';

export type ToolkitPlatform = 'linux' | 'darwin' | 'win32';

/** The path flavour of a platform, so Windows tables resolve correctly on Linux. */
export function pathFor(platform: ToolkitPlatform): path.PlatformPath {
  return platform === 'win32' ? path.win32 : path.posix;
}

/** tk-core's name for the OS in core_<OS>.cfg and install_location.yml. */
export function tkOsName(platform: ToolkitPlatform): 'Linux' | 'Darwin' | 'Windows' {
  return platform === 'win32' ? 'Windows' : platform === 'darwin' ? 'Darwin' : 'Linux';
}

/** The PipelineConfiguration field holding this platform's path. */
export function pcPathField(platform: ToolkitPlatform): 'linux_path' | 'mac_path' | 'windows_path' {
  return platform === 'win32' ? 'windows_path' : platform === 'darwin' ? 'mac_path' : 'linux_path';
}

function lookup(env: Readonly<Record<string, string | undefined>>, name: string, platform: ToolkitPlatform): string | undefined {
  if (platform !== 'win32') return env[name];
  // Windows variables are case-insensitive.
  const upper = name.toUpperCase();
  for (const [k, v] of Object.entries(env)) if (k.toUpperCase() === upper) return v;
  return undefined;
}

/**
 * Python's os.path.expandvars for the platform: `$VAR` and `${VAR}` everywhere,
 * `%VAR%` on Windows (ntpath); unknown variables are left as they are.
 */
export function expandVars(text: string, env: Readonly<Record<string, string | undefined>>, platform: ToolkitPlatform): string {
  const re = platform === 'win32' ? /\$\{([^}]+)\}|\$([A-Za-z0-9_]+)|%([^%]+)%/g : /\$\{([^}]+)\}|\$([A-Za-z0-9_]+)/g;
  return text.replace(re, (whole, braced?: string, bare?: string, pct?: string) => {
    const name = braced ?? bare ?? pct ?? '';
    return lookup(env, name, platform) ?? whole;
  });
}

/** Python's os.path.expanduser for `~` and `~/...` (`~user` is left as is). */
export function expandUser(text: string, homedir: string, platform: ToolkitPlatform): string {
  if (text === '~') return homedir;
  if (text.startsWith('~/') || (platform === 'win32' && text.startsWith('~\\'))) return homedir + text.slice(1);
  return text;
}
