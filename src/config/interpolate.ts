import { TidemarkError } from '../core/errors';

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed YAML document.
 * Returns the document and the set of dotted paths whose value came (at least partly) from
 * the environment, so the schema can insist that secrets are never written in the file.
 */
export function interpolateEnv(
  doc: unknown,
  env: NodeJS.ProcessEnv,
): { value: unknown; fromEnv: Set<string> } {
  const fromEnv = new Set<string>();
  const walk = (node: unknown, path: string): unknown => {
    if (typeof node === 'string') return substitute(node, path);
    if (Array.isArray(node)) return node.map((v, i) => walk(v, `${path}.${i}`));
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, path ? `${path}.${k}` : k);
      return out;
    }
    return node;
  };
  const substitute = (text: string, path: string): string =>
    text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name];
      fromEnv.add(path);
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new TidemarkError('config', `config key "${path}": environment variable ${name} is not set`, {
        fix: `export ${name}=... or give a default with \${${name}:-value}`,
      });
    });
  return { value: walk(doc, ''), fromEnv };
}
