/**
 * The demo's shop: customers, products (with descriptions large enough to be TOASTed, so that
 * updates leave them "unchanged" in the stream), orders with an enum status, and order items
 * keyed by (order_id, line). Seeded with generate_series so the initial snapshot has something
 * to show progress on.
 */
export const SHOP_TABLES = ['customers', 'products', 'orders', 'order_items'] as const;
export type ShopTable = (typeof SHOP_TABLES)[number];

export const SHOP_DDL = `
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled');
CREATE TABLE customers (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  country char(2) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
  id serial PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  title text NOT NULL,
  description text NOT NULL,
  price numeric(10, 2) NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  attributes jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers,
  status order_status NOT NULL DEFAULT 'pending',
  total numeric(12, 2) NOT NULL DEFAULT 0,
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE order_items (
  order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
  line int NOT NULL,
  product_id int NOT NULL REFERENCES products,
  quantity int NOT NULL,
  unit_price numeric(10, 2) NOT NULL,
  PRIMARY KEY (order_id, line)
);
`;

/** About 6 KB of barely compressible text: stored out of line (TOAST) by Postgres. */
export const LARGE_TEXT_SQL = `(SELECT string_agg(md5(random()::text || g::text), ' ') FROM generate_series(1, 190) g)`;

export interface SeedSizes {
  readonly customers: number;
  readonly products: number;
  readonly orders: number;
}

export function seedSizes(scale: number): SeedSizes {
  return {
    customers: Math.round(10_000 * scale),
    products: Math.max(10, Math.round(1_000 * scale)),
    orders: Math.round(40_000 * scale),
  };
}

/** Statements that fill the shop; order_items get 1 to 4 lines per order. */
export function seedStatements(s: SeedSizes): string[] {
  return [
    `INSERT INTO customers (email, name, country, created_at)
     SELECT 'customer' || g || '@example.com', 'Customer ' || g,
            (ARRAY['FR','DE','US','JP','BR','IN','NG','GB'])[1 + g % 8], now() - (g || ' minutes')::interval
     FROM generate_series(1, ${s.customers}) g`,
    `INSERT INTO products (sku, title, description, price, tags, attributes)
     SELECT 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g, ${LARGE_TEXT_SQL},
            round((1 + random() * 200)::numeric, 2), ARRAY['tag' || g % 7, 'tag' || g % 11],
            jsonb_build_object('color', (ARRAY['red','green','blue'])[1 + g % 3], 'weight_g', g % 900)
     FROM generate_series(1, ${s.products}) g`,
    `INSERT INTO orders (customer_id, status, note, created_at, updated_at)
     SELECT 1 + g % ${s.customers}, (ARRAY['pending','paid','shipped','delivered']::order_status[])[1 + g % 4],
            CASE WHEN g % 10 = 0 THEN 'gift wrap please' END, now() - (g || ' seconds')::interval, now()
     FROM generate_series(1, ${s.orders}) g`,
    `INSERT INTO order_items (order_id, line, product_id, quantity, unit_price)
     SELECT o.id, l, 1 + (o.id * 7 + l) % ${s.products}, 1 + (o.id + l) % 3, p.price
     FROM orders o CROSS JOIN LATERAL generate_series(1, 1 + o.id % 4) l
     JOIN products p ON p.id = 1 + (o.id * 7 + l) % ${s.products}`,
    `UPDATE orders o SET total = t.sum FROM (
       SELECT order_id, sum(quantity * unit_price) AS sum FROM order_items GROUP BY order_id) t
     WHERE t.order_id = o.id`,
  ];
}
