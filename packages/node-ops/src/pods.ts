import type { V1Pod } from '@kubernetes/client-node';
import { resourcePath, ResourceTypes, type KubeClient, type KubeList } from '@keiko/kube-runtime';

/**
 * Every pod bound to the node, all namespaces, page by page. The caller has validated the node
 * name: an empty one would select every unscheduled pod in the cluster.
 */
export async function listPodsOnNode(
  client: KubeClient,
  nodeName: string,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<V1Pod[]> {
  const pods: V1Pod[] = [];
  let cont: string | undefined;
  do {
    const page = await client.request<KubeList<V1Pod>>('GET', resourcePath(ResourceTypes.Pod), {
      query: { fieldSelector: `spec.nodeName=${nodeName}`, limit: 500, continue: cont },
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    pods.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return pods;
}
