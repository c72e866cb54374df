import { TidemarkError } from '../core/errors';
import type { RawConfig } from './schema';

/**
 * Keys the schema reserves for features this build does not carry out yet. Accepting them
 * silently would leave a user believing the pipeline does what it does not, so a
 * value other than the default is refused at start, naming the key.
 */
export function refuseUnsupported(raw: RawConfig): void {
  const refuse = (key: string, what: string) => {
    throw new TidemarkError('config', `config key "${key}": ${what} is not available in this build`, {
      fix: `remove "${key}" from the config`,
    });
  };
  if (raw.sinks.iceberg?.namespace !== undefined)
    refuse('sinks.iceberg.namespace', 'a namespace other than the source schema');
}
