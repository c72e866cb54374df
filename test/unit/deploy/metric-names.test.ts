import { parse as parseYaml } from 'yaml';
import { type ExportedMetric, exportedMetrics, seriesNames } from './exported-metrics';
import { promqlRefs } from './promql';
import { readText } from './support';

/** Labels a scrape adds to every series (Prometheus, and the chart's ServiceMonitor: job, role). */
const TARGET_LABELS = ['job', 'instance', 'role', 'namespace', 'pod', 'service', 'container', 'endpoint'];
/** Labels every tidemark metric carries (the registry's default label). */
const DEFAULT_LABELS = ['pipeline'];

interface Expr {
  where: string;
  expr: string;
  /** Labels the expression's result must offer (legend {{label}}, annotations' $labels.label). */
  usesLabels: string[];
}

function dashboardExprs(): {
  exprs: Expr[];
  labelValues: Array<{ where: string; metricExpr: string; label: string }>;
} {
  const dash = JSON.parse(readText('deploy', 'grafana', 'tidemark.json'));
  const exprs: Expr[] = [];
  const walk = (panels: Array<Record<string, unknown>>) => {
    for (const p of panels) {
      for (const t of (p.targets as Array<{ expr: string; legendFormat?: string }>) ?? []) {
        const usesLabels = [...(t.legendFormat ?? '').matchAll(/\{\{\s*([a-zA-Z_]+)\s*\}\}/g)].map(
          (m) => m[1]!,
        );
        exprs.push({ where: `dashboard panel "${p.title}"`, expr: t.expr, usesLabels });
      }
      walk((p.panels as Array<Record<string, unknown>>) ?? []);
    }
  };
  walk(dash.panels);
  const labelValues = (dash.templating.list as Array<{ name: string; definition?: string }>)
    .filter((v) => v.definition)
    .map((v) => {
      const m = /^label_values\((.*),\s*([a-zA-Z_]+)\)$/.exec(v.definition!);
      if (!m) throw new Error(`dashboard variable ${v.name}: not a label_values() query`);
      return { where: `dashboard variable $${v.name}`, metricExpr: m[1]!, label: m[2]! };
    });
  return { exprs, labelValues };
}

function ruleExprs(): { exprs: Expr[]; recorded: Set<string> } {
  const rules = parseYaml(readText('deploy', 'prometheus', 'alerts.yaml'));
  const exprs: Expr[] = [];
  const recorded = new Set<string>();
  for (const g of rules.groups) {
    for (const r of g.rules) {
      // Recording rules here hold operator-set constants (vector(...)), not metrics.
      if (r.record) {
        recorded.add(r.record);
        continue;
      }
      const text = Object.values(r.annotations ?? {}).join(' ');
      const usesLabels = [...text.matchAll(/\$labels\.([a-zA-Z_]+)/g)].map((m) => m[1]!);
      exprs.push({ where: `alert ${r.alert}`, expr: r.expr, usesLabels });
    }
  }
  return { exprs, recorded };
}

describe('metric names in the dashboard and the alert rules', () => {
  let series: Map<string, string[]>;
  let exported: Map<string, ExportedMetric>;

  beforeAll(async () => {
    const { byRegistry, bySource } = await exportedMetrics();
    exported = new Map([...byRegistry, ...bySource]);
    series = new Map();
    for (const [name, m] of exported) {
      for (const s of seriesNames(name, m.type)) {
        series.set(s, [...m.labels, ...DEFAULT_LABELS, ...(s.endsWith('_bucket') ? ['le'] : [])]);
      }
    }
    // The two routes agree on every tidemark metric the registry knows (so the source scan is no empty list).
    for (const [name, m] of byRegistry) {
      if (name.startsWith('tidemark_process_')) continue;
      expect({ name, ...bySource.get(name) }).toEqual({ name, type: m.type, labels: m.labels });
    }
  });

  it('finds the metrics the stages export', () => {
    for (const name of [
      'tidemark_source_slot_lag_bytes',
      'tidemark_source_slot_retained_wal_bytes',
      'tidemark_sink_commits_total',
      'tidemark_sink_dead_letters_total',
      'tidemark_log_produce_seconds',
      'tidemark_process_process_start_time_seconds',
    ]) {
      expect(exported.has(name)).toBe(true);
    }
    expect(series.get('tidemark_sink_commit_duration_seconds_bucket')).toEqual(['sink', 'pipeline', 'le']);
  });

  const { exprs: dashExprs, labelValues } = dashboardExprs();
  const { exprs: rules, recorded } = ruleExprs();

  it.each([...dashExprs, ...rules].map((e) => [e.where, e]))(
    '%s refers only to exported metrics and their labels',
    (_w, e) => {
      const refs = promqlRefs(e.expr);
      expect(refs.metrics.length).toBeGreaterThan(0);
      const known = (m: string) => series.has(m) || recorded.has(m) || m === 'up';
      expect({ expr: e.expr, unknown: refs.metrics.filter((m) => !known(m)) }).toEqual({
        expr: e.expr,
        unknown: [],
      });
      const labelsOf = (m: string) => [...(series.get(m) ?? []), ...TARGET_LABELS];
      for (const sel of refs.matchers) {
        const allowed = labelsOf(sel.metric);
        expect({ selector: sel, unknown: sel.labels.filter((l) => !allowed.includes(l)) }).toEqual({
          selector: sel,
          unknown: [],
        });
      }
      const anyLabel = new Set(refs.metrics.flatMap(labelsOf));
      for (const l of [...refs.groupings, ...e.usesLabels]) {
        expect({ expr: e.expr, label: l, offered: anyLabel.has(l) }).toEqual({
          expr: e.expr,
          label: l,
          offered: true,
        });
      }
    },
  );

  it.each(labelValues.map((v) => [v.where, v]))('%s lists values of a label the metric has', (_w, v) => {
    const refs = promqlRefs(v.metricExpr);
    expect(refs.metrics).toHaveLength(1);
    expect(series.get(refs.metrics[0]!)).toContain(v.label);
  });

  it('the check catches a misspelt metric and a label the metric does not have', () => {
    const refs = promqlRefs('sum by (table) (rate(tidemark_sink_commit_total{sink="iceberg"}[5m]))');
    expect(refs.metrics.filter((m) => !series.has(m))).toEqual(['tidemark_sink_commit_total']);
    const lag = promqlRefs('tidemark_source_slot_lag_bytes{table="public.orders"}').matchers[0]!;
    expect(series.get(lag.metric)).not.toContain('table');
  });
});
