// kube-forensics end to end: the bundled controller (dist/main.js, as in its image) running with a real
// token of the chart's ServiceAccount (the kubelet stand-in checks it with a TokenReview and authorizes
// it with a SubjectAccessReview against the chart's RBAC), kubelet stand-ins on 127.0.0.1 (never a
// KWOK node address), the collector stand-in running the bundle's own `collect` for the collector
// Jobs, and moto's S3.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import {
  applyManifests,
  buildApp,
  COLLECTOR_IMAGE,
  ControllerProcess,
  createNamespace,
  eventually,
  ForensicsWorld,
  freePort,
  kubeConfigFromEnv,
  splitLocation,
} from '@keiko/testenv';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';

const kc = kubeConfigFromEnv();
const core = kc.makeApiClient(k8s.CoreV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
let world: ForensicsWorld;
let rbac: ChartRbac;
let system: string;
let apps: string;
let bucket: string;
let tmp: string;
const controllers: ControllerProcess[] = [];

/** A kubeconfig holding a real token of the ServiceAccount (what its pod would mount). */
async function tokenKubeconfig(namespace: string, name: string, file: string): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no cluster in the test kubeconfig');
  const sa = new k8s.KubeConfig();
  sa.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: tr.status?.token }],
    contexts: [{ name, cluster: cluster.name, user: name, namespace }],
    currentContext: name,
  });
  fs.writeFileSync(file, sa.exportConfig(), { mode: 0o600 });
  return file;
}

async function startController(kubeconfig: string, namespace: string): Promise<ControllerProcess> {
  const c = new ControllerProcess({
    bundle: world.bundle,
    identity: { kubeconfig, namespace },
    args: [
      `--namespace=${namespace}`,
      '--leader-elect=false',
      `--metrics-port=${await freePort()}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      `--kubelet-ca-file=${world.caFile}`,
      `--collector-image=${COLLECTOR_IMAGE}`,
      `--collector-namespace=${namespace}`,
      '--shutdown-grace=2',
    ],
  }).start();
  controllers.push(c);
  return c;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-forensics-e2e-'));
  world = await new ForensicsWorld(kc, buildApp('kube-forensics')).start();
  system = await createNamespace('kf-e2e-system');
  apps = await createNamespace('kf-e2e-apps');
  // The chart's ServiceAccount, ClusterRole (nodes/checkpoint, nodes/proxy...) and collector-Jobs Role.
  rbac = await installChartRbac('kube-forensics', { namespace: system });
  bucket = await world.bucket(`kf-e2e-${Date.now().toString(36)}`);
  const kubeconfig = await tokenKubeconfig(system, rbac.serviceAccount.name, path.join(tmp, 'kubeconfig'));
  await startController(kubeconfig, system);
});

afterAll(async () => {
  for (const c of controllers) await c.stop();
  await world?.stop();
  await rbac?.uninstall();
  fs.rmSync(tmp, { recursive: true, force: true });
  await cleanupWorkspace();
});

const dest = () => `s3://${bucket}`;
const openJobs = async (ns: string) =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter((j) => !j.metadata?.deletionTimestamp);

describe('kube-forensics as the chart ServiceAccount', () => {
  it('a two-container pod: both checkpointed, logs and context in S3, manifest checksums match, Complete', async () => {
    await world.pod(apps, 'web', ['app', 'proxy']);
    await world.podCheckpoint(system, 'web', { pod: 'web', namespace: apps, destination: dest() });
    const { pcp, type, reason } = await world.finished(system, 'web');
    expect([type, reason]).toEqual(['Complete', 'Captured']);
    expect(pcp.status?.containers?.map((c) => [c.name, c.checkpoint?.state, c.logs?.state])).toEqual([
      ['app', 'Captured', 'Captured'],
      ['proxy', 'Captured', 'Captured'],
    ]);
    const { bucket: b, prefix } = splitLocation(pcp.status?.location);
    const manifest = await world.verifyManifest(b, prefix);
    const kinds = manifest.items
      .filter((i) => i.sha256)
      .map((i) => `${i.kind}${i.container ? `:${i.container}` : ''}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'pod',
        'owners',
        'node',
        'events',
        'container-statuses',
        'logs:app',
        'logs:proxy',
        'checkpoint:app',
        'checkpoint:proxy',
      ]),
    );
    // The kubelet saw the chart's ServiceAccount, and the archives left the node.
    const user = `system:serviceaccount:${system}:${rbac.serviceAccount.name}`;
    expect(
      world
        .kubelet()
        .served.filter((s) => s.path.includes('/web/') && s.status === 200)
        .every((s) => s.user === user),
    ).toBe(true);
    expect(world.kubelet().archives()).toEqual([]);
    expect(await openJobs(system)).toEqual([]);
  });

  it('checkpoint unsupported: logs-only Complete with the reason', async () => {
    await world.pod(apps, 'legacy', ['app'], 'unsupported');
    await world.podCheckpoint(system, 'legacy', { pod: 'legacy', namespace: apps, destination: dest() });
    const { pcp, type, reason } = await world.finished(system, 'legacy');
    expect([type, reason]).toEqual(['Complete', 'CapturedWithoutCheckpoint']);
    expect(pcp.status?.checkpoint).toMatch(
      /^unavailable \(the container runtime could not checkpoint \(500\)/,
    );
  });

  it('pod missing → Failed NotFound; bucket missing → Failed UploadFailed; nothing written', async () => {
    await world.podCheckpoint(system, 'missing', { pod: 'nope', namespace: apps, destination: dest() });
    await world.podCheckpoint(system, 'nobucket', {
      pod: 'web',
      namespace: apps,
      destination: `s3://${bucket}-gone`,
    });
    const missing = await world.finished(system, 'missing');
    expect([missing.type, missing.reason]).toEqual(['Failed', 'NotFound']);
    const nobucket = await world.finished(system, 'nobucket');
    expect([nobucket.type, nobucket.reason]).toEqual(['Failed', 'UploadFailed']);
    expect(nobucket.message).toMatch(/^spec.destination: bucket .* does not exist/);
    expect(await world.keys(bucket, 'forensics/')).not.toContainEqual(
      expect.stringContaining(`_${apps}_nope/`),
    );
  });

  it('RBAC without nodes/proxy → Failed Forbidden', async () => {
    const ns = await createNamespace('kf-e2e-noproxy');
    const role = rbac.objects.find((o) => o.kind === 'ClusterRole') as k8s.V1ClusterRole;
    const name = `${ns}-controller`;
    const rules = (role.rules ?? []).filter((r) => !r.resources?.includes('nodes/proxy'));
    expect(rules.length).toBe((role.rules ?? []).length - 1);
    // The chart's collector-Jobs Role, in this namespace (the controller watches its Jobs there).
    const jobsRole = rbac.objects.find(
      (o) => o.kind === 'Role' && (o as k8s.V1Role).rules?.some((r) => r.resources?.includes('jobs')),
    ) as k8s.V1Role;
    await applyManifests(kc, [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'controller', namespace: ns } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name },
        rules,
      } as k8s.KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'jobs', namespace: ns },
        rules: jobsRole.rules,
      } as k8s.KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'jobs', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'jobs' },
        subjects: [{ kind: 'ServiceAccount', name: 'controller', namespace: ns }],
      } as k8s.KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name: 'controller', namespace: ns }],
      } as k8s.KubernetesObject,
    ]);
    try {
      await startController(await tokenKubeconfig(ns, 'controller', path.join(tmp, 'noproxy')), ns);
      await world.pod(apps, 'guarded', ['app']);
      await world.podCheckpoint(ns, 'guarded', { pod: 'guarded', namespace: apps, destination: dest() });
      const { type, reason, message } = await world.finished(ns, 'guarded');
      expect([type, reason]).toEqual(['Failed', 'Forbidden']);
      expect(message).toMatch(/refused containerLogs \(403; needs nodes\/proxy\)/);
    } finally {
      await kc
        .makeApiClient(k8s.RbacAuthorizationV1Api)
        .deleteClusterRoleBinding({ name })
        .catch(() => undefined);
      await kc
        .makeApiClient(k8s.RbacAuthorizationV1Api)
        .deleteClusterRole({ name })
        .catch(() => undefined);
    }
  });

  it('controller killed mid-capture: one capture, a manifest, no orphaned Job', async () => {
    const first = controllers[0]!;
    const kubeconfig = path.join(tmp, 'kubeconfig');
    await world.pod(apps, 'killed', ['a', 'b']);
    await world.podCheckpoint(system, 'killed', {
      pod: 'killed',
      namespace: apps,
      destination: dest(),
      subpath: 'kill',
    });
    // Kill -9 once a collector Job exists: the checkpoints are taken, the upload is in flight.
    await eventually(
      'a collector Job of the capture',
      async () => {
        const pcp = await world.get(system, 'killed');
        return pcp.status?.phase === 'Collecting' && (await openJobs(system)).length > 0 ? true : undefined;
      },
      60_000,
      50,
    );
    await first.kill9();
    await startController(await tokenKubeconfig(system, rbac.serviceAccount.name, kubeconfig), system);
    const { pcp, type } = await world.finished(system, 'killed');
    expect(type).toBe('Complete');
    // One capture: one prefix, one checkpoint request per container, a manifest that checks out.
    const prefixes = new Set(
      (await world.keys(bucket, 'kill/')).map((k) => k.split('/').slice(0, 2).join('/')),
    );
    expect(prefixes.size).toBe(1);
    const requests = world
      .kubelet()
      .served.filter((s) => s.kind === 'checkpoint' && s.path.includes('/killed/'));
    expect(requests.map((s) => s.path.split('/').pop()).sort()).toEqual(['a', 'b']);
    const { bucket: b, prefix } = splitLocation(pcp.status?.location);
    const manifest = await world.verifyManifest(b, prefix);
    expect(manifest.items.filter((i) => i.kind === 'checkpoint' && i.sha256)).toHaveLength(2);
    await eventually('no collector Job left', async () =>
      (await openJobs(system)).length === 0 ? true : undefined,
    );
  });
});
