import { Client } from 'pg';
import { LARGE_TEXT_SQL } from './shop-schema';

/** One kind of business transaction and how often it is picked (weights sum to 100). */
interface Action {
  readonly weight: number;
  readonly run: (c: Client) => Promise<void>;
}

const ACTIONS: readonly Action[] = [
  {
    // A new order with 1 to 4 lines, its total computed in the same transaction.
    weight: 40,
    run: async (c) => {
      const o = await c.query(
        `INSERT INTO orders (customer_id) SELECT id FROM customers TABLESAMPLE SYSTEM_ROWS(1) RETURNING id`,
      );
      const id = o.rows[0]?.id;
      if (id === undefined) return;
      await c.query(
        `INSERT INTO order_items (order_id, line, product_id, quantity, unit_price)
         SELECT $1, l, p.id, 1 + (random() * 3)::int, p.price
         FROM generate_series(1, 1 + (random() * 3)::int) l
         CROSS JOIN LATERAL (SELECT id, price FROM products TABLESAMPLE SYSTEM_ROWS(1) WHERE l > 0) p`,
        [id],
      );
      await c.query(
        `UPDATE orders SET total = (SELECT coalesce(sum(quantity * unit_price), 0) FROM order_items WHERE order_id = $1)
         WHERE id = $1`,
        [id],
      );
    },
  },
  {
    // An order moves on; the newest orders are the ones that change.
    weight: 30,
    run: (c) =>
      c
        .query(
          `UPDATE orders SET updated_at = now(),
             status = CASE status WHEN 'pending' THEN 'paid' WHEN 'paid' THEN 'shipped' ELSE 'delivered' END::order_status
           WHERE id = (SELECT max(id) - (random() * 500)::int FROM orders) AND status <> 'cancelled'`,
        )
        .then(() => undefined),
  },
  {
    // A price change: the TOASTed description is not rewritten, so the stream marks it unchanged.
    weight: 12,
    run: (c) =>
      c
        .query(
          `UPDATE products SET price = round((price * (0.9 + random() * 0.2))::numeric, 2)
           WHERE id = (SELECT id FROM products TABLESAMPLE SYSTEM_ROWS(1))`,
        )
        .then(() => undefined),
  },
  {
    weight: 4,
    run: (c) =>
      c
        .query(
          `UPDATE products SET description = ${LARGE_TEXT_SQL}, attributes = attributes || jsonb_build_object('rev', now())
           WHERE id = (SELECT id FROM products TABLESAMPLE SYSTEM_ROWS(1))`,
        )
        .then(() => undefined),
  },
  {
    // A cancelled order is deleted with its lines (ON DELETE CASCADE: deletes in two tables).
    weight: 8,
    run: (c) =>
      c
        .query(`DELETE FROM orders WHERE id = (SELECT max(id) - (random() * 2000)::int FROM orders)`)
        .then(() => undefined),
  },
  {
    weight: 4,
    run: (c) =>
      c
        .query(
          `INSERT INTO customers (email, name, country)
           SELECT 'new' || md5(random()::text) || '@example.com', 'New customer', 'FR'`,
        )
        .then(() => undefined),
  },
  {
    weight: 2,
    run: (c) =>
      c
        .query(
          `UPDATE customers SET email = 'moved' || md5(random()::text) || '@example.com'
           WHERE id = (SELECT id FROM customers TABLESAMPLE SYSTEM_ROWS(1))`,
        )
        .then(() => undefined),
  },
];

function pick(): Action {
  let r = Math.random() * 100;
  for (const a of ACTIONS) {
    r -= a.weight;
    if (r < 0) return a;
  }
  return ACTIONS[0]!;
}

export interface WorkloadStats {
  transactions: number;
  failures: number;
  lastError: string | null;
}

/**
 * Runs shop transactions at about `ratePerSecond` until stopped. Each one is a real
 * transaction (BEGIN … COMMIT); a failure (e.g. a concurrent delete) is counted and the
 * workload goes on.
 */
export class ShopWorkload {
  readonly stats: WorkloadStats = { transactions: 0, failures: 0, lastError: null };
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly url: string,
    private readonly ratePerSecond: number,
  ) {}

  async start(): Promise<void> {
    const c = new Client({ connectionString: this.url, application_name: 'tidemark-demo-workload' });
    c.on('error', () => {});
    await c.connect();
    await c.query('CREATE EXTENSION IF NOT EXISTS tsm_system_rows');
    this.loop = this.run(c).finally(() => c.end().catch(() => {}));
  }

  private async run(c: Client): Promise<void> {
    const started = Date.now();
    while (!this.stopping) {
      const due = started + (this.stats.transactions * 1000) / this.ratePerSecond;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 200)));
      if (this.stopping || Date.now() < due) continue;
      try {
        await c.query('BEGIN');
        await pick().run(c);
        await c.query('COMMIT');
      } catch (e) {
        this.stats.failures++;
        this.stats.lastError = (e as Error).message;
        await c.query('ROLLBACK').catch(() => {});
      }
      this.stats.transactions++;
    }
  }

  /** Stops after the transaction in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }
}
