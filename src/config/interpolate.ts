import { readFileSync } from 'node:fs';
import { TidemarkError } from '../core/errors';

const REFERENCE = /\$\{(?:file:([^}]+)|([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?)\}/g;
const TOKEN = /__TIDEMARK_ENV_(\d+)__/g;

type Reference = { name: string; fallback?: string; file?: string };

/**
 * `${NAME}`, `${NAME:-default}` and `${file:/path}` references (a secret mounted as a file, as
 * Kubernetes and Docker do; `NAME_FILE` naming a file stands in for an unset `NAME` too). They
 * are replaced by plain placeholder tokens
 * before YAML parsing (so `{ brokers: ${KAFKA} }` is valid YAML and a value holding `#`, `:` or
 * `,` cannot change the document's structure), then resolved inside the parsed strings.
 */
export function protectReferences(text: string): { text: string; refs: Reference[] } {
  const refs: Reference[] = [];
  const out = text.replace(REFERENCE, (_m, file: string | undefined, name: string, fallback?: string) => {
    refs.push(file !== undefined ? { name: `file:${file}`, file } : { name, fallback });
    return `__TIDEMARK_ENV_${refs.length - 1}__`;
  });
  return { text: out, refs };
}

/** A mounted secret: the file's content without its trailing newline. */
function readSecretFile(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new TidemarkError('config', `config key "${key}": cannot read ${path}: ${(e as Error).message}`, {
      fix: 'check the path of the mounted secret and that tidemark may read it',
    });
  }
}

/**
 * Resolves the placeholders in every string of the parsed document. Returns the document and
 * the dotted paths whose value came from the environment, so the loader can insist that
 * secrets are never written in the file itself.
 */
export function resolveReferences(
  doc: unknown,
  refs: readonly Reference[],
  env: NodeJS.ProcessEnv,
): { value: unknown; fromEnv: Set<string> } {
  const fromEnv = new Set<string>();
  const substitute = (text: string, path: string): string =>
    text.replace(TOKEN, (_m, i: string) => {
      const { name, fallback, file } = refs[Number(i)]!;
      fromEnv.add(path);
      if (file !== undefined) return readSecretFile(file, path);
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      const named = env[`${name}_FILE`];
      if (named) return readSecretFile(named, path);
      if (fallback !== undefined) return fallback;
      throw new TidemarkError('config', `config key "${path}": environment variable ${name} is not set`, {
        fix: `export ${name}=... (or ${name}_FILE=/path/of/a/mounted/secret), or give a default with \${${name}:-value}`,
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
