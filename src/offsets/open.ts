import type { Config } from '../config/load';
import { FileOffsetStore } from './file-offset-store';
import type { OffsetStore } from './offset-store';
import { RedisOffsetStore } from './redis-offset-store';

export function openOffsetStore(config: Config): OffsetStore {
  return config.offsets.kind === 'redis'
    ? new RedisOffsetStore(config.offsets.url.reveal(), config.pipeline)
    : new FileOffsetStore(config.offsets.path);
}
