// The chart's RBAC, for real: its ServiceAccount and roles are applied to the test cluster and the
// tests act as that ServiceAccount (support/impersonate.ts), through client-node (what the
// controllers use) and through kubectl. A rule the chart lists is allowed, anything else refused.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { createNamespace, deleteNamespace, kubeConfigFromEnv, toolPaths } from '@keiko/testenv';
import path from 'node:path';
import { cleanupWorkspace, run, toolCharts, workspace } from './support/charts';
import {
  allowed,
  kubeConfigAs,
  serviceAccountUser,
  statusOf,
  whoAmI,
  writeKubeConfigAs,
} from './support/impersonate';
import { installChartRbac, type ChartRbac, type RoleObject } from './support/rbac';

/** Charts whose controller creates RBAC by design, limited to rules it holds (no escalate/bind by default). */
const WRITES_RBAC = new Set(['active-monitor']);

afterAll(cleanupWorkspace);

describe.each(toolCharts().map((c) => [c.name] as const))('%s ServiceAccount', (chart) => {
  let namespace: string;
  let rbac: ChartRbac;
  let kc: k8s.KubeConfig;

  beforeAll(async () => {
    namespace = await createNamespace('charts-rbac');
    rbac = await installChartRbac(chart, { namespace });
    kc = kubeConfigAs(rbac.serviceAccount);
  });
  afterAll(async () => {
    await rbac?.uninstall();
    if (namespace) await deleteNamespace(namespace);
  });

  it("is who the apiserver sees, with a real token's groups", async () => {
    const me = await whoAmI(kc);
    expect(me.username).toBe(serviceAccountUser(rbac.serviceAccount));
    expect(me.groups).toEqual(
      expect.arrayContaining([
        'system:serviceaccounts',
        `system:serviceaccounts:${namespace}`,
        'system:authenticated',
      ]),
    );
  });

  it('may do everything its ClusterRole lists', async () => {
    const role = rbac.objects.find((o) => o.kind === 'ClusterRole') as RoleObject;
    const denied: string[] = [];
    for (const rule of role.rules) {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          for (const verb of rule.verbs) {
            if (!(await allowed(kc, verb, group, resource, namespace)))
              denied.push(`${verb} ${group || 'core'}/${resource}`);
          }
        }
      }
    }
    expect(denied).toEqual([]);
  });

  it('may not grant itself more (no RBAC writes, no namespace deletion)', async () => {
    // active-monitor writes RBAC by design (each check's workflow role), but only rules it holds itself:
    // without escalate/bind the apiserver refuses it anything more (the binding below).
    if (!WRITES_RBAC.has(chart))
      expect(await allowed(kc, 'create', 'rbac.authorization.k8s.io', 'clusterrolebindings')).toBe(false);
    expect(await allowed(kc, 'bind', 'rbac.authorization.k8s.io', 'clusterroles')).toBe(false);
    expect(await allowed(kc, 'escalate', 'rbac.authorization.k8s.io', 'clusterroles')).toBe(false);
    expect(await allowed(kc, 'delete', '', 'namespaces')).toBe(false);
    const client = new KubeClient(kc);
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${namespace}-escalate` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: rbac.serviceAccount.name, namespace }],
    };
    expect(
      await statusOf(
        client.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
          body: binding,
          query: { dryRun: 'All' },
        }),
      ),
    ).toBe(403);
  });

  it('elects a leader on its one Lease in its namespace, and no other', async () => {
    const client = new KubeClient(kc);
    const leaseName = rbac.leaseName!;
    const lease = (name: string, ns: string) => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: ns },
      spec: { holderIdentity: 'chart-test', leaseDurationSeconds: 15 },
    });
    const created = await client.create<k8s.KubernetesObject>(
      ResourceTypes.Lease,
      lease(leaseName, namespace),
    );
    const read = await client.get(ResourceTypes.Lease, namespace, leaseName);
    expect(read?.metadata?.uid).toBe(created.metadata?.uid);
    await client.replace(ResourceTypes.Lease, {
      ...read!,
      spec: { holderIdentity: 'chart-test-2', leaseDurationSeconds: 15 },
    });
    expect(await statusOf(client.get(ResourceTypes.Lease, namespace, `${leaseName}-other`))).toBe(403);
    expect(await statusOf(client.create(ResourceTypes.Lease, lease(leaseName, 'default')))).toBe(403);
  });

  it('is the identity kubectl uses with the kubeconfig writeKubeConfigAs() writes', async () => {
    const file = writeKubeConfigAs(rbac.serviceAccount, path.join(workspace(), `as-${chart}.kubeconfig`));
    const env = { ...process.env, KUBECONFIG: file };
    const whoami = await run(toolPaths().kubectl, ['auth', 'whoami', '-o', 'json'], { env });
    expect(whoami.code).toBe(0);
    expect((JSON.parse(whoami.stdout) as k8s.V1SelfSubjectReview).status?.userInfo?.username).toBe(
      serviceAccountUser(rbac.serviceAccount),
    );
    const canI = await run(
      toolPaths().kubectl,
      [
        'auth',
        'can-i',
        WRITES_RBAC.has(chart) ? 'escalate' : 'create',
        WRITES_RBAC.has(chart) ? 'clusterroles' : 'clusterrolebindings',
      ],
      { env },
    );
    expect(canI.stdout.trim()).toBe('no');
  });

  it('leaves the admin kubeconfig untouched', async () => {
    expect((await whoAmI(kubeConfigFromEnv())).username).not.toBe(serviceAccountUser(rbac.serviceAccount));
  });
});
