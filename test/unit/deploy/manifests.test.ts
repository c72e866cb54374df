import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../../src/config/load';
import {
  expectRunnableRelease,
  only,
  parseObjects,
  parseYamlDocuments,
  ROOT,
  readText,
  run,
  tool,
} from './support';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [relative(ROOT, p)];
  });
}

describe('deploy/ (plain manifests rendered from the chart)', () => {
  const core = parseObjects(readText('deploy', 'tidemark.yaml'), 'deploy/tidemark.yaml');
  const monitoring = parseObjects(
    readText('deploy', 'monitoring', 'tidemark-monitoring.yaml'),
    'deploy/monitoring/tidemark-monitoring.yaml',
  );

  it('every YAML file in deploy/ and the chart values parse, and the dashboard is JSON', () => {
    const yamlFiles = [
      ...filesUnder(join(ROOT, 'deploy')),
      'helm/tidemark/values.yaml',
      'helm/tidemark/Chart.yaml',
    ]
      .filter((f) => /\.ya?ml$/.test(f))
      .filter((f) => !f.includes('/templates/'));
    expect(yamlFiles).toEqual(
      expect.arrayContaining([
        'deploy/kustomization.yaml',
        'deploy/tidemark.yaml',
        'deploy/prometheus/alerts.yaml',
        'deploy/monitoring/tidemark-monitoring.yaml',
      ]),
    );
    for (const f of yamlFiles) expect(parseYamlDocuments(readText(f), f).length).toBeGreaterThan(0);
    const dashboard = JSON.parse(readText('deploy', 'grafana', 'tidemark.json'));
    expect(dashboard.uid).toBe('tidemark');
  });

  it('holds a release that runs: config valid for the pods, CLI args, probes, grace period, security', () => {
    expect(core.map((o) => o.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'Deployment',
      'PersistentVolumeClaim',
      'PodDisruptionBudget',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
    ]);
    const config = expectRunnableRelease([...core, ...monitoring]);
    expect(config.observe.shutdownDeadlineMs).toBe(25_000);
    expect(only(core, 'Deployment', 'tidemark-source').spec.template.spec.terminationGracePeriodSeconds).toBe(
      35,
    );
  });

  it("the ConfigMap's config is the chart's values.yaml config, and the tidemark loader rejects a broken one", () => {
    const values = parseYaml(readText('helm', 'tidemark', 'values.yaml'));
    const configText = only(core, 'ConfigMap').data!['tidemark.yaml']!;
    expect(parseYaml(configText)).toEqual(values.config);
    const env = {
      TIDEMARK_SOURCE_URL: 'postgres://db/app',
      TIDEMARK_REDIS_URL: 'redis://r:6379',
      TIDEMARK_CATALOG_URL: 'postgres://db/catalog',
      TIDEMARK_WAREHOUSE_URL: 'postgres://db/warehouse',
    };
    expect(parseConfig(configText, env).sinks.warehouse).toMatchObject({ kind: 'postgres' });
    // The same loader refuses a secret missing from the environment and a plain password.
    expect(() => parseConfig(configText, { ...env, TIDEMARK_REDIS_URL: '' })).toThrow(
      /TIDEMARK_REDIS_URL is not set/,
    );
    expect(() =>
      parseConfig(configText.replace(`\${TIDEMARK_SOURCE_URL}`, 'postgres://u:pw@db/app'), env),
    ).toThrow(/plain password/);
  });

  it('the sink mounts its persistent volume where the config puts the Iceberg files', () => {
    const config = expectRunnableRelease(core);
    const sink = only(core, 'Deployment', 'tidemark-sink').spec.template.spec;
    const data = sink.volumes.find((v: { persistentVolumeClaim?: unknown }) => v.persistentVolumeClaim);
    expect(data.persistentVolumeClaim.claimName).toBe(only(core, 'PersistentVolumeClaim').metadata.name);
    const mount = sink.containers[0].volumeMounts.find((m: { name: string }) => m.name === data.name);
    expect(config.sinks.iceberg?.location.startsWith(`${mount.mountPath}/`)).toBe(true);
  });

  it('monitoring/ holds the ServiceMonitor, the PrometheusRule of alerts.yaml and the dashboard', () => {
    expect(monitoring.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'PrometheusRule', 'ServiceMonitor']);
    const rules = parseYaml(readText('deploy', 'prometheus', 'alerts.yaml'));
    expect(only(monitoring, 'PrometheusRule').spec).toEqual(rules);
    const dashboard = only(monitoring, 'ConfigMap').data!['tidemark.json']!;
    expect(JSON.parse(dashboard)).toEqual(JSON.parse(readText('deploy', 'grafana', 'tidemark.json')));
    // The labels the alert rules select on come from the ServiceMonitor's relabelling.
    const relabel = only(monitoring, 'ServiceMonitor').spec.endpoints[0].relabelings;
    expect(relabel).toEqual(
      expect.arrayContaining([
        { targetLabel: 'job', replacement: 'tidemark' },
        { sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], targetLabel: 'role' },
      ]),
    );
  });

  it('kubectl kustomize builds deploy/ and deploy/monitoring/ into exactly those objects', () => {
    for (const [dir, objects] of [
      ['deploy', core],
      ['deploy/monitoring', monitoring],
    ] as const) {
      const built = run('kubectl', ['kustomize', dir]);
      expect(built.stderr).toBe('');
      expect(built.status).toBe(0);
      const names = (os: typeof core) => os.map((o) => `${o.kind}/${o.metadata.name}`).sort();
      expect(names(parseObjects(built.stdout, `kubectl kustomize ${dir}`))).toEqual(names(objects));
    }
  });

  it('the manifests pass the Kubernetes API types check (deploy/validate), which refuses a misspelt field', () => {
    const validate = tool('tidemark-kube-validate');
    const ok = run(validate, ['deploy/tidemark.yaml', 'deploy/monitoring/tidemark-monitoring.yaml']);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('deploy/tidemark.yaml: 8 object(s) valid');
    const misspelt = readText('deploy', 'tidemark.yaml').replace(
      'readOnlyRootFilesystem',
      'readOnlyRootFileSystem',
    );
    const bad = run(validate, ['-'], misspelt);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(
      'unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"',
    );
  });

  it('deploy/ is what the chart renders now (deploy/render --check)', () => {
    const r = run(join(ROOT, 'deploy', 'render'), ['--check']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
