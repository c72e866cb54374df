"""Independent check of committed cuts: the state of several Iceberg tables at each cut LSN.

usage: cut_states.py <catalog-uri> <catalog-name> <t1,t2,...> <max-cuts>
Tables live in namespace "public" next to "public.ticks" (one row: id 1, tx). A cut is a
`tidemark.cut-lsn` found in the tables' snapshot summaries; at a cut W each table is read at its
newest snapshot whose cut is <= W. Prints [{"cut": "X/Y", "tick": n, "<table>": md5, ...}]:
the digest is md5 over the rows in id order, one line per row, values joined by "|": text as
its md5, ints and decimals as text, timestamps as epoch microseconds, null as "null"
(test/e2e/support/cut-history.ts computes the same in SQL on the source).
"""
import decimal
import hashlib
import json
import sys

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def canon(v):
    if v is None:
        return "null"
    if isinstance(v, str):
        return hashlib.md5(v.encode("utf-8")).hexdigest()
    if isinstance(v, (int, decimal.Decimal)):
        return str(v)
    raise TypeError(f"no canonical form for {type(v)}")


def digest(arrow):
    columns = []
    for field in arrow.schema:
        col = arrow.column(field.name)
        if pa.types.is_timestamp(field.type):
            col = col.cast(pa.int64())
        columns.append(col.to_pylist())
    names = [f.name for f in arrow.schema]
    ids = columns[names.index("id")]
    order = sorted(range(arrow.num_rows), key=lambda i: ids[i])
    lines = ["|".join(canon(c[i]) for c in columns) for i in order]
    return hashlib.md5("\n".join(lines).encode("utf-8")).hexdigest()


def main():
    uri, name, tables, max_cuts = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
    catalog = SqlCatalog(name, uri=uri, warehouse="file:///nonexistent")
    loaded = {t: catalog.load_table(f"public.{t}") for t in tables + ["ticks"]}
    snaps = {}
    for t, table in loaded.items():
        snaps[t] = sorted(
            ((lsn(s.summary["tidemark.cut-lsn"]), s.sequence_number, s.snapshot_id)
             for s in table.snapshots() if s.summary and s.summary.get("tidemark.cut-lsn")),
        )
    cuts = sorted({c for entries in snaps.values() for c, _, _ in entries})
    if len(cuts) > max_cuts:
        step = len(cuts) / max_cuts
        cuts = sorted({cuts[int(i * step)] for i in range(max_cuts)} | {cuts[-1]})
    out = []
    for cut in cuts:
        at = {}
        for t, entries in snaps.items():
            older = [e for e in entries if e[0] <= cut]
            at[t] = max(older, key=lambda e: (e[0], e[1]))[2] if older else None
        if at["ticks"] is None:
            continue
        ticks = loaded["ticks"].scan(snapshot_id=at["ticks"]).to_arrow().to_pylist()
        row = {"cut": f"{cut >> 32:X}/{cut & 0xFFFFFFFF:X}", "tick": ticks[0]["tx"] if ticks else None}
        for t in tables:
            # no snapshot yet at this cut: the table was still empty
            row[t] = digest(loaded[t].scan(snapshot_id=at[t]).to_arrow()) if at[t] is not None else hashlib.md5(b"").hexdigest()
        out.append(row)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
