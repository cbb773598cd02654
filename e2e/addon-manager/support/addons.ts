// The addon-manager e2e suite's own helpers (kept apart from apps/addon-manager/test/support): the
// test cluster's clients, namespaces that clean up after themselves, Addons from the examples, small
// Addons whose steps are resource templates, and waiting on an Addon's phase.
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { AddonKind, type Addon } from '@keiko/api';
import { KubeClient, ResourceTypes, type ResourceType } from '@keiko/kube-runtime';
import {
  applyManifests,
  eventually,
  EXIT_CODE_ANNOTATION,
  kubeConfigFromEnv,
  MESSAGE_ANNOTATION,
  parseManifests,
  requireArgo,
} from '@keiko/testenv';

export { eventually };

export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const kc = kubeConfigFromEnv();
export const client = new KubeClient(kc);
const FINALIZER = 'delete.addonmgr.keikoproj.io';

export const ARGO_WORKFLOWS: ResourceType = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'workflows',
  kind: 'Workflow',
  namespaced: true,
};

/** Fails unless the test cluster runs Argo's workflow-controller; installs the Addon CRD (idempotent). */
export async function prepareCluster(): Promise<void> {
  requireArgo();
  const file = path.join(repoRoot, 'charts/addon-manager/crds/addonmgr.keikoproj.io_addons.yaml');
  await applyManifests(kc, parseManifests(fs.readFileSync(file, 'utf8')));
}

export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  await client.create(ResourceTypes.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

/** Removes the finalizers left on Addons in `ns` (the controller may be gone), then the namespace(s). */
export async function deleteNamespaces(...names: string[]): Promise<void> {
  for (const ns of names) {
    const list = await client
      .list<Addon>(AddonKind, { namespace: ns })
      .catch(() => ({ items: [] as Addon[] }));
    for (const a of list.items) {
      if (!a.metadata.finalizers?.includes(FINALIZER)) continue;
      await client
        .patch(AddonKind, ns, a.metadata.name ?? '', {
          metadata: { finalizers: a.metadata.finalizers.filter((f) => f !== FINALIZER) },
        })
        .catch(() => undefined);
    }
    await client.delete(ResourceTypes.Namespace, undefined, ns);
  }
}

/** An example manifest from examples/, moved into `namespace`. */
export function exampleAddon(file: string, namespace: string): Addon {
  const a = load(fs.readFileSync(path.join(repoRoot, file), 'utf8')) as Addon;
  a.metadata.namespace = namespace;
  return a;
}

type Step = 'prereqs' | 'install' | 'validate' | 'delete';

/** A one-step resource-template Workflow (YAML) applying or deleting `manifest`; `fail` makes it exit 1. */
export function resourceWorkflow(action: string, manifest: string[], fail?: string): string {
  return [
    'apiVersion: argoproj.io/v1alpha1',
    'kind: Workflow',
    'spec:',
    '  entrypoint: entry',
    '  templates:',
    '    - name: entry',
    ...(fail !== undefined
      ? [
          '      metadata:',
          '        annotations:',
          `          ${EXIT_CODE_ANNOTATION}: "1"`,
          `          ${MESSAGE_ANNOTATION}: ${JSON.stringify(fail)}`,
        ]
      : []),
    '      resource:',
    `        action: ${action}`,
    '        manifest: |',
    ...manifest.map((l) => `          ${l}`),
    '',
  ].join('\n');
}

/**
 * A small Addon: prereqs/install/validate apply ConfigMap `<name>-<step>`, delete deletes
 * `<name>-install`, in the workflow's namespace, as its `default` ServiceAccount.
 */
export function testAddon(
  namespace: string,
  name: string,
  o: {
    pkgName?: string;
    deps?: Record<string, string>;
    installNamespace?: string;
    fail?: Partial<Record<Step, string>>;
    steps?: Step[];
  } = {},
): Addon {
  const template = (step: Step) => {
    const cm = [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      `  name: ${name}-${step === 'delete' ? 'install' : step}`,
    ];
    const data = ['data:', '  cluster: "{{workflow.parameters.clusterName}}"'];
    return resourceWorkflow(
      step === 'delete' ? 'delete' : 'apply',
      step === 'delete' ? cm : [...cm, ...data],
      o.fail?.[step],
    );
  };
  return {
    apiVersion: 'addonmgr.keikoproj.io/v1alpha1',
    kind: 'Addon',
    metadata: { name, namespace },
    spec: {
      pkgName: o.pkgName ?? `${namespace}/${name}`,
      pkgVersion: 'v1',
      pkgType: 'composite',
      pkgDescription: `test addon ${name}`,
      ...(o.deps ? { pkgDeps: o.deps } : {}),
      params: {
        namespace: o.installNamespace ?? namespace,
        context: { clusterName: 'test-cluster', clusterRegion: 'us-west-2' },
      },
      lifecycle: Object.fromEntries(
        (o.steps ?? (['prereqs', 'install', 'delete'] as const)).map((s) => [s, { template: template(s) }]),
      ),
    },
  };
}

export function getAddon(namespace: string, name: string): Promise<Addon | undefined> {
  return client.get<Addon>(AddonKind, namespace, name);
}

/** Waits until the Addon's status.lifecycle.installed is `phase`; returns it. */
export function addonPhase(
  namespace: string,
  name: string,
  phase: string,
  timeoutMs = 180_000,
): Promise<Addon> {
  return eventually(
    `Addon ${namespace}/${name} to be ${phase}`,
    async () => {
      const a = await getAddon(namespace, name);
      return a?.status?.lifecycle?.installed === phase ? a : undefined;
    },
    timeoutMs,
  );
}

export async function events(
  namespace: string,
  name: string,
): Promise<{ reason?: string; message?: string; type?: string }[]> {
  const list = await client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.map((e) => ({ reason: e.reason, message: e.message, type: e.type }));
}
