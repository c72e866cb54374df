"""Independent reader: loads a table through PyIceberg's SqlCatalog and prints its rows as JSON.

usage: read_table.py <catalog-uri> <catalog-name> <namespace.table> [snapshot-id or -] [row-filter]
                     [--prop=KEY=VALUE ...]
--prop adds a catalog property, e.g. PyIceberg's S3 ones for tables on an S3-compatible store:
s3.endpoint, s3.access-key-id, s3.secret-access-key, s3.region.
An http(s):// catalog URI is an Iceberg REST catalog (PyIceberg's RestCatalog); anything else a
SQL catalog URL (sqlite:///…, postgresql+psycopg2://…).
Values are printed in a type-tagged, lossless form so the test can compare exactly:
ints as JSON numbers or strings (64-bit), decimals/uuids/strings as strings, bytes as hex,
dates as day numbers, times/timestamps as microseconds (strings).
"""
import datetime
import decimal
import json
import sys
import uuid

from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.sql import SqlCatalog

EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_TZ = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros(delta):
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def plain(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return str(v) if abs(v) > 2**53 else v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else repr(v)
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, uuid.UUID):
        return {"uuid": str(v)}
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            return {"ts": str(micros(v - EPOCH))}
        return {"tstz": str(micros(v - EPOCH_TZ))}
    if isinstance(v, datetime.date):
        return {"date": (v - datetime.date(1970, 1, 1)).days}
    if isinstance(v, datetime.time):
        return {"time": str(((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond)}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return {"unknown": repr(v)}


def rows_of(arrow):
    """Rows in tagged form. Dates and timestamps go through their integer values, not Python's
    date/datetime, which cannot hold years before 1 (a BC date is a valid Postgres and Iceberg value)."""
    import pyarrow as pa
    columns = {}
    for field in arrow.schema:
        col = arrow.column(field.name)
        t = field.type
        if pa.types.is_date32(t):
            columns[field.name] = [None if v is None else {"date": v} for v in col.cast(pa.int32()).to_pylist()]
        elif pa.types.is_timestamp(t):
            tag = "tstz" if t.tz is not None else "ts"
            columns[field.name] = [None if v is None else {tag: str(v)} for v in col.cast(pa.int64()).to_pylist()]
        elif pa.types.is_time64(t):
            # 24:00:00 (Postgres allows it) is 86400000000 µs: Python's time cannot hold it
            columns[field.name] = [None if v is None else {"time": str(v)} for v in col.cast(pa.int64()).to_pylist()]
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_timestamp(t.value_type):
            tag = "tstz" if t.value_type.tz is not None else "ts"
            ints = col.cast(pa.list_(pa.int64())).to_pylist()
            columns[field.name] = [None if v is None else [None if x is None else {tag: str(x)} for x in v] for v in ints]
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_date32(t.value_type):
            ints = col.cast(pa.list_(pa.int32())).to_pylist()
            columns[field.name] = [None if v is None else [None if x is None else {"date": x} for x in v] for v in ints]
        else:
            columns[field.name] = [plain(v) for v in col.to_pylist()]
    names = [f.name for f in arrow.schema]
    return [{n: columns[n][i] for n in names} for i in range(arrow.num_rows)]


def main():
    props = dict(a[len("--prop="):].split("=", 1) for a in sys.argv[1:] if a.startswith("--prop="))
    argv = [sys.argv[0]] + [a for a in sys.argv[1:] if not a.startswith("--prop=")]
    uri, name, ident = argv[1], argv[2], argv[3]
    snapshot_id = int(argv[4]) if len(argv) > 4 and argv[4] != "-" else None
    row_filter = argv[5] if len(argv) > 5 else "True"
    if uri.startswith(("http://", "https://")):
        catalog = load_catalog(name, type="rest", uri=uri, **props)
    else:
        catalog = SqlCatalog(name, uri=uri, warehouse="file:///nonexistent", **props)
    table = catalog.load_table(ident)
    arrow = table.scan(snapshot_id=snapshot_id, row_filter=row_filter).to_arrow()
    rows = rows_of(arrow)
    snapshot = table.current_snapshot().snapshot_id if table.current_snapshot() else None
    print(json.dumps({"snapshot": snapshot, "rows": rows, "properties": dict(table.properties)}))


if __name__ == "__main__":
    main()
