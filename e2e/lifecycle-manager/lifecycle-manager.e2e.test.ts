// lifecycle-manager end to end: the bundled controller (dist/main.js, as in its image) as the chart's
// ServiceAccount, against the test cluster and the AWS emulator, whose launcher fires TERMINATING lifecycle
// hooks (Terminating:Wait, the notification on the hook's SQS queue, CompleteLifecycleAction). Nodes come
// from packages/testenv's AsgNodeSimulator (the kubelet stand-in), which keeps a node while its instance
// waits in Terminating:Wait — so "node gone" is lifecycle-manager's doing, not the simulator's.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  PutLifecycleHookCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import * as k8s from '@kubernetes/client-node';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AsgScenario,
  buildApp,
  ControllerProcess,
  emitEc2Event,
  emulatorConfig,
  eventually,
  freePort,
  routeEc2EventsToQueue,
  uniqueName,
} from '@keiko/testenv';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import { writeKubeConfigAs } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';

const IN_PROGRESS = 'lifecycle-manager.keikoproj.io/in-progress';
const scenario = new AsgScenario({ bootDelayMs: 300 });
const asg = new AutoScalingClient(emulatorConfig());
const ec2 = new EC2Client(emulatorConfig());
const sqs = new SQSClient(emulatorConfig());
const core = scenario.kc.makeApiClient(k8s.CoreV1Api);
const policy = scenario.kc.makeApiClient(k8s.PolicyV1Api);
const queueName = uniqueName('lm-e2e-q');
let queueUrl = '';
let queueArn = '';
let bundle: string;
let ns: string;
let rbac: ChartRbac;
let tmp: string;
let kubeconfig: string;
const controllers: ControllerProcess[] = [];
const extraGroups: string[] = [];
let removeRule: () => Promise<void> = async () => undefined;

async function startController(
  leaderElection = ['--leader-elect=false'],
  extra: string[] = [],
): Promise<ControllerProcess> {
  const c = new ControllerProcess({
    bundle,
    identity: { kubeconfig, namespace: rbac.serviceAccount.namespace },
    args: [
      ...leaderElection,
      `--metrics-port=${await freePort()}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      `--queue-name=${queueName}`,
      '--region=us-west-2',
      '--polling-interval=1',
      '--drain-timeout=60',
      '--max-time-to-process=25',
      '--shutdown-grace=2',
      ...extra,
    ],
  }).start();
  controllers.push(c);
  return c;
}

async function hook(group: string): Promise<void> {
  await asg.send(
    new PutLifecycleHookCommand({
      AutoScalingGroupName: group,
      LifecycleHookName: 'lifecycle-manager',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      HeartbeatTimeout: 120,
      DefaultResult: 'CONTINUE',
      NotificationTargetARN: queueArn,
      RoleARN: 'arn:aws:iam::123456789012:role/lifecycle-manager-hooks',
    }),
  );
}

const terminate = (instanceId: string) =>
  asg.send(
    new TerminateInstanceInAutoScalingGroupCommand({
      InstanceId: instanceId,
      ShouldDecrementDesiredCapacity: true,
    }),
  );

async function lifecycleState(group: string, id: string): Promise<string | undefined> {
  const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }));
  return out.AutoScalingGroups?.[0]?.Instances?.find((i) => i.InstanceId === id)?.LifecycleState;
}

async function ec2State(id: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

const instanceOf = (n: k8s.V1Node) => n.spec?.providerID?.split('/').pop() ?? '';
const completions = (id: string) =>
  controllers.flatMap((c) =>
    c.lines(new RegExp(`lifecycle action completed.*${id}|${id}.*lifecycle action completed`)),
  );
const nodeGone = (name: string) =>
  eventually(`node ${name} deleted`, async () => (!(await getNode(name)) ? true : undefined), 90_000);

async function getNode(name: string): Promise<k8s.V1Node | undefined> {
  try {
    return await core.readNode({ name });
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  bundle = buildApp('lifecycle-manager');
  await scenario.start();
  ns = await scenario.namespace('lm-e2e');
  // A missing permission in the chart's ClusterRole fails this suite: the controller is not admin.
  rbac = await installChartRbac('lifecycle-manager', {
    namespace: await scenario.namespace('lm-e2e-system'),
  });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-e2e-'));
  kubeconfig = writeKubeConfigAs(rbac.serviceAccount, path.join(tmp, 'kubeconfig'));
  const q = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  queueUrl = q.QueueUrl ?? '';
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  queueArn = attrs.Attributes?.QueueArn ?? '';
  // EC2 and AWS Health events reach the same queue (the hooks' own EventBridge events are left out: the
  // raw notifications already come).
  removeRule = await routeEc2EventsToQueue(uniqueName('lm-e2e-rule'), queueArn, {
    source: ['aws.ec2', 'aws.health'],
  });
}, 180_000);

// A failed test leaves no consumer behind to take the next tests' messages from the shared queue.
afterEach(async () => {
  for (const c of controllers) await c.stop(5_000).catch(() => undefined);
});

afterAll(async () => {
  await removeRule();
  for (const c of controllers) await c.stop(5_000).catch(() => undefined);
  for (const g of extraGroups)
    await asg
      .send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: g, ForceDelete: true }))
      .catch(() => undefined);
  await scenario.cleanUp();
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  await rbac?.uninstall();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  asg.destroy();
  ec2.destroy();
  sqs.destroy();
  cleanupWorkspace();
});

describe('lifecycle-manager (bundled controller)', () => {
  it('drains the node of a terminated instance (PDB respected), deletes the Node and completes the action once', async () => {
    const group = await scenario.createGroup('lm', 2);
    await hook(group.name);
    await scenario.workload(ns, group.name, { replicas: 2, pdb: { maxUnavailable: 1 } });
    const controller = await startController();
    const [victim] = await scenario.nodes(group.name);
    const instance = instanceOf(victim as k8s.V1Node);
    await terminate(instance);
    expect(await lifecycleState(group.name, instance)).toBe('Terminating:Wait');

    // While lifecycle-manager works, never more than maxUnavailable of the PDB's pods are down.
    let minRunning = 2;
    const sampler = setInterval(() => {
      void core
        .listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })
        .then((l) => {
          const running = l.items.filter(
            (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
          ).length;
          minRunning = Math.min(minRunning, running);
        })
        .catch(() => undefined);
    }, 100);
    try {
      await nodeGone(victim?.metadata?.name ?? '');
      await eventually(
        'instance terminated',
        async () => ((await ec2State(instance)) === 'terminated' ? true : undefined),
        60_000,
      );
    } finally {
      clearInterval(sampler);
    }
    expect(await lifecycleState(group.name, instance)).toBeUndefined();
    expect(minRunning).toBeGreaterThanOrEqual(1);
    await eventually(
      'both pods Running on the other node',
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
        const running = pods.filter(
          (p) => p.status?.phase === 'Running' && p.spec?.nodeName !== victim?.metadata?.name,
        );
        return running.length === 2 ? true : undefined;
      },
      60_000,
    );
    expect(completions(instance)).toHaveLength(1);
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${victim?.metadata?.name}`,
    });
    expect(events.items.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['LifecycleHookReceived', 'NodeDrained']),
    );
    await controller.stop(5_000);
  }, 150_000);

  it('resumes from the node record after kill -9 mid-drain and completes the action once', async () => {
    const group = await scenario.createGroup('lm-kill', 2);
    await hook(group.name);
    // A budget that allows no disruption: the drain waits on it until the budget is relaxed.
    await scenario.workload(ns, group.name, {
      name: 'held',
      replicas: 2,
      pdb: { maxUnavailable: 0 },
      onePerNode: true,
    });
    const first = await startController();
    const [victim] = await scenario.nodes(group.name);
    const name = victim?.metadata?.name ?? '';
    const instance = instanceOf(victim as k8s.V1Node);
    await terminate(instance);
    await eventually(
      'the in-progress record on the node',
      async () => ((await getNode(name))?.metadata?.annotations?.[IN_PROGRESS] ? true : undefined),
      60_000,
    );
    await eventually(
      'the node cordoned by the drain',
      async () => ((await getNode(name))?.spec?.unschedulable ? true : undefined),
      60_000,
    );
    await first.kill9();
    expect(completions(instance)).toHaveLength(0);
    expect(await lifecycleState(group.name, instance)).toBe('Terminating:Wait');

    // The budget goes: the drain can finish.
    await policy.deleteNamespacedPodDisruptionBudget({ name: 'held', namespace: ns });
    const second = await startController();
    await nodeGone(name);
    await eventually(
      'instance terminated',
      async () => ((await ec2State(instance)) === 'terminated' ? true : undefined),
      60_000,
    );
    expect(second.lines(/resuming a termination recorded on the node/).length).toBeGreaterThanOrEqual(1);
    expect(completions(instance)).toHaveLength(1);
    await second.stop(5_000);
  }, 150_000);

  it('keeps the message of an instance whose node never registered, then completes it (not lost, not looped on)', async () => {
    const name = uniqueName('lm-nonode');
    const template = (await scenario.createGroup('lm-tpl', 0)).templateId;
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 2,
        DesiredCapacity: 1,
        LaunchTemplate: { LaunchTemplateId: template, Version: '1' },
        AvailabilityZones: ['us-west-2a'],
      }),
    );
    extraGroups.push(name);
    await hook(name);
    const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
    const instance = out.AutoScalingGroups?.[0]?.Instances?.[0]?.InstanceId ?? '';
    const controller = await startController();
    await terminate(instance);
    await eventually(
      'the message kept while no node is known',
      async () => (controller.lines(/no node for the instance yet/).length > 0 ? true : undefined),
      30_000,
    );
    expect(await lifecycleState(name, instance)).toBe('Terminating:Wait');
    // Past --max-time-to-process (25 s) the action is completed, well before the hook's own 120 s timeout.
    await eventually(
      'instance terminated',
      async () => ((await ec2State(instance)) === 'terminated' ? true : undefined),
      60_000,
    );
    expect(controller.lines(/completing without a node/).length).toBe(1);
    await controller.stop(5_000);
  }, 120_000);

  it('two replicas with leader election: only the leader consumes the queue', async () => {
    // The chart's Lease: its leader-election Role allows that one name only.
    const leaseNs = rbac.serviceAccount.namespace;
    const leaseName = rbac.leaseName ?? '';
    const replica = (id: string) =>
      startController([
        '--leader-elect=true',
        `--leader-election-namespace=${leaseNs}`,
        `--leader-election-id=${leaseName}`,
        `--leader-election-identity=${id}`,
        '--lease-duration=4',
        '--renew-deadline=3',
        '--retry-period=1',
      ]);
    const replicas = new Map([
      ['replica-a', await replica('replica-a')],
      ['replica-b', await replica('replica-b')],
    ]);
    const coordination = scenario.kc.makeApiClient(k8s.CoordinationV1Api);
    const leader = await eventually(
      'a leader',
      async () => {
        const lease = await coordination
          .readNamespacedLease({ name: leaseName, namespace: leaseNs })
          .catch(() => undefined);
        return lease?.spec?.holderIdentity || undefined;
      },
      60_000,
    );
    const group = await scenario.createGroup('lm-leader', 2);
    await hook(group.name);
    const [victim] = await scenario.nodes(group.name);
    const instance = instanceOf(victim as k8s.V1Node);
    await terminate(instance);
    await nodeGone(victim?.metadata?.name ?? '');
    await eventually(
      'instance terminated',
      async () => ((await ec2State(instance)) === 'terminated' ? true : undefined),
      60_000,
    );
    expect(completions(instance)).toHaveLength(1);
    for (const [id, proc] of replicas) {
      const mine = proc.lines(/lifecycle action completed|message deleted|resuming a termination/);
      if (id === leader) expect(mine.length).toBeGreaterThanOrEqual(1);
      else expect(mine).toEqual([]);
    }
    for (const proc of replicas.values()) await proc.stop(5_000);
  }, 150_000);

  it('escalates a drain a PodDisruptionBudget blocks past --drain-retries, and rejects a malformed message without deleting it', async () => {
    const group = await scenario.createGroup('lm-escalate', 2);
    await hook(group.name);
    await scenario.workload(ns, group.name, {
      name: 'stuck',
      replicas: 2,
      pdb: { maxUnavailable: 0 },
      onePerNode: true,
    });
    await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"not": "a lifecycle message"}' }),
    );
    const controller = await startController(undefined, [
      '--drain-timeout=3',
      '--drain-retries=1',
      '--max-termination-grace-period=0',
    ]);
    const [victim] = await scenario.nodes(group.name);
    const name = victim?.metadata?.name ?? '';
    const instance = instanceOf(victim as k8s.V1Node);
    await terminate(instance);
    await nodeGone(name);
    await eventually(
      'instance terminated',
      async () => ((await ec2State(instance)) === 'terminated' ? true : undefined),
      60_000,
    );
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${name}`,
    });
    expect(events.items.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['DrainFailed', 'DrainEscalated', 'NodeDrained']),
    );
    expect(completions(instance)).toHaveLength(1);
    expect(
      controller.lines(/message rejected: asg lifecycle notification: missing/).length,
    ).toBeGreaterThanOrEqual(1);
    expect(controller.lines(/message deleted.*not a lifecycle/)).toEqual([]);
    await controller.stop(5_000);
  }, 150_000);

  it('spot interruption warning: the drain finishes before the emulator takes the instance back at notice + 120 s', async () => {
    const group = await scenario.createGroup('lm-spot', 2);
    await scenario.workload(ns, group.name, { name: 'spot', replicas: 2, pdb: { maxUnavailable: 1 } });
    const controller = await startController();
    const [victim] = await scenario.nodes(group.name);
    const name = victim?.metadata?.name ?? '';
    const instance = instanceOf(victim as k8s.V1Node);
    const notice = await emitEc2Event({ kind: 'spot-interruption', instanceIds: [instance] });
    await eventually(
      'the spot drain done',
      async () =>
        controller.lines(new RegExp(`${instance}.*spot-interruption handled`)).length ? true : undefined,
      100_000,
      100,
      async () => controller.log.slice(-30).join('\n'),
    );
    // The order of events: drained while EC2 still runs the instance ...
    expect(await ec2State(instance)).toBe('running');
    expect(Date.now() / 1000).toBeLessThan(notice.terminateAt ?? 0);
    const node = await getNode(name);
    expect(node?.spec?.unschedulable).toBe(true);
    expect(node?.metadata?.labels?.['node.kubernetes.io/exclude-from-external-load-balancers']).toBe('true');
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=spot' })).items;
    expect(pods.filter((p) => p.spec?.nodeName === name && !p.metadata?.deletionTimestamp)).toEqual([]);
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${name}`,
    });
    expect(events.items.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['SpotInterruption', 'NodeDrained']),
    );
    // ... then the emulator terminates it at the end of the notice, and the node goes.
    await eventually(
      'instance terminated by the emulator',
      async () => ((await ec2State(instance)) === 'terminated' ? true : undefined),
      150_000,
    );
    await nodeGone(name);
    await controller.stop(5_000);
  }, 300_000);

  it('rebalance recommendation: cordon only; an event for an instance with no node here is put back, never looped on', async () => {
    const group = await scenario.createGroup('lm-rebalance', 1);
    const [node] = await scenario.nodes(group.name);
    const name = node?.metadata?.name ?? '';
    const instance = instanceOf(node as k8s.V1Node);
    const orphan =
      (
        await ec2.send(
          new RunInstancesCommand({
            ImageId: 'ami-12c6146b',
            MinCount: 1,
            MaxCount: 1,
            InstanceType: 't3.micro',
          }),
        )
      ).Instances?.[0]?.InstanceId ?? '';
    const controller = await startController();
    await emitEc2Event({ kind: 'rebalance-recommendation', instanceIds: [instance] });
    await emitEc2Event({ kind: 'scheduled-change', instanceIds: [orphan] });
    await eventually(
      'the node cordoned',
      async () => ((await getNode(name))?.spec?.unschedulable ? true : undefined),
      60_000,
    );
    await eventually(
      'the rebalance handled',
      async () => (controller.lines(/rebalance-recommendation handled/).length ? true : undefined),
      30_000,
    );
    // Cordoned, not drained: the node stays in load balancers and in the cluster.
    const after = await getNode(name);
    expect(
      after?.metadata?.labels?.['node.kubernetes.io/exclude-from-external-load-balancers'],
    ).toBeUndefined();
    expect(after?.metadata?.annotations?.[IN_PROGRESS]).toBeUndefined();
    await eventually(
      'the orphan event put back',
      async () =>
        controller.lines(new RegExp(`no node of this cluster for instance\\(s\\) ${orphan}`)).length
          ? true
          : undefined,
      30_000,
    );
    // Put back with a growing delay (30 s first): not re-read in a loop.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(
      controller.lines(new RegExp(`no node of this cluster for instance\\(s\\) ${orphan}`)),
    ).toHaveLength(1);
    await controller.stop(5_000);
  }, 150_000);

  it('LAUNCHING hook: the action is completed CONTINUE once the new instance node is Ready', async () => {
    const group = await scenario.createGroup('lm-launch', 0, { maxSize: 2 });
    await asg.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: group.name,
        LifecycleHookName: 'lifecycle-manager-launch',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        HeartbeatTimeout: 300,
        DefaultResult: 'ABANDON',
        NotificationTargetARN: queueArn,
        RoleARN: 'arn:aws:iam::123456789012:role/lifecycle-manager-hooks',
      }),
    );
    await asg.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: group.name, DesiredCapacity: 1 }));
    const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group.name] }));
    const instance = out.AutoScalingGroups?.[0]?.Instances?.[0];
    expect(instance?.LifecycleState).toBe('Pending:Wait');
    const id = instance?.InstanceId ?? '';
    const controller = await startController();
    await eventually(
      'the instance InService',
      async () => ((await lifecycleState(group.name, id)) === 'InService' ? true : undefined),
      90_000,
      100,
      async () => controller.log.slice(-20).join('\n'),
    );
    // Completed by lifecycle-manager (the hook's DefaultResult is ABANDON, which would terminate it), and
    // only once its node was Ready.
    expect(controller.lines(new RegExp(`${id}.*launch: node Ready|launch: node Ready.*${id}`))).toHaveLength(
      1,
    );
    const [node] = await scenario.nodes(group.name);
    expect(instanceOf(node as k8s.V1Node)).toBe(id);
    expect(node?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(await ec2State(id)).toBe('running');
    await controller.stop(5_000);
  }, 150_000);
});
