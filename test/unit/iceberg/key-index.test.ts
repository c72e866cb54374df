import { KeyIndex } from '../../../src/sink/iceberg/key-index';

describe('KeyIndex', () => {
  test('is exact: set, replace, delete and re-insert over many keys, with growth', () => {
    const idx = new KeyIndex();
    for (let i = 0; i < 50_000; i++) idx.set(`4:i${i}`, `f${i % 7}`, i);
    expect(idx.size).toBe(50_000);
    expect(idx.get('4:i123')).toEqual({ file: 'f4', pos: 123 });
    expect(idx.get('4:i50000')).toBeUndefined();
    idx.set('4:i123', 'g', 0);
    expect(idx.get('4:i123')).toEqual({ file: 'g', pos: 0 });
    expect(idx.delete('4:i123')).toBe(true);
    expect(idx.delete('4:i123')).toBe(false);
    expect(idx.get('4:i123')).toBeUndefined();
    expect(idx.size).toBe(49_999);
    idx.set('4:i123', 'h', 9);
    expect(idx.get('4:i123')).toEqual({ file: 'h', pos: 9 });
    expect([...idx.entriesLive()]).toHaveLength(50_000);
  });

  test('keys differing only in bytes beyond a hash collision never match', () => {
    const idx = new KeyIndex();
    idx.set('2:s1', 'a', 1);
    expect(idx.get('2:s2')).toBeUndefined();
    expect(idx.get('2:s1\u0000')).toBeUndefined();
  });
});
