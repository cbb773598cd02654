// `helm template` of every tool chart, with default values and with every optional feature on:
// the objects keiko-lib promises are there and wired to each other, no RBAC is broader than listed,
// and the apiserver of the test cluster accepts every object (server-side dry-run, strict fields).
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNamespace, deleteNamespace, kubeConfigFromEnv, kubectl, uniqueName } from '@keiko/testenv';
import fs from 'node:fs';
import path from 'node:path';
import { load } from 'js-yaml';
import {
  allFeaturesValues,
  cleanupWorkspace,
  findObject,
  helmResult,
  LIBRARY_CHART,
  preparedChart,
  rbacViolations,
  renderArgs,
  renderChart,
  toolCharts,
} from './support/charts';
import { ensureMonitoringCrds } from './support/cluster';
import type { Binding, RoleObject } from './support/rbac';

afterAll(cleanupWorkspace);

const kindsOf = (objects: k8s.KubernetesObject[]) => objects.map((o) => o.kind).sort();
/** The objects a tool chart renders by default besides the common ones: its own RBAC by name, elsewhere. */
const DISRUPTION_LOCK = ['Role', 'RoleBinding'];
const OWN_DEFAULT_KINDS: Readonly<Record<string, string[]>> = {
  // kube-system/aws-auth, and the managed defaults ConfigMap (charts/test/instance-manager.test.ts);
  // the node tools' per-group disruption lock Role (below)
  'instance-manager': ['Role', 'RoleBinding', 'Role', 'RoleBinding', ...DISRUPTION_LOCK],
  'upgrade-manager': DISRUPTION_LOCK,
  // governor: the state ConfigMap's Role, and the node reaper's disruption lock Role
  governor: ['Role', 'RoleBinding', ...DISRUPTION_LOCK],
  // the collector Jobs' Role in the release namespace
  'kube-forensics': ['Role', 'RoleBinding'],
  'lifecycle-manager': DISRUPTION_LOCK,
  // minion-manager: the status ConfigMap's Role, and the disruption lock Role
  'minion-manager': ['Role', 'RoleBinding', ...DISRUPTION_LOCK],
};
/** keiko-lib's leader-election Role (a tool chart may render Roles of its own besides). */
const leaderElectionRole = (objects: k8s.KubernetesObject[]) =>
  objects.find((o) => o.kind === 'Role' && o.metadata?.name?.endsWith('-leader-election')) as RoleObject;
const containerOf = (d: k8s.V1Deployment) => d.spec!.template.spec!.containers[0]!;
const argValue = (args: string[], flag: string) =>
  args.filter((a) => a.startsWith(`${flag}=`)).map((a) => a.slice(flag.length + 1));

describe.each(toolCharts().map((c) => [c.name] as const))('%s renders', (chart) => {
  let dir: string;
  let defaults: k8s.KubernetesObject[];
  let all: k8s.KubernetesObject[];

  beforeAll(async () => {
    dir = await preparedChart(chart);
    defaults = await renderChart(dir, { release: 'keiko', namespace: 'keiko-system' });
    all = await renderChart(dir, {
      release: 'keiko',
      namespace: 'keiko-system',
      valuesFiles: [allFeaturesValues(dir)],
    });
  });

  it('the common objects with default values, and no optional ones', () => {
    expect(kindsOf(defaults)).toEqual(
      [
        'ClusterRole',
        'ClusterRoleBinding',
        'Deployment',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
        ...(OWN_DEFAULT_KINDS[chart] ?? []),
      ].sort(),
    );
  });

  it('the optional objects with every feature on', () => {
    expect(kindsOf(all)).toEqual(expect.arrayContaining(['PodDisruptionBudget', 'ServiceMonitor']));
  });

  it('a Deployment with leader election, runtime flags from values and the downward API env', () => {
    const d = findObject<k8s.V1Deployment>(defaults, 'Deployment');
    const c = containerOf(d);
    const role = leaderElectionRole(defaults);
    expect(d.spec?.replicas).toBe(2);
    expect(c.args).toEqual(
      expect.arrayContaining([
        '--leader-elect=true',
        '--leader-election-namespace=keiko-system',
        '--metrics-port=8080',
        '--health-port=8081',
        '--log-level=info',
        '--log-format=json',
        '--concurrency=1',
        '--dry-run=false',
      ]),
    );
    expect(argValue(c.args!, '--namespace')).toEqual([]);
    // The one Lease the Role lets it get/update is the one the controller is told to use.
    const lease = argValue(c.args!, '--leader-election-id');
    expect(role.rules.find((r) => r.resourceNames)?.resourceNames).toEqual(lease);
    const fieldRef = (name: string) => c.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    expect([fieldRef('POD_NAMESPACE'), fieldRef('POD_NAME')]).toEqual([
      'metadata.namespace',
      'metadata.name',
    ]);
  });

  it('probes on /healthz and /readyz of the health port', () => {
    const c = containerOf(findObject<k8s.V1Deployment>(defaults, 'Deployment'));
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'health' });
    expect(c.ports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'health', containerPort: 8081 }),
        expect.objectContaining({ name: 'metrics', containerPort: 8080 }),
      ]),
    );
  });

  it('a hardened pod: non-root 65532, read-only root, no escalation, no capabilities, RuntimeDefault seccomp', () => {
    const d = findObject<k8s.V1Deployment>(defaults, 'Deployment');
    const c = containerOf(d);
    expect(d.spec?.template.spec?.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } });
  });

  it("replicas spread across zones and nodes, selected by the release's own labels", () => {
    const d = findObject<k8s.V1Deployment>(defaults, 'Deployment');
    const spread = d.spec?.template.spec?.topologySpreadConstraints ?? [];
    expect(spread.map((s) => s.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
    for (const s of spread) expect(s.labelSelector?.matchLabels).toEqual(d.spec?.selector.matchLabels);
  });

  it('objects wired together: selectors, ServiceAccount, bindings, metrics Service', () => {
    const d = findObject<k8s.V1Deployment>(defaults, 'Deployment');
    const sa = findObject(defaults, 'ServiceAccount');
    const selector = d.spec!.selector.matchLabels!;
    expect(d.spec?.template.metadata?.labels).toMatchObject(selector);
    expect(d.spec?.template.spec?.serviceAccountName).toBe(sa.metadata?.name);
    for (const b of defaults.filter((o) => o.kind?.endsWith('Binding')) as Binding[]) {
      expect(b.subjects).toEqual([
        { kind: 'ServiceAccount', name: sa.metadata?.name, namespace: 'keiko-system' },
      ]);
      expect(defaults.some((o) => o.kind === b.roleRef.kind && o.metadata?.name === b.roleRef.name)).toBe(
        true,
      );
    }
    const svc = findObject<k8s.V1Service>(defaults, 'Service');
    expect(svc.spec?.selector).toEqual(selector);
    expect(svc.spec?.ports).toEqual([
      expect.objectContaining({ name: 'metrics', port: 8080, targetPort: 'metrics' }),
    ]);
  });

  it('a leader-election Role limited to its Lease (plus create) and Events', () => {
    expect(leaderElectionRole(defaults).rules.map((r) => [r.apiGroups, r.resources, r.verbs])).toEqual([
      [['coordination.k8s.io'], ['leases'], ['create']],
      [['coordination.k8s.io'], ['leases'], ['get', 'update']],
      [[''], ['events'], ['create', 'patch']],
    ]);
  });

  it('every optional feature from values when switched on', () => {
    const d = findObject<k8s.V1Deployment>(all, 'Deployment');
    const c = containerOf(d);
    expect(c.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(d.spec?.template.spec?.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(c.args).toEqual(
      expect.arrayContaining(['--namespace=team-a', '--dry-run=true', '--log-format=text']),
    );
    expect(c.args?.at(-1)).toBe('--lease-duration=30'); // extraArgs last, so they win
    expect(c.env?.at(-1)).toEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' });
    expect(findObject(all, 'ServiceAccount').metadata?.annotations).toHaveProperty([
      'eks.amazonaws.com/role-arn',
    ]);
    const monitor = findObject<
      k8s.KubernetesObject & { spec: { selector: { matchLabels: Record<string, string> } } }
    >(all, 'ServiceMonitor');
    expect(findObject(all, 'Service').metadata?.labels).toMatchObject(monitor.spec.selector.matchLabels);
    const pdb = findObject<k8s.V1PodDisruptionBudget>(all, 'PodDisruptionBudget');
    expect(pdb.spec?.selector?.matchLabels).toEqual(d.spec?.selector.matchLabels);
    // A user's spread constraint keeps its own selector; one without gets the release's.
    const given = (
      load(fs.readFileSync(allFeaturesValues(dir), 'utf8')) as {
        topologySpreadConstraints: k8s.V1TopologySpreadConstraint[];
      }
    ).topologySpreadConstraints;
    const spread = d.spec?.template.spec?.topologySpreadConstraints ?? [];
    expect(spread.map((s) => s.labelSelector)).toEqual(
      given.map((g) => g.labelSelector ?? { matchLabels: d.spec?.selector.matchLabels }),
    );
  });

  it.each([
    ['default values', () => defaults],
    ['every feature on', () => all],
  ])('RBAC without wildcards or borrowed roles (%s)', (_what, objects) => {
    expect(rbacViolations(objects())).toEqual([]);
  });
});

describe('the RBAC checks', () => {
  it('find wildcards, aggregation and bindings to roles the chart does not define', () => {
    const objects = [
      {
        kind: 'ClusterRole',
        metadata: { name: 'a' },
        rules: [{ apiGroups: ['*'], resources: ['pods/*'], verbs: ['get', '*'] }],
      },
      {
        kind: 'ClusterRole',
        metadata: { name: 'b' },
        aggregationRule: { clusterRoleSelectors: [] },
        rules: [],
      },
      {
        kind: 'ClusterRoleBinding',
        metadata: { name: 'c' },
        roleRef: { kind: 'ClusterRole', name: 'cluster-admin' },
      },
      { kind: 'RoleBinding', metadata: { name: 'd' }, roleRef: { kind: 'ClusterRole', name: 'a' } },
    ];
    expect(rbacViolations(objects)).toEqual([
      'ClusterRole/a rule 0 grants "*" in apiGroups',
      'ClusterRole/a rule 0 grants "pods/*" in resources',
      'ClusterRole/a rule 0 grants "*" in verbs',
      'ClusterRole/b aggregates other ClusterRoles: list its rules instead',
      'ClusterRoleBinding/c binds ClusterRole/cluster-admin, which the chart does not define',
    ]);
  });

  it('keiko-lib refuses to render a ClusterRole with a wildcard', async () => {
    const chart = toolCharts()[0]!.name;
    const dir = await preparedChart(chart);
    const probe = path.join(dir, 'templates', 'zz-wildcard-probe.yaml');
    fs.writeFileSync(
      probe,
      `{{- include "${LIBRARY_CHART}.clusterRole" (dict "context" . "rules" (list (dict "apiGroups" (list "") "resources" (list "pods") "verbs" (list "*")))) }}\n`,
    );
    try {
      const r = await helmResult(['template', ...renderArgs(dir)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('never wildcards');
    } finally {
      fs.rmSync(probe);
    }
  });
});

describe('the test cluster accepts every rendered object (server-side dry-run)', () => {
  let namespace: string;
  let removeCrd: () => Promise<void> = async () => {};

  beforeAll(async () => {
    namespace = await createNamespace('charts-dryrun');
    removeCrd = await ensureMonitoringCrds();
  });
  afterAll(async () => {
    await deleteNamespace(namespace);
    await removeCrd();
  });

  const cases = toolCharts().flatMap((c) => [
    [c.name, 'default values', false] as const,
    [c.name, 'every feature on', true] as const,
  ]);
  it.each(cases)('%s with %s', async (chart, _what, allOn) => {
    const dir = await preparedChart(chart);
    const objects = await renderChart(dir, {
      release: uniqueName('dry'),
      namespace,
      valuesFiles: allOn ? [allFeaturesValues(dir)] : [],
      // The watched namespace must exist for what a chart renders there (upgrade-manager's script Jobs Role).
      args: ['--include-crds', ...(allOn ? ['--set', `watchNamespace=${namespace}`] : [])],
    });
    const out = await kubectl(
      kubeConfigFromEnv(),
      [
        'apply',
        '--server-side',
        '--dry-run=server',
        '--validate=strict',
        '--force-conflicts',
        '--field-manager=keiko-charts-test',
        '-f',
        '-',
      ],
      objects,
    );
    // Every object answered, none refused (kubectl exits non-zero on the first refusal anyway).
    expect(out.trim().split('\n')).toHaveLength(objects.length);
  });
});

describe.each([['upgrade-manager'], ['instance-manager']] as const)('%s disruption lock', (chart) => {
  it('grants the Leases of the shared lock namespace only, and passes the namespace to the controller', async () => {
    const dir = await preparedChart(chart);
    const objects = await renderChart(dir, {
      release: 'keiko',
      namespace: 'keiko-system',
      args: ['--set', 'disruptionLock.namespace=keiko-locks'],
    });
    const role = findObject<RoleObject>(objects, 'Role', 'keiko-' + chart + '-disruption-lock');
    expect(role.metadata?.namespace).toBe('keiko-locks');
    expect(role.rules).toEqual([
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'create', 'update', 'delete'],
      },
    ]);
    const binding = findObject<Binding>(objects, 'RoleBinding', 'keiko-' + chart + '-disruption-lock');
    expect(binding.subjects).toEqual([
      expect.objectContaining({ kind: 'ServiceAccount', namespace: 'keiko-system' }),
    ]);
    const args = containerOf(findObject<k8s.V1Deployment>(objects, 'Deployment')).args ?? [];
    expect(argValue(args, '--disruption-lock-namespace')).toEqual(['keiko-locks']);
  });
});
