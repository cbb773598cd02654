// npm run bench -- lifecycle [instances] [max-drain-concurrency]
// lifecycle-manager under a mass termination: one Auto Scaling group of `instances` (default 50) with a
// TERMINATING hook notifying an SQS queue, nodes played by the AsgNodeSimulator, one pod per node; every
// instance is terminated at once (TerminateInstanceInAutoScalingGroup, in parallel). The bundled
// lifecycle-manager runs as in its container (--max-drain-concurrency, default 32).
// wall_s: from the terminate calls until every instance is terminated. model_min_s: the shortest time the
// drains' own durations (from its log: "drained node" tookMs) allow with that concurrency —
// max(longest drain, sum of drains / concurrency); ratio = wall_s / model_min_s. max_concurrent_drains:
// the most drains whose [draining, drained] log intervals overlap. lost: instances not completed by
// lifecycle-manager (a hook timeout would have let them go); double_completes: instances completed twice.
// Prints one line:
// lifecycle instances=.. wall_s=.. model_min_s=.. ratio=.. max_concurrent_drains=.. lost=.. double_completes=..
import {
  AutoScalingClient,
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
import path from 'node:path';
import {
  AsgScenario,
  buildApp,
  ControllerProcess,
  emulatorConfig,
  eventually,
  freePort,
  startTestEnv,
  stateDir,
  uniqueName,
} from '@keiko/testenv';

const count = Number(process.argv[2] ?? 50);
const concurrency = Number(process.argv[3] ?? 32);

const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const bundle = buildApp('lifecycle-manager');
const scenario = new AsgScenario({ bootDelayMs: 0, pollIntervalMs: 1000 });
await scenario.start();
const asg = new AutoScalingClient(emulatorConfig());
const ec2 = new EC2Client(emulatorConfig());
const sqs = new SQSClient(emulatorConfig());
const queueName = uniqueName('bench-lm');
const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl ?? '';
const queueArn =
  (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] })))
    .Attributes?.QueueArn ?? '';

const group = await scenario.createGroup('bench-lm', count, { maxSize: count });
await asg.send(
  new PutLifecycleHookCommand({
    AutoScalingGroupName: group.name,
    LifecycleHookName: 'lifecycle-manager',
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
    HeartbeatTimeout: 900,
    DefaultResult: 'CONTINUE',
    NotificationTargetARN: queueArn,
    RoleARN: 'arn:aws:iam::123456789012:role/lifecycle-manager-hooks',
  }),
);
const ns = await scenario.namespace('bench-lm');
const nodes = await scenario.waitForNodes(group.name, count);
await scenario.workload(ns, group.name, { name: 'web', replicas: count, onePerNode: true });
say(`${nodes.length} nodes, one pod each`);

const controller = new ControllerProcess({
  bundle,
  args: [
    '--leader-elect=false',
    `--metrics-port=${await freePort()}`,
    '--health-port=0',
    '--bind-address=127.0.0.1',
    `--queue-name=${queueName}`,
    '--region=us-west-2',
    '--polling-interval=1',
    `--max-drain-concurrency=${concurrency}`,
    '--drain-timeout=300',
  ],
  logFile: path.join(stateDir(), 'logs', 'bench-lifecycle.log'),
}).start();
await eventually('lifecycle-manager consuming', async () =>
  controller.lines(/lifecycle-manager consuming/).length ? true : undefined,
);

const ids = nodes.map((n) => n.spec?.providerID?.split('/').pop() ?? '');
const started = Date.now();
await Promise.all(
  ids.map((id) =>
    asg.send(
      new TerminateInstanceInAutoScalingGroupCommand({
        InstanceId: id,
        ShouldDecrementDesiredCapacity: true,
      }),
    ),
  ),
);
await eventually(
  `all ${count} instances terminated`,
  async () => {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    const states = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name);
    return states.filter((s) => s === 'terminated').length === count ? true : undefined;
  },
  900_000,
  250,
);
const wallS = (Date.now() - started) / 1000;

interface Line {
  msg?: string;
  node?: string;
  instance?: string;
  tookMs?: number;
  ts?: string;
}
const lines = controller.log.flatMap((l) => {
  try {
    return [JSON.parse(l) as Line];
  } catch {
    return [];
  }
});
const drains = lines.filter((l) => l.msg === 'drained node').map((l) => (l.tookMs ?? 0) / 1000);
const modelMinS = Math.max(Math.max(0, ...drains), drains.reduce((a, b) => a + b, 0) / concurrency);
// The most drains at once: a sweep over their [draining, drained] intervals.
const edges = lines
  .filter((l) => l.msg === 'draining node' || l.msg === 'drained node')
  .map((l) => ({ t: Date.parse(l.ts ?? ''), d: l.msg === 'draining node' ? 1 : -1 }))
  .sort((a, b) => a.t - b.t || a.d - b.d);
let open = 0;
let maxOpen = 0;
for (const e of edges) maxOpen = Math.max(maxOpen, (open += e.d));
const completes = new Map<string, number>();
for (const l of lines.filter((x) => x.msg === 'lifecycle action completed'))
  completes.set(l.instance ?? '', (completes.get(l.instance ?? '') ?? 0) + 1);
const lost = ids.filter((id) => !completes.has(id)).length;
const doubles = [...completes.values()].filter((n) => n > 1).length;
say(`drains: ${drains.length}, sum ${drains.reduce((a, b) => a + b, 0).toFixed(1)} s`);
console.log(
  `lifecycle instances=${count} wall_s=${wallS.toFixed(1)} model_min_s=${modelMinS.toFixed(1)} ratio=${(wallS / Math.max(modelMinS, 0.001)).toFixed(2)} max_concurrent_drains=${maxOpen} lost=${lost} double_completes=${doubles}`,
);

await controller.stop(5000);
await scenario.cleanUp();
await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
asg.destroy();
ec2.destroy();
sqs.destroy();
await env.stop();
