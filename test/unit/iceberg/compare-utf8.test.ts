import { collectMetrics, compareUtf8 } from '../../../src/sink/iceberg/column-stats';

/** A seeded generator of words of up to three letters of `alphabet` (the runs repeat exactly). */
function randomWords(seed: number, alphabet: readonly string[]) {
  const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const word = () =>
    Array.from({ length: Math.floor(rand() * 4) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join(
      '',
    );
  return { rand, word };
}

describe('compareUtf8', () => {
  test('orders strings exactly as their UTF-8 bytes, surrogate pairs and U+E000–U+FFFF included', () => {
    const alphabet = [
      'a',
      'z',
      'é',
      '\u07ff',
      '\u0800',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '😀',
      '𐀀',
      '\u{10ffff}',
      '',
    ];
    const { rand, word } = randomWords(7, alphabet);
    const sign = (n: number) => Math.sign(n);
    for (let i = 0; i < 5000; i++) {
      const a = word();
      const b = rand() < 0.2 ? a : word();
      expect(sign(compareUtf8(a, b))).toBe(sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
  });
});

describe('string bounds of a file', () => {
  test('are the least and greatest value in UTF-8 byte order, wide code units or not', () => {
    const alphabet = [
      'a',
      'z',
      'é',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '😀',
      '\u{10ffff}',
      '',
      'item 1',
      'item 10',
    ];
    const { rand, word } = randomWords(11, alphabet);
    const field = [{ id: 1, name: 's', required: false, type: 'string' as const }];
    for (let i = 0; i < 300; i++) {
      const values = Array.from({ length: 1 + Math.floor(rand() * 12) }, () =>
        rand() < 0.1 ? null : word(),
      );
      const strings = values.filter((v): v is string => v !== null);
      const m = collectMetrics(field, [values]);
      if (strings.length === 0) {
        expect(m.lowerBounds.has(1)).toBe(false);
        continue;
      }
      const sorted = strings.map((v) => Buffer.from(v)).sort(Buffer.compare);
      expect(Buffer.from(m.lowerBounds.get(1)!)).toEqual(sorted[0]);
      expect(Buffer.from(m.upperBounds.get(1)!)).toEqual(sorted[sorted.length - 1]);
    }
  });
});
