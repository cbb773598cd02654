// Sandbox seed for kube-forensics (run by scripts/sandbox.ts before the controllers start and the
// examples are applied): what examples/kube-forensics/*.yaml capture, so both reach Complete as written.
//
//  - a kubelet stand-in (packages/testenv) — a node on 127.0.0.1 serving the kubelet checkpoint and
//    containerLogs API — and the collector stand-in running this app's bundle for the collector Jobs,
//    both kept running for as long as the sandbox runs (KWOK's nodes report 10.0.0.1: the product must
//    never be pointed at one);
//  - the pods the examples name, on the stand-in's node: default/bad-pod-1234567890-dead1 and the
//    crash-looping payments/api-server-7d9f8b6c5d-x2x9q (restarted 3 times: it has previous logs);
//  - the bucket my-forensics-bucket-123456789012-us-west-2 in the emulator;
//  - the controller's environment: the stand-in's CA (KEIKO_KUBELET_CA_FILE) and the collector image
//    the stand-in runs (KEIKO_COLLECTOR_IMAGE).
// Every run starts from scratch: the examples' PodCheckpoints and pods and older stand-in nodes go first.
import path from 'node:path';
import { BucketAlreadyOwnedByYou, CreateBucketCommand } from '@aws-sdk/client-s3';
import { PodCheckpointKind } from '@keiko/api';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import * as k8s from '@kubernetes/client-node';
import {
  COLLECTOR_IMAGE,
  CollectorStandIn,
  createNamespace,
  emulatorS3,
  eventually,
  KubeletStandIn,
  kubeConfigFromEnv,
  RESTART_COUNT_ANNOTATION,
  STAND_IN_NODE_PREFIX,
  testEnvPki,
} from '@keiko/testenv';

const BUCKET = 'my-forensics-bucket-123456789012-us-west-2';
const PODS = [
  { namespace: 'default', name: 'bad-pod-1234567890-dead1', containers: ['app', 'sidecar'], restarts: 0 },
  { namespace: 'payments', name: 'api-server-7d9f8b6c5d-x2x9q', containers: ['api'], restarts: 3 },
];
const CHECKPOINTS = [
  { namespace: 'forensics-system', name: 'suspicious-pod' },
  { namespace: 'forensics-system', name: 'incident-4711-api-server' },
];

/** Live as long as the sandbox process: they are the node's kubelet and container runtime. */
let kubelet: KubeletStandIn | undefined;
export let collector: CollectorStandIn | undefined;

export async function seed(log: (line: string) => void): Promise<void> {
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  await reset(client);
  const pki = await testEnvPki();
  kubelet = await new KubeletStandIn({ kc, ...pki, suffix: 'sandbox' }).start();
  const bundle = path.join(import.meta.dirname, '..', 'dist', 'main.js');
  collector = await new CollectorStandIn({
    kc,
    images: { [COLLECTOR_IMAGE]: bundle },
    kubelets: [kubelet],
  }).start();
  process.env.KEIKO_KUBELET_CA_FILE = pki.caFile;
  process.env.KEIKO_COLLECTOR_IMAGE = COLLECTOR_IMAGE;
  log(
    `kubelet stand-in ${kubelet.nodeName} at https://127.0.0.1:${kubelet.port}; collector stand-in runs ${COLLECTOR_IMAGE}`,
  );
  await emulatorS3()
    .send(
      new CreateBucketCommand({
        Bucket: BUCKET,
        CreateBucketConfiguration: { LocationConstraint: 'us-west-2' },
      }),
    )
    .catch((err: unknown) => {
      if (!(err instanceof BucketAlreadyOwnedByYou)) throw err;
    });
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (const p of PODS) {
    if (!(await client.get(ResourceTypes.Namespace, undefined, p.namespace)))
      await createNamespace(p.namespace, { kubeConfig: kc, exact: true });
    await core.createNamespacedPod({
      namespace: p.namespace,
      body: {
        metadata: { name: p.name, annotations: { [RESTART_COUNT_ANNOTATION]: String(p.restarts) } },
        spec: {
          nodeName: kubelet.nodeName,
          containers: p.containers.map((c) => ({ name: c, image: `example/${c}:1` })),
        },
      },
    });
  }
  await eventually('the examples’ pods Running', async () => {
    for (const p of PODS) {
      const pod = await client.get<k8s.V1Pod>(ResourceTypes.Pod, p.namespace, p.name);
      if (pod?.status?.phase !== 'Running') return undefined;
    }
    return true;
  });
  log(
    `pods ${PODS.map((p) => `${p.namespace}/${p.name}`).join(', ')} running on ${kubelet.nodeName}; bucket ${BUCKET}`,
  );
}

async function reset(client: KubeClient): Promise<void> {
  for (const c of CHECKPOINTS) await client.delete(PodCheckpointKind, c.namespace, c.name).catch(() => false);
  for (const p of PODS)
    await client.delete(ResourceTypes.Pod, p.namespace, p.name, { gracePeriodSeconds: 0 }).catch(() => false);
  const nodes = await client.list<k8s.V1Node>(ResourceTypes.Node);
  for (const n of nodes.items)
    if (n.metadata?.name?.startsWith(STAND_IN_NODE_PREFIX))
      await client.delete(ResourceTypes.Node, undefined, n.metadata.name).catch(() => false);
  await eventually('the previous run’s pods gone', async () => {
    for (const p of PODS) if (await client.get(ResourceTypes.Pod, p.namespace, p.name)) return undefined;
    return true;
  });
}
