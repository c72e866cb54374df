import type { ColumnType, Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import { parseArrayLiteral } from './array-literal';
import { parseDate, parseTime, parseTimestamp } from './datetime';

/**
 * Decodes a value from its Postgres text form (as pgoutput and COPY/SELECT send it, with
 * DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601, bytea_output=hex forced on the
 * connection) into the canonical value of its column type (see core/column-type.ts).
 * `where` names the table and column for errors.
 */
// Module level, not a closure in decodeText: that runs for every column of every change.
function unsupported(where: string, text: string, why: string): TidemarkError {
  return new TidemarkError(
    'unsupported_value',
    `${where}: value ${JSON.stringify(text.slice(0, 60))} ${why}`,
    {
      fix: 'change the value in the source, or exclude the column (tables.<name>.exclude)',
    },
  );
}

export function decodeText(type: ColumnType, text: string, where: string, delimiter = ','): Value {
  switch (type.kind) {
    case 'bool':
      if (text === 't') return true;
      if (text === 'f') return false;
      throw unsupported(where, text, 'is not a boolean');
    case 'int16':
    case 'int32': {
      const n = Number(text);
      if (!Number.isInteger(n)) throw unsupported(where, text, 'is not an integer');
      return n;
    }
    case 'int64':
      if (!/^-?\d+$/.test(text)) throw unsupported(where, text, 'is not an integer');
      return BigInt(text);
    case 'float32':
    case 'float64': {
      const n = Number(text);
      if (Number.isNaN(n) && text !== 'NaN') throw unsupported(where, text, 'is not a float');
      return n;
    }
    case 'decimal':
      if (!/^-?\d+(\.\d+)?$/.test(text))
        throw unsupported(
          where,
          text,
          `cannot be held by decimal(${type.precision},${type.scale}) (NaN/Infinity)`,
        );
      return text;
    case 'numeric':
      return text;
    case 'bytes':
      if (!text.startsWith('\\x')) throw unsupported(where, text, 'is not hex bytea output');
      return new Uint8Array(Buffer.from(text.slice(2), 'hex'));
    case 'date': {
      const d = parseDate(text);
      if (d === null)
        throw unsupported(where, text, 'is not a finite date (infinity has no equivalent in the sinks)');
      return d;
    }
    case 'time': {
      const t = parseTime(text);
      if (t === null) throw unsupported(where, text, 'is not a time');
      return t;
    }
    case 'timestamp':
    case 'timestamptz': {
      const t = parseTimestamp(text);
      if (t === null)
        throw unsupported(where, text, 'is not a finite timestamp (infinity has no equivalent in the sinks)');
      return t;
    }
    case 'list':
      return parseArrayLiteral(text, delimiter).map((e, i) =>
        e === null ? null : decodeText(type.element, e, `${where}[${i + 1}]`),
      );
    default:
      // text, uuid, json, timetz, interval, enum: the text form is the canonical value.
      return text;
  }
}
