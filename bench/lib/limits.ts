import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { withClient } from './bench-table';

const run = promisify(execFile);

/** Seconds a child process took, failing with its stderr when it fails. */
async function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ seconds: number; stdout: string }> {
  const t0 = performance.now();
  const { stdout } = await run(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  return { seconds: (performance.now() - t0) / 1000, stdout };
}

/**
 * The decoding limit: pg_recvlogical streams the slot (pgoutput, the plugin tidemark reads) to
 * /dev/null up to `endLsn`. The slot and publication must exist before the changes were written.
 */
export async function recvlogicalSeconds(
  pgBin: string,
  url: string,
  slot: string,
  publication: string,
  endLsn: string,
): Promise<number> {
  const r = await timed(`${pgBin}/pg_recvlogical`, [
    '-d',
    url,
    '--slot',
    slot,
    '--start',
    '--no-loop',
    '--endpos',
    endLsn,
    '-o',
    'proto_version=1',
    '-o',
    `publication_names=${publication}`,
    '-f',
    '/dev/null',
  ]);
  return r.seconds;
}

export async function createRawSlot(
  url: string,
  slot: string,
  publication: string,
  table: string,
): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`CREATE PUBLICATION ${publication} FOR TABLE ${table}`);
    await c.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  });
}

export async function dropRawSlot(url: string, slot: string): Promise<void> {
  await withClient(url, (c) => c.query('SELECT pg_drop_replication_slot($1)', [slot]));
}

/** The snapshot-read limit: COPY … TO STDOUT into /dev/null on one connection. */
export async function copyOutSeconds(pgBin: string, url: string, table: string): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(`${pgBin}/psql`, [url, '-q', '-c', `COPY ${table} TO STDOUT`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql COPY failed: ${err}`))));
  });
  return (performance.now() - t0) / 1000;
}

/**
 * The log's limit: Kafka's own ProducerPerformance (from the broker's jars) sending `records`
 * records of `bytes` bytes with acks=all, as tidemark's producer does. Returns records/s.
 */
export async function kafkaProducerRate(
  kafkaLibs: string,
  brokers: string,
  topic: string,
  records: number,
  bytes: number,
  compression: string,
): Promise<number> {
  const { stdout } = await timed('java', [
    '-Xmx512m',
    '-cp',
    `${kafkaLibs}/*`,
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    topic,
    '--num-records',
    String(records),
    '--record-size',
    String(bytes),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${brokers}`,
    'acks=all',
    `compression.type=${compression}`,
    'linger.ms=5',
  ]);
  const m = /([\d.]+) records\/sec \(/.exec(stdout.trim().split('\n').at(-1) ?? '');
  if (!m) throw new Error(`cannot read ProducerPerformance's figure from:\n${stdout}`);
  return Number(m[1]);
}
