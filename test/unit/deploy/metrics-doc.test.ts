import { exportedMetrics } from './exported-metrics';
import { readText } from './support';

describe('docs/METRICS.md', () => {
  it('documents every metric the code exports, with its type and labels', async () => {
    const doc = readText('docs', 'METRICS.md');
    const { byRegistry, bySource } = await exportedMetrics();
    const missing: string[] = [];
    for (const [name, m] of new Map([...byRegistry, ...bySource])) {
      if (!name.startsWith('tidemark_') || name.startsWith('tidemark_process_')) continue;
      const row = new RegExp(`^\\| \`${name}\` \\| ${m.type} \\| ${m.labels.join(', ')} \\|`, 'm');
      if (!row.test(doc)) missing.push(`${name} (${m.type}; ${m.labels.join(', ') || 'no labels'})`);
    }
    expect(missing).toEqual([]);
  });
});
