import { decodeWatermark, encodeWatermark, WatermarkTracker } from '../../../src/log/watermark';

describe('WatermarkTracker', () => {
  it('names, per partition, the highest offset holding a change <= W, and carries it forward', () => {
    const t = new WatermarkTracker();
    t.record('a', 0, 100n, 0);
    t.record('a', 0, 100n, 1);
    t.record('a', 1, 100n, 0);
    t.record('a', 0, 200n, 2);
    t.record('b', 0, 300n, 0);
    const w1 = t.cut(150n, 1);
    expect(w1.offsets).toEqual({ a: { 0: 1, 1: 0 } });
    const w2 = t.cut(250n, 2);
    expect(w2.offsets).toEqual({ a: { 0: 2, 1: 0 } });
    const w3 = t.cut(300n, 3);
    expect(w3.offsets).toEqual({ a: { 0: 2, 1: 0 }, b: { 0: 0 } });
    expect(decodeWatermark(encodeWatermark(w3))).toEqual(w3);
  });
});
