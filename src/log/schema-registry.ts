import type { Kafka } from 'kafkajs';
import { type TableSchema, tableKey } from '../core/table-schema';
import { readToEnd } from './read-to-end';
import { decodeSchemaRecord } from './schema-record';
import { schemaTopic } from './topics';

/**
 * Every table schema version the source published, read from the compacted schema topic.
 * `refresh()` reads up to the topic's current end, so after it returns every version that
 * was published before the call is known: the source publishes a version before any event
 * that uses it, so a reader that refreshes on an unknown version always finds it.
 */
export class SchemaRegistry {
  private readonly versions = new Map<string, Map<number, TableSchema>>();
  /** schema → table → version → schema: `get` runs for every change read, without building a key. */
  private readonly bySchema = new Map<string, Map<string, Map<number, TableSchema>>>();
  private readOffset = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly topicPrefix: string,
  ) {}

  get(schema: string, table: string, version: number): TableSchema | undefined {
    return this.bySchema.get(schema)?.get(table)?.get(version);
  }

  latest(schema: string, table: string): TableSchema | undefined {
    const v = this.versions.get(`${schema}.${table}`);
    if (!v || v.size === 0) return undefined;
    return v.get(Math.max(...v.keys()));
  }

  tables(): TableSchema[] {
    return [...this.versions.keys()].map((k) => {
      const [schema, ...rest] = k.split('.');
      return this.latest(schema!, rest.join('.'))!;
    });
  }

  add(s: TableSchema): void {
    let v = this.versions.get(tableKey(s));
    if (!v) {
      this.versions.set(tableKey(s), (v = new Map()));
      let tables = this.bySchema.get(s.schema);
      if (!tables) this.bySchema.set(s.schema, (tables = new Map()));
      tables.set(s.table, v);
    }
    v.set(s.version, s);
  }

  async refresh(): Promise<void> {
    const topic = schemaTopic(this.topicPrefix);
    await readToEnd(
      this.kafka,
      [topic],
      ({ message }) => {
        if (message.value) this.add(decodeSchemaRecord(message.value.toString('utf8')));
        this.readOffset = Number(message.offset) + 1;
      },
      new Map([[`${topic}/0`, this.readOffset]]),
    );
  }
}
