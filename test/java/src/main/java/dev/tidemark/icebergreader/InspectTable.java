package dev.tidemark.icebergreader;

import java.nio.ByteBuffer;
import java.util.Map;
import java.util.TreeSet;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.DeleteFile;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.Schema;
import org.apache.iceberg.StructLike;
import org.apache.iceberg.Table;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.expressions.Expression;
import org.apache.iceberg.expressions.ExpressionParser;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.types.Conversions;
import org.apache.iceberg.types.Type;
import org.apache.iceberg.types.Types;

/**
 * usage: InspectTable <jdbc-url> <user> <password> <catalog-name> <namespace.table> [filter-json ...]
 * Prints, for the current snapshot, every live data file as Iceberg's Java library reads it from
 * the manifests (partition tuple, record count, value/null/NaN counts and lower/upper bounds per
 * column, decoded with Conversions.fromByteBuffer and keyed by column name, e.g. "ints.element"),
 * the delete files, and for each filter (an expression in ExpressionParser's JSON form, literals
 * as SingleValueParser writes them) the data files the scan plans and the rows it reads:
 * {"files": [...], "deleteFiles": [...], "scans": [{"files": [...], "rows": [...]}]}.
 * Values are tagged as ReadTable tags them.
 */
public final class InspectTable {
  public static void main(String[] args) throws Exception {
    Catalog catalog = ReadTable.open(args);
    Table table = catalog.loadTable(TableIdentifier.parse(args[4]));
    Schema schema = table.schema();
    StringBuilder out = new StringBuilder("{\"files\": [");
    TreeSet<String> deletes = new TreeSet<>();
    boolean first = true;
    try (CloseableIterable<FileScanTask> tasks = table.newScan().includeColumnStats().planFiles()) {
      for (FileScanTask task : tasks) {
        out.append(first ? "" : ", ").append(fileJson(table, schema, task.file()));
        first = false;
        for (DeleteFile d : task.deletes()) deletes.add(d.path().toString());
      }
    }
    out.append("], \"deleteFiles\": [");
    first = true;
    for (String d : deletes) {
      out.append(first ? "" : ", ").append(ReadTable.str(d));
      first = false;
    }
    out.append("], \"scans\": [");
    for (int i = 5; i < args.length; i++) {
      Expression filter = ExpressionParser.fromJson(args[i], schema);
      out.append(i > 5 ? ", " : "").append("{\"files\": [");
      first = true;
      try (CloseableIterable<FileScanTask> tasks = table.newScan().filter(filter).planFiles()) {
        for (FileScanTask task : tasks) {
          out.append(first ? "" : ", ").append(ReadTable.str(task.file().path().toString()));
          first = false;
        }
      }
      out.append("], \"rows\": ").append(ReadTable.rowsJson(IcebergGenerics.read(table).where(filter)));
      out.append('}');
    }
    out.append("]}");
    System.out.println(out);
    ((java.io.Closeable) catalog).close();
  }

  private static String fileJson(Table table, Schema schema, DataFile f) {
    StringBuilder out = new StringBuilder("{\"path\": ").append(ReadTable.str(f.path().toString()));
    out.append(", \"records\": ").append(f.recordCount()).append(", \"partition\": {");
    Types.StructType partType = table.specs().get(f.specId()).partitionType();
    StructLike part = f.partition();
    for (int i = 0; i < partType.fields().size(); i++) {
      Types.NestedField pf = partType.fields().get(i);
      Object v = part.get(i, pf.type().typeId().javaClass());
      out.append(i > 0 ? ", " : "").append(ReadTable.str(pf.name())).append(": ").append(tagged(pf.type(), v));
    }
    out.append("}, \"valueCounts\": ").append(counts(schema, f.valueCounts()));
    out.append(", \"nullValueCounts\": ").append(counts(schema, f.nullValueCounts()));
    out.append(", \"nanValueCounts\": ").append(counts(schema, f.nanValueCounts()));
    out.append(", \"lowerBounds\": ").append(bounds(schema, f.lowerBounds()));
    out.append(", \"upperBounds\": ").append(bounds(schema, f.upperBounds()));
    return out.append('}').toString();
  }

  private static String counts(Schema schema, Map<Integer, Long> m) {
    StringBuilder out = new StringBuilder("{");
    if (m != null)
      for (Map.Entry<Integer, Long> e : new java.util.TreeMap<>(m).entrySet()) {
        out.append(out.length() > 1 ? ", " : "").append(ReadTable.str(schema.findColumnName(e.getKey())));
        out.append(": ").append(e.getValue());
      }
    return out.append('}').toString();
  }

  private static String bounds(Schema schema, Map<Integer, ByteBuffer> m) {
    StringBuilder out = new StringBuilder("{");
    if (m != null)
      for (Map.Entry<Integer, ByteBuffer> e : new java.util.TreeMap<>(m).entrySet()) {
        Type t = schema.findType(e.getKey());
        out.append(out.length() > 1 ? ", " : "").append(ReadTable.str(schema.findColumnName(e.getKey())));
        out.append(": ").append(tagged(t, Conversions.fromByteBuffer(t, e.getValue())));
      }
    return out.append('}').toString();
  }

  /** A value in Iceberg's internal form (days, micros) tagged as ReadTable tags a row value. */
  static String tagged(Type t, Object v) {
    if (v == null) return "null";
    switch (t.typeId()) {
      case DATE:
        return "{\"date\": " + v + "}";
      case TIME:
        return "{\"time\": " + ReadTable.str(v.toString()) + "}";
      case TIMESTAMP:
        String tag = ((Types.TimestampType) t).shouldAdjustToUTC() ? "tstz" : "ts";
        return "{\"" + tag + "\": " + ReadTable.str(v.toString()) + "}";
      default:
        return ReadTable.plain(v);
    }
  }
}
