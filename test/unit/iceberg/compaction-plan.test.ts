import {
  DELETED_RATIO,
  dataFilesToRewrite,
  deleteFilesToDrop,
} from '../../../src/sink/iceberg/compaction-plan';

const file = (path: string, rows: number, deleted = 0) => ({ path, rows, deleted });

describe('compaction plan: which data files a compaction rewrites', () => {
  it('routine (small): small files and files with a large share deleted; big files with a few deleted rows stay', () => {
    const files = [
      file('big-clean', 1000),
      file('big-few-deleted', 1000, 10),
      file('big-many-deleted', 1000, 1000 * DELETED_RATIO),
      file('small-a', 100),
      file('small-b', 200, 5),
    ];
    expect(dataFilesToRewrite(files, { select: 'small', perFile: 1000 })).toEqual(
      new Set(['big-many-deleted', 'small-a', 'small-b']),
    );
  });

  it('all: every file; a file whose rows are all deleted always goes', () => {
    const files = [file('a', 1000), file('b', 1000, 1), file('gone', 50, 50)];
    expect(dataFilesToRewrite(files, { select: 'all', perFile: 1000 })).toEqual(new Set(['a', 'b', 'gone']));
    expect(
      dataFilesToRewrite([file('big', 1000), file('gone', 900, 900)], { select: 'small', perFile: 1000 }),
    ).toEqual(new Set(['gone']));
  });

  it('a lone clean file is not rewritten into itself; a lone file with deleted rows is', () => {
    expect(dataFilesToRewrite([file('one', 10)], { select: 'all', perFile: 1000 })).toEqual(new Set());
    expect(dataFilesToRewrite([file('one', 10, 1)], { select: 'small', perFile: 1000 })).toEqual(
      new Set(['one']),
    );
  });

  it('a bounded pass takes the smallest files first, up to maxNewFiles files of rows, at least one', () => {
    const files = [file('s400', 400), file('s100', 100), file('s300', 300), file('s200', 200, 0)];
    // budget 1 × 500 rows: 100 + 200 fit, 300 would pass it
    expect(dataFilesToRewrite(files, { select: 'small', perFile: 1000, maxNewFiles: 0.5 })).toEqual(
      new Set(['s100', 's200']),
    );
    // a candidate larger than the whole budget still goes when it is the first
    expect(
      dataFilesToRewrite([file('half-deleted', 1000, 500), file('big', 1000)], {
        select: 'small',
        perFile: 1000,
        maxNewFiles: 0.1,
      }),
    ).toEqual(new Set(['half-deleted']));
    // fully deleted files cost nothing and are taken past the budget
    expect(
      dataFilesToRewrite([file('s100', 100), file('s200', 200), file('gone', 400, 400)], {
        select: 'small',
        perFile: 1000,
        maxNewFiles: 0.1,
      }),
    ).toEqual(new Set(['s100', 'gone']));
  });
});

describe('compaction plan: which position-delete files are merged', () => {
  const del = (path: string, partition: string, ...targets: string[]) => ({
    path,
    partition,
    targets: new Set(targets),
  });

  it('merges a partition once it holds more than one delete file; a lone one pointing at kept files stays', () => {
    const deletes = [del('d1', 'p=1', 'a'), del('d2', 'p=1', 'a', 'b'), del('d3', 'p=2', 'c')];
    expect(deleteFilesToDrop(deletes, new Set(), new Set(['a', 'b', 'c']))).toEqual(new Set(['d1', 'd2']));
  });

  it('drops a lone delete file pointing at a rewritten or vanished data file', () => {
    expect(deleteFilesToDrop([del('d', 'p', 'a', 'b')], new Set(['b']), new Set(['a', 'b']))).toEqual(
      new Set(['d']),
    );
    expect(deleteFilesToDrop([del('d', 'p', 'a', 'gone')], new Set(), new Set(['a']))).toEqual(
      new Set(['d']),
    );
    expect(deleteFilesToDrop([del('d', 'p', 'a')], new Set(), new Set(['a']))).toEqual(new Set());
  });
});
