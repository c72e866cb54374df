import { TidemarkError } from '../../../src/core/errors';
import { openFileIO } from '../../../src/sink/iceberg/open-file-io';
import { parseS3Location } from '../../../src/sink/iceberg/s3-file-io';

describe('S3 locations', () => {
  it('splits s3:// and s3a:// URIs into bucket and key', () => {
    expect(parseS3Location('s3://lake/warehouse/public/t/data/a.parquet')).toEqual({
      scheme: 's3',
      bucket: 'lake',
      key: 'warehouse/public/t/data/a.parquet',
    });
    expect(parseS3Location('s3a://lake/x')).toEqual({ scheme: 's3a', bucket: 'lake', key: 'x' });
    expect(parseS3Location('s3://lake/')).toEqual({ scheme: 's3', bucket: 'lake', key: '' });
    expect(parseS3Location('s3://lake')).toEqual({ scheme: 's3', bucket: 'lake', key: '' });
    expect(() => parseS3Location('file:///tmp/x')).toThrow(TidemarkError);
  });

  it('refuses a location without a bucket, naming the key', async () => {
    await expect(openFileIO({ location: 's3:///warehouse' })).rejects.toMatchObject({
      kind: 'config',
      message: expect.stringMatching(
        /^config key "sinks.iceberg.location": "s3:\/\/\/warehouse" names no bucket/,
      ),
    });
  });
});
