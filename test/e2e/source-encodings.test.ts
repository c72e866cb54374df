import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { settled } from '../support/settled';
import { killAllTidemarks, pipelineYaml, runPipeline, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * A source database in another encoding than UTF-8 (LATIN1): Postgres converts its text to the
 * connection's UTF-8 in the snapshot and in the stream alike, so accented text reaches both sinks
 * as the same characters.
 */
describe('a LATIN1 source database', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    src = await createTestDatabase('e2e_latin', 'LATIN1');
    wh = await createTestDatabase('e2e_latinw');
    await psql(
      src.url,
      "CREATE TABLE words (id int PRIMARY KEY, w text); INSERT INTO words VALUES (1, 'café crème'), (2, 'Øre ß ñ')",
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-latin-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('reaches both sinks as the same characters', async () => {
    const proc = await runPipeline(
      writeConfig(dir, 't.yaml', pipelineYaml('embedded', src.name, dir, 'public.words')),
      {
        SRC_URL: src.url,
        WH_URL: wh.url,
      },
    );
    await waitForSlot(src.url, `tidemark_${src.name}`);
    await psql(
      src.url,
      "INSERT INTO words VALUES (3, 'déjà vu ¼ ½'); UPDATE words SET w = w || ' ü' WHERE id = 1",
    );
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const expected = [
      { id: 1, w: 'café crème ü' },
      { id: 2, w: 'Øre ß ñ' },
      { id: 3, w: 'déjà vu ¼ ½' },
    ];
    expect(await psql(src.url, 'SELECT id, w FROM words ORDER BY id')).toEqual(expected);
    expect(
      await settled(
        () => psql(wh.url, 'SELECT id, w FROM public.words ORDER BY id').catch(() => []),
        expected,
      ),
    ).toEqual(expected);
    expect(await proc.terminate()).toBe(0);
    const ice = (await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.words')).rows as Array<{
      id: number;
    }>;
    expect(ice.sort((a, b) => Number(a.id) - Number(b.id))).toEqual(expected);
  }, 300_000);
});
