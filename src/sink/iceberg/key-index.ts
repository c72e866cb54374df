/**
 * Primary-key index of one table: key → (data file, row position). Exact: the encoded key
 * bytes (core/row-key encodeKey, UTF-8) are stored and compared, the hash only finds the
 * slot. Compact: keys live in one growing byte arena and the entries in typed arrays; there
 * is no JS object or string per key. Open addressing with linear probing; a removed key
 * keeps its entry (file -1) so probing chains stay intact and a re-insert reuses it.
 */
export interface KeyLocation {
  readonly file: string;
  readonly pos: number;
}

const EMPTY = 0;

export class KeyIndex {
  private arena = new Uint8Array(1 << 16);
  private arenaUsed = 0;
  private keyOff = new Float64Array(1024);
  private keyLen = new Uint32Array(1024);
  private hashes = new Uint32Array(1024);
  private fileOf = new Int32Array(1024);
  private posOf = new Int32Array(1024);
  private entries = 0;
  private live = 0;
  /** slot → entry index + 1 (0 = empty). */
  private slots = new Int32Array(2048);
  private readonly files: string[] = [];
  private readonly fileIds = new Map<string, number>();

  get size(): number {
    return this.live;
  }

  /** Bytes held by the index's buffers (the figure the bench reports per million keys). */
  byteSize(): number {
    return (
      this.arena.byteLength +
      this.keyOff.byteLength +
      this.keyLen.byteLength +
      this.hashes.byteLength +
      this.fileOf.byteLength +
      this.posOf.byteLength +
      this.slots.byteLength
    );
  }

  get(key: string): KeyLocation | undefined {
    const e = this.find(Buffer.from(key, 'utf8'));
    if (e < 0 || this.fileOf[e]! < 0) return undefined;
    return { file: this.files[this.fileOf[e]!]!, pos: this.posOf[e]! };
  }

  set(key: string, file: string, pos: number): void {
    const bytes = Buffer.from(key, 'utf8');
    let fileId = this.fileIds.get(file);
    if (fileId === undefined) {
      fileId = this.files.length;
      this.files.push(file);
      this.fileIds.set(file, fileId);
    }
    let e = this.find(bytes);
    if (e < 0) e = this.append(bytes);
    if (this.fileOf[e]! < 0) this.live++;
    this.fileOf[e] = fileId;
    this.posOf[e] = pos;
  }

  delete(key: string): boolean {
    const e = this.find(Buffer.from(key, 'utf8'));
    if (e < 0 || this.fileOf[e]! < 0) return false;
    this.fileOf[e] = -1;
    this.live--;
    return true;
  }

  clear(): void {
    for (let e = 0; e < this.entries; e++) this.fileOf[e] = -1;
    this.live = 0;
  }

  /** Every live (key, location): for truncates and compaction. */
  *entriesLive(): Generator<{ key: string; file: string; pos: number }> {
    for (let e = 0; e < this.entries; e++) {
      if (this.fileOf[e]! < 0) continue;
      const off = this.keyOff[e]!;
      const key = Buffer.from(this.arena.buffer, this.arena.byteOffset + off, this.keyLen[e]!).toString(
        'utf8',
      );
      yield { key, file: this.files[this.fileOf[e]!]!, pos: this.posOf[e]! };
    }
  }

  private find(bytes: Uint8Array): number {
    const h = fnv1a(bytes);
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = this.slots[s]!;
      if (v === EMPTY) return -1;
      const e = v - 1;
      if (this.hashes[e] === h && this.keyEquals(e, bytes)) return e;
    }
  }

  private keyEquals(e: number, bytes: Uint8Array): boolean {
    const len = this.keyLen[e]!;
    if (len !== bytes.length) return false;
    const off = this.keyOff[e]!;
    for (let i = 0; i < len; i++) if (this.arena[off + i] !== bytes[i]) return false;
    return true;
  }

  private append(bytes: Uint8Array): number {
    if (this.arenaUsed + bytes.length > this.arena.length) {
      const next = new Uint8Array(Math.max(this.arena.length * 2, this.arenaUsed + bytes.length));
      next.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = next;
    }
    if (this.entries === this.keyOff.length) this.growEntries();
    const e = this.entries++;
    this.arena.set(bytes, this.arenaUsed);
    this.keyOff[e] = this.arenaUsed;
    this.keyLen[e] = bytes.length;
    this.arenaUsed += bytes.length;
    this.hashes[e] = fnv1a(bytes);
    this.fileOf[e] = -1;
    if (this.entries * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(e);
    return e;
  }

  private place(e: number): void {
    const mask = this.slots.length - 1;
    let s = this.hashes[e]! & mask;
    while (this.slots[s] !== EMPTY) s = (s + 1) & mask;
    this.slots[s] = e + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let e = 0; e < this.entries; e++) this.place(e);
  }

  private growEntries(): void {
    const n = this.keyOff.length * 2;
    const grow = <T extends Float64Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.keyOff = grow(this.keyOff, (k) => new Float64Array(k));
    this.keyLen = grow(this.keyLen, (k) => new Uint32Array(k));
    this.hashes = grow(this.hashes, (k) => new Uint32Array(k));
    this.fileOf = grow(this.fileOf, (k) => new Int32Array(k));
    this.posOf = grow(this.posOf, (k) => new Int32Array(k));
  }
}

/** FNV-1a, 32 bit: only picks the slot; equality is decided on the stored bytes. */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
