import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type Config, parseConfig } from '../../../src/config/load';

export const ROOT = join(__dirname, '..', '..', '..');
export const CHART = join(ROOT, 'helm', 'tidemark');
/** The Kubernetes version deploy/render renders for. */
const KUBE_VERSION = '1.30.0';

/**
 * A tool that scripts/setup.d/40-deploy-tools installs (helm, promtool, tidemark-kube-validate).
 * Missing is a failure, not a skip: these tests are the only check of the chart and the rules.
 */
export function tool(name: string): string {
  const dirs = [join(homedir(), '.cache', 'tidemark', 'bin'), ...(process.env.PATH ?? '').split(delimiter)];
  for (const d of [...dirs, join(homedir(), 'go', 'bin')]) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  throw new Error(`${name} not found: run scripts/setup.d/40-deploy-tools (npm test runs it)`);
}

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], input?: string): Ran {
  const r = spawnSync(cmd, args, { cwd: ROOT, input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template tidemark helm/tidemark` with extra arguments (e.g. --set). */
export function helmTemplate(...args: string[]): Ran {
  return run(tool('helm'), ['template', 'tidemark', CHART, '--kube-version', KUBE_VERSION, ...args]);
}

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field below
  spec?: any;
  data?: Record<string, string>;
};

/** Every document of a multi-document YAML text; a syntax error anywhere throws. */
export function parseYamlDocuments(text: string, origin: string): unknown[] {
  return parseAllDocuments(text).flatMap((d) => {
    if (d.errors.length > 0) throw new Error(`${origin}: ${d.errors[0]!.message}`);
    const v = d.toJS();
    return v === null || v === undefined ? [] : [v];
  });
}

export const parseObjects = (text: string, origin: string) => parseYamlDocuments(text, origin) as K8sObject[];

export function readText(...path: string[]): string {
  return readFileSync(join(ROOT, ...path), 'utf8');
}

export function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0]!;
}

const CONFIG_PATH = '/etc/tidemark/tidemark.yaml';

/**
 * What a rendered release must hold to run tidemark, checked as a pod would see it: the config
 * (loaded by tidemark's own loader with exactly the pod's environment), the CLI arguments, the
 * probes on the config's port, a grace period longer than the config's graceful-stop deadline,
 * a non-root read-only container, and Service/PDB selectors that select the pods.
 * Returns the loaded config.
 */
export function expectRunnableRelease(objects: K8sObject[], roles: string[] = ['source', 'sink']): Config {
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.data?.['tidemark.yaml'] !== undefined);
  expect(configMap).toBeDefined();
  const configText = configMap!.data!['tidemark.yaml']!;
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  expect(
    deployments.map((d) => d.spec.template.metadata.labels['app.kubernetes.io/component']).sort(),
  ).toEqual([...roles].sort());
  let config: Config | null = null;
  for (const d of deployments) {
    const role = d.spec.template.metadata.labels['app.kubernetes.io/component'];
    const pod = d.spec.template.spec;
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0];

    // The config loads with the pod's environment: every ${VAR} it needs comes from the pod.
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      expect(e.value !== undefined || e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef).toBeTruthy();
      env[e.name] = e.value ?? `postgres://${e.name.toLowerCase()}.example:5432/placeholder`;
    }
    config = parseConfig(configText, env, `${d.metadata.name} ConfigMap`);
    expect(config.log.kind).toBe('kafka');

    // The CLI invocation, and the config file where the ConfigMap is mounted.
    expect(c.args).toEqual(['run', '--config', CONFIG_PATH, '--role', role]);
    const mount = c.volumeMounts.find((m: { mountPath: string }) =>
      CONFIG_PATH.startsWith(`${m.mountPath}/`),
    );
    expect(mount).toBeDefined();
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.configMap.name).toBe(configMap!.metadata.name);

    // /metrics, /healthz, /readyz on the config's observe.port.
    const port = c.ports.find((p: { name: string }) => p.name === 'metrics');
    expect(port.containerPort).toBe(config.observe.port);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });

    // The kubelet's SIGKILL comes only after the preStop sleep and tidemark's own deadline.
    const preStopSeconds = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      preStopSeconds * 1000 + config.observe.shutdownDeadlineMs,
    );

    // Non-root (the image's numeric user), read-only root filesystem, no privileges, resources.
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBe(imageUid());
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.requests.memory).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    expect(pod.automountServiceAccountToken).toBe(false);

    // One reader per slot; the old pod stops before the new one starts.
    if (role === 'source') expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy.type).toBe('Recreate');
    expect(selects(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);

    const pdb = objects.find(
      (o) =>
        o.kind === 'PodDisruptionBudget' &&
        selects(o.spec.selector.matchLabels, d.spec.template.metadata.labels),
    );
    expect(pdb).toBeDefined();
  }

  const service = only(objects, 'Service');
  expect(service.spec.publishNotReadyAddresses).toBe(true);
  expect(service.spec.ports).toEqual([
    { name: 'metrics', port: config!.observe.port, targetPort: 'metrics', protocol: 'TCP' },
  ]);
  for (const d of deployments)
    expect(selects(service.spec.selector, d.spec.template.metadata.labels)).toBe(true);

  for (const sm of objects.filter((o) => o.kind === 'ServiceMonitor')) {
    expect(selects(sm.spec.selector.matchLabels, service.metadata.labels ?? {})).toBe(true);
    expect(sm.spec.endpoints.map((e: { port: string }) => e.port)).toEqual(['metrics']);
  }
  return config!;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The numeric USER of the Dockerfile's runtime stage. */
export function imageUid(): number {
  const users = [...readText('Dockerfile').matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!);
  const last = users[users.length - 1];
  if (!last || !/^\d+(:\d+)?$/.test(last))
    throw new Error(`the Dockerfile's USER must be numeric, not ${last}`);
  return Number(last.split(':')[0]);
}
