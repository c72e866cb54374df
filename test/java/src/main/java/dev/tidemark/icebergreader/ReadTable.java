package dev.tidemark.icebergreader;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.Table;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.rest.RESTCatalog;
import org.apache.iceberg.types.Types;

/**
 * usage: ReadTable <jdbc-url> <user> <password> <catalog-name> <namespace.table> [snapshot-id]
 * An http(s):// URL instead of the JDBC URL reads through that Iceberg REST catalog (user and
 * password are then ignored).
 * Prints {"snapshot": id, "rows": [...]} with values tagged exactly as test/python/read_table.py does.
 */
public final class ReadTable {
  public static void main(String[] args) throws Exception {
    Catalog catalog = open(args);
    Table table = catalog.loadTable(TableIdentifier.parse(args[4]));
    IcebergGenerics.ScanBuilder scan = IcebergGenerics.read(table);
    if (args.length > 5) scan = scan.useSnapshot(Long.parseLong(args[5]));
    StringBuilder out = new StringBuilder();
    out.append("{\"snapshot\": ").append(table.currentSnapshot() == null ? "null" : table.currentSnapshot().snapshotId());
    out.append(", \"rows\": ").append(rowsJson(scan)).append('}');
    System.out.println(out);
    ((java.io.Closeable) catalog).close();
  }

  /** The catalog that args[0..3] name: a JDBC URL (user, password) or an http(s):// REST catalog URL, and its name. */
  static Catalog open(String[] args) {
    Map<String, String> props = new HashMap<>();
    props.put("uri", args[0]);
    if (!args[1].isEmpty()) props.put("jdbc.user", args[1]);
    if (!args[2].isEmpty()) props.put("jdbc.password", args[2]);
    props.put("warehouse", "file:///nonexistent");
    if (args[0].startsWith("http://") || args[0].startsWith("https://")) {
      props.remove("warehouse");
      RESTCatalog rest = new RESTCatalog();
      rest.setConf(new Configuration());
      rest.initialize(args[3], props);
      return rest;
    }
    JdbcCatalog jdbc = new JdbcCatalog();
    jdbc.setConf(new Configuration());
    jdbc.initialize(args[3], props);
    return jdbc;
  }

  /** The scan's rows as a JSON array of tagged values. */
  static String rowsJson(IcebergGenerics.ScanBuilder scan) throws java.io.IOException {
    StringBuilder out = new StringBuilder("[");
    boolean first = true;
    try (CloseableIterable<Record> rows = scan.build()) {
      for (Record r : rows) {
        if (!first) out.append(", ");
        first = false;
        out.append('{');
        List<Types.NestedField> fields = r.struct().fields();
        boolean firstField = true;
        for (int i = 0; i < fields.size(); i++) {
          // Metadata columns the reader adds to apply position deletes are not table columns.
          if (fields.get(i).name().startsWith("_")) continue;
          if (!firstField) out.append(", ");
          firstField = false;
          out.append(str(fields.get(i).name())).append(": ").append(plain(r.get(i)));
        }
        out.append('}');
      }
    }
    return out.append(']').toString();
  }

  private static final LocalDateTime EPOCH = LocalDateTime.of(1970, 1, 1, 0, 0);

  static String plain(Object v) {
    if (v == null) return "null";
    if (v instanceof Boolean) return v.toString();
    if (v instanceof Integer) return v.toString();
    if (v instanceof Long) {
      long l = (Long) v;
      return Math.abs(l) > (1L << 53) ? str(Long.toString(l)) : Long.toString(l);
    }
    if (v instanceof Float || v instanceof Double) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d)) return str("nan");
      if (Double.isInfinite(d)) return str(d > 0 ? "inf" : "-inf");
      if (v instanceof Float) return Float.toString((Float) v).replaceAll("\\.0$", ".0");
      return Double.toString(d);
    }
    if (v instanceof BigDecimal) return "{\"decimal\": " + str(((BigDecimal) v).toPlainString()) + "}";
    if (v instanceof CharSequence) return str(v.toString());
    if (v instanceof ByteBuffer) {
      ByteBuffer b = ((ByteBuffer) v).duplicate();
      StringBuilder h = new StringBuilder();
      while (b.hasRemaining()) h.append(String.format("%02x", b.get() & 0xff));
      return "{\"hex\": " + str(h.toString()) + "}";
    }
    if (v instanceof byte[] && ((byte[]) v).length == 16) {
      ByteBuffer b = ByteBuffer.wrap((byte[]) v);
      return "{\"uuid\": " + str(new UUID(b.getLong(), b.getLong()).toString()) + "}";
    }
    if (v instanceof UUID) return "{\"uuid\": " + str(v.toString()) + "}";
    if (v instanceof LocalDate) return "{\"date\": " + ((LocalDate) v).toEpochDay() + "}";
    if (v instanceof LocalTime) return "{\"time\": " + str(Long.toString(((LocalTime) v).toNanoOfDay() / 1000)) + "}";
    if (v instanceof LocalDateTime) return "{\"ts\": " + str(Long.toString(ChronoUnit.MICROS.between(EPOCH, (LocalDateTime) v))) + "}";
    if (v instanceof OffsetDateTime) return "{\"tstz\": " + str(Long.toString(ChronoUnit.MICROS.between(EPOCH.atOffset(ZoneOffset.UTC), (OffsetDateTime) v))) + "}";
    if (v instanceof List) {
      StringBuilder s = new StringBuilder("[");
      List<?> l = (List<?>) v;
      for (int i = 0; i < l.size(); i++) s.append(i > 0 ? ", " : "").append(plain(l.get(i)));
      return s.append(']').toString();
    }
    return "{\"unknown\": " + str(v.getClass().getName()) + "}";
  }

  static String str(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }
}
