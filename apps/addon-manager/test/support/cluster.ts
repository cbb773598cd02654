// Helpers for the addon-manager's tests against the real test cluster (packages/testenv's jest global
// setup starts or reuses it, with Argo's workflow-controller): namespaces that clean up after
// themselves, Addons from the examples, small Addons whose steps are resource templates, and waiting.
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { AddonKind, type Addon } from '@keiko/api';
import { KubeClient, ResourceTypes, type ResourceType } from '@keiko/kube-runtime';
import {
  addonPhase as sharedAddonPhase,
  applyManifests,
  createNamespace,
  eventsOf,
  eventually,
  kubeConfigFromEnv,
  parseManifests,
  requireArgo,
  testAddon as sharedTestAddon,
  type TestAddon,
  type TestAddonOptions,
} from '@keiko/testenv';
import { ADDON_FINALIZER } from '../../src/addon/constants';

export { eventually };

export const repoRoot = path.resolve(import.meta.dirname, '../../../..');
export const kc = kubeConfigFromEnv();
export const client = new KubeClient(kc);

const CRDS: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};

/**
 * Fails unless the test cluster runs Argo's workflow-controller (with its CRDs), and installs the
 * Addon CRD when it is missing. Only when missing: other suites (packages/api) apply the generated
 * CRDs in parallel and check the apply is idempotent.
 */
export async function prepareCluster(): Promise<void> {
  requireArgo();
  const file = path.join(repoRoot, 'charts/addon-manager/crds/addonmgr.keikoproj.io_addons.yaml');
  const objects = parseManifests(fs.readFileSync(file, 'utf8'));
  const missing = [];
  for (const o of objects) if (!(await client.get(CRDS, undefined, o.metadata?.name ?? ''))) missing.push(o);
  if (missing.length) await applyManifests(kc, missing);
}

/**
 * A Workflow CRD under a group of its own: lets a test add and remove "Argo" without touching others.
 * No workflow-controller runs that group, and no workflow is validated there — so its schema is a
 * minimal one (Argo's full schema is the test cluster's argoproj.io CRD, which every other test uses).
 */
export function privateWorkflowCrd(group: string): { rt: ResourceType; crd: k8s.KubernetesObject } {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `workflows.${group}` },
    spec: {
      group,
      names: { kind: 'Workflow', listKind: 'WorkflowList', plural: 'workflows', singular: 'workflow' },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  } as k8s.KubernetesObject;
  return { rt: { group, version: 'v1alpha1', plural: 'workflows', kind: 'Workflow', namespaced: true }, crd };
}

export { createNamespace };

/** Removes the finalizers the controller left on Addons in `ns`, then the namespace(s). */
export async function deleteNamespaces(...names: string[]): Promise<void> {
  for (const ns of names) {
    const list = await client
      .list<Addon>(AddonKind, { namespace: ns })
      .catch(() => ({ items: [] as Addon[] }));
    for (const a of list.items) {
      if (!a.metadata.finalizers?.includes(ADDON_FINALIZER)) continue;
      await client
        .patch(AddonKind, ns, a.metadata.name ?? '', {
          metadata: { finalizers: a.metadata.finalizers.filter((f) => f !== ADDON_FINALIZER) },
        })
        .catch(() => undefined);
    }
    await client.delete(ResourceTypes.Namespace, undefined, ns);
  }
}

/** An example manifest from examples/, moved into `namespace` (and its install namespace made unique). */
export function exampleAddon(file: string, namespace: string, installNamespace?: string): Addon {
  const a = load(fs.readFileSync(path.join(repoRoot, file), 'utf8')) as Addon & {
    params?: { namespace?: string };
  };
  a.metadata.namespace = namespace;
  if (installNamespace) {
    if (a.spec.params) a.spec.params.namespace = installNamespace;
    if (a.params) a.params.namespace = installNamespace;
  }
  return a;
}

/** A small Addon of resource-template steps (testenv's testAddon), typed as the product's. */
export function testAddon(namespace: string, name: string, o: TestAddonOptions = {}): Addon {
  return sharedTestAddon(namespace, name, o) as unknown as Addon;
}

export async function getAddon(namespace: string, name: string): Promise<Addon | undefined> {
  return client.get<Addon>(AddonKind, namespace, name);
}

/** Waits until the Addon's status.lifecycle.installed is `phase`; returns it. */
export function addonPhase(
  namespace: string,
  name: string,
  phase: string,
  timeoutMs = 120_000,
): Promise<Addon> {
  return sharedAddonPhase<Addon & TestAddon>(kc, namespace, name, phase, timeoutMs);
}

export function events(namespace: string, name: string): ReturnType<typeof eventsOf> {
  return eventsOf(kc, namespace, name);
}
