import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTidemarkError, TidemarkError } from '../../core/errors';

/**
 * Storage of data, delete, manifest and metadata files. Locations are URIs as written into
 * metadata (file:///…, s3://…). `write` resolves only once the bytes are durable; files are
 * never overwritten (every location tidemark writes is new), so a write is idempotent.
 */
export interface FileIO {
  write(location: string, bytes: Uint8Array): Promise<void>;
  read(location: string): Promise<Uint8Array>;
  exists(location: string): Promise<boolean>;
  delete(location: string): Promise<void>;
  /** Every file under a location prefix, with its modification time (orphan removal). */
  list(prefix: string): Promise<{ location: string; modifiedMs: number }[]>;
}

/** Local filesystem FileIO; locations are file:// URIs (readers resolve them without configuration). */
export class LocalFileIO implements FileIO {
  async write(location: string, bytes: Uint8Array): Promise<void> {
    const path = toPath(location);
    await fs.mkdir(dirname(path), { recursive: true });
    const handle = await fs.open(path, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async read(location: string): Promise<Uint8Array> {
    return fs.readFile(toPath(location));
  }

  async exists(location: string): Promise<boolean> {
    return fs.access(toPath(location)).then(
      () => true,
      () => false,
    );
  }

  async delete(location: string): Promise<void> {
    await fs.rm(toPath(location), { force: true });
  }

  async list(prefix: string): Promise<{ location: string; modifiedMs: number }[]> {
    const root = toPath(prefix);
    const out: { location: string; modifiedMs: number }[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = `${dir}/${e.name}`;
        if (e.isDirectory()) await walk(p);
        else out.push({ location: `file://${p}`, modifiedMs: (await fs.stat(p)).mtimeMs });
      }
    };
    await walk(root.replace(/\/$/, ''));
    return out;
  }
}

export function toPath(location: string): string {
  return location.startsWith('file:') ? fileURLToPath(location) : location;
}

/**
 * The error for a file a table needs and could not read. A missing or unreadable file is
 * corrupt state; but a storage that is down or refuses us (an S3 outage past the SDK's retries,
 * expired credentials) keeps its own kind, so that the daemon retries or says what to fix instead
 * of declaring the table corrupt.
 */
export function unreadable(e: unknown, message: string): TidemarkError {
  if (isTidemarkError(e, 'transient') || isTidemarkError(e, 'config'))
    return new TidemarkError(e.kind, `${message}: ${e.message}`, { cause: e, fix: e.fix });
  return new TidemarkError('corrupt_state', `${message}: ${whyUnreadable(e)}`, {
    cause: e,
    fix: 'restore the file from a backup, or rebuild the table (drop it and copy the source again)',
  });
}

/** The cause in words: a missing file said plainly (local ENOENT, S3 NoSuchKey / 404). */
function whyUnreadable(e: unknown): string {
  const x = e as { code?: string; name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
  if (
    x?.code === 'ENOENT' ||
    x?.name === 'NoSuchKey' ||
    x?.name === 'NotFound' ||
    x?.$metadata?.httpStatusCode === 404
  )
    return 'it does not exist';
  return x?.message ?? String(e);
}
