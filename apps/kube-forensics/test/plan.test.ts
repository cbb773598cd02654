// The pure decisions: where a capture goes, what a kubelet answer means, the collector Job, the end.
import { describe, expect, it } from '@jest/globals';
import { withPodCheckpointDefaults, type PodCheckpoint } from '@keiko/api';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { checkpointPath, kubeletRequest, logsPath } from '../src/kubelet';
import { parseCollectArgs } from '../src/collector/collect';
import { parseConfig } from '../src/config';
import {
  captureDestination,
  checkpointAnswer,
  checkpointSummary,
  collectorJob,
  collectorJobName,
  containersOf,
  finalOutcome,
  specProblem,
  ttlRemainingMs,
} from '../src/podcheckpoint/plan';

const pcp = (spec: Partial<PodCheckpoint['spec']> = {}): PodCheckpoint =>
  withPodCheckpointDefaults({
    apiVersion: 'forensics.keikoproj.io/v1alpha1',
    kind: 'PodCheckpoint',
    metadata: { name: 'suspicious-pod', namespace: 'forensics-system', uid: 'u-1' },
    spec: { pod: 'bad', namespace: 'default', destination: 's3://bucket-1', ...spec },
  });

const node: V1Node = {
  metadata: { name: 'ip-10-0-1-5' },
  status: {
    addresses: [{ type: 'InternalIP', address: '10.0.1.5' }],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
  },
};

describe('kubelet requests', () => {
  it('direct route: the node InternalIP and kubelet port', () => {
    expect(
      kubeletRequest('direct', node, 'https://api:6443', 'POST', checkpointPath('ns', 'p', 'c', 60)),
    ).toEqual({
      method: 'POST',
      url: 'https://10.0.1.5:10250/checkpoint/ns/p/c?timeout=60',
    });
  });

  it('apiserver route: the node proxy subresource, never the node address', () => {
    expect(
      kubeletRequest('apiserver', node, 'https://api:6443/', 'GET', logsPath('ns', 'p', 'c', true, 100)),
    ).toEqual({
      method: 'GET',
      url: 'https://api:6443/api/v1/nodes/ip-10-0-1-5/proxy/containerLogs/ns/p/c?previous=true&limitBytes=100',
    });
  });

  it('a node without an address or port is an error on the direct route', () => {
    expect(() => kubeletRequest('direct', { metadata: { name: 'n' } }, '', 'GET', '/x')).toThrow(
      /no InternalIP/,
    );
  });
});

describe('destination and spec', () => {
  it('<subpath>/<epoch>_<ns>_<pod>/ under the destination (subpath defaults to forensics)', () => {
    expect(captureDestination(pcp(), 1700000000)).toEqual({
      bucket: 'bucket-1',
      prefix: 'forensics/1700000000_default_bad/',
    });
    expect(
      captureDestination(pcp({ destination: 's3://bucket-1/team/', subpath: 'incidents/4711' }), 5),
    ).toEqual({
      bucket: 'bucket-1',
      prefix: 'team/incidents/4711/5_default_bad/',
    });
  });

  it('names the field: bad destination, namespace not allowed', () => {
    expect(specProblem(pcp({ destination: 's3://Bad_Bucket' }), [])?.message).toMatch(
      /^spec.destination: .*lowercase/,
    );
    expect(specProblem(pcp(), ['payments'])).toEqual({
      reason: 'Forbidden',
      message: expect.stringMatching(/^spec.namespace: "default" is not in/),
    });
    expect(specProblem(pcp(), ['default'])).toBeUndefined();
  });
});

describe('kubelet answers', () => {
  it('200 with items is the archive; 404/500 unsupported; 401/403 forbidden', () => {
    expect(checkpointAnswer(200, '{"items":["/var/lib/kubelet/checkpoints/a.tar"]}')).toEqual({
      kind: 'archive',
      path: '/var/lib/kubelet/checkpoints/a.tar',
    });
    expect(checkpointAnswer(404, '404 page not found')).toMatchObject({
      kind: 'unavailable',
      reason: 'CheckpointUnsupported',
    });
    expect(checkpointAnswer(500, 'rpc error')).toMatchObject({
      kind: 'unavailable',
      reason: 'CheckpointUnsupported',
    });
    expect(checkpointAnswer(403, 'Forbidden')).toMatchObject({ kind: 'unavailable', reason: 'Forbidden' });
    expect(checkpointAnswer(200, '{}')).toMatchObject({ kind: 'error' });
    expect(checkpointAnswer(502, 'bad gateway')).toMatchObject({ kind: 'error' });
  });
});

describe('containers and outcome', () => {
  it('every app container, and init/ephemeral containers that ran', () => {
    const pod: V1Pod = {
      spec: {
        initContainers: [{ name: 'init' }, { name: 'never' }],
        containers: [{ name: 'a' }, { name: 'b' }],
        ephemeralContainers: [{ name: 'debug' }],
      },
      status: {
        initContainerStatuses: [
          {
            name: 'init',
            image: '',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 0 } },
          },
          { name: 'never', image: '', imageID: '', ready: false, restartCount: 0, state: {} },
        ],
        ephemeralContainerStatuses: [
          { name: 'debug', image: '', imageID: '', ready: false, restartCount: 0, state: { running: {} } },
        ],
      },
    };
    expect(containersOf(pod).map((c) => `${c.type}:${c.name}`)).toEqual([
      'init:init',
      'container:a',
      'container:b',
      'ephemeral:debug',
    ]);
  });

  it('Complete with or without checkpoint; Failed only when required', () => {
    const ok = [{ name: 'a', type: 'container' as const, checkpoint: { state: 'Captured' as const } }];
    const none = [
      {
        name: 'a',
        type: 'container' as const,
        checkpoint: { state: 'Unavailable' as const, message: 'gate off' },
      },
    ];
    expect(checkpointSummary(ok)).toBe('captured');
    expect(checkpointSummary(none)).toBe('unavailable (gate off)');
    expect(finalOutcome(ok, true)).toMatchObject({ result: 'Complete', reason: 'Captured' });
    expect(finalOutcome(none, false)).toMatchObject({
      result: 'Complete',
      reason: 'CapturedWithoutCheckpoint',
    });
    expect(finalOutcome(none, true)).toMatchObject({ result: 'Failed', reason: 'CheckpointUnsupported' });
  });

  it('TTL: undefined without one, the time left otherwise', () => {
    expect(ttlRemainingMs('2026-01-01T00:00:00Z', 0, 0)).toBeUndefined();
    expect(ttlRemainingMs('2026-01-01T00:00:00Z', 60_000, Date.parse('2026-01-01T00:00:30Z'))).toBe(30_000);
    expect(ttlRemainingMs('2026-01-01T00:00:00Z', 60_000, Date.parse('2026-01-02T00:00:00Z'))).toBe(0);
  });
});

describe('collector Job', () => {
  const opts = {
    image: 'img:1',
    namespace: 'kube-forensics',
    serviceAccountName: 'collector',
    checkpointsDir: '/var/lib/kubelet/checkpoints',
    timeoutSeconds: 600,
    sse: 'aws:kms' as const,
    kmsKeyId: 'key-1',
    env: { AWS_REGION: 'us-west-2' },
  };
  const job = collectorJob(
    pcp(),
    'app',
    'node-1',
    '/var/lib/kubelet/checkpoints/checkpoint-x.tar',
    { bucket: 'b', prefix: 'forensics/1_default_bad/' },
    opts,
  );
  const spec = job.spec?.template.spec;
  const c = spec?.containers[0];

  it('pinned to the node, root, nothing else: only the checkpoints directory, no token, no capabilities', () => {
    expect(spec?.nodeName).toBe('node-1');
    expect(spec?.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(spec?.automountServiceAccountToken).toBe(false);
    expect(spec?.volumes).toEqual([
      { name: 'checkpoints', hostPath: { path: '/var/lib/kubelet/checkpoints', type: 'Directory' } },
    ]);
    expect(c?.securityContext).toMatchObject({
      runAsUser: 0,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(job.spec?.backoffLimit).toBe(0);
  });

  it("runs this image's collect command on the archive, into the capture's key", () => {
    expect(c?.image).toBe('img:1');
    expect(c?.command).toBeUndefined();
    expect(c?.args).toEqual([
      'collect',
      '--archive=/checkpoints/checkpoint-x.tar',
      '--bucket=b',
      '--key=forensics/1_default_bad/containers/app/checkpoint.tar',
      '--sse=aws:kms',
      '--sse-kms-key-id=key-1',
    ]);
    expect(parseCollectArgs(c?.args?.slice(1) ?? [])).toMatchObject({
      archive: '/checkpoints/checkpoint-x.tar',
      sse: 'aws:kms',
      keepArchive: false,
    });
  });

  it('the same name for the same PodCheckpoint and container, at most 52 characters', () => {
    expect(job.metadata?.name).toBe(collectorJobName(pcp(), 'app'));
    expect(collectorJobName(pcp(), 'app')).not.toBe(collectorJobName(pcp(), 'sidecar'));
    expect(collectorJobName(pcp(), 'x').length).toBeLessThanOrEqual(52);
  });
});

describe('flags', () => {
  it('defaults: direct route, AES256, any namespace, no TTL; the collector gets the AWS region', () => {
    const c = parseConfig(['node', 'kube-forensics'], { AWS_REGION: 'eu-west-1', SECRET: 'x' }).controller;
    expect(c.kubelet.route).toBe('direct');
    expect(c.encryption).toEqual({ sse: 'AES256' });
    expect(c.allowedNamespaces).toEqual([]);
    expect(c.ttlMs).toBe(0);
    expect(c.collector.env).toEqual({ AWS_REGION: 'eu-west-1' });
  });

  it('--kubelet-route=apiserver, an allow-list and a TTL', () => {
    const c = parseConfig(
      ['node', 'kube-forensics', '--kubelet-route=apiserver', '--allowed-namespaces=a, b', '--ttl=86400'],
      {},
    ).controller;
    expect(c.kubelet.route).toBe('apiserver');
    expect(c.allowedNamespaces).toEqual(['a', 'b']);
    expect(c.ttlMs).toBe(86_400_000);
  });
});
