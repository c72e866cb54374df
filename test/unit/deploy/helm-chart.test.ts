import { parse as parseYaml } from 'yaml';
import {
  CHART,
  expectRunnableRelease,
  helmTemplate,
  type K8sObject,
  only,
  parseObjects,
  run,
  tool,
} from './support';

/** helm template with these arguments; every object rendered must pass deploy/validate. */
function render(...args: string[]): K8sObject[] {
  const r = helmTemplate(...args);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const v = run(tool('tidemark-kube-validate'), ['-'], r.stdout);
  if (v.status !== 0) throw new Error(`rendered objects are not valid Kubernetes objects: ${v.stderr}`);
  return parseObjects(r.stdout, 'helm template');
}

function refused(...args: string[]): string {
  const r = helmTemplate(...args);
  expect(r.status).not.toBe(0);
  return r.stderr;
}

const container = (objects: K8sObject[], role: string) =>
  only(objects, 'Deployment', `tidemark-${role}`).spec.template.spec.containers[0];

describe('helm/tidemark', () => {
  it('passes helm lint --strict', () => {
    const r = run(tool('helm'), ['lint', '--strict', CHART]);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.status).toBe(0);
  });

  it('renders a runnable release with every optional object, valid for the Kubernetes API types', () => {
    const objects = render(
      '--set',
      'serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true',
    );
    expectRunnableRelease(objects);
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule']));
  });

  it('derives the grace period, the preStop hook and the ports from the config', () => {
    const objects = render(
      '--set',
      'config.observe.shutdownDeadlineMs=60500,config.observe.port=9500,shutdown.preStopSleepSeconds=5,shutdown.marginSeconds=4',
    );
    const config = expectRunnableRelease(objects);
    expect(config.observe).toMatchObject({ port: 9500, shutdownDeadlineMs: 60_500 });
    for (const role of ['source', 'sink']) {
      const pod = only(objects, 'Deployment', `tidemark-${role}`).spec.template.spec;
      // 5 s preStop + ceil(60.5 s) + 4 s margin.
      expect(pod.terminationGracePeriodSeconds).toBe(5 + 61 + 4);
      expect(pod.containers[0].lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    }
    expect(only(objects, 'Service').spec.ports[0].port).toBe(9500);
    // Without a preStop sleep there is no hook at all.
    expect(container(render(), 'source').lifecycle).toBeUndefined();
  });

  it('the release check itself fails on a grace period shorter than the deadline', () => {
    const objects = render();
    only(objects, 'Deployment', 'tidemark-sink').spec.template.spec.terminationGracePeriodSeconds = 25;
    expect(() => expectRunnableRelease(objects)).toThrow();
  });

  it('scales the sink, renders only the enabled roles, and uses an existing claim when given one', () => {
    const objects = render(
      '--set',
      'roles.sink.replicas=3,roles.source.enabled=false,roles.sink.persistence.existingClaim=lake',
    );
    expectRunnableRelease(objects, ['sink']);
    expect(only(objects, 'Deployment', 'tidemark-sink').spec.replicas).toBe(3);
    expect(objects.filter((o) => o.kind === 'PersistentVolumeClaim')).toEqual([]);
    const volumes = only(objects, 'Deployment', 'tidemark-sink').spec.template.spec.volumes;
    expect(volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'lake' } });
  });

  it('a changed config changes the pods (config checksum annotation)', () => {
    const checksum = (os: K8sObject[]) =>
      only(os, 'Deployment', 'tidemark-source').spec.template.metadata.annotations['checksum/config'];
    expect(checksum(render())).toBe(checksum(render()));
    expect(checksum(render('--set', 'config.observe.logLevel=debug'))).not.toBe(checksum(render()));
  });

  it('passes secrets only as Secret references, and creates the Secret only on request', () => {
    const objects = render();
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const env = container(objects, 'sink').env as Array<{ name: string; valueFrom: unknown }>;
    expect(env.map((e) => e.name)).toEqual(
      parseYaml(run('cat', [`${CHART}/values.yaml`]).stdout).secrets.env,
    );
    for (const e of env)
      expect(e.valueFrom).toEqual({ secretKeyRef: { name: 'tidemark-secrets', key: e.name } });

    expect(refused('--set', 'secrets.create=true')).toContain(
      'secrets.values.TIDEMARK_SOURCE_URL is required',
    );
    const withSecret = render(
      '--set',
      'secrets.create=true,secrets.env={TIDEMARK_SOURCE_URL},secrets.values.TIDEMARK_SOURCE_URL=postgres://db/app',
    );
    expect(only(withSecret, 'Secret').metadata.name).toBe('tidemark-secrets');
  });

  it('values.schema.json refuses values that cannot work', () => {
    expect(refused('--set', 'roles.source.replicas=-1')).toContain(
      "at '/roles/source/replicas': minimum: got -1, want 0",
    );
    expect(refused('--set', 'roles.sink.replicas=two')).toContain(
      "at '/roles/sink/replicas': got string, want integer",
    );
    expect(refused('--set', 'replicas=2')).toMatch(/additional properties 'replicas' not allowed/);
    // The split roles need the Kafka log; the embedded log runs only as one process.
    expect(refused('--set', 'config.log.kind=embedded')).toContain(
      "at '/config/log/kind': value must be 'kafka'",
    );
    expect(refused('--set', 'config.observe.port=0')).toContain(
      "at '/config/observe/port': minimum: got 0, want 1",
    );
  });

  it('the CLI offers every role the chart runs', () => {
    const help = run('node', ['bin/tidemark', 'run', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--config <file>/);
    for (const role of ['source', 'sink']) {
      expect(help.stdout).toContain(`"${role}"`);
      expect(container(render(), role).args).toEqual([
        'run',
        '--config',
        '/etc/tidemark/tidemark.yaml',
        '--role',
        role,
      ]);
    }
  });
});
