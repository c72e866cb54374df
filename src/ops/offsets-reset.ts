import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import { formatLsn, type Lsn } from '../core/lsn';
import { compareTokens, formatToken, type OffsetToken, parseToken } from '../core/offset-token';
import { parseTableKey } from '../core/table-schema';
import { createKafka } from '../log/kafka-client';
import { tableTopic } from '../log/topics';
import type { Logger } from '../observe/logger';
import type { OffsetStore } from '../offsets/offset-store';
import { Lakehouse } from '../sink/iceberg/lakehouse';
import { openCatalog } from '../sink/iceberg/open-catalog';
import { openFileIO } from '../sink/iceberg/open-file-io';
import { retagTables } from '../sink/iceberg/retag';
import { openWarehouse } from '../sink/warehouse/open';
import { sourceClientConfig } from '../source/pg-connection';
import { readPipelineStatus } from './pipeline-status';
import { requestRefresh } from './refresh-request';

export type ResetTarget =
  | { readonly kind: 'latest-cut' }
  | { readonly kind: 'lsn'; readonly lsn: Lsn }
  | { readonly kind: 'resnapshot' };

export interface ChannelReset {
  readonly channel: string;
  /** The channel's token in the offset store and in each sink now. */
  readonly tokens: Record<string, string | null>;
  /** The token every store gets; null: left as it is. */
  readonly next: string | null;
  /** back: the changes after it are read again; forward: the changes up to it are skipped. */
  readonly move: 'back' | 'forward' | 'none' | 'repair';
  /** Per sink, a token that sink gets instead of `next` (an append table's channel keeps each sink's position). */
  readonly nextBySink?: Readonly<Record<string, string>>;
}

export interface ResetPlan {
  readonly pipeline: string;
  readonly target: string;
  readonly tables: readonly string[];
  readonly channels: readonly ChannelReset[];
  /** What `--apply` does, in order. */
  readonly actions: readonly string[];
  /** Tables the running source copies again while it streams (a re-snapshot of some tables). */
  readonly copy: readonly string[];
  /** Why it must not run: `forceable` ones give way to --force, the others never. */
  readonly refusals: readonly { readonly why: string; readonly forceable: boolean }[];
  readonly warnings: readonly string[];
}

/** A position past every change of the transactions committed at an LSN (snapshot rows included). */
const AFTER_ALL = Number.MAX_SAFE_INTEGER;
const RESETS_KEY = 'resets';
const OPERATOR_LEASE_MS = 60_000;

/**
 * `tidemark offsets reset`: moves where a stopped pipeline resumes. To an LSN (back: the sinks
 * read the changes after it again from Kafka and apply them once more, which leaves mirror
 * tables as the source has them; forward: the changes up to it are skipped, which loses them),
 * to the latest cut (the offset store and the consumer group are set from the sinks' own
 * tokens), or to a new snapshot (the slot is dropped: the next start copies every table again).
 * An append table's channels do not go back (see keepAppendChannel).
 * Plans first; `applyReset` carries a plan out and records it in the offset store.
 */
export async function planReset(
  config: Config,
  store: OffsetStore,
  target: ResetTarget,
  table: string | null,
  logger: Logger,
): Promise<ResetPlan> {
  const status = await readPipelineStatus(config, store, logger);
  const refusals: { why: string; forceable: boolean }[] = [];
  const warnings: string[] = [];
  const actions: string[] = [];
  let tables = status.tables;
  if (table !== null) {
    tables = tables.filter((t) => t === table || t.endsWith(`.${table}`));
    if (tables.length === 0)
      throw new TidemarkError(
        'config',
        `--table ${table}: not a table of publication ${config.source.publication}`,
        {
          fix: `choose one of ${status.tables.join(', ')}`,
        },
      );
  }
  // One table again is copied by the running source while it streams (`tidemark snapshot`).
  const oneTable = target.kind === 'resnapshot' && table !== null;
  if (oneTable) {
    actions.push(
      `ask the source to copy ${tables.join(', ')} again while it streams (as \`tidemark snapshot --table\`)`,
    );
    warnings.push(
      'rows deleted in the source but still in a sink stay there (a copy only upserts): run `tidemark verify` after it',
    );
    return {
      pipeline: config.pipeline,
      target: 'resnapshot',
      tables,
      channels: [],
      actions,
      copy: tables,
      refusals,
      warnings,
    };
  }
  for (const s of status.sinks)
    if (s.error) refusals.push({ why: `sink ${s.sink} cannot be read: ${s.error}`, forceable: false });
  if (await roleHeld(store, 'committer'))
    refusals.push({
      why: 'a sink process holds the committer lease: stop the sink role first',
      forceable: false,
    });

  const sinkNames = status.sinks.map((s) => s.sink);
  const kafka = config.log.kind === 'kafka';
  const lows = kafka ? await lowOffsets(config, tables, logger) : new Map<string, number>();
  const tableOf = (ch: string) =>
    tables.find((t) =>
      kafka ? ch.startsWith(`${tableTopic(config.topicPrefix, parseTableKey(t))}/`) : ch === t,
    );
  const channels: ChannelReset[] = [];
  const appendKept = new Set<string>();
  for (const c of status.channels) {
    const table = tableOf(c.channel);
    if (table === undefined) continue;
    const inSinks = sinkNames.map((s) => c.tokens[s] ?? null);
    // Where the sinks resume: the lowest of their tokens (a sink without one starts over).
    const resume = inSinks.includes(null)
      ? null
      : inSinks.map((t) => parseToken(t!)).reduce((a, b) => (compareTokens(a, b) <= 0 ? a : b));
    const low = lows.get(c.channel) ?? 0;
    const append = config.tableOptions(table).mode === 'append';
    if (append && kafka && resume && target.kind === 'lsn' && target.lsn < resume.position.lsn) {
      channels.push(keepAppendChannel(c.channel, c.tokens, sinkNames, resume, low, refusals));
      appendKept.add(table);
      continue;
    }
    channels.push(planChannel(c.channel, c.tokens, resume, target, low, kafka, refusals));
  }
  for (const t of appendKept)
    warnings.push(
      `${t} is an append table: its channels keep their positions (read again, the changes after ${target.kind === 'lsn' ? formatLsn(target.lsn) : 'it'} would be appended to its history a second time)`,
    );

  if (target.kind === 'resnapshot') {
    if (config.source.snapshot === 'never')
      refusals.push({ why: 'source.snapshot is "never": a new slot would copy nothing', forceable: false });
    if (await roleHeld(store, 'source'))
      refusals.push({
        why: 'a source process holds the source lease: stop the source role first',
        forceable: false,
      });
    if (status.slot.active)
      refusals.push({
        why: `replication slot ${status.slot.name} is in use: stop the source first`,
        forceable: false,
      });
    if (status.slot.exists)
      actions.push(
        `drop replication slot ${status.slot.name} (the next start creates it and copies every table)`,
      );
    else
      warnings.push(
        `replication slot ${status.slot.name} does not exist: the next start copies every table anyway`,
      );
    warnings.push(
      'rows deleted in the source since the sinks last saw them stay in the sinks (a snapshot only upserts): run `tidemark verify` after it',
    );
  } else {
    const moved = channels.filter((c) => c.next !== null && c.move !== 'none');
    if (moved.length === 0) warnings.push('no channel moves: nothing to do');
    else {
      for (const s of sinkNames) actions.push(`set the tokens of ${moved.length} channel(s) in sink ${s}`);
      actions.push(`set them in the offset store (${config.offsets.kind})`);
      if (kafka) actions.push(`set the sink consumer group's offsets to the tokens' log offsets`);
    }
  }
  return {
    pipeline: config.pipeline,
    target: target.kind === 'lsn' ? `lsn ${formatLsn(target.lsn)}` : target.kind,
    tables,
    channels,
    actions,
    copy: [],
    refusals,
    warnings,
  };
}

function planChannel(
  channel: string,
  tokens: Record<string, string | null>,
  resume: OffsetToken | null,
  target: ResetTarget,
  low: number,
  kafka: boolean,
  refusals: { why: string; forceable: boolean }[],
): ChannelReset {
  if (target.kind === 'resnapshot') return { channel, tokens, next: null, move: 'none' };
  if (target.kind === 'latest-cut')
    return { channel, tokens, next: resume ? formatToken(resume) : null, move: resume ? 'repair' : 'none' };
  const at = resume?.position.lsn ?? -1n;
  if (at === target.lsn) return { channel, tokens, next: null, move: 'none' };
  if (target.lsn < at) {
    if (!kafka)
      refusals.push({
        why: `${channel}: the embedded log is the slot itself, which cannot go back to ${formatLsn(target.lsn)}: make a new snapshot (--resnapshot)`,
        forceable: false,
      });
    else if (low > 0)
      refusals.push({
        why: `${channel}: Kafka has deleted its first ${low} message(s) (retention): changes after ${formatLsn(target.lsn)} may be gone`,
        forceable: true,
      });
    const next = { position: { lsn: target.lsn, seq: AFTER_ALL }, nextOffset: kafka ? low : -1 };
    return { channel, tokens, next: formatToken(next), move: 'back' };
  }
  refusals.push({
    why: `${channel}: moving forward to ${formatLsn(target.lsn)} skips every change up to it (${resume ? `now at ${formatToken(resume)}` : 'nothing committed yet'}): they would never reach the sinks`,
    forceable: true,
  });
  const next = {
    position: { lsn: target.lsn, seq: AFTER_ALL },
    nextOffset: resume?.nextOffset ?? (kafka ? low : -1),
  };
  return { channel, tokens, next: formatToken(next), move: 'forward' };
}

/**
 * An append table's channel when the others go back in time: its history already holds every
 * change up to each sink's token, and a change read again would be appended again, so each sink
 * keeps its position. Only where Kafka's retention deleted offsets the sinks had not read yet
 * does the channel move on, to the first offset left: those changes are lost to the history
 * either way (forceable refusal), and the sink would otherwise stop at the hole.
 */
export function keepAppendChannel(
  channel: string,
  tokens: Record<string, string | null>,
  sinkNames: readonly string[],
  resume: OffsetToken,
  low: number,
  refusals: { why: string; forceable: boolean }[],
): ChannelReset {
  if (low <= resume.nextOffset) return { channel, tokens, next: null, move: 'none' };
  refusals.push({
    why: `${channel}: Kafka has deleted offsets ${resume.nextOffset} to ${low - 1} (retention) before the sinks read them: those changes are lost to this append table's history, which goes on at offset ${low}`,
    forceable: true,
  });
  const past = (t: OffsetToken) =>
    formatToken({ position: t.position, nextOffset: Math.max(t.nextOffset, low) });
  return {
    channel,
    tokens,
    next: past(resume),
    move: 'forward',
    nextBySink: Object.fromEntries(sinkNames.map((s) => [s, past(parseToken(tokens[s]!))])),
  };
}

/** The refusals that stand: all of them, or without --force the forceable ones too. */
export function blocking(plan: ResetPlan, force: boolean): string[] {
  return plan.refusals.filter((r) => !force || !r.forceable).map((r) => r.why);
}

export interface ResetRecord {
  readonly at: string;
  readonly target: string;
  readonly tables: readonly string[];
  readonly forced: boolean;
  readonly channels: readonly { channel: string; from: Record<string, string | null>; to: string }[];
  readonly actions: readonly string[];
}

/** Carries out a plan that nothing blocks; holds the roles' leases meanwhile so that no process starts. */
export async function applyReset(
  config: Config,
  store: OffsetStore,
  plan: ResetPlan,
  force: boolean,
  logger: Logger,
): Promise<ResetRecord> {
  const blocked = blocking(plan, force);
  if (blocked.length > 0)
    throw new TidemarkError('config', `offsets reset refused: ${blocked[0]}`, {
      fix: plan.refusals.some((r) => r.forceable && r.why === blocked[0])
        ? 'if that is what you want, run it again with --force'
        : 'fix that first; nothing was changed',
    });
  if (
    plan.target === 'resnapshot' &&
    plan.channels.length === 0 &&
    plan.actions[0]?.startsWith('ask the source')
  ) {
    for (const t of plan.tables) await requestRefresh(config, t, 'tidemark offsets reset --resnapshot');
    return record(store, plan, force, [], logger);
  }
  const owner = `tidemark-offsets-reset:${randomUUID().slice(0, 8)}`;
  const leases = [];
  for (const name of plan.target === 'resnapshot' ? ['committer', 'source'] : ['committer']) {
    const l = await store.acquireLease(name, owner, OPERATOR_LEASE_MS);
    if (!l) {
      for (const h of leases) await store.releaseLease(h);
      throw new TidemarkError('config', `offsets reset refused: a ${name} process started meanwhile`);
    }
    leases.push(l);
  }
  try {
    const moved = plan.channels.filter((c) => c.next !== null && c.move !== 'none');
    if (plan.target === 'resnapshot') await dropSlot(config);
    else if (moved.length > 0) await setTokens(config, store, moved, logger);
    return await record(store, plan, force, moved, logger);
  } finally {
    for (const l of leases) await store.releaseLease(l).catch(() => {});
  }
}

async function record(
  store: OffsetStore,
  plan: ResetPlan,
  force: boolean,
  moved: readonly ChannelReset[],
  logger: Logger,
): Promise<ResetRecord> {
  const r: ResetRecord = {
    at: new Date().toISOString(),
    target: plan.target,
    tables: plan.tables,
    forced: force && plan.refusals.length > 0,
    channels: moved.map((c) => ({ channel: c.channel, from: c.tokens, to: c.next! })),
    actions: plan.actions,
  };
  const past = JSON.parse((await store.get(RESETS_KEY)) ?? '[]') as ResetRecord[];
  await store.set(RESETS_KEY, JSON.stringify([...past.slice(-49), r]));
  logger.warn({ reset: r }, 'offsets reset applied');
  return r;
}

/** The last resets applied to this pipeline, oldest first. */
export async function readResets(store: OffsetStore): Promise<ResetRecord[]> {
  return JSON.parse((await store.get(RESETS_KEY)) ?? '[]') as ResetRecord[];
}

async function setTokens(
  config: Config,
  store: OffsetStore,
  moved: readonly ChannelReset[],
  logger: Logger,
): Promise<void> {
  const next = new Map(moved.map((c) => [c.channel, c.next!]));
  const nextIn = (sink: string) => new Map(moved.map((c) => [c.channel, c.nextBySink?.[sink] ?? c.next!]));
  const { iceberg, warehouse } = config.sinks;
  if (warehouse) {
    const w = await openWarehouse(warehouse);
    try {
      await w.resetTokens(nextIn('warehouse'));
    } finally {
      await w.close();
    }
  }
  if (iceberg) {
    const catalog = await openCatalog(iceberg.catalog);
    try {
      const { io, warehouse: root } = await openFileIO(iceberg);
      const all = (await catalog.listTables()).map((t) => ({ schema: t.namespace, table: t.name }));
      const props = Object.fromEntries(
        [...nextIn('iceberg')].map(([ch, tok]) => [`tidemark.token.${ch}`, tok]),
      );
      // Every table's snapshot carries every channel's token: all of them move together.
      await retagTables(new Lakehouse({ catalog, io, warehouse: root }), catalog, io, all, props);
    } finally {
      await catalog.close();
    }
  }
  const stored = await store.readTokens();
  for (const [ch, tok] of next) stored.set(ch, tok);
  await store.resetTokens(stored);
  if (config.log.kind === 'kafka') {
    const admin = createKafka(config.log, logger, 'offsets-reset').admin();
    await admin.connect();
    try {
      const byTopic = new Map<string, { partition: number; offset: string }[]>();
      for (const [ch, tok] of next) {
        const slash = ch.lastIndexOf('/');
        const topic = ch.slice(0, slash);
        const list = byTopic.get(topic) ?? [];
        list.push({ partition: Number(ch.slice(slash + 1)), offset: String(parseToken(tok).nextOffset) });
        byTopic.set(topic, list);
      }
      for (const [topic, partitions] of byTopic)
        await admin.setOffsets({ groupId: `tidemark-${config.pipeline}-sink`, topic, partitions });
    } catch (e) {
      // The sink seeks by its tokens anyway; the group's offsets only feed `status`.
      logger.warn({ err: (e as Error).message }, 'could not set the consumer group offsets');
    } finally {
      await admin.disconnect();
    }
  }
}

async function dropSlot(config: Config): Promise<void> {
  const c = new Client(sourceClientConfig(config.source.url.reveal(), 'tidemark-offsets-reset'));
  await c.connect();
  try {
    const r = await c.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [config.source.slot],
    );
    const left = await c.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [
      config.source.slot,
    ]);
    if (r.rowCount === 0 && left.rowCount !== 0)
      throw new TidemarkError(
        'config',
        `replication slot ${config.source.slot} became active meanwhile: nothing dropped`,
      );
  } finally {
    await c.end();
  }
}

async function roleHeld(store: OffsetStore, name: 'committer' | 'source'): Promise<boolean> {
  const l = await store.acquireLease(name, `tidemark-offsets-reset-check:${randomUUID().slice(0, 8)}`, 1_000);
  if (!l) return true;
  await store.releaseLease(l);
  return false;
}

async function lowOffsets(
  config: Config,
  tables: readonly string[],
  logger: Logger,
): Promise<Map<string, number>> {
  if (config.log.kind !== 'kafka') return new Map();
  const admin = createKafka(config.log, logger, 'offsets-reset').admin();
  await admin.connect();
  try {
    const out = new Map<string, number>();
    const existing = new Set(await admin.listTopics());
    for (const t of tables) {
      const topic = tableTopic(config.topicPrefix, parseTableKey(t));
      if (!existing.has(topic)) continue;
      for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}/${p.partition}`, Number(p.low));
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}
