import { readFileSync } from 'node:fs';
import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import { FileOffsetStore } from './file-offset-store';
import type { OffsetStore } from './offset-store';
import { RedisOffsetStore } from './redis-offset-store';

export function openOffsetStore(config: Config): OffsetStore {
  if (config.offsets.kind === 'file') return new FileOffsetStore(config.offsets.path);
  const { url, caFile } = config.offsets;
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (e) {
      throw new TidemarkError(
        'config',
        `config key "offsets.caFile": cannot read ${caFile}: ${(e as Error).message}`,
      );
    }
  }
  return new RedisOffsetStore(url.reveal(), config.pipeline, ca);
}
