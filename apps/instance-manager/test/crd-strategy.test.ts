// The crd strategy's submit step against the real apiserver, with the RollingUpgrade CRD installed:
// concurrencyPolicy Forbid waits for the scaling group's running upgrade, Replace deletes it and submits
// the new one once it is gone, Allow does neither; a failed resource is resubmitted up to maxRetries
// (recorded before the delete), then the step fails. Who completes the upgrade (upgrade-manager) is
// exercised by the e2e suite.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RollingUpgradeKind, type InstanceGroup } from '@keiko/api';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { installChartCrds, kubeConfigFromEnv } from '@keiko/testenv';
import { crdStrategyStep, type CrdStepInput } from '../src/strategies/crd';
import { example } from './support/fixtures';

const kc = kubeConfigFromEnv();
const client = new KubeClient(kc);
const ns = `im-crd-${Date.now().toString(36)}`;
const scalingGroupName = `${ns}-batch-workers`;
const recorded: Array<Parameters<CrdStepInput['record']>[0]> = [];

function group(
  concurrencyPolicy: 'Forbid' | 'Replace' | 'Allow',
  status: InstanceGroup['status'] = {},
): InstanceGroup {
  const ig = example('instance-manager/eks-crd-strategy.yaml');
  const crd = ig.spec.strategy?.crd;
  if (!crd) throw new Error('the example has no crd strategy');
  crd.spec = crd.spec.replace('namespace: instance-manager', `namespace: ${ns}`);
  crd.concurrencyPolicy = concurrencyPolicy;
  ig.metadata = { ...ig.metadata, namespace: ns, uid: 'uid-1' };
  ig.status = { ...status, activeScalingGroupName: scalingGroupName };
  return ig;
}

function step(ig: InstanceGroup, launchVersion: string) {
  const strategy = ig.spec.strategy?.crd;
  if (!strategy) throw new Error('no crd strategy');
  return crdStrategyStep(client, {
    ig,
    strategy,
    scalingGroupName,
    launchVersion,
    dryRun: false,
    record: async (s) => {
      recorded.push(s);
    },
  });
}

const upgrades = async () =>
  (await client.list<KubernetesObject>(RollingUpgradeKind, { namespace: ns })).items
    .filter((u) => !u.metadata?.deletionTimestamp)
    .map((u) => u.metadata?.name ?? '')
    .sort();

async function setStatus(name: string, currentStatus: string): Promise<void> {
  await client.patch(RollingUpgradeKind, ns, name, { status: { currentStatus } }, { subresource: 'status' });
}

beforeAll(async () => {
  await installChartCrds(kc, 'upgrade-manager');
  await client.create(ResourceTypes.Namespace, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns },
  });
});

afterAll(async () => {
  await client.delete(ResourceTypes.Namespace, '', ns).catch(() => undefined);
});

describe('crd strategy concurrency and retries (real apiserver)', () => {
  let first = '';
  let second = '';

  it('submits one resource per launch version and records it before creating it', async () => {
    const r = await step(group('Forbid'), '1');
    expect(r.phase).toBe('running');
    first = r.status.strategyResourceName ?? '';
    expect(await upgrades()).toEqual([first]);
    expect(recorded.at(-1)).toMatchObject({ strategyResourceName: first, strategyRetryCount: 0 });
    await setStatus(first, 'running');
  });

  it('Forbid waits while the group has a running upgrade', async () => {
    const r = await step(group('Forbid'), '2');
    expect(r.phase).toBe('waiting');
    expect(r.message).toContain(`waiting for ${first}`);
    expect(await upgrades()).toEqual([first]);
  });

  it('Replace deletes the running upgrade, then submits the new one once it is gone', async () => {
    // As upgrade-manager's finalizer does: the old upgrade lingers while its controller stops it.
    await client.patch(RollingUpgradeKind, ns, first, { metadata: { finalizers: ['test.keiko.io/hold'] } });
    const r = await step(group('Replace'), '2');
    expect(r.phase).toBe('waiting');
    expect(r.message).toContain(`deleted ${first}`);
    expect(await upgrades()).toEqual([]);
    const stillStopping = await step(group('Replace'), '2');
    expect(stillStopping.phase).toBe('waiting');
    expect(await upgrades()).toEqual([]);
    await client.patch(RollingUpgradeKind, ns, first, { metadata: { finalizers: null } });
    const again = await step(group('Replace'), '2');
    expect(again.phase).toBe('running');
    second = again.status.strategyResourceName ?? '';
    expect(second).not.toBe(first);
    expect(await upgrades()).toEqual([second]);
    await setStatus(second, 'running');
  });

  it('Allow submits beside a running upgrade', async () => {
    const r = await step(group('Allow'), '3');
    expect(r.phase).toBe('running');
    expect(await upgrades()).toEqual([second, r.status.strategyResourceName].sort());
  });

  it('resubmits a failed resource up to maxRetries (2 in the example), then fails', async () => {
    await setStatus(second, 'error');
    const retried = await step(group('Allow', { strategyResourceName: second, strategyRetryCount: 0 }), '2');
    expect(retried).toMatchObject({ phase: 'running', status: { strategyRetryCount: 1 } });
    expect(recorded.at(-1)).toMatchObject({ strategyResourceName: second, strategyRetryCount: 1 });
    expect(await upgrades()).not.toContain(second);

    const resubmitted = await step(
      group('Allow', { strategyResourceName: second, strategyRetryCount: 1 }),
      '2',
    );
    expect(resubmitted.phase).toBe('running');
    expect(await upgrades()).toContain(second);
    await setStatus(second, 'error');
    const last = await step(group('Allow', { strategyResourceName: second, strategyRetryCount: 2 }), '2');
    expect(last.phase).toBe('failed');
    expect(last.message).toContain('after 2 retries');
  });
});
