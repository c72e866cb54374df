import { formatToken, parseToken } from '../../../src/core/offset-token';
import { keepAppendChannel } from '../../../src/ops/offsets-reset';

/**
 * An append table's channel in an `offsets reset` back in time: each sink keeps its position
 * (a change read again would be appended again); only a retention hole moves it on, to the first
 * offset Kafka still holds, behind a forceable refusal that names the lost offsets.
 */
describe('keepAppendChannel', () => {
  const token = (lsn: bigint, seq: number, nextOffset: number) =>
    formatToken({ position: { lsn, seq }, nextOffset });
  const tokens = {
    store: token(0x500n, 3, 40),
    iceberg: token(0x500n, 3, 40),
    warehouse: token(0x480n, 9, 37),
  };
  const resume = parseToken(tokens.warehouse);

  it('leaves the channel where it is while Kafka holds what the sinks have not read', () => {
    const refusals: { why: string; forceable: boolean }[] = [];
    const c = keepAppendChannel('p.public.h/0', tokens, ['iceberg', 'warehouse'], resume, 37, refusals);
    expect(c.move).toBe('none');
    expect(c.next).toBeNull();
    expect(refusals).toEqual([]);
  });

  it('moves each sink past a retention hole keeping its own position, behind a forceable refusal', () => {
    const refusals: { why: string; forceable: boolean }[] = [];
    const c = keepAppendChannel('p.public.h/0', tokens, ['iceberg', 'warehouse'], resume, 39, refusals);
    expect(c.move).toBe('forward');
    expect(c.nextBySink).toEqual({ iceberg: token(0x500n, 3, 40), warehouse: token(0x480n, 9, 39) });
    expect(c.next).toBe(token(0x480n, 9, 39));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.forceable).toBe(true);
    expect(refusals[0]!.why).toContain('deleted offsets 37 to 38');
  });
});
