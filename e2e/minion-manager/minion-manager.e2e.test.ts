// minion-manager end to end: the bundled binary (dist/main.js, as in its image) as the chart's
// ServiceAccount, against the test cluster and the AWS emulator, whose launcher plays the AWS market
// (packages/testenv/moto/server.py): settable spot prices, Pricing GetProducts, groups launching spot per
// their configuration (InstanceLifecycle=spot), injectable capacity failures. Each group's instances
// appear as KWOK nodes through testenv's AsgNodeSimulator. Every test runs its own controller for its own
// cluster name (KubernetesCluster tag), so the tests never manage each other's groups. The instances'
// market is read from the emulator (DescribeInstances), not only the group's configuration.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  AutoScalingClient,
  CreateOrUpdateTagsCommand,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  AsgScenario,
  buildApp,
  clearCapacityFailure,
  ControllerProcess,
  emulatorConfig,
  eventually,
  freePort,
  injectCapacityFailure,
  setSpotPrices,
  uniqueName,
} from '@keiko/testenv';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import { writeKubeConfigAs } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';

const ZONES = ['us-west-2a', 'us-west-2b', 'us-west-2c'];
const TYPE = 't3.medium'; // AsgScenario's groups; the emulator's list price is 0.0416
const ON_DEMAND = 0.0416;
const scenario = new AsgScenario({ bootDelayMs: 300 });
const core = scenario.kc.makeApiClient(k8s.CoreV1Api);
const asg = new AutoScalingClient(emulatorConfig());
const ec2 = new EC2Client(emulatorConfig());
let bundle: string;
let rbac: ChartRbac;
let tmp: string;
let kubeconfig: string;
let statusName: string;
const running: ControllerProcess[] = [];

async function minionManager(cluster: string, args: string[] = []): Promise<ControllerProcess> {
  const p = new ControllerProcess({
    bundle,
    identity: { kubeconfig, namespace: rbac.serviceAccount.namespace, args: [] },
    args: [
      '--leader-elect=false',
      `--metrics-port=${await freePort()}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      '--shutdown-grace=2',
      `--cluster-name=${cluster}`,
      '--region=us-west-2',
      '--refresh-interval-seconds=2',
      `--status-namespace=${rbac.serviceAccount.namespace}`,
      `--status-configmap=${statusName}`,
      '--drain-timeout=60',
      ...args,
    ],
    logFile: path.join(tmp, `minion-manager-${running.length}-${cluster}.log`),
  }).start();
  running.push(p);
  return p;
}

const prices = (ratio: number) =>
  setSpotPrices(
    ZONES.map((availabilityZone) => ({ availabilityZone, instanceType: TYPE, price: ON_DEMAND * ratio })),
  );

async function tag(group: string, tags: Record<string, string>): Promise<void> {
  await asg.send(
    new CreateOrUpdateTagsCommand({
      Tags: Object.entries(tags).map(([Key, Value]) => ({
        ResourceId: group,
        ResourceType: 'auto-scaling-group',
        Key,
        Value,
        PropagateAtLaunch: false,
      })),
    }),
  );
}

/** A group of `size` tagged for `cluster`; `onDemandPercent` makes it a mixed-instances group. */
async function spotGroup(
  cluster: string,
  size: number,
  mode: string,
  opts: { onDemandPercent?: number; extraTags?: Record<string, string> } = {},
) {
  const group = await scenario.createGroup('mm', size);
  if (opts.onDemandPercent !== undefined) {
    await asg.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: group.name,
        MixedInstancesPolicy: {
          LaunchTemplate: {
            LaunchTemplateSpecification: { LaunchTemplateId: group.templateId, Version: '1' },
            Overrides: [{ InstanceType: TYPE }],
          },
          InstancesDistribution: {
            OnDemandBaseCapacity: 0,
            OnDemandPercentageAboveBaseCapacity: opts.onDemandPercent,
          },
        },
      }),
    );
  }
  await tag(group.name, { KubernetesCluster: cluster, 'k8s-minion-manager': mode, ...opts.extraTags });
  return group;
}

async function describeGroup(name: string): Promise<Partial<AutoScalingGroup>> {
  const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return out.AutoScalingGroups?.[0] ?? {};
}

/** instance id -> market, as the emulator's DescribeInstances reports it. */
async function markets(group: string): Promise<Map<string, string>> {
  const ids = ((await describeGroup(group)).Instances ?? []).map((i) => i.InstanceId ?? '');
  if (ids.length === 0) return new Map();
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  const all = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  return new Map(all.map((i) => [i.InstanceId ?? '', i.InstanceLifecycle ?? 'on-demand']));
}

const countOf = (m: Map<string, string>, market: string) =>
  [...m.values()].filter((v) => v === market).length;

interface GroupStatus {
  market: string;
  decision: string;
  reason: string;
  action: string;
  cooldownUntil?: string;
  spotInstances: number;
}

async function status(group: string): Promise<GroupStatus | undefined> {
  const cm = await core
    .readNamespacedConfigMap({ name: statusName, namespace: rbac.serviceAccount.namespace })
    .catch(() => undefined);
  const raw = cm?.data?.[group.replace(/[^-._a-zA-Z0-9]/g, '_')];
  return raw ? (JSON.parse(raw) as GroupStatus) : undefined;
}

/** Resolves once the controller finished `n` more refreshes (its log's `refresh done` lines). */
async function refreshes(p: ControllerProcess, n: number): Promise<void> {
  const start = p.lines(/refresh done/).length;
  await eventually(
    `${n} refreshes`,
    () => p.lines(/refresh done/).length >= start + n || undefined,
    60_000,
    200,
  );
}

const groupEvents = (group: string) => scenario.events(rbac.serviceAccount.namespace, group);
const templateVersion = async (group: string) => (await describeGroup(group)).LaunchTemplate?.Version;

/** Watches a group while it is replaced: the most of its nodes cordoned at once, and the fewest Ready. */
function watchDisruption(group: string, desired: number) {
  let maxCordoned = 0;
  let minReady = desired;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const nodes = await scenario.nodes(group).catch(() => []);
      const cordoned = nodes.filter((n) => n.spec?.unschedulable).length;
      const ready = nodes.filter(
        (n) =>
          !n.spec?.unschedulable &&
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length;
      maxCordoned = Math.max(maxCordoned, cordoned);
      if (nodes.length > 0) minReady = Math.min(minReady, ready);
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    async end() {
      stop = true;
      await loop;
      return { maxCordoned, minReady };
    },
  };
}

beforeAll(async () => {
  bundle = buildApp('minion-manager');
  await scenario.start();
  const ns = await scenario.namespace('mm-e2e-system');
  // A missing permission in the chart's roles fails this suite: minion-manager is not admin.
  rbac = await installChartRbac('minion-manager', { namespace: ns, args: ['--set', 'cluster.name=unused'] });
  statusName = `${rbac.serviceAccount.name}-status`;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-e2e-'));
  kubeconfig = writeKubeConfigAs(rbac.serviceAccount, path.join(tmp, 'kubeconfig'));
}, 240_000);

afterEach(async () => {
  while (running.length) await running.pop()?.stop(5_000);
});

afterAll(async () => {
  await scenario.cleanUp();
  await rbac?.uninstall();
  asg.destroy();
  ec2.destroy();
  console.log(`minion-manager logs: ${tmp}`);
  cleanupWorkspace();
});

describe('minion-manager', () => {
  it('moves a group to spot while spot is cheap, replacing its instances one at a time with drains, and back to on-demand when spot rises', async () => {
    const cluster = uniqueName('mm-cheap');
    await prices(0.3);
    const group = await spotGroup(cluster, 3, 'use-spot');
    const ns = await scenario.namespace('mm-work');
    await scenario.workload(ns, group.name, { name: 'web', replicas: 3 });
    const before = await markets(group.name);
    expect(countOf(before, 'on-demand')).toBe(3);
    const watch = watchDisruption(group.name, 3);
    const p = await minionManager(cluster);

    // Switched by a new launch-template version with spot market options, then every instance replaced.
    await eventually(
      'the group on a spot launch-template version',
      async () => ((await templateVersion(group.name)) !== '1' ? true : undefined),
      60_000,
      300,
    );
    const onSpot = await eventually(
      'three spot instances, none of the old ones',
      async () => {
        const m = await markets(group.name);
        return m.size === 3 && countOf(m, 'spot') === 3 && [...before.keys()].every((id) => !m.has(id))
          ? m
          : undefined;
      },
      180_000,
      500,
    );
    expect(onSpot.size).toBe(3);
    const seen = await watch.end();
    expect(seen.maxCordoned).toBeLessThanOrEqual(1);
    expect(seen.minReady).toBeGreaterThanOrEqual(2);
    // Each old instance's node was drained (its pods evicted) before the instance went.
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'reason=SpotReplacing',
    });
    const drained = new Set(events.items.map((e) => e.involvedObject.name));
    const replacedLines = p.lines(/wrong-market instance replaced/);
    // Each old instance terminated once, never twice.
    expect([...before.keys()].map((id) => replacedLines.filter((l) => l.includes(id)).length)).toEqual([
      1, 1, 1,
    ]);
    expect(drained.size).toBeGreaterThanOrEqual(3);
    const st = await eventually(
      'status: spot',
      async () => ((await status(group.name))?.spotInstances === 3 ? status(group.name) : undefined),
      30_000,
      300,
    );
    expect(st).toMatchObject({ market: 'spot', decision: 'spot' });
    expect(
      (await groupEvents(group.name)).some(
        (e) => e.reason === 'SpotRecommendationGiven' && /"useSpot":true/.test(e.message ?? ''),
      ),
    ).toBe(true);

    // Spot rises above threshold + hysteresis: back to on-demand, instances replaced again.
    await prices(0.95);
    await eventually(
      'three on-demand instances again',
      async () => {
        const m = await markets(group.name);
        return (m.size === 3 && countOf(m, 'on-demand') === 3) || undefined;
      },
      180_000,
      500,
    );
    expect((await status(group.name))?.decision).toBe('on-demand');
  });

  it('falls back to on-demand for the cool-down after a spot capacity failure', async () => {
    const cluster = uniqueName('mm-capacity');
    await prices(0.3);
    const group = await spotGroup(cluster, 2, 'use-spot', { onDemandPercent: 100 });
    await injectCapacityFailure({ groupName: group.name, market: 'spot' });
    try {
      await minionManager(cluster, ['--capacity-cooldown-seconds=3600']);
      // Switched to spot, one instance replaced, the spot launch fails: the group reads the failure and goes back.
      const st = await eventually(
        'status: capacity cool-down',
        async () => {
          const s = await status(group.name);
          return s?.cooldownUntil ? s : undefined;
        },
        120_000,
        300,
      );
      expect(st.decision).toBe('on-demand');
      expect(st.reason).toMatch(/capacity failure/);
      await eventually(
        'the group buying on-demand again',
        async () =>
          (await describeGroup(group.name)).MixedInstancesPolicy?.InstancesDistribution
            ?.OnDemandPercentageAboveBaseCapacity === 100 || undefined,
        60_000,
        300,
      );
      const m = await eventually(
        'the group refilled with on-demand',
        async () => {
          const got = await markets(group.name);
          return got.size === 2 ? got : undefined;
        },
        60_000,
        300,
      );
      expect(countOf(m, 'spot')).toBe(0);
      // Spot is still cheap, but the cool-down holds.
      await refreshes(running[0]!, 3);
      expect((await status(group.name))?.decision).toBe('on-demand');
    } finally {
      await clearCapacityFailure(group.name, 'spot');
    }
  });

  it('holds each group where it is while spot hovers between the threshold and the hysteresis band', async () => {
    const cluster = uniqueName('mm-hysteresis');
    await prices(0.83);
    const onSpot = await spotGroup(cluster, 2, 'use-spot', { onDemandPercent: 0 });
    const onDemand = await spotGroup(cluster, 2, 'use-spot', { onDemandPercent: 100 });
    const p = await minionManager(cluster);
    await refreshes(p, 4);
    expect(await status(onSpot.name)).toMatchObject({ market: 'spot', decision: 'spot' });
    expect(await status(onDemand.name)).toMatchObject({ market: 'on-demand', decision: 'on-demand' });
    expect(
      (await describeGroup(onSpot.name)).MixedInstancesPolicy?.InstancesDistribution
        ?.OnDemandPercentageAboveBaseCapacity,
    ).toBe(0);
    expect(
      (await describeGroup(onDemand.name)).MixedInstancesPolicy?.InstancesDistribution
        ?.OnDemandPercentageAboveBaseCapacity,
    ).toBe(100);
  });

  it('events-only decides and reports but changes no group and no instance; InstanceGroup groups are only recommended to', async () => {
    const cluster = uniqueName('mm-events');
    await prices(0.3);
    const plain = await spotGroup(cluster, 2, 'use-spot');
    const owned = await spotGroup(cluster, 2, 'use-spot', {
      extraTags: { 'instancegroups.keikoproj.io/InstanceGroup': 'ns/ig' },
    });
    const odd = await spotGroup(cluster, 1, 'maybe');
    const before = await markets(plain.name);
    const p = await minionManager(cluster, ['--events-only']);
    await refreshes(p, 4);
    expect(await status(plain.name)).toMatchObject({
      market: 'on-demand',
      decision: 'spot',
      action: expect.stringContaining('would switch'),
    });
    expect(await templateVersion(plain.name)).toBe('1');
    expect(await markets(plain.name)).toEqual(before);
    const rec = (await groupEvents(owned.name)).find((e) => e.reason === 'SpotRecommendationGiven');
    expect(JSON.parse(rec?.message ?? '{}')).toMatchObject({ apiVersion: 'v1alpha1', useSpot: true });
    expect(
      (await groupEvents(odd.name)).some(
        (e) => e.type === 'Warning' && e.reason === 'UnknownTagValue' && /maybe/.test(e.message ?? ''),
      ),
    ).toBe(true);
    expect((await status(odd.name))?.decision).toBe('on-demand');
  });

  it('not-terminate groups switch without replacing their instances', async () => {
    const cluster = uniqueName('mm-keep');
    await prices(0.3);
    const group = await spotGroup(cluster, 2, 'use-spot', {
      onDemandPercent: 100,
      extraTags: { 'k8s-minion-manager/not-terminate': 'true' },
    });
    const before = await markets(group.name);
    const p = await minionManager(cluster);
    await eventually(
      'switched to spot',
      async () =>
        (await describeGroup(group.name)).MixedInstancesPolicy?.InstancesDistribution
          ?.OnDemandPercentageAboveBaseCapacity === 0 || undefined,
      60_000,
      300,
    );
    await refreshes(p, 4);
    expect(await markets(group.name)).toEqual(before);
    expect((await status(group.name))?.action).toMatch(/not-terminate/);
  });
});
