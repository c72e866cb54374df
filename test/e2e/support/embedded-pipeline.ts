import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestDatabase } from '../../support/services';
import { freePort, startTidemark, type TidemarkProcess, writeConfig } from '../../support/tidemark-process';

export interface EmbeddedPipeline {
  readonly dir: string;
  readonly config: string;
  /** The environment the config reads (source URL, metrics port), for the CLI as well. */
  readonly env: Record<string, string>;
  readonly start: () => TidemarkProcess;
}

/**
 * An embedded pipeline (in-process log, file offsets) on `db` in a fresh folder: `tables` is the
 * YAML list's inside, `source` more source keys, `sinks` the lines under `sinks:` after the commit interval (indented two
 * spaces), where `${dir}` stands for the folder.
 */
export async function embeddedPipeline(
  db: TestDatabase,
  o: {
    readonly tables: string;
    readonly sinks: (dir: string) => string;
    readonly prefix: string;
    /** More `source` keys, as YAML flow entries (`snapshotChunkRows: 500`). */
    readonly source?: string;
  },
): Promise<EmbeddedPipeline> {
  const dir = mkdtempSync(join(tmpdir(), `${o.prefix}-`));
  const port = await freePort();
  const config = writeConfig(
    dir,
    'tidemark.yaml',
    `pipeline: ${db.name}
source: { url: "\${SRC_URL}", tables: [${o.tables}]${o.source ? `, ${o.source}` : ''} }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 200
${o.sinks(dir)}
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
  );
  const env = { SRC_URL: db.url, TIDEMARK_METRICS_PORT: String(port) };
  return { dir, config, env, start: () => startTidemark(['run', '--config', config], env, port) };
}
