// The kubelet and collector stand-ins themselves, against the real test cluster: authentication by
// TokenReview, authorization by SubjectAccessReview (RBAC really decides), the documented checkpoint and
// containerLogs answers, the archive on "the node", and a Job's pod on a stand-in node ending only
// when the collector stand-in ran its command (KWOK's pod-complete Stage leaves it alone).
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import {
  CollectorStandIn,
  containerRun,
  createNamespace,
  eventually,
  KUBELET_CHECKPOINTS_DIR,
  kubeConfigFromEnv,
  KubeletStandIn,
  kubeletAttributes,
  parseKubeletPath,
  testEnvPki,
} from '../src/index';

const kc = kubeConfigFromEnv();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
let kubelet: KubeletStandIn;
let collector: CollectorStandIn;
let ns: string;
let ca: Buffer;
let allowedToken: string;
let deniedToken: string;
let tmp: string;

function call(method: string, p: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: kubelet.port,
        path: p,
        method,
        ca,
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function serviceAccountToken(name: string, subresources: string[]): Promise<string> {
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  if (subresources.length) {
    const role = `${ns}-${name}`;
    await rbac.createClusterRole({
      body: {
        metadata: { name: role },
        rules: [{ apiGroups: [''], resources: subresources, verbs: ['get', 'create'] }],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
      },
    });
  }
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace: ns,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  return tr.status?.token ?? '';
}

beforeAll(async () => {
  const pki = await testEnvPki();
  ca = fs.readFileSync(pki.caFile);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-standin-test-'));
  kubelet = await new KubeletStandIn({ kc, ...pki }).start();
  ns = await createNamespace('standin');
  allowedToken = await serviceAccountToken('allowed', ['nodes/checkpoint', 'nodes/proxy']);
  deniedToken = await serviceAccountToken('denied', []);
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'two', annotations: { 'testenv.keiko.io/restart-count': '1' } },
      spec: {
        nodeName: kubelet.nodeName,
        containers: [
          { name: 'app', image: 'app:1' },
          { name: 'sidecar', image: 'sidecar:1' },
        ],
      },
    },
  });
  await eventually('pod two Running', async () => {
    const p = await core.readNamespacedPod({ name: 'two', namespace: ns });
    return p.status?.phase === 'Running' || undefined;
  });
});

afterAll(async () => {
  await collector?.stop();
  await kubelet?.stop();
  for (const n of ['allowed']) {
    await rbac.deleteClusterRole({ name: `${ns}-${n}` }).catch(() => undefined);
    await rbac.deleteClusterRoleBinding({ name: `${ns}-${n}` }).catch(() => undefined);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('kubelet stand-in', () => {
  it('registers its node at 127.0.0.1 with its port as the kubelet endpoint, Ready, left alone by KWOK', async () => {
    const node = await core.readNode({ name: kubelet.nodeName });
    expect(node.status?.addresses).toContainEqual({ type: 'InternalIP', address: '127.0.0.1' });
    expect(node.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(kubelet.port);
    expect(node.metadata?.annotations?.['kwok.x-k8s.io/status']).toBe('custom');
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('maps paths to the SubjectAccessReview a kubelet makes', () => {
    expect(kubeletAttributes('/checkpoint/a/b/c', 'POST', 'n')).toEqual({
      verb: 'create',
      resource: 'nodes',
      subresource: 'checkpoint',
      name: 'n',
    });
    expect(kubeletAttributes('/containerLogs/a/b/c', 'GET', 'n').subresource).toBe('proxy');
    expect(parseKubeletPath('/containerLogs/ns/p/c')).toEqual({
      kind: 'logs',
      namespace: 'ns',
      pod: 'p',
      container: 'c',
    });
    expect(parseKubeletPath('/pods')).toBeUndefined();
  });

  it('401 without a valid token, 403 when RBAC does not grant nodes/checkpoint or nodes/proxy', async () => {
    expect((await call('POST', `/checkpoint/${ns}/two/app`)).status).toBe(401);
    expect((await call('POST', `/checkpoint/${ns}/two/app`, 'not-a-token')).status).toBe(401);
    const denied = await call('POST', `/checkpoint/${ns}/two/app`, deniedToken);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('subresource=checkpoint');
    expect((await call('GET', `/containerLogs/${ns}/two/app`, deniedToken)).status).toBe(403);
  });

  it('checkpoints a container: 200 with the archive path; a root-only tar in the checkpoints directory', async () => {
    const res = await call('POST', `/checkpoint/${ns}/two/sidecar?timeout=30`, allowedToken);
    expect(res.status).toBe(200);
    const items = (JSON.parse(res.body) as { items: string[] }).items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatch(
      new RegExp(`^${KUBELET_CHECKPOINTS_DIR}/checkpoint-two_${ns}-sidecar-\\d{8}T\\d{6}Z\\.tar$`),
    );
    const file = path.join(kubelet.checkpointsDir, path.basename(items[0] ?? ''));
    const st = fs.statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file).subarray(257, 262).toString()).toBe('ustar');
  });

  it('404 for a missing pod or container, 404 with the gate off, 500 for an unsupported runtime', async () => {
    expect((await call('POST', `/checkpoint/${ns}/nope/app`, allowedToken)).status).toBe(404);
    expect((await call('POST', `/checkpoint/${ns}/two/nope`, allowedToken)).status).toBe(404);
    kubelet.checkpoint = 'gate-off';
    expect((await call('POST', `/checkpoint/${ns}/two/app`, allowedToken)).status).toBe(404);
    kubelet.checkpoint = 'unsupported';
    const res = await call('POST', `/checkpoint/${ns}/two/app`, allowedToken);
    expect(res.status).toBe(500);
    expect(res.body).toContain('Unimplemented');
    kubelet.checkpoint = 'supported';
  });

  it('serves container logs; previous=true is 400 for a container that never restarted', async () => {
    const res = await call('GET', `/containerLogs/${ns}/two/app`, allowedToken);
    expect(res.status).toBe(200);
    expect(res.body).toContain(`${ns}/two/app run 1 line 1`);
    const previous = await call('GET', `/containerLogs/${ns}/two/app?previous=true`, allowedToken);
    expect(previous.body).toContain(`${ns}/two/app run 0 line 1`);
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'fresh' },
        spec: { nodeName: kubelet.nodeName, containers: [{ name: 'c', image: 'c:1' }] },
      },
    });
    await eventually('pod fresh Running', async () => {
      const p = await core.readNamespacedPod({ name: 'fresh', namespace: ns });
      return p.status?.phase === 'Running' || undefined;
    });
    expect((await call('GET', `/containerLogs/${ns}/fresh/c?previous=true`, allowedToken)).status).toBe(400);
  });
});

describe('collector stand-in', () => {
  const image = 'keiko/collector-test:1';

  beforeAll(async () => {
    // A "bundle" that copies the file named by its first argument to its second and exits with its third.
    const bundle = path.join(tmp, 'main.mjs');
    fs.writeFileSync(
      bundle,
      "import fs from 'node:fs';\nconst [src, dst, code] = process.argv.slice(2);\n" +
        "fs.copyFileSync(src, dst); console.log('copied for', process.env.POD_NAME);\nprocess.exit(Number(code));\n",
    );
    collector = await new CollectorStandIn({ kc, images: { [image]: bundle }, kubelets: [kubelet] }).start();
  });

  const job = (name: string, src: string, dst: string, code: number): k8s.V1Job => ({
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          nodeName: kubelet.nodeName,
          volumes: [{ name: 'cp', hostPath: { path: KUBELET_CHECKPOINTS_DIR, type: 'Directory' } }],
          containers: [
            {
              name: 'collect',
              image,
              args: [`/checkpoints/${src}`, dst, String(code)],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              volumeMounts: [{ name: 'cp', mountPath: '/checkpoints' }],
            },
          ],
        },
      },
    },
  });

  it('rewrites paths under a mounted checkpoints directory and takes the downward API env', () => {
    const spec = job('x', 'a.tar', '/out', 0).spec?.template.spec;
    const pod: k8s.V1Pod = { metadata: { name: 'p', namespace: 'n' }, spec: spec as k8s.V1PodSpec };
    const run = containerRun(
      pod,
      spec!.containers[0]!,
      '/b/main.js',
      { [KUBELET_CHECKPOINTS_DIR]: '/tmp/cp' },
      {},
    );
    expect(run?.argv.slice(1)).toEqual(['/b/main.js', '/tmp/cp/a.tar', '/out', '0']);
    expect(run?.env.POD_NAME).toBe('p');
    expect(containerRun(pod, { name: 'c', image: 'other' }, undefined, {}, {})).toBeUndefined();
  });

  it("runs the Job's container for real; the pod and Job end with its exit code", async () => {
    fs.writeFileSync(path.join(kubelet.checkpointsDir, 'a.tar'), 'archive');
    const dst = path.join(tmp, 'copied');
    await batch.createNamespacedJob({ namespace: ns, body: job('ok', 'a.tar', dst, 0) });
    await batch.createNamespacedJob({ namespace: ns, body: job('bad', 'a.tar', path.join(tmp, 'c2'), 3) });
    const state = (name: string) =>
      eventually(`job ${name} finished`, async () => {
        const j = await batch.readNamespacedJob({ name, namespace: ns });
        return j.status?.conditions?.find(
          (c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True',
        )?.type;
      });
    expect(await state('ok')).toBe('Complete');
    expect(await state('bad')).toBe('Failed');
    expect(fs.readFileSync(dst, 'utf8')).toBe('archive');
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=bad' });
    expect(pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
  });

  it('a Job pod on a stand-in node whose image it does not run stays Running (only the stand-in ends pods there)', async () => {
    await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name: 'other' },
        spec: {
          template: {
            spec: {
              restartPolicy: 'Never',
              nodeName: kubelet.nodeName,
              containers: [{ name: 'c', image: 'x:1' }],
            },
          },
        },
      },
    });
    await eventually('other pod Running', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=other' });
      return pods.items[0]?.status?.phase === 'Running' || undefined;
    });
    await new Promise((r) => setTimeout(r, 3000));
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=other' });
    expect(pods.items[0]?.status?.phase).toBe('Running');
  });
});
