import { TidemarkError } from '../../../src/core/errors';
import { unreadable } from '../../../src/sink/iceberg/file-io';

describe('unreadable', () => {
  it('keeps a storage outage transient and a refusal a config error; anything else is corrupt state', () => {
    const outage = unreadable(
      new TidemarkError('transient', 's3 503 SlowDown'),
      'table t: manifest m cannot be read',
    );
    expect(outage.kind).toBe('transient');
    expect(outage.message).toBe('table t: manifest m cannot be read: s3 503 SlowDown');
    const refused = unreadable(
      new TidemarkError('config', 'AccessDenied', { fix: 'check the credentials' }),
      'table t: data file d cannot be read',
    );
    expect(refused.kind).toBe('config');
    expect(refused.fix).toBe('check the credentials');
    const broken = unreadable(new Error('invalid parquet magic'), 'table t: data file d cannot be read');
    expect(broken.kind).toBe('corrupt_state');
    expect(broken.message).toBe('table t: data file d cannot be read: invalid parquet magic');
    const missing = unreadable(
      Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' }),
      'table t: data file d cannot be read',
    );
    expect(missing.kind).toBe('corrupt_state');
    expect(missing.message).toBe('table t: data file d cannot be read: it does not exist');
  });
});
