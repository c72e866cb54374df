"""Independent inspection of a table's files through PyIceberg and pyarrow.

usage: inspect_table.py <catalog-uri> <catalog-name> <namespace.table> [--filter=EXPR ...] [--prop=KEY=VALUE ...]
Prints, for the current snapshot:
- "files": every live data and delete file of the current snapshot's manifests: content (0 data,
  1 position deletes), record count, and for a data file its partition tuple, value/null/NaN counts keyed by column name
  (list elements as "ints.element"), the lower/upper bounds decoded with pyiceberg.conversions'
  from_bytes (what table.inspect.files() does for its readable_metrics; inspect.files() itself
  cannot build its Arrow table for a table with a uuid column: pyarrow raises
  ArrowNotImplementedError "extension"), the compression codecs
  pyarrow reads in the Parquet footer of every column chunk, and for a data file "rowPartitions":
  the distinct partition tuples PyIceberg's own transforms compute from the file's rows;
- "scans": for each --filter, the data files PyIceberg's scan plans (partition and metrics
  pruning) and the rows it reads.
Values are tagged as read_table.py tags them (partition values in Iceberg's internal form).
"""
import json
import sys
import uuid

import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.conversions import from_bytes
from pyiceberg.types import DateType, TimestampType, TimestamptzType, TimeType, UUIDType

from read_table import plain, rows_of


def tagged(t, v):
    """A value in Iceberg's internal form (days, micros) tagged like a row value."""
    if v is None:
        return None
    if isinstance(t, DateType):
        return {"date": v}
    if isinstance(t, TimeType):
        return {"time": str(v)}
    if isinstance(t, TimestamptzType):
        return {"tstz": str(v)}
    if isinstance(t, TimestampType):
        return {"ts": str(v)}
    if isinstance(t, UUIDType) and isinstance(v, bytes):
        return plain(uuid.UUID(bytes=v))
    return plain(v)


def named(schema, counts):
    return {schema.find_column_name(k): v for k, v in sorted((counts or {}).items())}


def main():
    props = dict(a[len("--prop="):].split("=", 1) for a in sys.argv[1:] if a.startswith("--prop="))
    filters = [a[len("--filter="):] for a in sys.argv[1:] if a.startswith("--filter=")]
    uri, name, ident = [a for a in sys.argv[1:] if not a.startswith("--")][:3]
    table = SqlCatalog(name, uri=uri, warehouse="file:///nonexistent", **props).load_table(ident)
    schema = table.schema()
    spec = table.spec()
    part_type = spec.partition_type(schema)
    transforms = [
        (f.name, f.transform.transform(schema.find_type(f.source_id)), schema.find_column_name(f.source_id))
        for f in spec.fields
    ]
    files = []
    snapshot = table.current_snapshot()
    entries = [e for m in snapshot.manifests(table.io) for e in m.fetch_manifest_entry(table.io)] if snapshot else []
    for e in entries:
        f = e.data_file
        footer = pq.ParquetFile(table.io.new_input(f.file_path).open()).metadata
        codecs = {
            footer.row_group(g).column(c).compression
            for g in range(footer.num_row_groups)
            for c in range(footer.num_columns)
        }

        def bounds(raw):
            return {schema.find_column_name(k): tagged(schema.find_type(k), from_bytes(schema.find_type(k), v))
                    for k, v in sorted((raw or {}).items())}

        out = {
            "path": f.file_path,
            "content": int(f.content),
            "records": f.record_count,
            "compression": sorted(codecs),
        }
        if out["content"] != 0:  # a delete file's metrics are of the reserved file_path/pos fields
            files.append(out)
            continue
        out |= {
            "partition": {pf.name: tagged(pf.field_type, f.partition[i]) for i, pf in enumerate(part_type.fields)},
            "valueCounts": named(schema, f.value_counts),
            "nullValueCounts": named(schema, f.null_value_counts),
            "nanValueCounts": named(schema, f.nan_value_counts),
            "lowerBounds": bounds(f.lower_bounds),
            "upperBounds": bounds(f.upper_bounds),
        }
        if transforms:
            rows = pq.read_table(table.io.new_input(f.file_path).open()).to_pylist()
            tuples = {
                json.dumps({n: tagged(pf.field_type, fn(r[src])) for (n, fn, src), pf in zip(transforms, part_type.fields)},
                           sort_keys=True)
                for r in rows
            }
            out["rowPartitions"] = [json.loads(t) for t in sorted(tuples)]
        files.append(out)
    scans = []
    for expr in filters:
        scan = table.scan(row_filter=expr)
        scans.append({
            "filter": expr,
            "files": sorted(t.file.file_path for t in scan.plan_files()),
            "rows": rows_of(scan.to_arrow()),
        })
    print(json.dumps({"files": files, "scans": scans}))


if __name__ == "__main__":
    main()
