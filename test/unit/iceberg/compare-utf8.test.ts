import { compareUtf8 } from '../../../src/sink/iceberg/column-stats';

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
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const word = () =>
      Array.from(
        { length: Math.floor(rand() * 4) },
        () => alphabet[Math.floor(rand() * alphabet.length)],
      ).join('');
    const sign = (n: number) => Math.sign(n);
    for (let i = 0; i < 5000; i++) {
      const a = word();
      const b = rand() < 0.2 ? a : word();
      expect(sign(compareUtf8(a, b))).toBe(sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
  });
});
