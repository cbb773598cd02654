// Addons for addon-manager's tests and e2e suite, and waiting on them. The Addons are small: each step is
// one Argo resource template (real Argo runs it; testenv's executor stand-in applies it), so a test sees
// exactly what its workflows did. Typed structurally: testenv does not depend on the product's packages.
import * as k8s from '@kubernetes/client-node';
import { EXIT_CODE_ANNOTATION, MESSAGE_ANNOTATION } from './argo';
import { eventually } from './eventually';

export type AddonStep = 'prereqs' | 'install' | 'validate' | 'delete';

/** The fields of an Addon these helpers write and read. */
export interface TestAddon {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
  status?: { lifecycle?: { installed?: string } };
}

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

export interface TestAddonOptions {
  pkgName?: string;
  deps?: Record<string, string>;
  installNamespace?: string;
  /** A step's `main` container exits 1 with this message instead of running. */
  fail?: Partial<Record<AddonStep, string>>;
  steps?: AddonStep[];
}

/**
 * A small Addon: prereqs/install/validate apply ConfigMap `<name>-<step>`, delete deletes
 * `<name>-install`, in the workflow's namespace, as its ServiceAccount (grant it with
 * grantWorkflowServiceAccount).
 */
export function testAddon(namespace: string, name: string, o: TestAddonOptions = {}): TestAddon {
  const template = (step: AddonStep) => {
    const cm = [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      `  name: ${name}-${step === 'delete' ? 'install' : step}`,
      '  namespace: "{{workflow.namespace}}"',
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

/** Waits until the Addon's status.lifecycle.installed is `phase`; returns it. */
export function addonPhase<T extends TestAddon = TestAddon>(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  phase: string,
  timeoutMs = 180_000,
): Promise<T> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  return eventually(
    `Addon ${namespace}/${name} to be ${phase}`,
    async () => {
      const a = (await api
        .getNamespacedCustomObject({
          group: 'addonmgr.keikoproj.io',
          version: 'v1alpha1',
          plural: 'addons',
          namespace,
          name,
        })
        .catch(() => undefined)) as T | undefined;
      return a?.status?.lifecycle?.installed === phase ? a : undefined;
    },
    timeoutMs,
  );
}

/** The Events of the object named `name` in `namespace` (any kind), oldest first as listed. */
export async function eventsOf(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<{ reason?: string; message?: string; type?: string }[]> {
  const list = await kc
    .makeApiClient(k8s.CoreV1Api)
    .listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return list.items.map((e) => ({ reason: e.reason, message: e.message, type: e.type }));
}
