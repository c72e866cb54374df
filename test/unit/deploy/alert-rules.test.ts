import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readText, run, tool } from './support';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules: Rule[] = parseYaml(readText('deploy', 'prometheus', 'alerts.yaml')).groups.flatMap(
  (g: { rules: Rule[] }) => g.rules,
);
const alerts = rules.filter((r) => r.alert);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 _-]/g, '')
        .replace(/ /g, '-'),
    );
  }
  return out;
}

describe('Prometheus alert rules (deploy/prometheus/alerts.yaml)', () => {
  it('pass promtool check rules', () => {
    const r = run(tool('promtool'), ['check', 'rules', 'deploy/prometheus/alerts.yaml']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('fire, and stay silent, as the promtool unit tests expect', () => {
    const r = run(tool('promtool'), ['test', 'rules', 'test/unit/deploy/alerts.promtool.yaml']);
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('promtool test rules fails when a threshold moves (the unit tests can fail)', () => {
    // The same tests against a copy of the rules whose slot-lag threshold is 2 GiB instead of 1.
    const moved = readText('deploy', 'prometheus', 'alerts.yaml').replace(
      'tidemark_source_slot_lag_bytes > 1073741824',
      'tidemark_source_slot_lag_bytes > 2147483648',
    );
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-rules-'));
    try {
      writeFileSync(join(dir, 'alerts.yaml'), moved);
      const tests = readText('test', 'unit', 'deploy', 'alerts.promtool.yaml');
      writeFileSync(
        join(dir, 'tests.yaml'),
        tests.replace('../../../helm/tidemark/files/alerts.yaml', 'alerts.yaml'),
      );
      const r = run(tool('promtool'), ['test', 'rules', join(dir, 'tests.yaml')]);
      expect(r.status).toBe(1);
      expect(r.stdout + r.stderr).toContain('alertname: TidemarkSlotLagHigh');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('covers what the issue asks for', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'TidemarkDown',
        'TidemarkSlotLagHigh',
        'TidemarkSlotLagGrowing',
        'TidemarkRetainedWalHigh',
        'TidemarkNoCommit',
        'TidemarkDeadLetters',
        'TidemarkCommitFailures',
        'TidemarkFencingStorm',
      ]),
    );
  });

  it.each(alerts.map((a) => [a.alert!, a]))(
    '%s has a severity, a summary, a description and a runbook section',
    (name, a) => {
      expect(['info', 'warning', 'critical']).toContain(a.labels?.severity);
      expect(a.annotations?.summary).toBeTruthy();
      expect(a.annotations?.description).toBeTruthy();
      expect(a.annotations?.runbook).toBe(`docs/OPERATIONS.md#${name.toLowerCase()}`);
      expect(anchors(readText('docs', 'OPERATIONS.md'))).toContain(name.toLowerCase());
    },
  );

  it('every alert is shown firing by the promtool unit tests', () => {
    const tests = parseYaml(readText('test', 'unit', 'deploy', 'alerts.promtool.yaml'));
    const fired = new Set<string>();
    for (const t of tests.tests) {
      for (const a of t.alert_rule_test ?? []) if (a.exp_alerts?.length > 0) fired.add(a.alertname);
    }
    expect(alerts.map((a) => a.alert).filter((n) => !fired.has(n!))).toEqual([]);
  });
});
