"""Independent reader of a multi-table commit: polls two tables' metadata pointers in ONE SQL
statement on iceberg_tables (its own connection, its own process) until a stop file appears.

usage: pointer_pairs.py <sqlalchemy-uri> <catalog-name> <namespace> <table-a> <table-b> <stop-file>
Prints "ready" once the first read is done, then, after the stop file appears and one last read,
{"reads": n, "pairs": [[commit-id of a, commit-id of b], ...]}: the tidemark.commit-id of each
table's current snapshot per read (consecutive repeats folded).
"""
import json
import os
import sys
from urllib.parse import unquote, urlparse

from sqlalchemy import create_engine, text

SQL = text(
    "SELECT a.metadata_location, b.metadata_location FROM iceberg_tables a JOIN iceberg_tables b"
    " ON b.catalog_name = a.catalog_name AND b.table_namespace = a.table_namespace"
    " WHERE a.catalog_name = :c AND a.table_namespace = :ns AND a.table_name = :a AND b.table_name = :b"
)


def commit_id(location):
    with open(unquote(urlparse(location).path), encoding="utf-8") as f:
        m = json.load(f)
    snap = next((s for s in m.get("snapshots", []) if s["snapshot-id"] == m.get("current-snapshot-id")), None)
    return None if snap is None else snap["summary"].get("tidemark.commit-id")


def main():
    uri, catalog, ns, a, b, stop = sys.argv[1:7]
    engine = create_engine(uri)
    pairs, reads = [], 0
    with engine.connect() as conn:
        def read():
            row = conn.execute(SQL, {"c": catalog, "ns": ns, "a": a, "b": b}).one()
            conn.rollback()  # a new snapshot of the catalog for the next statement
            pair = [commit_id(row[0]), commit_id(row[1])]
            if not pairs or pairs[-1] != pair:
                pairs.append(pair)

        read()
        print("ready", flush=True)
        while not os.path.exists(stop):
            read()
            reads += 1
        read()
    print(json.dumps({"reads": reads + 2, "pairs": pairs}), flush=True)


if __name__ == "__main__":
    main()
