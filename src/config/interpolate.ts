import type { ConfigIssue } from './errors.ts';

export interface InterpolationResult {
  value: unknown;
  issues: ConfigIssue[];
  /** Variable names used, per dotted key path. */
  usedVars: Map<string, string[]>;
}

// ${NAME} or ${NAME:-default}; `$${` writes a literal `${`.
const PATTERN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string value of a parsed
 * YAML tree. A variable that is unset (and has no default) is an issue naming
 * the key and the variable; `${VAR:-x}` also uses `x` when VAR is empty, as
 * the shell does.
 */
export function interpolateEnv(raw: unknown, env: Readonly<Record<string, string | undefined>>): InterpolationResult {
  const issues: ConfigIssue[] = [];
  const usedVars = new Map<string, string[]>();

  const walk = (node: unknown, path: string[]): unknown => {
    if (typeof node === 'string') return replace(node, path);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, String(i)]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, [...path, k]);
      return out;
    }
    return node;
  };

  const replace = (text: string, path: string[]): string => {
    const key = path.join('.');
    return text.replace(PATTERN, (match: string, name: string | undefined, fallback: string | undefined) => {
      if (name === undefined) return '${';
      const list = usedVars.get(key) ?? [];
      list.push(name);
      usedVars.set(key, list);
      const value = env[name];
      if (fallback !== undefined) return value === undefined || value === '' ? fallback : value;
      if (value === undefined) {
        issues.push({ key, message: `${key} uses \${${name}}, but the environment variable ${name} is not set`, variable: name });
        return match;
      }
      return value;
    });
  };

  return { value: walk(raw, []), issues, usedVars };
}
