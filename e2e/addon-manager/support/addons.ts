// The addon-manager e2e suite's own helpers (kept apart from apps/addon-manager/test/support): the
// test cluster's clients, namespaces that clean up after themselves, Addons from the examples, small
// Addons whose steps are resource templates, and waiting on an Addon's phase.
import fs from 'node:fs';
import path from 'node:path';
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
  resourceWorkflow,
  testAddon as sharedTestAddon,
  type TestAddon,
  type TestAddonOptions,
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

export { createNamespace };

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

/** A small Addon of resource-template steps (testenv's testAddon), typed as the product's. */
export function testAddon(namespace: string, name: string, o: TestAddonOptions = {}): Addon {
  return sharedTestAddon(namespace, name, o) as unknown as Addon;
}

export { resourceWorkflow };

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
  return sharedAddonPhase<Addon & TestAddon>(kc, namespace, name, phase, timeoutMs);
}

export function events(namespace: string, name: string): ReturnType<typeof eventsOf> {
  return eventsOf(kc, namespace, name);
}
