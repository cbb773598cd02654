// The shared test cluster from the chart tests' side: the ServiceMonitor CRD a dry-run needs, and finding
// whatever a release left behind (throwaway namespaces and waits come from packages/testenv).
import { applyManifests, kubeConfigFromEnv, kubectl, parseManifests } from '@keiko/testenv';
import fs from 'node:fs';
import path from 'node:path';

const SERVICE_MONITOR_CRD = 'servicemonitors.monitoring.coreos.com';

/**
 * Makes sure the cluster serves monitoring.coreos.com/v1 ServiceMonitor. Returns a function that
 * removes the CRD again if this call installed it (a real prometheus-operator CRD is left alone).
 */
export async function ensureServiceMonitorCrd(): Promise<() => Promise<void>> {
  const kc = kubeConfigFromEnv();
  const existing = await kubectl(kc, ['get', 'crd', SERVICE_MONITOR_CRD, '--ignore-not-found', '-o', 'name']);
  if (existing.trim()) return async () => {};
  const fixture = fs.readFileSync(
    path.join(import.meta.dirname, '..', 'fixtures', 'servicemonitor-crd.yaml'),
    'utf8',
  );
  await applyManifests(kc, parseManifests(fixture));
  return async () => {
    await kubectl(kc, ['delete', 'crd', SERVICE_MONITOR_CRD, '--ignore-not-found', '--wait=false']);
  };
}

let listable: Promise<string[]> | undefined;

/** Every resource type the cluster can list (core, built-in and custom), as kubectl names them. */
function listableResources(): Promise<string[]> {
  listable ??= kubectl(kubeConfigFromEnv(), ['api-resources', '--verbs=list', '-o', 'name']).then((out) =>
    out
      .split('\n')
      .map((l) => l.trim())
      // Events carry no labels of ours, and listing them everywhere only slows the check down.
      .filter((l) => l && l !== 'events' && l !== 'events.events.k8s.io'),
  );
  return listable;
}

/**
 * Every object of any type, in any namespace or cluster-scoped, matching the label selector. Other
 * tests add and remove CRDs meanwhile; a type that vanished between discovery and the query means
 * discovering again.
 */
export async function objectsWithLabels(selector: string): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await kubectl(kubeConfigFromEnv(), [
        'get',
        (await listableResources()).join(','),
        '--all-namespaces',
        '-l',
        selector,
        '-o',
        'name',
        '--ignore-not-found',
      ]);
      return out
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    } catch (err) {
      if (
        attempt >= 3 ||
        !/doesn't have a resource type|could not find the requested resource/.test(String(err))
      )
        throw err;
      listable = undefined;
    }
  }
}
