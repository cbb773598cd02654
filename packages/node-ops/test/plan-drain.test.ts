import { describe, expect, it } from '@jest/globals';
import { planDrain, podDisruptionBudgetsFor, type PlanDrainOptions } from '../src/drain';
import { NODE, owner, pod, replicaSetPod } from './support/pods';

const strict: PlanDrainOptions = { deleteEmptyDirData: false, ignoreDaemonSets: true, force: false };
const keys = (pods: { metadata?: { namespace?: string; name?: string } }[]): string[] =>
  pods.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);

describe('planDrain', () => {
  it('evicts a pod a ReplicaSet controls', () => {
    const plan = planDrain([replicaSetPod('web-7d9-a')], NODE, strict);
    expect(keys(plan.evict)).toEqual(['shop/web-7d9-a']);
    expect(plan.skipped).toEqual([]);
    expect(plan.refused).toEqual([]);
  });

  it('evicts pods of StatefulSets, Jobs and ReplicationControllers alike', () => {
    const pods = ['StatefulSet', 'Job', 'ReplicationController'].map((kind) =>
      pod(kind.toLowerCase(), { owner: owner(kind, 'x') }),
    );
    expect(keys(planDrain(pods, NODE, strict).evict)).toEqual([
      'shop/statefulset',
      'shop/job',
      'shop/replicationcontroller',
    ]);
  });

  describe('DaemonSet pods', () => {
    const ds = pod('fluentd-x', { namespace: 'logging', owner: owner('DaemonSet', 'fluentd') });

    it('are skipped with ignoreDaemonSets', () => {
      const plan = planDrain([ds], NODE, strict);
      expect(plan.evict).toEqual([]);
      expect(plan.skipped).toEqual([
        { pod: 'logging/fluentd-x', rule: 'DaemonSet', reason: 'managed by DaemonSet logging/fluentd' },
      ]);
    });

    it('refuse the drain without ignoreDaemonSets (kubectl semantics)', () => {
      const plan = planDrain([ds], NODE, { ...strict, ignoreDaemonSets: false });
      expect(plan.refused).toEqual([
        {
          pod: 'logging/fluentd-x',
          rules: ['DaemonSet'],
          reason: expect.stringContaining('managed by DaemonSet logging/fluentd'),
        },
      ]);
    });

    it('whose DaemonSet is gone refuse the drain unless force, which evicts them', () => {
      const missingDaemonSets = new Set(['logging/fluentd']);
      const refused = planDrain([ds], NODE, { ...strict, missingDaemonSets });
      expect(refused.refused[0]).toMatchObject({ pod: 'logging/fluentd-x', rules: ['OrphanedDaemonSet'] });
      const forced = planDrain([ds], NODE, { ...strict, missingDaemonSets, force: true });
      expect(keys(forced.evict)).toEqual(['logging/fluentd-x']);
      expect(forced.warnings).toEqual([expect.stringContaining('no longer exists')]);
    });
  });

  it('skips mirror pods of static pods', () => {
    const mirror = pod('kube-proxy-n1', {
      namespace: 'kube-system',
      owner: owner('Node', NODE),
      annotations: { 'kubernetes.io/config.mirror': 'abc123' },
    });
    const plan = planDrain([mirror], NODE, { ...strict, force: true, deleteEmptyDirData: true });
    expect(plan.evict).toEqual([]);
    expect(plan.skipped).toEqual([
      { pod: 'kube-system/kube-proxy-n1', rule: 'MirrorPod', reason: expect.stringContaining('mirror pod') },
    ]);
  });

  it('skips pods that already finished, even unmanaged ones with emptyDir', () => {
    const done = pod('job-done', { phase: 'Succeeded', volumes: [{ name: 'scratch', emptyDir: {} }] });
    const failed = pod('job-failed', { phase: 'Failed', owner: owner('Job', 'j') });
    const plan = planDrain([done, failed], NODE, strict);
    expect(plan.evict).toEqual([]);
    expect(plan.refused).toEqual([]);
    expect(plan.skipped.map((s) => [s.pod, s.rule, s.reason])).toEqual([
      ['shop/job-done', 'Terminated', 'already Succeeded'],
      ['shop/job-failed', 'Terminated', 'already Failed'],
    ]);
  });

  describe('emptyDir', () => {
    const cache = replicaSetPod('web-cache', {
      volumes: [
        { name: 'config', configMap: { name: 'c' } },
        { name: 'cache', emptyDir: {} },
      ],
    });

    it('refuses without deleteEmptyDirData, naming the volume', () => {
      const plan = planDrain([cache], NODE, strict);
      expect(plan.evict).toEqual([]);
      expect(plan.refused).toEqual([
        {
          pod: 'shop/web-cache',
          rules: ['LocalStorage'],
          reason: expect.stringMatching(/emptyDir volume\(s\) cache whose data would be lost/),
        },
      ]);
    });

    it('evicts with deleteEmptyDirData and warns', () => {
      const plan = planDrain([cache], NODE, { ...strict, deleteEmptyDirData: true });
      expect(keys(plan.evict)).toEqual(['shop/web-cache']);
      expect(plan.warnings).toEqual([expect.stringContaining('emptyDir volume(s) cache')]);
    });

    it('other volume types do not count', () => {
      const hostPath = replicaSetPod('web-hp', {
        volumes: [{ name: 'logs', hostPath: { path: '/var/log' } }],
      });
      expect(keys(planDrain([hostPath], NODE, strict).evict)).toEqual(['shop/web-hp']);
    });
  });

  describe('unmanaged pods (no controller ownerReference)', () => {
    const bare = pod('debug');
    const ownedNotControlled = pod('owned', { owner: { ...owner('ReplicaSet', 'r'), controller: false } });

    it('refuse the drain without force', () => {
      const plan = planDrain([bare, ownedNotControlled], NODE, strict);
      expect(plan.evict).toEqual([]);
      expect(plan.refused.map((r) => [r.pod, r.rules])).toEqual([
        ['shop/debug', ['Unmanaged']],
        ['shop/owned', ['Unmanaged']],
      ]);
      expect(plan.refused[0]?.reason).toBe(
        'pod shop/debug has no controller to recreate it (force evicts it)',
      );
    });

    it('are evicted with force, with a warning', () => {
      const plan = planDrain([bare], NODE, { ...strict, force: true });
      expect(keys(plan.evict)).toEqual(['shop/debug']);
      expect(plan.warnings).toEqual([expect.stringContaining('no controller will recreate')]);
    });
  });

  it('lists every refusing pod and every reason of each', () => {
    const both = pod('scratch', { volumes: [{ name: 'tmp', emptyDir: {} }] });
    const plan = planDrain([both, pod('debug'), replicaSetPod('ok')], NODE, strict);
    expect(keys(plan.evict)).toEqual(['shop/ok']);
    expect(plan.refused).toEqual([
      {
        pod: 'shop/scratch',
        rules: ['LocalStorage', 'Unmanaged'],
        reason: expect.stringMatching(/emptyDir .* and has no controller/),
      },
      { pod: 'shop/debug', rules: ['Unmanaged'], reason: expect.any(String) },
    ]);
  });

  it('never plans a pod bound to another node', () => {
    const plan = planDrain(
      [replicaSetPod('elsewhere', { node: 'other-node' }), replicaSetPod('pending', { node: null })],
      NODE,
      strict,
    );
    expect(plan.evict).toEqual([]);
    expect(plan.skipped.map((s) => [s.pod, s.rule, s.reason])).toEqual([
      ['shop/elsewhere', 'NotOnNode', `bound to node other-node, not ${NODE}`],
      ['shop/pending', 'NotOnNode', 'not bound to any node'],
    ]);
  });

  it('skips pods deleting for longer than skipWaitForDeleteTimeoutSeconds; evicts recently deleted ones', () => {
    const now = Date.parse('2025-01-01T00:10:00Z');
    const stuck = replicaSetPod('stuck', { deletionTimestamp: '2025-01-01T00:00:00Z' });
    const recent = replicaSetPod('recent', { deletionTimestamp: '2025-01-01T00:09:50Z' });
    const plan = planDrain([stuck, recent], NODE, { ...strict, skipWaitForDeleteTimeoutSeconds: 60, now });
    expect(keys(plan.evict)).toEqual(['shop/recent']);
    expect(plan.skipped).toEqual([
      { pod: 'shop/stuck', rule: 'DeletionTimedOut', reason: 'deleting for more than 60s' },
    ]);
    // Without the option, kubectl waits for every terminating pod.
    expect(keys(planDrain([stuck], NODE, { ...strict, now }).evict)).toEqual(['shop/stuck']);
  });

  it('a mixed node', () => {
    const plan = planDrain(
      [
        replicaSetPod('web-1'),
        pod('ds', { owner: owner('DaemonSet', 'node-exporter') }),
        pod('mirror', { annotations: { 'kubernetes.io/config.mirror': 'x' } }),
        pod('done', { phase: 'Succeeded' }),
      ],
      NODE,
      strict,
    );
    expect(keys(plan.evict)).toEqual(['shop/web-1']);
    expect(plan.skipped.map((s) => s.rule)).toEqual(['DaemonSet', 'MirrorPod', 'Terminated']);
    expect(plan.refused).toEqual([]);
  });
});

describe('podDisruptionBudgetsFor', () => {
  const web = replicaSetPod('web-1', { labels: { app: 'web', tier: 'frontend' } });
  const pdb = (name: string, namespace: string, selector?: object) => ({
    metadata: { name, namespace },
    spec: { selector },
  });

  it('picks budgets in the pod namespace whose selector matches its labels', () => {
    const budgets = [
      pdb('web-pdb', 'shop', { matchLabels: { app: 'web' } }),
      pdb('api-pdb', 'shop', { matchLabels: { app: 'api' } }),
      pdb('web-pdb', 'other', { matchLabels: { app: 'web' } }),
      pdb('frontends', 'shop', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend'] }] }),
      pdb('no-selector', 'shop'),
      pdb('everything', 'shop', {}),
    ];
    expect(podDisruptionBudgetsFor(web, budgets).map((b) => b.metadata?.name)).toEqual([
      'web-pdb',
      'frontends',
      'everything',
    ]);
  });
});
