// Chaos: lifecycle-manager handles hooked terminations (two instances of a group terminated with their
// TERMINATING hook notifying its SQS queue) while AWS — SQS included — throttles 20 % of its calls, fails
// 5 % with HTTP 500 and adds latency, and its leader (of two replicas, leader election on the chart's Lease)
// is SIGKILLed three times, the first mid-drain. Invariants, from outside: every lifecycle action completed
// by the controller (the hook's heartbeat timeout is far beyond the run, so no message was lost), the queue
// empty at the end, never more than the PodDisruptionBudget's pods down (sampled from the apiserver), no
// other node cordoned, no node left cordoned by lifecycle-manager.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  PutLifecycleHookCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import * as k8s from '@kubernetes/client-node';
import {
  ASG_NODE_LABEL,
  AsgScenario,
  buildApp,
  emulatorConfig,
  eventually,
  uniqueName,
} from '@keiko/testenv';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import {
  AwsFaults,
  chaosSeed,
  chartController,
  faultWords,
  FULL,
  fullLoad,
  Invariants,
  KILLS,
  isReady,
  killer,
  leftCordoned,
  NodeWatch,
  Replicas,
  report,
  seeded,
  sleep,
  type ChartController,
} from './support/harness';

const HEARTBEAT_TIMEOUT = 900;
const scenario = new AsgScenario({ bootDelayMs: 300 });
const core = scenario.kc.makeApiClient(k8s.CoreV1Api);
const asg = new AutoScalingClient(emulatorConfig());
const ec2 = new EC2Client(emulatorConfig());
const sqs = new SQSClient(emulatorConfig());
const queueName = uniqueName('chaos-lm-q');
const faults = new AwsFaults(`lm-${process.pid}`);
let queueUrl = '';
let queueArn = '';
let bundle: string;
let chart: ChartController;
let replicas: Replicas | undefined;

beforeAll(async () => {
  bundle = buildApp('lifecycle-manager');
  await scenario.start();
  chart = await chartController('lifecycle-manager', await scenario.namespace('chaos-lm-system'));
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl ?? '';
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  queueArn = attrs.Attributes?.QueueArn ?? '';
}, 600_000);

const loads: Array<{ stop: () => void } | undefined> = [];

afterAll(async () => {
  for (const l of loads) l?.stop();
  await faults.off().catch(() => undefined);
  await replicas?.stop();
  await scenario.cleanUp();
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  await chart?.uninstall();
  for (const c of [asg, ec2, sqs]) c.destroy();
  cleanupWorkspace();
});

const ec2State = async (id: string) =>
  (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]
    ?.State?.Name;
const queued = async () => {
  const a = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
};

/** The fewest Running, not-deleting pods of the workload seen, sampled every ~150 ms. */
function podWatch(ns: string) {
  let fewest = Infinity;
  let on = true;
  const loop = (async () => {
    while (on) {
      const pods = await core
        .listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })
        .catch(() => undefined);
      if (pods)
        fewest = Math.min(
          fewest,
          pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp).length,
        );
      await sleep(150);
    }
  })();
  return { stop: async () => ((on = false), await loop, fewest) };
}

/** Terminates `victims` hooked instances of a group of `size`; with a seed, under faults and leader SIGKILLs. */
async function hookedRun(seed: number | undefined) {
  const size = FULL ? 6 : 4;
  const victims = FULL ? 3 : 2;
  const group = await scenario.createGroup(seed ? 'chaos-lm' : 'chaos-lm-base', size);
  const ns = await scenario.namespace('chaos-lm-work');
  await asg.send(
    new PutLifecycleHookCommand({
      AutoScalingGroupName: group.name,
      LifecycleHookName: 'lifecycle-manager',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      HeartbeatTimeout: HEARTBEAT_TIMEOUT,
      DefaultResult: 'CONTINUE',
      NotificationTargetARN: queueArn,
      RoleARN: 'arn:aws:iam::123456789012:role/lifecycle-manager-hooks',
    }),
  );
  // One pod per node under a budget of one: a drain waits until the last evicted pod runs on a replacement.
  await scenario.workload(ns, group.name, {
    name: 'web',
    replicas: size,
    onePerNode: true,
    pdb: { maxUnavailable: 1 },
  });
  const nodes = await scenario.nodes(group.name);
  const doomed = nodes.slice(0, victims);
  const spared = new Set(nodes.slice(victims).map((n) => n.metadata?.name));
  const instanceOf = (n: k8s.V1Node) => n.spec?.providerID?.split('/').pop() ?? '';
  if (seed) await faults.on(seed);
  replicas = await new Replicas({
    bundle,
    chart,
    name: 'lm',
    faults,
    args: [
      `--queue-name=${queueName}`,
      '--region=us-west-2',
      '--polling-interval=1',
      '--drain-timeout=120',
      '--max-time-to-process=600',
      '--shutdown-grace=2',
    ],
  }).up();
  await replicas.leader();
  const watch = new NodeWatch(`${ASG_NODE_LABEL}=${group.name}`).start();
  const pods = podWatch(ns);
  let finished = false;
  const doomedNames = new Set(doomed.map((n) => n.metadata?.name));
  const kills = killer(replicas, seeded(seed ?? 1), {
    count: seed ? KILLS : 0,
    apiserverRestart: FULL && !!seed,
    trigger: async () =>
      watch.samples.at(-1)?.nodes.some((n) => doomedNames.has(n.name) && n.unschedulable) ?? false,
    stop: () => finished,
  });
  const load = seed ? fullLoad() : undefined;
  loads.push(load);
  const started = Date.now();
  for (const n of doomed)
    await asg.send(
      new TerminateInstanceInAutoScalingGroupCommand({
        InstanceId: instanceOf(n),
        ShouldDecrementDesiredCapacity: false,
      }),
    );
  await eventually(
    'every hooked instance terminated, its node gone, the group whole again',
    async () => {
      for (const n of doomed) if ((await ec2State(instanceOf(n))) !== 'terminated') return undefined;
      const now = await scenario.nodes(group.name);
      if (now.some((n) => doomedNames.has(n.metadata?.name))) return undefined;
      return now.filter(isReady).length === size ? true : undefined;
    },
    FULL ? 600_000 : 400_000,
    1_000,
    async () => {
      const states = await Promise.all(
        doomed.map(async (n) => `${instanceOf(n)} ${await ec2State(instanceOf(n))}`),
      );
      const now = (await scenario.nodes(group.name)).map((n) => `${n.metadata?.name} ready=${isReady(n)}`);
      const g = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group.name] }));
      const members = (g.AutoScalingGroups?.[0]?.Instances ?? []).map(
        (i) => `${i.InstanceId} ${i.LifecycleState}`,
      );
      return `doomed: ${states.join(', ')}\nnodes: ${now.join(', ')}\ngroup: ${members.join(', ')}\nqueued: ${await queued()}\n${replicas?.tail(8) ?? ''}`;
    },
  );
  const seconds = (Date.now() - started) / 1000;
  finished = true;
  load?.stop();
  const killedAt = await kills.done;
  await watch.stop();
  const fewestPods = await pods.stop();

  const inv = new Invariants();
  inv.check(seconds < HEARTBEAT_TIMEOUT, 'an action completed by the heartbeat timeout, not the controller');
  inv.check(
    fewestPods >= size - 1,
    `${size - fewestPods} pods down at once (PodDisruptionBudget maxUnavailable 1)`,
  );
  const cordonedSpared = watch.samples.some((s) =>
    s.nodes.some((n) => spared.has(n.name) && n.unschedulable),
  );
  inv.check(!cordonedSpared, 'a node whose instance was not terminating was cordoned');
  const cordoned = await leftCordoned(/^lifecycle-manager/);
  inv.check(cordoned.length === 0, `left cordoned: ${cordoned.join(', ')}`);
  const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group.name] }));
  const waiting = (out.AutoScalingGroups?.[0]?.Instances ?? []).filter(
    (i) => i.LifecycleState !== 'InService',
  );
  inv.check(
    waiting.length === 0,
    `instances not InService: ${waiting.map((i) => `${i.InstanceId} ${i.LifecycleState}`).join(', ')}`,
  );
  // A message received by a replica killed mid-work stays in flight (its visibility extended by the
  // heartbeat) although its action was completed from the node's record by the next leader: it comes back
  // when its visibility ends, and is deleted then (the instance is gone). Counted, not a loss.
  const inFlight = await queued();
  const aws = await faults.summary();
  await faults.off();
  await replicas.stop();
  replicas = undefined;
  return { seconds, inv, killedAt, aws, inFlight, size, victims };
}

describe('chaos: lifecycle-manager', () => {
  it('hooked terminations under AWS faults and leader SIGKILLs (the first mid-drain) keep every invariant', async () => {
    const baseline = FULL ? (await hookedRun(undefined)).seconds : undefined;
    const seed = chaosSeed('lifecycle-manager');
    const run = await hookedRun(seed);
    report({
      scenario: `lifecycle-manager hooked termination (${run.size} nodes, ${run.victims} terminated)`,
      seed,
      faults: faultWords('AWS (ASG, EC2, SQS)'),
      operations: `${run.victims}/${run.victims} lifecycle actions completed by the controller (${run.inFlight} message(s) of killed replicas still in flight)`,
      kills: run.killedAt.length,
      aws: run.aws,
      seconds: run.seconds,
      ...(baseline !== undefined ? { baselineSeconds: baseline } : {}),
      violations: run.inv.violations,
    });
    expect(run.killedAt.length).toBe(KILLS);
    expect(run.aws.throttled + run.aws.errors).toBeGreaterThan(0);
    expect(run.inv.violations).toEqual([]);
  }, 1_200_000);
});
