import type { Lsn } from '../../core/lsn';

/**
 * Logical replication messages of the pgoutput plugin, protocol version 1.
 * https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
 */
export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage;

export interface BeginMessage {
  readonly tag: 'begin';
  /** The LSN of the commit record: every change of this transaction gets it as its position. */
  readonly finalLsn: Lsn;
  readonly commitTimeMs: number;
  readonly xid: number;
}

export interface CommitMessage {
  readonly tag: 'commit';
  readonly flags: number;
  readonly commitLsn: Lsn;
  /** End of the commit record: the slot may be confirmed up to here once the transaction is durable. */
  readonly endLsn: Lsn;
  readonly commitTimeMs: number;
}

export interface OriginMessage {
  readonly tag: 'origin';
  readonly originLsn: Lsn;
  readonly name: string;
}

export interface RelationColumn {
  /** Part of the replica identity key (flag 1). */
  readonly key: boolean;
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

export interface RelationMessage {
  readonly tag: 'relation';
  readonly relationOid: number;
  readonly schema: string;
  readonly name: string;
  /** pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex). */
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i';
  readonly columns: readonly RelationColumn[];
}

export interface TypeMessage {
  readonly tag: 'type';
  readonly typeOid: number;
  readonly schema: string;
  readonly name: string;
}

/** One column of TupleData: null, unchanged TOAST value ('u'), or its text form. */
export type TupleValue = null | typeof UNCHANGED_TOAST | string;
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged-toast');

export interface InsertMessage {
  readonly tag: 'insert';
  readonly relationOid: number;
  readonly newTuple: readonly TupleValue[];
}

export interface UpdateMessage {
  readonly tag: 'update';
  readonly relationOid: number;
  /** 'K': the old key (sent when the key changed), 'O': the whole old row (REPLICA IDENTITY FULL). */
  readonly oldKind: 'K' | 'O' | null;
  readonly oldTuple: readonly TupleValue[] | null;
  readonly newTuple: readonly TupleValue[];
}

export interface DeleteMessage {
  readonly tag: 'delete';
  readonly relationOid: number;
  readonly oldKind: 'K' | 'O';
  readonly oldTuple: readonly TupleValue[];
}

export interface TruncateMessage {
  readonly tag: 'truncate';
  readonly cascade: boolean;
  readonly restartIdentity: boolean;
  readonly relationOids: readonly number[];
}

export interface LogicalMessage {
  readonly tag: 'message';
  readonly transactional: boolean;
  readonly lsn: Lsn;
  readonly prefix: string;
  readonly content: Buffer;
}
