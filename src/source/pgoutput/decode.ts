import { TidemarkError } from '../../core/errors';
import type { Lsn } from '../../core/lsn';
import { type PgoutputMessage, type TupleValue, UNCHANGED_TOAST } from './messages';

/** Microseconds between the Unix epoch and Postgres' epoch (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000;

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  u8(): number {
    return this.buf.readUInt8(this.pos++);
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  lsn(): Lsn {
    return this.u64();
  }
  /** Postgres timestamp (µs since 2000-01-01) as Unix ms. */
  timestampMs(): number {
    return Number(this.i64() / 1000n) + PG_EPOCH_MS;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new Error('unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error(`length ${n} runs past the message end`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  char(): string {
    return String.fromCharCode(this.u8());
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
}

function tuple(r: Reader): TupleValue[] {
  const n = r.i16();
  const out: TupleValue[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = r.char();
    if (kind === 'n') out[i] = null;
    else if (kind === 'u') out[i] = UNCHANGED_TOAST;
    else if (kind === 't') out[i] = r.bytes(r.i32()).toString('utf8');
    else throw new Error(`unsupported tuple column kind '${kind}' (binary mode is not used)`);
  }
  return out;
}

/** Decodes one XLogData payload of the pgoutput plugin (protocol version 1). */
export function decodePgoutput(buf: Buffer): PgoutputMessage {
  const r = new Reader(buf);
  const tag = r.char();
  try {
    switch (tag) {
      case 'B':
        return { tag: 'begin', finalLsn: r.lsn(), commitTimeMs: r.timestampMs(), xid: r.u32() };
      case 'C':
        return {
          tag: 'commit',
          flags: r.u8(),
          commitLsn: r.lsn(),
          endLsn: r.lsn(),
          commitTimeMs: r.timestampMs(),
        };
      case 'O':
        return { tag: 'origin', originLsn: r.lsn(), name: r.cstring() };
      case 'R': {
        const relationOid = r.u32();
        const schema = r.cstring();
        const name = r.cstring();
        const replicaIdentity = r.char() as 'd' | 'n' | 'f' | 'i';
        const n = r.i16();
        const columns = [];
        for (let i = 0; i < n; i++) {
          const flags = r.u8();
          columns.push({ key: (flags & 1) === 1, name: r.cstring(), typeOid: r.u32(), typeMod: r.i32() });
        }
        return { tag: 'relation', relationOid, schema, name, replicaIdentity, columns };
      }
      case 'Y':
        return { tag: 'type', typeOid: r.u32(), schema: r.cstring(), name: r.cstring() };
      case 'I': {
        const relationOid = r.u32();
        const n = r.char();
        if (n !== 'N') throw new Error(`insert without a new tuple ('${n}')`);
        return { tag: 'insert', relationOid, newTuple: tuple(r) };
      }
      case 'U': {
        const relationOid = r.u32();
        let kind = r.char();
        let oldKind: 'K' | 'O' | null = null;
        let oldTuple: TupleValue[] | null = null;
        if (kind === 'K' || kind === 'O') {
          oldKind = kind;
          oldTuple = tuple(r);
          kind = r.char();
        }
        if (kind !== 'N') throw new Error(`update without a new tuple ('${kind}')`);
        return { tag: 'update', relationOid, oldKind, oldTuple, newTuple: tuple(r) };
      }
      case 'D': {
        const relationOid = r.u32();
        const kind = r.char();
        if (kind !== 'K' && kind !== 'O') throw new Error(`delete without an old tuple ('${kind}')`);
        return { tag: 'delete', relationOid, oldKind: kind, oldTuple: tuple(r) };
      }
      case 'T': {
        const count = r.i32();
        const options = r.u8();
        const relationOids: number[] = [];
        for (let i = 0; i < count; i++) relationOids.push(r.u32());
        return {
          tag: 'truncate',
          cascade: (options & 1) !== 0,
          restartIdentity: (options & 2) !== 0,
          relationOids,
        };
      }
      case 'M': {
        const flags = r.u8();
        const lsn = r.lsn();
        const prefix = r.cstring();
        const content = Buffer.from(r.bytes(r.i32()));
        return { tag: 'message', transactional: (flags & 1) === 1, lsn, prefix, content };
      }
      default:
        throw new Error(`unknown message type '${tag}'`);
    }
  } catch (e) {
    if (e instanceof TidemarkError) throw e;
    throw new TidemarkError(
      'malformed_event',
      `cannot decode pgoutput message '${tag}' (${buf.length} bytes): ${(e as Error).message}`,
      { cause: e },
    );
  }
}
