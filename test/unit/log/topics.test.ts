import { tableTopic } from '../../../src/log/topics';

describe('table topic names', () => {
  it('keeps names Kafka allows as they are (Debezium names)', () => {
    expect(tableTopic('shop', { schema: 'public', table: 'order_items-2024' })).toBe(
      'shop.public.order_items-2024',
    );
    expect(tableTopic('shop', { schema: 'Sales', table: 'User' })).toBe('shop.Sales.User');
  });

  it("maps other names into Kafka's alphabet, keeping apart names that map alike", () => {
    const names = ['Order Items', 'Order_Items', 'Order$Items', 'Ordér Items', 'Order.Items', 'Order Items '];
    const topics = names.map((table) => tableTopic('shop', { schema: 'public', table }));
    for (const t of topics) expect(t).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(new Set(topics).size).toBe(names.length);
    expect(topics[0]).toMatch(/^shop\.public\.Order_Items_[0-9a-f]{8}$/);
    // a dot inside a name cannot make two tables share a topic
    expect(tableTopic('p', { schema: 'a.b', table: 'c' })).not.toBe(
      tableTopic('p', { schema: 'a', table: 'b.c' }),
    );
    // the same name always gives the same topic (source and sinks compute it apart)
    expect(tableTopic('shop', { schema: 'public', table: 'Order Items' })).toBe(topics[0]);
  });
});
