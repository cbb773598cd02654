// npm run bench -- instance-manager [groups] [steadySeconds]
// Many InstanceGroups at once, run by the bundled instance-manager as in its container: `groups` copies of
// the sandbox's eks-cf example (2 instances each, nodes played by the harness's AsgNodeSimulator) are
// applied together. Measures how long until every group is Ready, what the controller costs at rest (AWS
// calls per group per minute with the default --aws-cache-ttl, the figure AWS throttling depends on; and
// memory), and how long deleting them all takes. Prints one line:
// instance-manager groups=.. ready_s=.. steady_aws_calls_per_group_min=.. rss_mb=.. delete_s=..
import { spawn } from 'node:child_process';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
import { freePort, startTestEnv } from '@keiko/testenv';
import { build, deleteAllGroups, startScenario, waitUntil } from '../e2e/instance-manager/support';
import { awsCalls, stopUpgradeManager as stopController } from './support/upgrade-controller';

const groups = Number(process.argv[2] ?? 20);
const steadySeconds = Number(process.argv[3] ?? 60);
const RESYNC_S = 30;

const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);

const bundle = build('instance-manager');
const scenario = await startScenario('bench-im');
const metricsPort = await freePort();
const controller = spawn(
  process.execPath,
  [
    bundle,
    `--namespace=${scenario.namespace}`,
    '--leader-elect=false',
    `--metrics-port=${metricsPort}`,
    '--health-port=0',
    '--bind-address=127.0.0.1',
    `--resync=${RESYNC_S}`,
    '--log-level=warn',
    '--concurrency=4',
  ],
  { env: { ...process.env, POD_NAMESPACE: scenario.namespace }, stdio: ['ignore', 'ignore', 'inherit'] },
);

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

try {
  await waitUntil('controller metrics endpoint', () => awsCalls(metricsPort).then(() => true), 30_000);
  const [template] = scenario.manifest(
    'examples/instance-manager/hello-world-sandbox.yaml',
  ) as InstanceGroup[];
  if (!template?.spec['eks-cf'])
    throw new Error('examples/instance-manager/hello-world-sandbox.yaml is not an eks-cf group');
  const objects = Array.from({ length: groups }, (_v, i) => {
    const ig = structuredClone(template);
    ig.metadata = { name: `g${i}`, namespace: scenario.namespace };
    if (ig.spec['eks-cf']) Object.assign(ig.spec['eks-cf'], { minSize: 2, maxSize: 3 });
    return ig;
  });

  say(`applying ${groups} eks-cf groups of 2 instances in ${scenario.namespace}`);
  const started = Date.now();
  await scenario.apply(objects);
  await waitUntil(
    `all ${groups} groups Ready`,
    async () => {
      const list = (
        await scenario.client.list<InstanceGroup>(InstanceGroupKind, { namespace: scenario.namespace })
      ).items;
      return list.length === groups && list.every((g) => g.status?.currentState === 'Ready');
    },
    groups * 30_000,
    1_000,
  );
  const readyS = (Date.now() - started) / 1000;
  say(`all Ready after ${readyS.toFixed(1)} s; measuring ${steadySeconds} s at rest (resync ${RESYNC_S} s)`);

  const before = await awsCalls(metricsPort);
  await new Promise((r) => setTimeout(r, steadySeconds * 1000));
  const steadyCalls = (await awsCalls(metricsPort)) - before;
  const rssMb = (await metric('process_resident_memory_bytes')) / 2 ** 20;

  const deleting = Date.now();
  await deleteAllGroups(scenario, groups * 30_000);
  const deleteS = (Date.now() - deleting) / 1000;

  const perGroupMin = steadyCalls / groups / (steadySeconds / 60);
  console.log(
    `instance-manager groups=${groups} ready_s=${readyS.toFixed(1)} steady_aws_calls_per_group_min=${perGroupMin.toFixed(2)} rss_mb=${rssMb.toFixed(0)} delete_s=${deleteS.toFixed(1)}`,
  );
} finally {
  await stopController(controller);
  await scenario.close();
  await env.stop();
}
