// The PodCheckpoint controller (its bundle, as the image runs it) against the real test cluster, the
// kubelet and collector stand-ins (the collector Jobs run this bundle's `collect` for real) and moto.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import {
  buildApp,
  COLLECTOR_IMAGE,
  ControllerProcess,
  createNamespace,
  eventually,
  ForensicsWorld,
  freePort,
  installChartCrds,
  kubeConfigFromEnv,
  splitLocation,
} from '@keiko/testenv';

const kc = kubeConfigFromEnv();
const batch = kc.makeApiClient(k8s.BatchV1Api);
let world: ForensicsWorld;
let controller: ControllerProcess;
let ns: string;
let bucket: string;
let metricsPort: number;

async function startController(): Promise<ControllerProcess> {
  return new ControllerProcess({
    bundle: world.bundle,
    args: [
      `--namespace=${ns}`,
      '--leader-elect=false',
      `--metrics-port=${(metricsPort = await freePort())}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      `--kubelet-ca-file=${world.caFile}`,
      `--collector-image=${COLLECTOR_IMAGE}`,
      `--collector-namespace=${ns}`,
    ],
  }).start();
}

beforeAll(async () => {
  await installChartCrds(kc, 'kube-forensics');
  world = await new ForensicsWorld(kc, buildApp('kube-forensics')).start();
  ns = await createNamespace('forensics');
  bucket = await world.bucket(`forensics-${Date.now().toString(36)}`);
  controller = await startController();
});

afterAll(async () => {
  await controller?.stop();
  await world?.stop();
});

describe('PodCheckpoint controller', () => {
  it('captures both containers of a pod: checkpoints, logs, context and a manifest whose checksums match', async () => {
    await world.pod(ns, 'two', ['app', 'sidecar']);
    await world.podCheckpoint(ns, 'cap-two', { pod: 'two', namespace: ns, destination: `s3://${bucket}` });
    const { pcp, type, reason } = await world.finished(ns, 'cap-two');
    expect([type, reason]).toEqual(['Complete', 'Captured']);
    expect(pcp.status?.checkpoint).toBe('captured');
    expect(
      pcp.status?.containers?.map((c) => [c.name, c.checkpoint?.state, c.logs?.state, c.previousLogs?.state]),
    ).toEqual([
      ['app', 'Captured', 'Captured', 'Captured'],
      ['sidecar', 'Captured', 'Captured', 'Captured'],
    ]);
    const { bucket: b, prefix } = splitLocation(pcp.status?.location);
    expect(prefix).toMatch(new RegExp(`^forensics/\\d+_${ns}_two/$`));
    const manifest = await world.verifyManifest(b, prefix);
    expect(manifest.result).toBe('Complete');
    expect(manifest.kubernetesVersion).toMatch(/^v1\./);
    expect(manifest.items.filter((i) => i.kind === 'checkpoint' && i.sha256)).toHaveLength(2);
    expect(manifest.items.map((i) => i.kind)).toEqual(
      expect.arrayContaining([
        'pod',
        'owners',
        'node',
        'events',
        'container-statuses',
        'logs',
        'previous-logs',
      ]),
    );
    const log = (await world.object(b, `${prefix}containers/app/current.log`)).toString();
    expect(log).toContain(`${ns}/two/app run 1`);
    // The collector deleted the archives from the node, and its Jobs are gone.
    expect(world.kubelet().archives()).toEqual([]);
    const jobs = await batch.listNamespacedJob({ namespace: ns });
    expect(jobs.items.filter((j) => !j.metadata?.deletionTimestamp)).toEqual([]);
  });

  it('checkpoint unsupported by the runtime: logs and context, Complete, checkpoint unavailable with the reason', async () => {
    await world.pod(ns, 'nocp', ['app'], 'unsupported');
    await world.podCheckpoint(ns, 'cap-nocp', {
      pod: 'nocp',
      namespace: ns,
      destination: `s3://${bucket}`,
      subpath: 'incidents/1',
    });
    const { pcp, type, reason } = await world.finished(ns, 'cap-nocp');
    expect([type, reason]).toEqual(['Complete', 'CapturedWithoutCheckpoint']);
    expect(pcp.status?.checkpoint).toMatch(/^unavailable \(.*500/);
    const { bucket: b, prefix } = splitLocation(pcp.status?.location);
    expect(prefix).toMatch(/^incidents\/1\//);
    const manifest = await world.verifyManifest(b, prefix);
    expect(manifest.items.find((i) => i.kind === 'checkpoint')?.error).toMatch(/Unavailable/);
  });

  it('checkpointRequired: the same pod fails with CheckpointUnsupported', async () => {
    await world.podCheckpoint(ns, 'cap-required', {
      pod: 'nocp',
      namespace: ns,
      destination: `s3://${bucket}`,
      checkpointRequired: true,
    });
    const { type, reason, message } = await world.finished(ns, 'cap-required');
    expect([type, reason]).toEqual(['Failed', 'CheckpointUnsupported']);
    expect(message).toContain('spec.checkpointRequired');
  });

  it('a missing pod fails NotFound; a missing bucket fails UploadFailed — both naming the field', async () => {
    await world.podCheckpoint(ns, 'cap-missing', {
      pod: 'gone',
      namespace: ns,
      destination: `s3://${bucket}`,
    });
    await world.podCheckpoint(ns, 'cap-nobucket', {
      pod: 'two',
      namespace: ns,
      destination: `s3://${bucket}-missing`,
    });
    const missing = await world.finished(ns, 'cap-missing');
    expect([missing.type, missing.reason]).toEqual(['Failed', 'NotFound']);
    expect(missing.message).toContain('spec.pod');
    const nobucket = await world.finished(ns, 'cap-nobucket');
    expect([nobucket.type, nobucket.reason]).toEqual(['Failed', 'UploadFailed']);
    expect(nobucket.message).toContain('spec.destination');
    expect(nobucket.pcp.status?.location).toBeUndefined();
  });

  it('killed while the kubelet checkpoints: the request is never sent again; the item fails as interrupted', async () => {
    await world.pod(ns, 'slow', ['app']);
    world.kubelet().checkpointDelayMs = 4000;
    try {
      await world.podCheckpoint(ns, 'cap-slow', {
        pod: 'slow',
        namespace: ns,
        destination: `s3://${bucket}`,
      });
      await eventually(
        'the checkpoint request on record',
        async () =>
          (await world.get(ns, 'cap-slow')).status?.containers?.[0]?.checkpoint?.state === 'Requested'
            ? true
            : undefined,
        60_000,
        50,
      );
      await controller.kill9();
      controller = await startController();
      const { pcp, type, reason } = await world.finished(ns, 'cap-slow');
      expect([type, reason]).toEqual(['Complete', 'CapturedWithoutCheckpoint']);
      expect(pcp.status?.containers?.[0]?.checkpoint?.message).toMatch(/^interrupted/);
      expect(pcp.status?.containers?.[0]?.logs?.state).toBe('Captured');
      const requests = world
        .kubelet()
        .served.filter((s) => s.kind === 'checkpoint' && s.path.includes('/slow/'));
      expect(requests.length).toBeLessThanOrEqual(1);
    } finally {
      world.kubelet().checkpointDelayMs = 0;
    }
  });

  it('exports its metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    // The controller running now (restarted above) finished cap-slow without a checkpoint.
    expect(text).toMatch(
      /kube_forensics_captures_total\{result="complete",reason="CapturedWithoutCheckpoint"\} [1-9]/,
    );
    expect(text).toMatch(/kube_forensics_uploaded_bytes_total [1-9]/);
  });
});

describe('namespace allow-list and TTL', () => {
  let scoped: ControllerProcess;
  let ns2: string;

  beforeAll(async () => {
    ns2 = await createNamespace('forensics-ttl');
    scoped = new ControllerProcess({
      bundle: world.bundle,
      args: [
        `--namespace=${ns2}`,
        '--leader-elect=false',
        `--metrics-port=${await freePort()}`,
        '--health-port=0',
        '--bind-address=127.0.0.1',
        `--kubelet-ca-file=${world.caFile}`,
        `--collector-image=${COLLECTOR_IMAGE}`,
        `--collector-namespace=${ns2}`,
        `--allowed-namespaces=${ns}`,
        '--ttl=2',
      ],
    }).start();
  });

  afterAll(async () => {
    await scoped?.stop();
  });

  it('a pod outside the allow-list fails Forbidden naming spec.namespace, and the object goes after its TTL', async () => {
    await world.pod(ns2, 'outside', ['app']);
    await world.podCheckpoint(ns2, 'outside', {
      pod: 'outside',
      namespace: ns2,
      destination: `s3://${bucket}`,
    });
    const { pcp, type, reason, message } = await world.finished(ns2, 'outside');
    expect([type, reason]).toEqual(['Failed', 'Forbidden']);
    expect(message).toMatch(/^spec.namespace: /);
    expect(pcp.status?.location).toBeUndefined();
    await eventually('the PodCheckpoint deleted after its TTL', async () =>
      (await world.get(ns2, 'outside').catch(() => undefined)) ? undefined : true,
    );
  });
});
