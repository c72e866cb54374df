"""Independent check of every committed state: for each snapshot of a table, the sum of a column.

usage: snapshot_sums.py <catalog-uri> <catalog-name> <namespace.table> <column>
Prints [{"snapshot": id, "rows": n, "sum": "decimal text"}, ...] oldest first.
"""
import decimal
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog


def main():
    uri, name, ident, column = sys.argv[1:5]
    table = SqlCatalog(name, uri=uri, warehouse="file:///nonexistent").load_table(ident)
    out = []
    for snap in sorted(table.snapshots(), key=lambda s: s.sequence_number):
        values = table.scan(snapshot_id=snap.snapshot_id, selected_fields=(column,)).to_arrow().column(column).to_pylist()
        out.append({"snapshot": snap.snapshot_id, "rows": len(values), "sum": str(sum(values, decimal.Decimal(0)))})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
