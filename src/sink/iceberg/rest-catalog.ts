import { DEFAULT_REST_REQUEST_TIMEOUT_MS } from '../../config/defaults';
import type { Secret } from '../../config/secret';
import { TidemarkError } from '../../core/errors';
import { createLogger, type Logger } from '../../observe/logger';
import type { Catalog, CommittedTable, MetadataSwap, SwapOutcome, TableIdent } from './catalog';
import { identText } from './catalog';
import { RestHttp, type RestResponse, RestTransportError, restError } from './rest-http';
import { deriveTableChange, type TableChange } from './rest-updates';
import { parseTableMetadata } from './table-metadata';

export interface RestCatalogOptions {
  /** The catalog's base URL, e.g. http://host:8181 (the routes are <url>/v1/…). */
  readonly url: string;
  /** The warehouse to ask the server's configuration for (GET /v1/config?warehouse=…). */
  readonly warehouse?: string;
  readonly token?: Secret;
  readonly credential?: Secret;
  readonly oauth2ServerUri?: string;
  readonly scope?: string;
  readonly caFile?: string;
  readonly requestTimeoutMs?: number;
  /**
   * A server without POST /v1/{prefix}/transactions/commit: commit a multi-table swap table by
   * table (their atomicity is lost) instead of refusing it.
   */
  readonly allowNonAtomicCommits?: boolean;
  /** Tables and namespaces per listing page (pagination); the server's default when absent. */
  readonly pageSize?: number;
  readonly log?: Logger;
}

const TRANSACTIONS_ENDPOINT = 'POST /v1/{prefix}/transactions/commit';

/**
 * An Iceberg REST catalog (rest-catalog-open-api.yaml). The server writes the metadata files:
 * a swap is sent as requirements and updates derived from the expected and next metadata
 * objects (rest-updates.ts), and a committed swap reports the server's new metadata location.
 *
 * - A new table is registered (POST …/register) with the first metadata file tidemark wrote, so
 *   the table keeps tidemark's uuid, field ids, identifier fields and partition field ids exactly
 *   (createTable would have the server assign its own ids, which tidemark's id-based schema
 *   evolution and its attnum map cannot follow).
 * - Several tables commit atomically through POST …/transactions/commit. A server without it
 *   (its /v1/config `endpoints` lack it, or it answers 404/405/501) gets one commit per table
 *   only with `allowNonAtomicCommits`: the tables of one round may then land apart (a crash or a
 *   conflict between two of them leaves some committed and the others not), which breaks the
 *   all-tables-or-none guarantee; without the flag such a swap is refused (a config error).
 * - Outcomes: 409 (CommitFailedException: a requirement failed) → conflict, nothing landed;
 *   5xx, a timeout or a broken connection during a commit → unknown (the caller looks for its
 *   commit id); any other 4xx → a TidemarkError saying what the server refused.
 * - Namespaces are one level (the source schema); tables are dropped without purging files.
 */
export class RestCatalog implements Catalog {
  readonly writesMetadata = true;
  private warnedPerTable = false;

  private constructor(
    readonly name: string,
    private readonly http: RestHttp,
    private readonly prefix: string,
    private transactions: 'advertised' | 'assumed' | 'missing',
    private readonly opts: RestCatalogOptions,
    private readonly log: Logger,
  ) {}

  /** Reads the server's configuration (prefix, defaults and overrides) and checks it answers. */
  static async open(opts: RestCatalogOptions): Promise<RestCatalog> {
    const log = opts.log ?? createLogger('warn', { component: 'iceberg-rest-catalog' });
    const http = new RestHttp({
      url: opts.url,
      auth: {
        token: opts.token,
        credential: opts.credential,
        oauth2ServerUri: opts.oauth2ServerUri,
        scope: opts.scope,
      },
      caFile: opts.caFile,
      timeoutMs: opts.requestTimeoutMs ?? DEFAULT_REST_REQUEST_TIMEOUT_MS,
    });
    const where = `REST catalog ${redactedOrigin(opts.url)}`;
    let res: RestResponse;
    try {
      const q = opts.warehouse === undefined ? '' : `?warehouse=${encodeURIComponent(opts.warehouse)}`;
      res = await http.request('GET', `v1/config${q}`);
    } catch (e) {
      http.close();
      if (e instanceof TidemarkError) throw e;
      throw new TidemarkError(
        'transient',
        `${where}: no answer to GET /v1/config (${(e as Error).message})`,
        {
          cause: e,
          fix: 'check sinks.iceberg.catalog.url and that the catalog server is up',
        },
      );
    }
    if (res.status !== 200) {
      http.close();
      throw new TidemarkError(
        res.status >= 500 ? 'transient' : 'config',
        `${where}: GET /v1/config answered HTTP ${res.status}: ${restError(res).message}`,
        { fix: 'check sinks.iceberg.catalog (url, warehouse, token or credential)' },
      );
    }
    const cfg = (res.body ?? {}) as {
      defaults?: Record<string, string>;
      overrides?: Record<string, string>;
      endpoints?: string[];
    };
    // Spec: defaults, then the client's own settings, then overrides.
    const props: Record<string, string> = {
      ...cfg.defaults,
      ...(opts.warehouse === undefined ? {} : { warehouse: opts.warehouse }),
      ...cfg.overrides,
    };
    if (props.uri && props.uri !== opts.url) http.rebase(props.uri);
    const transactions = !Array.isArray(cfg.endpoints)
      ? 'assumed'
      : cfg.endpoints.includes(TRANSACTIONS_ENDPOINT)
        ? 'advertised'
        : 'missing';
    const catalog = new RestCatalog(
      props.warehouse ?? 'rest',
      http,
      (props.prefix ?? '').replace(/^\/+|\/+$/g, ''),
      transactions,
      opts,
      log,
    );
    if (transactions === 'missing') catalog.warnNoTransactions();
    return catalog;
  }

  private path(...parts: string[]): string {
    return ['v1', ...(this.prefix ? [this.prefix] : []), ...parts].join('/');
  }

  private tablePath(t: TableIdent): string {
    return this.path('namespaces', encodeURIComponent(t.namespace), 'tables', encodeURIComponent(t.name));
  }

  /** A non-commit request: no answer is a transient error (safe to retry). */
  private async call(method: string, path: string, body?: unknown): Promise<RestResponse> {
    try {
      return await this.http.request(method, path, body);
    } catch (e) {
      if (e instanceof TidemarkError) throw e;
      throw new TidemarkError('transient', `REST catalog ${method} /${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** The error for an answer the caller did not expect (never a commit's 409 or 5xx). */
  private refused(what: string, res: RestResponse): TidemarkError {
    const { type, message } = restError(res);
    const text = `REST catalog: ${what} refused with HTTP ${res.status}${type ? ` ${type}` : ''}: ${message}`;
    if (res.status >= 500 || res.status === 419 || res.status === 429)
      return new TidemarkError('transient', text);
    if (res.status === 401 || res.status === 403)
      return new TidemarkError('config', text, {
        fix: 'check the catalog credentials (sinks.iceberg.catalog.token or credential) and their grants',
      });
    if (res.status === 404) return new TidemarkError('schema_incompatible', text);
    if (res.status === 406)
      return new TidemarkError('config', text, { fix: 'the catalog server does not support this operation' });
    return new TidemarkError('internal', text);
  }

  async ensureNamespace(namespace: string): Promise<void> {
    const head = await this.call('HEAD', this.path('namespaces', encodeURIComponent(namespace)));
    if (head.status === 200 || head.status === 204) return;
    if (head.status !== 404) throw this.refused(`namespace ${namespace} lookup`, head);
    const res = await this.call('POST', this.path('namespaces'), { namespace: [namespace], properties: {} });
    if (res.status === 200 || res.status === 409) return; // 409: made meanwhile by another writer
    throw this.refused(`creating namespace ${namespace}`, res);
  }

  async currentLocation(t: TableIdent): Promise<string | null> {
    return (await this.loadTable(t))?.location ?? null;
  }

  /** The table's current metadata location and metadata, or null when it does not exist. */
  async loadTable(t: TableIdent): Promise<CommittedTable | null> {
    const res = await this.call('GET', this.tablePath(t));
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.refused(`loading table ${identText(t)}`, res);
    return this.committedTable(t, res);
  }

  private committedTable(t: TableIdent, res: RestResponse): CommittedTable {
    const b = res.body as { 'metadata-location'?: unknown; metadata?: unknown } | null;
    const location = b?.['metadata-location'];
    if (typeof location !== 'string' || !b?.metadata)
      throw new TidemarkError(
        'corrupt_state',
        `REST catalog: table ${identText(t)} has no metadata location (a staged table?)`,
      );
    return { location, metadata: parseTableMetadata(JSON.stringify(b.metadata), location, identText(t)) };
  }

  async swap(swaps: readonly MetadataSwap[]): Promise<SwapOutcome> {
    const creates = swaps.filter((s) => s.expected === null);
    if (creates.length > 0) {
      if (creates.length !== swaps.length || creates.length > 1)
        throw new TidemarkError(
          'internal',
          'REST catalog: a create is swapped alone (register is not transactional)',
        );
      return this.register(creates[0]!);
    }
    const changes = swaps.map((s) => {
      if (!s.expectedMetadata || !s.nextMetadata)
        throw new TidemarkError(
          'internal',
          `REST catalog: the swap of ${identText(s.table)} carries no metadata objects to derive its change from`,
        );
      return {
        table: s.table,
        change: deriveTableChange(s.expectedMetadata, s.nextMetadata, identText(s.table)),
      };
    });
    if (changes.length === 1) return this.commitTable(changes[0]!.table, changes[0]!.change);
    if (this.transactions !== 'missing') {
      const out = await this.commitTransaction(changes);
      if (out !== 'missing') return out;
      this.transactions = 'missing';
      this.warnNoTransactions();
    }
    return this.commitTableByTable(changes);
  }

  /** POST …/register: the table's first metadata file (written by tidemark) becomes its current one. */
  private async register(s: MetadataSwap): Promise<SwapOutcome> {
    const path = this.path('namespaces', encodeURIComponent(s.table.namespace), 'register');
    let res: RestResponse;
    try {
      res = await this.http.request('POST', path, { name: s.table.name, 'metadata-location': s.next });
    } catch (e) {
      if (e instanceof RestTransportError) return { kind: 'unknown', cause: e };
      throw e;
    }
    if (res.status === 200)
      return {
        kind: 'committed',
        tables: new Map([[identText(s.table), this.committedTable(s.table, res)]]),
      };
    if (res.status === 409) return { kind: 'conflict', table: s.table };
    if (res.status >= 500)
      return { kind: 'unknown', cause: this.refused(`registering ${identText(s.table)}`, res) };
    throw this.refused(`registering table ${identText(s.table)}`, res);
  }

  /** POST …/tables/{table}: one table's commit; the answer carries the server's new metadata. */
  private async commitTable(table: TableIdent, change: TableChange): Promise<SwapOutcome> {
    let res: RestResponse;
    try {
      res = await this.http.request('POST', this.tablePath(table), {
        identifier: identifier(table),
        ...change,
      });
    } catch (e) {
      if (e instanceof RestTransportError) return { kind: 'unknown', cause: e };
      throw e;
    }
    if (res.status === 200)
      return { kind: 'committed', tables: new Map([[identText(table), this.committedTable(table, res)]]) };
    return this.failedCommit(`commit of ${identText(table)}`, table, res);
  }

  private failedCommit(what: string, table: TableIdent, res: RestResponse): SwapOutcome {
    if (res.status === 409) return { kind: 'conflict', table };
    if (res.status >= 500) return { kind: 'unknown', cause: this.refused(what, res) };
    throw this.refused(what, res);
  }

  /** POST …/transactions/commit: all tables or none. 'missing' when the server has no such route. */
  private async commitTransaction(
    changes: readonly { table: TableIdent; change: TableChange }[],
  ): Promise<SwapOutcome | 'missing'> {
    const body = { 'table-changes': changes.map((c) => ({ identifier: identifier(c.table), ...c.change })) };
    let res: RestResponse;
    try {
      res = await this.http.request('POST', this.path('transactions', 'commit'), body);
    } catch (e) {
      if (e instanceof RestTransportError) return { kind: 'unknown', cause: e };
      throw e;
    }
    const { type } = restError(res);
    if (res.status === 405 || res.status === 501 || (res.status === 404 && !/NoSuch/i.test(type)))
      return 'missing';
    const tables = changes.map((c) => c.table);
    if (res.status !== 200 && res.status !== 204)
      return this.failedCommit(
        `commit of ${tables.map(identText).join(', ')}`,
        conflictTable(tables, res),
        res,
      );
    // The answer carries no metadata: load each table. Another writer may have committed after
    // this commit already; the caller sees that by the main snapshot. A table that cannot be
    // loaded now is left out: the caller reloads it before its next use.
    const loaded = new Map<string, CommittedTable>();
    for (const t of tables) {
      const current = await this.loadTable(t).catch(() => null);
      if (current) loaded.set(identText(t), current);
    }
    return { kind: 'committed', tables: loaded };
  }

  private async commitTableByTable(
    changes: readonly { table: TableIdent; change: TableChange }[],
  ): Promise<SwapOutcome> {
    if (!this.opts.allowNonAtomicCommits)
      throw new TidemarkError(
        'config',
        `REST catalog ${this.name}: the server offers no multi-table commit (${TRANSACTIONS_ENDPOINT}), and committing ${changes.map((c) => identText(c.table)).join(', ')} one by one would lose their atomicity`,
        {
          fix: 'use a catalog server that supports transactions/commit, or set sinks.iceberg.catalog.allowNonAtomicCommits: true and accept that a round may land in some tables only',
        },
      );
    const tables = new Map<string, CommittedTable>();
    const landed: string[] = [];
    for (const { table, change } of changes) {
      const out = await this.commitTable(table, change);
      if (out.kind === 'committed') {
        for (const [k, v] of out.tables ?? []) tables.set(k, v);
        landed.push(identText(table));
        continue;
      }
      if (landed.length === 0) return out;
      return {
        kind: 'unknown',
        cause: new Error(
          `non-atomic commit: ${landed.join(', ')} committed, ${identText(table)} ${out.kind === 'conflict' ? 'conflicted' : 'unknown'}; the remaining tables were not sent`,
        ),
      };
    }
    return { kind: 'committed', tables };
  }

  private warnNoTransactions(): void {
    if (this.warnedPerTable) return;
    this.warnedPerTable = true;
    this.log.warn(
      { catalog: this.name, allowNonAtomicCommits: !!this.opts.allowNonAtomicCommits },
      this.opts.allowNonAtomicCommits
        ? 'REST CATALOG WITHOUT MULTI-TABLE COMMITS: each table of a round is committed on its own; ATOMICITY ACROSS TABLES IS LOST (a failure between two tables leaves the round in some tables only)'
        : 'REST catalog without multi-table commits: a round touching several tables will be refused (set sinks.iceberg.catalog.allowNonAtomicCommits to commit them one by one, losing their atomicity)',
    );
  }

  async dropTable(t: TableIdent): Promise<void> {
    const res = await this.call('DELETE', `${this.tablePath(t)}?purgeRequested=false`);
    if (res.status === 200 || res.status === 204 || res.status === 404) return;
    throw this.refused(`dropping table ${identText(t)}`, res);
  }

  async listTables(namespace?: string): Promise<TableIdent[]> {
    const namespaces =
      namespace === undefined
        ? (await this.listPages(this.path('namespaces'), 'namespaces')).map((n) => (n as string[]).join('.'))
        : [namespace];
    const out: TableIdent[] = [];
    for (const ns of namespaces) {
      const ids = await this.listPages(
        this.path('namespaces', encodeURIComponent(ns), 'tables'),
        'identifiers',
      );
      for (const id of ids as { namespace: string[]; name: string }[])
        out.push({ namespace: id.namespace.join('.'), name: id.name });
    }
    return out.sort((a, b) => identText(a).localeCompare(identText(b)));
  }

  /** Every item of a paginated listing (spec: pageToken / next-page-token). */
  private async listPages(path: string, field: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let token: string | null = null;
    do {
      const q = new URLSearchParams();
      if (token !== null) q.set('pageToken', token);
      if (this.opts.pageSize !== undefined) q.set('pageSize', String(this.opts.pageSize));
      const query = q.toString();
      const res = await this.call('GET', query ? `${path}?${query}` : path);
      if (res.status !== 200) throw this.refused(`listing /${path}`, res);
      const b = res.body as Record<string, unknown>;
      items.push(...((b[field] as unknown[]) ?? []));
      const next = b['next-page-token'];
      token = typeof next === 'string' && next !== '' ? next : null;
    } while (token !== null);
    return items;
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

function identifier(t: TableIdent): { namespace: string[]; name: string } {
  return { namespace: [t.namespace], name: t.name };
}

/** The table a 409 of a multi-table commit names, when its message names one; else the first. */
function conflictTable(tables: readonly TableIdent[], res: RestResponse): TableIdent {
  const { message } = restError(res);
  return tables.find((t) => message.includes(identText(t))) ?? tables[0]!;
}

function redactedOrigin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, '')}`;
  } catch {
    return '(invalid url)';
  }
}
