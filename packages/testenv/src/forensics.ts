// The kube-forensics test kit (its app tests, e2e and bench share it): kubelet stand-ins with a collector stand-in running this app's
// bundle, a bucket in the AWS emulator, pods on the stand-ins' nodes, PodCheckpoints and their S3 objects.
import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { AWS_REGION } from './testenv';
import { CollectorStandIn } from './collector-standin';
import { eventually } from './eventually';
import { KubeletStandIn, RESTART_COUNT_ANNOTATION, type CheckpointSupport } from './kubelet-standin';
import { testEnvPki } from './standins';

/** The PodCheckpoint fields the kit reads (the product's types live in @keiko/api). */
export interface PodCheckpointSpec {
  pod: string;
  namespace: string;
  destination?: string;
  subpath?: string;
  checkpointRequired?: boolean;
}
export interface PodCheckpoint {
  metadata: { name?: string; namespace?: string; uid?: string };
  spec: PodCheckpointSpec;
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string }[];
    location?: string;
    manifest?: string;
    checkpoint?: string;
    phase?: string;
    containers?: {
      name: string;
      checkpoint?: { state: string; message?: string };
      logs?: { state: string };
      previousLogs?: { state: string };
    }[];
  };
}

/** An S3 client on the test cluster's AWS emulator (path-style, as the emulator needs). */
export function emulatorS3(): S3Client {
  return new S3Client({
    region: process.env.AWS_REGION ?? AWS_REGION,
    endpoint: process.env.AWS_ENDPOINT_URL,
    forcePathStyle: true,
  });
}

export const COLLECTOR_IMAGE = 'keiko/kube-forensics:test';

export class ForensicsWorld {
  readonly s3: S3Client = emulatorS3();
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;
  readonly kubelets = new Map<CheckpointSupport, KubeletStandIn>();
  collector?: CollectorStandIn;
  caFile = '';

  constructor(
    readonly kc: k8s.KubeConfig,
    readonly bundle: string,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async start(
    modes: CheckpointSupport[] = ['supported', 'unsupported'],
    archiveBytes?: number,
  ): Promise<this> {
    const pki = await testEnvPki();
    this.caFile = pki.caFile;
    for (const m of modes)
      this.kubelets.set(
        m,
        await new KubeletStandIn({ kc: this.kc, ...pki, checkpoint: m, archiveBytes }).start(),
      );
    this.collector = await new CollectorStandIn({
      kc: this.kc,
      images: { [COLLECTOR_IMAGE]: this.bundle },
      kubelets: [...this.kubelets.values()],
    }).start();
    return this;
  }

  async stop(): Promise<void> {
    await this.collector?.stop();
    for (const k of this.kubelets.values()) await k.stop();
  }

  kubelet(mode: CheckpointSupport = 'supported'): KubeletStandIn {
    const k = this.kubelets.get(mode);
    if (!k) throw new Error(`no ${mode} kubelet stand-in`);
    return k;
  }

  async bucket(name: string): Promise<string> {
    await this.s3.send(
      new CreateBucketCommand({
        Bucket: name,
        CreateBucketConfiguration: { LocationConstraint: 'us-west-2' },
      }),
    );
    return name;
  }

  /** A pod with these containers on a stand-in's node, Running (restarted once, so it has previous logs). */
  async pod(
    ns: string,
    name: string,
    containers: string[],
    mode: CheckpointSupport = 'supported',
  ): Promise<void> {
    await this.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name, annotations: { [RESTART_COUNT_ANNOTATION]: '1' } },
        spec: {
          nodeName: this.kubelet(mode).nodeName,
          containers: containers.map((c) => ({ name: c, image: `${c}:1` })),
        },
      },
    });
    await eventually(`pod ${ns}/${name} Running`, async () => {
      const p = await this.core.readNamespacedPod({ name, namespace: ns });
      return p.status?.phase === 'Running' || undefined;
    });
  }

  async podCheckpoint(ns: string, name: string, spec: PodCheckpointSpec): Promise<void> {
    await this.custom.createNamespacedCustomObject({
      group: 'forensics.keikoproj.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'podcheckpoints',
      body: {
        apiVersion: 'forensics.keikoproj.io/v1alpha1',
        kind: 'PodCheckpoint',
        metadata: { name },
        spec,
      },
    });
  }

  async get(ns: string, name: string): Promise<PodCheckpoint> {
    return (await this.custom.getNamespacedCustomObject({
      group: 'forensics.keikoproj.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'podcheckpoints',
      name,
    })) as PodCheckpoint;
  }

  /** Waits for Complete or Failed; returns the PodCheckpoint and which. */
  finished(
    ns: string,
    name: string,
    timeoutMs = 90_000,
  ): Promise<{ pcp: PodCheckpoint; type: string; reason: string; message: string }> {
    return eventually(
      `PodCheckpoint ${ns}/${name} finished`,
      async () => {
        const pcp = await this.get(ns, name);
        const c = pcp.status?.conditions?.find(
          (x) => ['Complete', 'Failed'].includes(x.type) && x.status === 'True',
        );
        return c ? { pcp, type: c.type, reason: c.reason, message: c.message } : undefined;
      },
      timeoutMs,
      250,
    );
  }

  async object(bucket: string, key: string): Promise<Buffer> {
    const got = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  }

  async keys(bucket: string, prefix = ''): Promise<string[]> {
    const got = await this.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (got.Contents ?? []).map((o) => o.Key ?? '');
  }

  /** Every manifest item with a sha256 matches the object's bytes; returns the manifest. */
  async verifyManifest(bucket: string, prefix: string): Promise<Manifest> {
    const manifest = JSON.parse((await this.object(bucket, `${prefix}manifest.json`)).toString()) as Manifest;
    for (const item of manifest.items) {
      if (!item.sha256) continue;
      const bytes = await this.object(bucket, prefix + item.key);
      const sha = createHash('sha256').update(bytes).digest('hex');
      if (sha !== item.sha256 || bytes.length !== item.size)
        throw new Error(
          `${item.key}: manifest says ${item.size} bytes ${item.sha256}, S3 holds ${bytes.length} bytes ${sha}`,
        );
    }
    return manifest;
  }
}

export interface Manifest {
  result: string;
  reason: string;
  kubernetesVersion?: string;
  node?: string;
  checkpoint?: string;
  items: { key: string; kind: string; container?: string; size?: number; sha256?: string; error?: string }[];
}

/** The location's bucket and prefix. */
export function splitLocation(location: string | undefined): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(location ?? '');
  if (!m) throw new Error(`not an s3 location: ${location}`);
  return { bucket: m[1] ?? '', prefix: m[2] ?? '' };
}
