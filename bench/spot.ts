// npm run bench -- spot [groups]
// minion-manager deciding for many groups: `groups` (default 100) Auto Scaling groups in the emulator, tagged
// for one cluster with k8s-minion-manager=use-spot, half plain launch-template groups and half
// mixed-instances groups, over three instance types whose spot prices are set (some cheap, some not). The
// bundled minion-manager runs as in its container, --events-only (decide and report every group; nothing
// changes, so each refresh does the same work), refreshing every 5 s. Measures a warm refresh (on-demand
// prices cached, as after the first of every 4 h): its duration (decide_s, from the controller's
// minion_manager_refresh_duration_seconds) and the AWS calls it made (from keiko_aws_api_calls_total,
// the price queries are batched across groups), and the controller's memory. Prints one line:
// spot groups=.. decide_s=.. aws_calls=.. calls_per_group=.. rss_mb=..
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, EC2Client, type _InstanceType } from '@aws-sdk/client-ec2';
import {
  buildApp,
  ControllerProcess,
  emulatorConfig,
  eventually,
  freePort,
  setSpotPrices,
  startTestEnv,
  stateDir,
  uniqueName,
} from '@keiko/testenv';
import path from 'node:path';
import { awsCalls } from './support/metrics';

const total = Number(process.argv[2] ?? 100);
const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const bundle = buildApp('minion-manager');
const asg = new AutoScalingClient(emulatorConfig());
const ec2 = new EC2Client(emulatorConfig());
const cluster = uniqueName('bench-spot');
const ZONES = ['us-west-2a', 'us-west-2b', 'us-west-2c'];
const TYPES = [
  { type: 'm5.large', spot: 0.03 },
  { type: 'c5.large', spot: 0.08 },
  { type: 'r5.large', spot: 0.04 },
];

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?)$`).exec(line);
    if (m) sum += Number(m[2]);
  }
  return sum;
}

await setSpotPrices(
  TYPES.flatMap((t) =>
    ZONES.map((availabilityZone) => ({ availabilityZone, instanceType: t.type, price: t.spot })),
  ),
);
const templates: string[] = [];
for (const t of TYPES) {
  const lt = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${cluster}-${t.type}`,
      LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: t.type as _InstanceType },
    }),
  );
  templates.push(lt.LaunchTemplate?.LaunchTemplateId ?? '');
}
const names: string[] = [];
for (let i = 0; i < total; i++) {
  const name = `${cluster}-${i}`;
  const k = i % TYPES.length;
  const spec = { LaunchTemplateId: templates[k], Version: '1' };
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      MinSize: 0,
      MaxSize: 3,
      DesiredCapacity: 1,
      AvailabilityZones: ZONES,
      ...(i % 2 === 0
        ? { LaunchTemplate: spec }
        : {
            MixedInstancesPolicy: {
              LaunchTemplate: {
                LaunchTemplateSpecification: spec,
                Overrides: [{ InstanceType: TYPES[k]?.type }],
              },
              InstancesDistribution: { OnDemandPercentageAboveBaseCapacity: 100 },
            },
          }),
      Tags: [
        { Key: 'KubernetesCluster', Value: cluster, PropagateAtLaunch: false },
        { Key: 'k8s-minion-manager', Value: 'use-spot', PropagateAtLaunch: false },
      ],
    }),
  );
  names.push(name);
}
say(`${names.length} groups tagged for ${cluster}`);

const port = await freePort();
const controller = new ControllerProcess({
  bundle,
  args: [
    '--leader-elect=false',
    `--metrics-port=${port}`,
    '--health-port=0',
    '--bind-address=127.0.0.1',
    `--cluster-name=${cluster}`,
    '--region=us-west-2',
    '--refresh-interval-seconds=5',
    '--events-only',
    '--status-namespace=default',
    `--status-configmap=${cluster}`,
  ],
  logFile: path.join(stateDir(), 'logs', 'bench-spot.log'),
}).start();
const refreshes = () => metric(port, 'minion_manager_refreshes_total').catch(() => 0);
const afterRefresh = async (n: number) =>
  eventually(`${n} refreshes`, async () => ((await refreshes()) >= n ? true : undefined), 300_000, 100);

await afterRefresh(1);
const coldCalls = await awsCalls(port);
await afterRefresh(2);
// Between the end of refresh 2 and the end of refresh 3: exactly one warm refresh.
const before = await awsCalls(port);
const sumBefore = await metric(port, 'minion_manager_refresh_duration_seconds_sum');
await afterRefresh(3);
const calls = (await awsCalls(port)) - before;
const decideS = (await metric(port, 'minion_manager_refresh_duration_seconds_sum')) - sumBefore;
const rssMb = (await metric(port, 'process_resident_memory_bytes')) / 1024 / 1024;
const errors = controller.lines(/refresh failed/).length;
say(`first (cold) refresh: ${coldCalls} AWS calls; refresh errors: ${errors}`);
console.log(
  `spot groups=${total} decide_s=${decideS.toFixed(2)} aws_calls=${calls} calls_per_group=${(calls / total).toFixed(2)} rss_mb=${rssMb.toFixed(0)}`,
);

await controller.stop(5000);
for (const name of names)
  await asg
    .send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true }))
    .catch(() => undefined);
asg.destroy();
ec2.destroy();
await env.stop();
