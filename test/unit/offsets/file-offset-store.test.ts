import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileOffsetStore } from '../../../src/offsets/file-offset-store';

describe('FileOffsetStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-offsets-'));

  it('moves tokens forward only and survives a reopen', async () => {
    const path = join(dir, 'a.json');
    const s = new FileOffsetStore(path);
    await s.advanceTokens(new Map([['t/0', '0/10#2@5']]));
    await s.advanceTokens(
      new Map([
        ['t/0', '0/10#1@4'],
        ['t/1', '0/9#0@0'],
      ]),
    );
    expect(await new FileOffsetStore(path).readTokens()).toEqual(
      new Map([
        ['t/0', '0/10#2@5'],
        ['t/1', '0/9#0@0'],
      ]),
    );
  });

  it('fences a writer whose lease was taken over', async () => {
    const s = new FileOffsetStore(join(dir, 'b.json'));
    const first = await s.acquireLease('committer', 'a', 1);
    await new Promise((r) => setTimeout(r, 5));
    const second = await s.acquireLease('committer', 'b', 10_000);
    expect(second!.fence).toBeGreaterThan(first!.fence);
    expect(await s.advanceTokens(new Map([['t/0', '0/1#0@1']]), first!)).toBe(false);
    expect(await s.readTokens()).toEqual(new Map());
    expect(await s.advanceTokens(new Map([['t/0', '0/1#0@1']]), second!)).toBe(true);
  });

  it('names the file when it is corrupt', () => {
    const path = join(dir, 'c.json');
    writeFileSync(path, '{nope');
    expect(() => new FileOffsetStore(path)).toThrow(/offsets file .*c\.json cannot be read/);
  });
});
