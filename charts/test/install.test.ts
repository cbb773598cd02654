// `helm install` of each chart alone into a fresh namespace of the test cluster, then `helm
// uninstall`: afterwards nothing labelled with the release is left anywhere — only the CRDs, which
// helm never deletes. (No kubelet pulls images here; KWOK plays the nodes, so the test asserts the
// objects, not a running controller — the e2e suites run the controller under the chart's RBAC.)
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  kubeConfigFromEnv,
  kubectl,
  parseManifests,
  uniqueName,
} from '@keiko/testenv';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupWorkspace, helm, preparedChart, toolCharts } from './support/charts';
import { objectsWithLabels } from './support/cluster';

afterAll(cleanupWorkspace);

/** kind/name of a manifest object as `kubectl get -o name` prints it. */
function kubectlName(o: { apiVersion?: string; kind?: string; metadata?: { name?: string } }): string {
  const group = o.apiVersion?.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${o.kind!.toLowerCase()}${group ? `.${group}` : ''}/${o.metadata!.name}`;
}

describe.each(toolCharts().map((c) => [c.name, c.dir] as const))('helm install %s', (chart, repoDir) => {
  const release = uniqueName(chart.slice(0, 20));
  let namespace: string;

  afterAll(async () => {
    // Whatever happened above, leave neither the release nor the namespace behind.
    if (namespace) {
      await helm(['uninstall', release, '--namespace', namespace, '--ignore-not-found', '--wait'], {
        cluster: true,
      }).catch(() => {});
      await deleteNamespace(namespace);
    }
  });

  it('installs the chart alone, then uninstalls it leaving only the CRDs', async () => {
    const kc = kubeConfigFromEnv();
    namespace = await createNamespace('charts-install');
    const dir = await preparedChart(chart);
    await helm(['install', release, dir, '--namespace', namespace, '--timeout', '2m'], { cluster: true });

    const status = JSON.parse(
      await helm(['status', release, '--namespace', namespace, '-o', 'json'], { cluster: true }),
    ) as {
      info: { status: string };
    };
    expect(status.info.status).toBe('deployed');

    // Every object of the release exists, the Deployment among them.
    const manifest = parseManifests(
      await helm(['get', 'manifest', release, '--namespace', namespace], { cluster: true }),
    );
    expect(manifest.map((o) => o.kind)).toContain('Deployment');
    const names = manifest.map(kubectlName);
    // Each in its own namespace: a chart may render objects outside the release's (e.g. a Role in kube-system).
    const found: string[] = [];
    for (const ns of new Set(manifest.map((o) => o.metadata?.namespace ?? namespace))) {
      const here = manifest.filter((o) => (o.metadata?.namespace ?? namespace) === ns).map(kubectlName);
      found.push(
        ...(await kubectl(kc, ['get', ...here, '--namespace', ns, '-o', 'name'])).trim().split('\n'),
      );
    }
    expect(found.sort()).toEqual([...names].sort());

    const labelled = await objectsWithLabels(`app.kubernetes.io/instance=${release}`);
    expect(labelled).toEqual(
      expect.arrayContaining([
        'deployment.apps/' + manifest.find((o) => o.kind === 'Deployment')!.metadata!.name,
      ]),
    );

    // The chart's CRDs were installed with it (a tool without a custom resource, governor or lifecycle-manager, has none).
    const crdDir = path.join(repoDir, 'crds');
    const crdNames = (fs.existsSync(crdDir) ? fs.readdirSync(crdDir) : [])
      .flatMap((f) => parseManifests(fs.readFileSync(path.join(crdDir, f), 'utf8')))
      .map((c) => `customresourcedefinition.apiextensions.k8s.io/${c.metadata!.name}`);
    expect(crdNames.length > 0).toBe(fs.existsSync(crdDir));

    await helm(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '2m'], {
      cluster: true,
    });

    // Pods, ReplicaSets and EndpointSlices go through the garbage collector: give it a moment.
    const leftovers = async () => [
      ...(await objectsWithLabels(`app.kubernetes.io/instance=${release}`)),
      ...(await objectsWithLabels(`owner=helm,name=${release}`)), // helm's release record
    ];
    await eventually(
      `nothing of release ${release} left`,
      async () => (await leftovers()).length === 0,
      60_000,
      500,
      async () => `left: ${(await leftovers()).join(', ')}`,
    );

    if (crdNames.length > 0) {
      const crds = await kubectl(kc, ['get', ...crdNames, '-o', 'name']);
      expect(crds.trim().split('\n').sort()).toEqual([...crdNames].sort());
    }
  });
});
