import { describe, expect, it } from '@jest/globals';
import type { HealthCheck } from '@keiko/api';
import { customMetrics, parseWorkflowDocument, renderWorkflow } from '../src/healthcheck/workflow';
import { CLUSTER_RULES, rbacFor, rbacObjects, rbacPolicyProblem } from '../src/healthcheck/rbac';

const hc = (spec: Partial<HealthCheck['spec']> = {}, ns = 'health'): HealthCheck => ({
  apiVersion: 'activemonitor.keikoproj.io/v1alpha1',
  kind: 'HealthCheck',
  metadata: { name: 'dns', namespace: ns, uid: 'uid-1' },
  spec: {
    repeatAfterSec: 60,
    workflow: {
      generateName: 'dns-',
      resource: { namespace: ns, serviceAccount: 'probe', source: { inline: '' } },
    },
    ...spec,
  },
});

describe('the Workflow of a slot', () => {
  const doc = (labels?: Record<string, string>) =>
    parseWorkflowDocument(
      `apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: x-\n${labels ? `  labels: ${JSON.stringify(labels)}\n` : ''}spec:\n  entrypoint: a\n  templates: [{name: a, container: {image: busybox}}]\n`,
      'spec.workflow.resource.source',
    ).doc!;

  it('is labelled, owned, runs as the service account with the deadline and pod GC', () => {
    const check = hc({ workflow: { ...hc().spec.workflow, workflowtimeout: 30 } });
    const wf = renderWorkflow({
      hc: check,
      kind: 'healthCheck',
      wf: check.spec.workflow,
      doc: doc(),
      name: 'dns-abc-1',
      slot: new Date(0),
      instanceId: 'am',
    });
    expect(wf.metadata).toMatchObject({
      name: 'dns-abc-1',
      namespace: 'health',
      labels: {
        'workflows.argoproj.io/controller-instanceid': 'am',
        'activemonitor.keikoproj.io/healthcheck': 'dns',
        'activemonitor.keikoproj.io/healthcheck-namespace': 'health',
        'activemonitor.keikoproj.io/workflow': 'healthCheck',
      },
      annotations: { 'activemonitor.keikoproj.io/slot': '1970-01-01T00:00:00.000Z' },
      ownerReferences: [{ kind: 'HealthCheck', name: 'dns', uid: 'uid-1' }],
    });
    expect(wf.spec).toMatchObject({
      serviceAccountName: 'probe',
      activeDeadlineSeconds: 30,
      podGC: { strategy: 'OnPodCompletion' },
    });
  });

  it("keeps the source's own instanceid label, and owns nothing in another namespace", () => {
    const check = hc({ workflow: { resource: { namespace: 'elsewhere', source: { inline: '' } } } });
    const wf = renderWorkflow({
      hc: check,
      kind: 'remedy',
      wf: check.spec.workflow,
      doc: doc({ 'workflows.argoproj.io/controller-instanceid': 'mine' }),
      name: 'n',
      slot: new Date(0),
      instanceId: 'am',
    });
    expect(wf.metadata?.labels?.['workflows.argoproj.io/controller-instanceid']).toBe('mine');
    expect(wf.metadata?.ownerReferences).toBeUndefined();
    expect(wf.spec?.activeDeadlineSeconds).toBe(60);
  });

  it('refuses a document that is not an Argo Workflow, naming the field', () => {
    expect(parseWorkflowDocument('kind: Pod', 'spec.workflow.resource.source').problem).toMatch(
      /^spec.workflow.resource.source: must be an Argo Workflow/,
    );
    expect(parseWorkflowDocument('a: [1', 'f').problem).toMatch(/^f: not valid YAML/);
  });

  it('reads custom metrics from an output parameter, skipping malformed entries', () => {
    const value = JSON.stringify({
      metrics: [
        { name: 'dns_latency_ms', value: '12.5', help: 'latency', metrictype: 'gauge' },
        { name: 'bad name', value: 1 },
        { name: 'nan', value: 'x' },
      ],
    });
    expect(
      customMetrics({ status: { nodes: { n1: { outputs: { parameters: [{ name: 'metrics', value }] } } } } }),
    ).toEqual([{ name: 'dns_latency_ms', value: 12.5, help: 'latency', metrictype: 'gauge' }]);
  });
});

describe('RBAC', () => {
  it("uses upstream's names and read-only defaults, plus the executor's task results", () => {
    const ns = rbacObjects(rbacFor(hc({ level: 'namespace' }), hc().spec.workflow)!);
    expect(ns.role).toMatchObject({ kind: 'Role', metadata: { name: 'probe-ns-role', namespace: 'health' } });
    expect(ns.binding).toMatchObject({ kind: 'RoleBinding', metadata: { name: 'probe-ns-role-binding' } });
    const cluster = rbacObjects(rbacFor(hc({ level: 'cluster' }), hc().spec.workflow)!);
    expect(cluster.role).toMatchObject({
      kind: 'ClusterRole',
      metadata: { name: 'probe-cluster-role' },
      rules: CLUSTER_RULES,
    });
    const verbs = CLUSTER_RULES.flatMap((r) => r.verbs.map((v) => `${r.resources?.join(',')}:${v}`));
    expect(verbs.filter((v) => /:(create|patch|update|delete)$/.test(v))).toEqual([
      'workflowtaskresults:create',
      'workflowtaskresults:patch',
    ]);
  });

  it('allows custom rules, other namespaces and (with a list) cluster level only in privileged namespaces', () => {
    const custom = hc({
      workflow: {
        ...hc().spec.workflow,
        rbacRules: [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'] }],
      },
    });
    expect(rbacPolicyProblem(custom, [])).toMatch(/^spec.workflow.rbacRules: custom rules are allowed only/);
    expect(rbacPolicyProblem(custom, ['health'])).toBeUndefined();
    expect(rbacPolicyProblem(custom, ['*'])).toBeUndefined();
    const other = hc({ workflow: { resource: { namespace: 'kube-system', source: { inline: 'x' } } } });
    expect(rbacPolicyProblem(other, [])).toMatch(/^spec.workflow.resource.namespace/);
    expect(rbacPolicyProblem(hc({ level: 'cluster' }), [])).toBeUndefined();
    expect(rbacPolicyProblem(hc({ level: 'cluster' }), ['platform'])).toMatch(
      /^spec.level: cluster is allowed only/,
    );
    expect(
      rbacPolicyProblem(hc({ workflow: { resource: { namespace: 'health', source: {} } } }), []),
    ).toMatch(/source: one of inline/);
    expect(rbacPolicyProblem(hc({ backoffMin: 9, backoffMax: 3 }), [])).toMatch(/^spec.backoffMin \(9\)/);
  });
});
