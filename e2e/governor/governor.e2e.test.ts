// governor end to end: the bundled binary (dist/main.js, as in its image) as the chart's ServiceAccount,
// against the test cluster (real node-lifecycle controller) and the AWS emulator. Each Auto Scaling
// group's instances appear as KWOK nodes through testenv's AsgNodeSimulator (the kubelet stand-in); a
// node is made Unknown by taking it from KWOK (kwok.x-k8s.io/status=custom) and giving it the status a
// dead kubelet leaves: Ready Unknown since long ago — the node-lifecycle controller keeps an Unknown
// condition's transition time. Each scenario runs its own governor, scoped by --node-selector to its own
// group, talking to AWS through a recording proxy so terminations are counted on the wire.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { DisruptionLocks } from '@keiko/node-ops';
import {
  ASG_NODE_LABEL,
  AsgScenario,
  buildApp,
  ControllerProcess,
  emulatorConfig,
  eventually,
  freePort,
  simulatedNodeManifest,
} from '@keiko/testenv';
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import { writeKubeConfigAs } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';
import { AwsCallRecorder } from '../upgrade-manager/support/aws-recorder';

const scenario = new AsgScenario({ bootDelayMs: 300 });
const client = new KubeClient(scenario.kc);
const core = scenario.kc.makeApiClient(k8s.CoreV1Api);
const recorder = new AwsCallRecorder(process.env.AWS_ENDPOINT_URL ?? '');
let bundle: string;
let rbac: ChartRbac;
let tmp: string;
let kubeconfig: string;
let stateName: string;
const running: ControllerProcess[] = [];

/** governor as the chart's ServiceAccount; `command` first, its flags after. */
async function governor(command: string[], args: string[]): Promise<ControllerProcess> {
  const p = new ControllerProcess({
    bundle,
    identity: {
      kubeconfig,
      namespace: rbac.serviceAccount.namespace,
      args: [`--state-configmap=${stateName}`],
    },
    args: [
      ...command,
      '--leader-elect=false',
      `--metrics-port=${await freePort()}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      '--sweep-interval=1',
      '--shutdown-grace=2',
      ...args,
    ],
    env: { AWS_ENDPOINT_URL: recorder.endpoint },
    logFile: path.join(tmp, `governor-${running.length}-${command.join('-')}.log`),
  }).start();
  running.push(p);
  return p;
}

const nodeReaper = (group: string, args: string[] = []) =>
  governor(['reap', 'node'], [`--node-selector=${ASG_NODE_LABEL}=${group}`, '--reap-after=1', ...args]);

/** What a dead kubelet leaves: KWOK lets go of the node, whose Ready has been Unknown for `minutes`. */
async function killKubelet(node: string, minutes = 15): Promise<void> {
  await client.patch(ResourceTypes.Node, undefined, node, {
    metadata: { annotations: { 'kwok.x-k8s.io/status': 'custom' } },
  });
  const since = new Date(Date.now() - minutes * 60_000).toISOString();
  const n = await core.readNode({ name: node });
  const conditions = (n.status?.conditions ?? []).map((c) =>
    c.type === 'Ready'
      ? {
          ...c,
          status: 'Unknown',
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
          lastTransitionTime: since,
        }
      : c,
  );
  await client.patch(
    ResourceTypes.Node,
    undefined,
    node,
    { status: { conditions } },
    { subresource: 'status', type: 'strategic' },
  );
}

const instanceOf = (n: k8s.V1Node) => n.spec?.providerID?.split('/').pop() ?? '';
const nodeEvents = async (node: string) =>
  (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${node}` }))
    .items;
const state = async () => {
  const cm = await client.get<k8s.V1ConfigMap>(
    ResourceTypes.ConfigMap,
    rbac.serviceAccount.namespace,
    stateName,
  );
  return cm?.data?.['state.json']
    ? (JSON.parse(cm.data['state.json']) as Record<string, unknown> & {
        kills: unknown[];
        lastSweep?: string;
        breaker: { open: boolean };
      })
    : undefined;
};
/** Resolves after the running governor completed a sweep that started after now. */
async function aSweepAfterNow(): Promise<void> {
  const now = Date.now();
  await eventually(
    'a sweep after now',
    async () => Date.parse((await state())?.lastSweep ?? '') > now || undefined,
    60_000,
    200,
  );
}
const terminationsOf = (ids: string[]) => ids.filter((id) => recorder.terminations().has(id));

beforeAll(async () => {
  bundle = buildApp('governor');
  await recorder.start();
  await scenario.start();
  const ns = await scenario.namespace('gov-e2e-system');
  // A missing permission in the chart's roles fails this suite: governor is not admin.
  rbac = await installChartRbac('governor', {
    namespace: ns,
    args: ['--set', 'cronJobs.podReaper.enabled=true,cronJobs.pdbReaper.enabled=true'],
  });
  // The chart's `<fullname>-state` (its Role may read and write that one only); the ServiceAccount is `<fullname>`.
  stateName = `${rbac.serviceAccount.name}-state`;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gov-e2e-'));
  kubeconfig = writeKubeConfigAs(rbac.serviceAccount, path.join(tmp, 'kubeconfig'));
}, 180_000);

beforeEach(async () => {
  // Each scenario starts with no memory (the state ConfigMap is the one the chart's Role names).
  await client.delete(ResourceTypes.ConfigMap, rbac.serviceAccount.namespace, stateName);
});

afterEach(async () => {
  while (running.length) await running.pop()?.stop(5_000);
});

afterAll(async () => {
  await scenario.cleanUp();
  await recorder.stop();
  await rbac?.uninstall();
  // Kept when a test failed: governor's logs are there.
  console.log(`governor logs: ${tmp}`);
  cleanupWorkspace();
});

describe('governor reap node', () => {
  it('drains an Unknown node past reap-after, terminates its instance without decrement, and the group replaces it', async () => {
    const group = await scenario.createGroup('gov-unknown', 3);
    const ns = await scenario.namespace('gov-work');
    await scenario.workload(ns, group.name, { name: 'web', replicas: 3 });
    const [victim, ...rest] = await scenario.nodes(group.name);
    const id = instanceOf(victim!);
    await killKubelet(victim!.metadata!.name!);
    await nodeReaper(group.name, ['--soft-reap=false']);

    await eventually(`instance ${id} terminated`, () => recorder.terminations().get(id), 90_000, 200);
    const call = recorder.find('TerminateInstanceInAutoScalingGroup', { InstanceId: id })[0];
    expect(call?.params.ShouldDecrementDesiredCapacity).toBe('false');
    const replaced = await eventually(
      'the group back at 3 Ready nodes, without the victim',
      async () => {
        const nodes = (await scenario.nodes(group.name)).filter(
          (n) => n.metadata?.name !== victim!.metadata!.name,
        );
        const ready = nodes.filter((n) =>
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === 3 ? ready : undefined;
      },
      120_000,
    );
    expect(replaced.map((n) => n.metadata?.name)).toEqual(
      expect.arrayContaining(rest.map((n) => n.metadata?.name)),
    );
    expect(recorder.terminations().get(id)).toBe(1);
    expect(terminationsOf(rest.map(instanceOf))).toEqual([]);
    const events = await nodeEvents(victim!.metadata!.name!).catch(() => []);
    // The node may be gone with its Events' object, but the Events stay for their TTL.
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['NodeReaping', 'NodeReaped']));
  });

  it('soft reap: spares an Unknown node while a pod on it is Ready', async () => {
    const group = await scenario.createGroup('gov-soft', 3);
    const ns = await scenario.namespace('gov-soft');
    await scenario.workload(ns, group.name, { name: 'web', replicas: 3 });
    const pods = await core.listNamespacedPod({ namespace: ns });
    const withPod = (await scenario.nodes(group.name)).find((n) =>
      pods.items.some(
        (p) =>
          p.spec?.nodeName === n.metadata?.name &&
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ),
    );
    expect(withPod).toBeDefined();
    await killKubelet(withPod!.metadata!.name!);
    await nodeReaper(group.name);
    const blocked = await eventually(
      'a NodeReapBlocked Event naming soft reap',
      async () =>
        (await nodeEvents(withPod!.metadata!.name!)).find(
          (e) => e.reason === 'NodeReapBlocked' && /soft reap/.test(e.message ?? ''),
        ),
      60_000,
      300,
    );
    expect(blocked.message).toMatch(/pod\(s\) on it still Ready/);
    await aSweepAfterNow();
    expect(recorder.terminations().has(instanceOf(withPod!))).toBe(false);
  });

  it('40% of a group NotReady: the breaker opens and nothing is terminated', async () => {
    const group = await scenario.createGroup('gov-breaker', 5);
    const nodes = await scenario.nodes(group.name);
    for (const n of nodes.slice(0, 2)) await killKubelet(n.metadata!.name!);
    const gov = await nodeReaper(group.name);
    const open = await eventually(
      'the breaker open in the state ConfigMap',
      async () => ((await state())?.breaker.open ? await state() : undefined),
      60_000,
      300,
    );
    expect(JSON.stringify(open?.breaker)).toMatch(/"unhealthy":2,"allowed":1/);
    await aSweepAfterNow();
    await aSweepAfterNow();
    expect(terminationsOf(nodes.map(instanceOf))).toEqual([]);
    expect(gov.lines(/circuit breaker open/).length).toBeGreaterThan(0);
    const events = await core.listNamespacedEvent({
      namespace: rbac.serviceAccount.namespace,
      fieldSelector: `involvedObject.name=${stateName}`,
    });
    expect(events.items.map((e) => e.reason)).toContain('CircuitBreakerOpen');

    // The CronJob form (--once) reads the same state and holds back the same way, then exits 0.
    await gov.stop(5_000);
    const once = await nodeReaper(group.name, ['--once']);
    await eventually(
      'the --once run exited',
      async () => (once.proc.exitCode !== null ? true : undefined),
      60_000,
      200,
    );
    expect(once.proc.exitCode).toBe(0);
    expect(once.lines(/node not reaped.*circuit breaker open/).length).toBe(2);
    expect(terminationsOf(nodes.map(instanceOf))).toEqual([]);
  });

  it('max-kill and the throttle hold across a kill -9 and restart (state in the ConfigMap)', async () => {
    const group = await scenario.createGroup('gov-budget', 4);
    const nodes = await scenario.nodes(group.name);
    for (const n of nodes.slice(0, 2)) await killKubelet(n.metadata!.name!, 20);
    const args = ['--soft-reap=false', '--breaker-threshold=50', '--max-kill-nodes=1', '--reap-throttle=300'];
    const first = await nodeReaper(group.name, args);
    await eventually(
      'one terminate',
      () => terminationsOf(nodes.map(instanceOf)).length > 0 || undefined,
      90_000,
      200,
    );
    await first.kill9();
    const again = await nodeReaper(group.name, args);
    await aSweepAfterNow();
    await aSweepAfterNow();
    expect(terminationsOf(nodes.map(instanceOf))).toHaveLength(1);
    expect((await state())?.kills).toHaveLength(1);
    expect(again.lines(/throttled until|max-kill-nodes/).length).toBeGreaterThan(0);
  });

  it('leaves alone a group another tool holds the disruption lock of', async () => {
    const group = await scenario.createGroup('gov-locked', 3);
    const locks = new DisruptionLocks(client);
    expect(
      await locks.acquire(
        { region: 'us-west-2', name: group.name },
        'upgrade-manager/team-a/roll',
        'RollingUpgrade team-a/roll',
      ),
    ).toEqual({ held: true });
    try {
      const [victim] = await scenario.nodes(group.name);
      await killKubelet(victim!.metadata!.name!);
      await nodeReaper(group.name, ['--soft-reap=false']);
      const blocked = await eventually(
        'a NodeReapBlocked Event naming the lock holder',
        async () =>
          (await nodeEvents(victim!.metadata!.name!)).find(
            (e) => e.reason === 'NodeReapBlocked' && /being disrupted/.test(e.message ?? ''),
          ),
        60_000,
        300,
      );
      expect(blocked.message).toContain('upgrade-manager/team-a/roll');
      await aSweepAfterNow();
      expect(recorder.terminations().has(instanceOf(victim!))).toBe(false);
    } finally {
      await locks.release({ region: 'us-west-2', name: group.name }, 'upgrade-manager/team-a/roll');
    }
  });
});

/** A node no kubelet serves (KWOK leaves it and its pods alone): the test plays the kubelet's status reports. */
async function deafNode(): Promise<string> {
  const nodeName = `gov-deaf-${Date.now().toString(36)}`;
  await core.createNode({
    body: {
      metadata: {
        name: nodeName,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'kwok.x-k8s.io/status': 'custom' },
      },
      spec: { taints: [{ key: 'gov-e2e', effect: 'NoSchedule' }] },
    },
  });
  return nodeName;
}

/** The kubelet's report of a running pod whose containers are (not) ready since `sinceMin` minutes. */
async function reportPod(ns: string, name: string, ready: boolean, sinceMin: number): Promise<void> {
  const at = new Date(Date.now() - sinceMin * 60_000).toISOString();
  const status = ready ? 'True' : 'False';
  await client.patch(
    ResourceTypes.Pod,
    ns,
    name,
    {
      status: {
        phase: 'Running',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: at },
          { type: 'ContainersReady', status, lastTransitionTime: at },
          { type: 'Ready', status, lastTransitionTime: at },
        ],
      },
    },
    { subresource: 'status', type: 'merge' },
  );
}

describe('governor reap node: ghosts', () => {
  it("deletes a ghost: its providerID's instance is terminated while another runs under its name", async () => {
    const ec2 = new EC2Client(emulatorConfig());
    try {
      const out = await ec2.send(
        new RunInstancesCommand({
          ImageId: 'ami-12c6146b',
          InstanceType: 't3.medium',
          MinCount: 2,
          MaxCount: 2,
        }),
      );
      const [gone, twin] = out.Instances ?? [];
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone!.InstanceId!] }));
      // The node of the terminated instance, still registered under the name the new instance's kubelet uses.
      const name = twin!.PrivateDnsName!.toLowerCase();
      const selector = `gov-ghost-${Date.now().toString(36)}`;
      await client.create(
        ResourceTypes.Node,
        simulatedNodeManifest({
          name,
          providerID: `aws:///us-west-2a/${gone!.InstanceId}`,
          labels: { 'gov-e2e/ghost': selector },
        }),
      );
      const gov = await governor(['reap', 'node'], [`--node-selector=gov-e2e/ghost=${selector}`]);
      await eventually(
        'the ghost node deleted',
        async () => ((await client.get(ResourceTypes.Node, undefined, name)) ? undefined : true),
        60_000,
        300,
      );
      expect(gov.lines(/node reaped/).join('\n')).toMatch(/"kind":"ghost"/);
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [twin!.InstanceId!] }));
    } finally {
      ec2.destroy();
    }
  });
});

describe('governor reap pdb', () => {
  it('reports a budget blocked by a long-not-ready pod, deletes it with --reap (saved), restores it once the pod is ready', async () => {
    const ns = await scenario.namespace('gov-pdb');
    const nodeName = await deafNode();
    try {
      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'api-0', labels: { app: 'api' } },
          spec: { nodeName, containers: [{ name: 'c', image: 'fake' }] },
        },
      });
      await reportPod(ns, 'api-0', false, 60);
      await client.create(ResourceTypes.PodDisruptionBudget, {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'api', namespace: ns },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'api' } } },
      });
      // The real disruption controller: 1 expected pod, none healthy, no disruption allowed.
      await eventually(
        'the budget blocking',
        async () => {
          const b = await client.get<k8s.V1PodDisruptionBudget>(ResourceTypes.PodDisruptionBudget, ns, 'api');
          return b?.status?.expectedPods === 1 && b.status.disruptionsAllowed === 0 ? b : undefined;
        },
        60_000,
        300,
      );
      const once = async (extra: string[]) => {
        const run = await governor(
          ['reap', 'pdb'],
          [
            '--once',
            `--namespace=${ns}`,
            '--reap-misconfigured=false',
            '--not-ready-threshold-seconds=600',
            ...extra,
          ],
        );
        await eventually(
          'the --once run exited',
          async () => (run.proc.exitCode !== null ? true : undefined),
          60_000,
          200,
        );
        expect(run.proc.exitCode).toBe(0);
        return run;
      };
      const getPdb = () =>
        client.get<k8s.V1PodDisruptionBudget>(ResourceTypes.PodDisruptionBudget, ns, 'api');

      await once([]);
      expect((await getPdb())?.metadata?.annotations?.['governor.keikoproj.io/pdb-reaper']).toMatch(
        /^NotReady: 1\/1 selected pods not ready/,
      );
      const events = await core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: 'involvedObject.name=api',
      });
      expect(events.items.map((e) => e.reason)).toContain('BlockingPodDisruptionBudget');

      await once(['--reap']);
      expect(await getPdb()).toBeUndefined();
      expect(
        Object.keys(((await state()) as { savedPdbs?: Record<string, string> })?.savedPdbs ?? {}),
      ).toEqual([`${ns}/api`]);

      await once(['--reap']);
      expect(await getPdb()).toBeUndefined(); // still not ready: not restored

      await reportPod(ns, 'api-0', true, 0);
      await once(['--reap']);
      const back = await getPdb();
      expect(back?.spec?.minAvailable).toBe(1);
      expect(back?.metadata?.annotations?.['governor.keikoproj.io/pdb-reaper']).toBeUndefined();
      expect(
        Object.keys(((await state()) as { savedPdbs?: Record<string, string> })?.savedPdbs ?? {}),
      ).toEqual([]);
    } finally {
      await client.delete(ResourceTypes.Node, undefined, nodeName);
    }
  });
});

describe('governor reap pod', () => {
  it('force-deletes a pod stuck Terminating past reap-after (--once, as the CronJob runs it)', async () => {
    const ns = await scenario.namespace('gov-pods');
    // A node no kubelet serves (KWOK leaves it alone): nothing ever confirms its pods' deletion.
    const nodeName = `gov-deaf-${Date.now().toString(36)}`;
    await core.createNode({
      body: {
        metadata: {
          name: nodeName,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'kwok.x-k8s.io/status': 'custom' },
        },
        spec: { taints: [{ key: 'gov-e2e', effect: 'NoSchedule' }] },
      },
    });
    try {
      await core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: 'stuck' }, spec: { nodeName, containers: [{ name: 'c', image: 'fake' }] } },
      });
      await core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: 'fresh' }, spec: { nodeName, containers: [{ name: 'c', image: 'fake' }] } },
      });
      await core.deleteNamespacedPod({ namespace: ns, name: 'stuck', gracePeriodSeconds: 1 });
      // Still there, Terminating: nobody confirms.
      await new Promise((r) => setTimeout(r, 4_000));
      expect(
        (await core.readNamespacedPod({ namespace: ns, name: 'stuck' })).metadata?.deletionTimestamp,
      ).toBeDefined();
      const run = await governor(
        ['reap', 'pod'],
        ['--once', `--namespace=${ns}`, '--reap-after=0.02', '--health-port=0'],
      );
      await eventually(
        'the --once run exited',
        async () => (run.proc.exitCode !== null ? true : undefined),
        60_000,
        200,
      );
      expect(run.proc.exitCode).toBe(0);
      const left = (await core.listNamespacedPod({ namespace: ns })).items.map((p) => p.metadata?.name);
      expect(left).toEqual(['fresh']);
      expect(run.lines(/pod reaped/).join('\n')).toMatch(/ReapStuckTerminating/);
    } finally {
      await client.delete(ResourceTypes.Node, undefined, nodeName);
    }
  });
});
