import { TidemarkError } from '../core/errors';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const TOKEN = /__TIDEMARK_ENV_(\d+)__/g;

/**
 * `${NAME}` and `${NAME:-default}` references. They are replaced by plain placeholder tokens
 * before YAML parsing (so `{ brokers: ${KAFKA} }` is valid YAML and a value holding `#`, `:` or
 * `,` cannot change the document's structure), then resolved inside the parsed strings.
 */
export function protectReferences(text: string): {
  text: string;
  refs: Array<{ name: string; fallback?: string }>;
} {
  const refs: Array<{ name: string; fallback?: string }> = [];
  const out = text.replace(REFERENCE, (_m, name: string, fallback?: string) => {
    refs.push({ name, fallback });
    return `__TIDEMARK_ENV_${refs.length - 1}__`;
  });
  return { text: out, refs };
}

/**
 * Resolves the placeholders in every string of the parsed document. Returns the document and
 * the dotted paths whose value came from the environment, so the loader can insist that
 * secrets are never written in the file itself.
 */
export function resolveReferences(
  doc: unknown,
  refs: ReadonlyArray<{ name: string; fallback?: string }>,
  env: NodeJS.ProcessEnv,
): { value: unknown; fromEnv: Set<string> } {
  const fromEnv = new Set<string>();
  const substitute = (text: string, path: string): string =>
    text.replace(TOKEN, (_m, i: string) => {
      const { name, fallback } = refs[Number(i)]!;
      fromEnv.add(path);
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new TidemarkError('config', `config key "${path}": environment variable ${name} is not set`, {
        fix: `export ${name}=... or give a default with \${${name}:-value}`,
      });
    });
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
  return { value: walk(doc, ''), fromEnv };
}
