import { murmur2, partitionForKey } from '../../../src/log/murmur2';

// Vectors from Apache Kafka's UtilsTest.testMurmur2: the Java client must agree with us.
const vectors: Array<[string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

describe('murmur2', () => {
  it.each(vectors)('hashes %s like the Java client', (text, expected) => {
    expect(murmur2(Buffer.from(text))).toBe(expected);
  });

  it('picks a partition in range, stable for the same key', () => {
    const key = Buffer.from('{"id":42}');
    const p = partitionForKey(key, 6);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(6);
    expect(partitionForKey(Buffer.from('{"id":42}'), 6)).toBe(p);
  });
});
