import * as k8s from '@kubernetes/client-node';
import yaml from 'js-yaml';

export const FIELD_MANAGER = 'keiko-testenv';

/** Splits a multi-document YAML text into objects, skipping empty documents. */
export function parseManifests(text: string): k8s.KubernetesObject[] {
  return yaml.loadAll(text).filter((d): d is k8s.KubernetesObject => typeof d === 'object' && d !== null);
}

/**
 * Server-side applies every object (like `kubectl apply --server-side`) and waits for applied CRDs to
 * be Established, so objects of a new kind can be applied right after. Returns the applied objects.
 */
export async function applyManifests(kc: k8s.KubeConfig, objects: k8s.KubernetesObject[]): Promise<k8s.KubernetesObject[]> {
  const applied: k8s.KubernetesObject[] = [];
  // CRDs first, so that the kinds they define exist when their instances are applied.
  const isCrd = (o: k8s.KubernetesObject) => o.kind === 'CustomResourceDefinition';
  const ordered = [...objects.filter(isCrd), ...objects.filter((o) => !isCrd(o))];
  let client = k8s.KubernetesObjectApi.makeApiClient(kc);
  let crdsPending = false;
  for (const obj of ordered) {
    if (!isCrd(obj) && crdsPending) {
      // The discovery cache of the old client predates the new kinds.
      client = k8s.KubernetesObjectApi.makeApiClient(kc);
      crdsPending = false;
    }
    applied.push(await client.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply));
    if (isCrd(obj)) {
      await waitForCrdEstablished(kc, obj.metadata?.name ?? '');
      crdsPending = true;
    }
  }
  return applied;
}

export async function waitForCrdEstablished(kc: k8s.KubeConfig, name: string, timeoutMs = 30_000): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const crd = await ext.readCustomResourceDefinition({ name });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
