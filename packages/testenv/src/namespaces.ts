// Throwaway namespaces: test files run side by side against one cluster, so each makes its own.
import * as k8s from '@kubernetes/client-node';
import { kubeConfigFromEnv } from './kubeconfig';

/** `<prefix>-<time><random>`: unique across test files and runs, at most 63 characters. */
export function uniqueName(prefix: string): string {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `${prefix.slice(0, 62 - suffix.length)}-${suffix}`;
}

/**
 * Creates a namespace named `<prefix>-<unique suffix>` (or exactly `name` with `{ exact: true }`) and
 * returns its name.
 */
export async function createNamespace(
  prefixOrName: string,
  opts: { kubeConfig?: k8s.KubeConfig; exact?: boolean; labels?: Record<string, string> } = {},
): Promise<string> {
  const name = opts.exact ? prefixOrName : uniqueName(prefixOrName);
  const core = (opts.kubeConfig ?? kubeConfigFromEnv()).makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({
    body: { metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}) } },
  });
  return name;
}

/** Deletes a namespace without waiting for it to go; one already gone is fine. */
export async function deleteNamespace(name: string, kubeConfig?: k8s.KubeConfig): Promise<void> {
  const core = (kubeConfig ?? kubeConfigFromEnv()).makeApiClient(k8s.CoreV1Api);
  try {
    await core.deleteNamespace({ name });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
}
