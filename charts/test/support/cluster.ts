// The shared test cluster from the chart tests' side: the monitoring CRDs a dry-run needs, and finding
// whatever a release left behind (throwaway namespaces and waits come from packages/testenv).
import { applyManifests, kubeConfigFromEnv, kubectl, parseManifests } from '@keiko/testenv';
import fs from 'node:fs';
import path from 'node:path';

/** The prometheus-operator CRDs a chart's optional objects need, and the stand-in fixture of each. */
const MONITORING_CRDS = [
  { name: 'servicemonitors.monitoring.coreos.com', fixture: 'servicemonitor-crd.yaml' },
  { name: 'prometheusrules.monitoring.coreos.com', fixture: 'prometheusrule-crd.yaml' },
];

/**
 * Makes sure the cluster serves monitoring.coreos.com/v1 ServiceMonitor and PrometheusRule. Returns a
 * function that removes again the CRDs this call installed (a real prometheus-operator CRD is left alone).
 */
export async function ensureMonitoringCrds(): Promise<() => Promise<void>> {
  const kc = kubeConfigFromEnv();
  const installed: string[] = [];
  for (const crd of MONITORING_CRDS) {
    const existing = await kubectl(kc, ['get', 'crd', crd.name, '--ignore-not-found', '-o', 'name']);
    if (existing.trim()) continue;
    const fixture = fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', crd.fixture), 'utf8');
    await applyManifests(kc, parseManifests(fixture));
    installed.push(crd.name);
  }
  return async () => {
    for (const name of installed)
      await kubectl(kc, ['delete', 'crd', name, '--ignore-not-found', '--wait=false']);
  };
}

/** ensureMonitoringCrds under its former name. */
export const ensureServiceMonitorCrd = ensureMonitoringCrds;

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

/** Polls until `check` returns true; resolves false on timeout (the caller asserts with its own message). */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 500,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
