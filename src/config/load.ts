import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { TidemarkError } from '../core/errors';
import { protectReferences, resolveReferences } from './interpolate';
import {
  configSchema,
  DEFAULT_TABLE_OPTIONS,
  QUALIFIED_NAME,
  type RawConfig,
  type TableOptions,
} from './schema';
import { Secret } from './secret';

/** The validated, frozen configuration every stage receives. Connection URLs are Secrets. */
export interface Config extends Omit<RawConfig, 'source' | 'offsets'> {
  readonly source: Omit<RawConfig['source'], 'url' | 'maskKey'> & {
    readonly url: Secret;
    readonly maskKey?: Secret;
    readonly slot: string;
    readonly publication: string;
  };
  readonly offsets: { kind: 'redis'; url: Secret; caFile?: string } | { kind: 'file'; path: string };
  readonly topicPrefix: string;
  /** Options of one table, defaults filled in. */
  tableOptions(key: string): TableOptions;
  /**
   * Whether tidemark copies this table by itself (in the initial snapshot, when it joins, when a
   * partition is attached, …): source.snapshot initial, and not tables.<key>.snapshot never.
   */
  copiesOnItsOwn(key: string): boolean;
}

/** Keys whose value may carry a password: it must come from the environment, never the file. */
const SECRET_KEYS = [
  'source.url',
  'offsets.url',
  'sinks.warehouse.url',
  'sinks.iceberg.catalog.url',
  'sinks.iceberg.s3.endpoint',
];

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TidemarkError('config', `cannot read config file ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return parseConfig(text, env, path);
}

export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env, origin = 'config'): Config {
  const protectedText = protectReferences(text);
  let doc: unknown;
  try {
    doc = parseYaml(protectedText.text);
  } catch (e) {
    throw new TidemarkError('config', `${origin} is not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  if (!doc || typeof doc !== 'object') throw new TidemarkError('config', `${origin} must be a YAML mapping`);
  const { value, fromEnv } = resolveReferences(doc, protectedText.refs, env);
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) throw configError(parsed.error);
  const raw = parsed.data;
  for (const key of SECRET_KEYS) {
    const v = getPath(raw, key);
    if (typeof v === 'string' && hasPassword(v) && !fromEnv.has(key)) {
      throw new TidemarkError('config', `config key "${key}" holds a plain password`, {
        fix: `write it as \${SOME_ENV_VAR} and export the URL in the environment (or a mounted file)`,
      });
    }
  }
  const written = [
    raw.source.maskKey !== undefined && 'source.maskKey',
    raw.log.kind === 'kafka' && raw.log.sasl && 'log.sasl.password',
    raw.sinks.iceberg?.catalog.kind === 'rest' &&
      raw.sinks.iceberg.catalog.token &&
      'sinks.iceberg.catalog.token',
    raw.sinks.iceberg?.catalog.kind === 'rest' &&
      raw.sinks.iceberg.catalog.credential &&
      'sinks.iceberg.catalog.credential',
  ].filter((k): k is string => !!k && !fromEnv.has(k));
  if (written.length > 0)
    throw new TidemarkError('config', `config key "${written[0]}" is written in the file`, {
      fix: `write it as \${SOME_ENV_VAR} and set the value in the environment (or a mounted secret)`,
    });
  for (const [t, o] of Object.entries(raw.tables)) {
    if (o.mask.length > 0 && raw.source.maskKey === undefined)
      throw new TidemarkError('config', `config key "tables.${t}.mask" needs source.maskKey`, {
        fix: `set source.maskKey: \${TIDEMARK_MASK_KEY} and put a random key of 16+ characters in that variable`,
      });
    if (o.snapshot === 'never' && (o.onIncompatibleSchema === 'rebuild' || o.refreshEveryMs > 0))
      throw new TidemarkError(
        'config',
        `config key "tables.${t}.snapshot": never cannot go with ${o.onIncompatibleSchema === 'rebuild' ? 'onIncompatibleSchema: rebuild (a rebuilt table is filled again by a copy)' : 'refreshEveryMs (a scheduled copy)'}`,
      );
    const both = o.mask.filter((c) => o.exclude.includes(c));
    if (both.length > 0)
      throw new TidemarkError(
        'config',
        `config key "tables.${t}": ${both.join(', ')} both masked and excluded`,
      );
  }
  for (const t of Object.keys(raw.tables)) {
    if (!QUALIFIED_NAME.test(t))
      throw new TidemarkError('config', `config key "tables.${t}": must be "schema.table"`);
  }
  const slot = raw.source.slot ?? `tidemark_${raw.pipeline}`;
  const config: Config = {
    ...raw,
    source: {
      ...raw.source,
      url: new Secret(raw.source.url),
      maskKey: raw.source.maskKey === undefined ? undefined : new Secret(raw.source.maskKey),
      slot,
      publication: raw.source.publication ?? slot,
    },
    offsets:
      raw.offsets.kind === 'redis'
        ? { kind: 'redis', url: new Secret(raw.offsets.url), caFile: raw.offsets.caFile }
        : raw.offsets,
    topicPrefix: (raw.log.kind === 'kafka' ? raw.log.topicPrefix : undefined) ?? raw.pipeline,
    tableOptions(key: string): TableOptions {
      return raw.tables[key] ?? DEFAULT_TABLE_OPTIONS;
    },
    copiesOnItsOwn(key: string): boolean {
      return raw.source.snapshot === 'initial' && raw.tables[key]?.snapshot !== 'never';
    },
  };
  return deepFreeze(config);
}

function configError(err: z.ZodError): TidemarkError {
  const issue = err.issues[0]!;
  const key = issue.path.map(String).join('.') || '(top level)';
  let what = issue.message;
  if (issue.code === 'unrecognized_keys')
    what = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  const more = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more problem(s))` : '';
  return new TidemarkError('config', `config key "${key}": ${what}${more}`);
}

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

function getPath(obj: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
      obj,
    );
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof Secret) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
