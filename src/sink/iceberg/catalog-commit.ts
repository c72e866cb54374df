import { randomUUID } from 'node:crypto';
import { TidemarkError } from '../../core/errors';
import type { Catalog, TableIdent } from './catalog';
import { identText } from './catalog';
import type { FileIO } from './file-io';
import { swapMetadata } from './metadata-swap';
import { COMMIT_ID_PROPERTY } from './snapshot-builder';
import { buildChain } from './snapshot-chain';
import type { StagedChange } from './staged-change';
import { currentSnapshot } from './table-metadata';
import type { TableState } from './table-state';
import { recordCommitted, rewrittenSince } from './table-state';

export interface CommitOptions {
  /** tidemark.* summary properties (offset tokens, cut LSN), written into every table's snapshot. */
  readonly properties: Readonly<Record<string, string>>;
  /** Identifies this commit in the snapshot summaries (tidemark.commit-id); random by default. */
  readonly commitId?: string;
  /**
   * Called, before every attempt, with the current summary of the base each table's snapshot is
   * built on: false when another writer moved the tidemark.* token this round started from (the
   * round is fenced, nothing committed).
   */
  readonly expected?: (table: TableIdent, summary: Readonly<Record<string, string>> | null) => boolean;
}

export interface CommitResult {
  readonly commitId: string;
  /** New snapshot id per table (identText). */
  readonly snapshots: ReadonlyMap<string, number>;
  readonly attempts: number;
}

/** What the commit needs of the Lakehouse: its file IO, catalog and table cache. */
export interface CommitHost {
  readonly io: FileIO;
  readonly catalog: Catalog;
  readonly maxAttempts: number;
  /** The table's cached state; `reload` reads the catalog again. */
  open(ident: TableIdent, reload?: boolean): Promise<TableState>;
  /** Drops a table's cached state (its metadata is read again at the next open). */
  forget(ident: TableIdent): void;
  findCommit(tables: readonly TableIdent[], commitId: string): Promise<boolean>;
}

/**
 * Commits staged changes, all tables in one catalog swap. Several changes of one table (the
 * parts of a round written in parts, in order) become a chain of snapshots in that one swap:
 * a part's position deletes then point at data files of an earlier snapshot, never of their
 * own (PyIceberg 0.10 applies a position delete only to strictly older data files).
 */
export async function commitStaged(
  host: CommitHost,
  staged: readonly StagedChange[],
  opts: CommitOptions,
): Promise<CommitResult> {
  const commitId = opts.commitId ?? randomUUID();
  const props = { ...opts.properties, [COMMIT_ID_PROPERTY]: commitId };
  const maxAttempts = host.maxAttempts;
  const groups = new Map<string, StagedChange[]>();
  for (const s of staged) {
    const key = identText(s.table);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  let rebased = false;
  for (let attempt = 1; ; attempt++) {
    const built = [];
    for (const parts of groups.values()) {
      const st = await host.open(parts[0]!.table);
      // The swap is conditional on the metadata location only, and the writer may hold a newer
      // base than the one its tokens came from (it reloaded after a fenced round, say): the
      // tokens are checked on the very base the snapshot is built on, every attempt.
      const summary = currentSnapshot(st.metadata)?.summary ?? null;
      if (opts.expected && !opts.expected(st.ident, summary)) {
        throw new TidemarkError(
          'fenced',
          `table ${identText(st.ident)}: another writer moved its tidemark token; commit ${commitId} is void`,
        );
      }
      // The table moved since this change was staged (a reload, another writer): rebasing is
      // right only if every data file its position deletes may point at is still live, and the
      // schema its files were written with is in the base (a round's schema change is not, once
      // a conflict reloaded the table).
      for (const s of parts) {
        if (s.schemaId !== undefined && !st.metadata.schemas.some((x) => x['schema-id'] === s.schemaId))
          throw new TidemarkError(
            'commit_failed',
            `table ${identText(st.ident)}: commit ${commitId} was staged on a schema (id ${s.schemaId}) its base does not hold; it must be staged again`,
          );
        if (st.metadataLocation === s.baseLocation) continue;
        rebased = true;
        const staleBy = await rewrittenSince(host.io, s.baseLocation, st.metadata, identText(st.ident));
        if (staleBy) {
          throw new TidemarkError(
            'commit_failed',
            `table ${identText(st.ident)}: ${staleBy} since commit ${commitId} was staged (its position deletes point at them); it must be staged again`,
          );
        }
      }
      built.push({
        parts,
        st,
        b: await buildChain(host.io, host.catalog.writesMetadata === true, st, parts, props, commitId),
      });
    }
    const out = await swapMetadata(
      host.catalog,
      host.io,
      built.map(({ st, b }) => ({
        table: st.ident,
        expected: st.metadataLocation,
        next: b.metadataLocation,
        expectedMetadata: st.pendingBase ?? st.metadata,
        nextMetadata: b.metadata,
      })),
    );
    if (out.kind === 'committed') {
      for (const { parts, st, b } of built) {
        if (recordCommitted(host.catalog, st, out, b.metadata, b.metadataLocation)) host.forget(st.ident);
        for (const s of parts)
          for (const [file, tuple] of s.filePartitions) st.filePartitions.set(file, tuple);
        if (rebased || !st.index) st.index = null;
        else
          for (const s of parts)
            for (const op of s.indexOps)
              op.file === null ? st.index.delete(op.key) : st.index.set(op.key, op.file, op.pos);
      }
      return {
        commitId,
        snapshots: new Map(built.map(({ st, b }) => [identText(st.ident), b.snapshotId])),
        attempts: attempt,
      };
    }
    if (out.kind === 'unknown') {
      // Looking for the commit can fail as the swap did (the catalog still down): the outcome
      // then stays unknown, never a plain failure that would let the caller delete its files.
      let lookup = 'not found';
      try {
        if (
          await host.findCommit(
            built.map(({ st }) => st.ident),
            commitId,
          )
        ) {
          for (const { st } of built) st.index = null;
          return { commitId, snapshots: new Map(), attempts: attempt };
        }
      } catch (e) {
        lookup = `looking for it failed: ${(e as Error).message}`;
      }
      throw new TidemarkError(
        'commit_state_unknown',
        `commit ${commitId} of ${built.map(({ st }) => identText(st.ident)).join(', ')}: outcome unknown (${lookup})`,
        {
          cause: out.cause,
          fix: 'reload and look for the commit id before retrying; never delete its files',
        },
      );
    }
    // Conflict: another writer moved a table. Reload all; the next attempt re-checks the
    // tokens on the fresh bases and rebases.
    for (const { st } of built) await host.open(st.ident, true);
    if (attempt >= maxAttempts)
      throw new TidemarkError(
        'commit_failed',
        `commit ${commitId}: still conflicting after ${attempt} attempts`,
      );
    await new Promise((r) => setTimeout(r, Math.min(2000, 20 * 2 ** attempt) * (0.5 + Math.random())));
  }
}
