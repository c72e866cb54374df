"""Independent check of a large table: its row count and digest as read by PyIceberg.

usage: table_digest.py <catalog-uri> <catalog-name> <namespace.table>
Prints {"rows": n, "digest": md5} with the digest of cut_states.py (rows in id order, one line
per row, values joined by "|", text as its md5, timestamps as epoch microseconds).
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog

from cut_states import digest


def main():
    uri, name, ident = sys.argv[1:4]
    arrow = SqlCatalog(name, uri=uri, warehouse="file:///nonexistent").load_table(ident).scan().to_arrow()
    print(json.dumps({"rows": arrow.num_rows, "digest": digest(arrow)}))


if __name__ == "__main__":
    main()
