import { TidemarkError } from '../../core/errors';

/**
 * Parses a one-dimensional Postgres array literal ('{a,"b c",NULL,"x\"y"}') into its element
 * texts (null for NULL). Multi-dimensional arrays and explicit bounds ('[2:3]={…}') are
 * rejected: they have no lossless list mapping in the sinks.
 */
export function parseArrayLiteral(text: string, delimiter = ','): Array<string | null> {
  if (text.startsWith('[')) {
    throw new TidemarkError(
      'unsupported_value',
      `arrays with explicit bounds are not supported: ${text.slice(0, 40)}`,
    );
  }
  if (text[0] !== '{' || text[text.length - 1] !== '}')
    throw new TidemarkError('malformed_event', `not an array literal: ${text.slice(0, 40)}`);
  const out: Array<string | null> = [];
  if (text === '{}') return out;
  let i = 1;
  while (i < text.length - 1) {
    if (text[i] === '{')
      throw new TidemarkError('unsupported_value', 'multi-dimensional arrays are not supported');
    if (text[i] === '"') {
      let v = '';
      i++;
      while (text[i] !== '"') {
        if (text[i] === '\\') i++;
        if (i >= text.length) throw new TidemarkError('malformed_event', 'unterminated quoted array element');
        v += text[i++];
      }
      i++;
      out.push(v);
    } else {
      let end = i;
      while (end < text.length - 1 && text[end] !== delimiter) end++;
      const raw = text.slice(i, end);
      out.push(raw === 'NULL' ? null : raw);
      i = end;
    }
    if (text[i] === delimiter) i++;
  }
  return out;
}
