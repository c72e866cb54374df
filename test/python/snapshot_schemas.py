"""Independent check of schema evolution: every snapshot of one table, read through PyIceberg.

usage: snapshot_schemas.py <catalog-uri> <catalog-name> <namespace.table>
Prints [{"snapshot": id, "cut": lsn as a decimal string or null, "columns": [names of the schema PyIceberg
reads that snapshot with], "rows": n}] oldest first, plus the current rows at the end:
{"snapshots": [...], "current": [rows in read_table.py's tagged form, id order]}.
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog

from read_table import rows_of


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def main():
    uri, name, ident = sys.argv[1:4]
    table = SqlCatalog(name, uri=uri, warehouse="file:///nonexistent").load_table(ident)
    schemas = {s.schema_id: s for s in table.metadata.schemas}
    out = []
    for s in sorted(table.snapshots(), key=lambda s: s.sequence_number):
        cut = s.summary.get("tidemark.cut-lsn") if s.summary else None
        arrow = table.scan(snapshot_id=s.snapshot_id).to_arrow()
        out.append({
            "snapshot": s.snapshot_id,
            "cut": str(lsn(cut)) if cut else None,
            "columns": [f.name for f in schemas[s.schema_id].fields],
            "rows": arrow.num_rows,
        })
    current = sorted(rows_of(table.scan().to_arrow()), key=lambda r: r["id"])
    print(json.dumps({"snapshots": out, "current": current}))


if __name__ == "__main__":
    main()
