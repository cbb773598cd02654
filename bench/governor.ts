// npm run bench -- governor [nodes] [unhealthy]
// The node reaper on a large cluster: `nodes` KWOK nodes (default 1,000), each with a real emulator
// instance behind its providerID, of which `unhealthy` (default 10) lose their kubelet — Ready Unknown
// for 15 minutes — at once. The unhealthy ones are each in a small Auto Scaling group of their own (two
// instances, nodes played by the AsgNodeSimulator) so each group stays stable and replaces what is
// reaped; the rest are plain instances (RunInstances) whose nodes the bench registers itself. The bundled
// governor runs as in its container (controller mode, --max-kill-nodes=unhealthy, no throttle).
// Measures from the moment the nodes go Unknown until every one of them was terminated (detect_s), the
// apiserver and AWS requests governor made meanwhile, and its memory. Prints one line:
// governor nodes=.. detect_s=.. reaped=.. api_calls=.. rss_mb=..
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type * as k8s from '@kubernetes/client-node';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import {
  AsgScenario,
  buildApp,
  ControllerProcess,
  emulatorConfig,
  eventually,
  freePort,
  simulatedNodeManifest,
  startTestEnv,
  stateDir,
} from '@keiko/testenv';
import path from 'node:path';
import { awsCalls } from './support/metrics';

const total = Number(process.argv[2] ?? 1000);
const unhealthy = Number(process.argv[3] ?? 10);

const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const bundle = buildApp('governor');
const scenario = new AsgScenario({
  bootDelayMs: 0,
  pollIntervalMs: 1000,
  labels: { 'bench.keiko.io/governor': 'yes' },
});
await scenario.start();
const client = new KubeClient(scenario.kc, { qps: 200, burst: 400 });
const ec2 = new EC2Client(emulatorConfig());
const ns = await scenario.namespace('bench-gov');
const LABEL = 'bench.keiko.io/governor';

/** Plain instances and their nodes (what the bench registers itself, as their kubelets would). */
async function plainNodes(count: number): Promise<{ names: string[]; ids: string[] }> {
  const names: string[] = [];
  const ids: string[] = [];
  for (let made = 0; made < count; made += 250) {
    const n = Math.min(250, count - made);
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.medium',
        MinCount: n,
        MaxCount: n,
      }),
    );
    for (const i of out.Instances ?? []) ids.push(i.InstanceId ?? '');
  }
  const create = async (id: string, i: number) => {
    const name = `bench-gov-${i}`;
    await client.create(
      ResourceTypes.Node,
      simulatedNodeManifest({ name, providerID: `aws:///us-west-2a/${id}`, labels: { [LABEL]: 'yes' } }),
    );
    names.push(name);
  };
  for (let i = 0; i < ids.length; i += 50)
    await Promise.all(ids.slice(i, i + 50).map((id, j) => create(id, i + j)));
  return { names, ids };
}

async function killKubelet(node: k8s.V1Node): Promise<void> {
  const name = node.metadata?.name ?? '';
  await client.patch(ResourceTypes.Node, undefined, name, {
    metadata: { annotations: { 'kwok.x-k8s.io/status': 'custom' } },
  });
  const since = new Date(Date.now() - 15 * 60_000).toISOString();
  const conditions = (node.status?.conditions ?? []).map((c) =>
    c.type === 'Ready' ? { ...c, status: 'Unknown', lastTransitionTime: since } : c,
  );
  await client.patch(
    ResourceTypes.Node,
    undefined,
    name,
    { status: { conditions } },
    { subresource: 'status', type: 'strategic' },
  );
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?)$`).exec(line);
    if (m) sum += Number(m[2]);
  }
  return sum;
}

const groups = [];
for (let i = 0; i < unhealthy; i++) groups.push(await scenario.createGroup('bench-gov', 2));
say(`${groups.length} groups of 2 nodes ready; registering ${total - 2 * unhealthy} plain nodes`);
const plain = await plainNodes(total - 2 * unhealthy);
await eventually(
  `${total} Ready nodes`,
  async () => {
    const nodes = (await client.listAll<k8s.V1Node>(ResourceTypes.Node, { labelSelector: `${LABEL}=yes` }))
      .items;
    return (
      nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .length >= total || undefined
    );
  },
  600_000,
  2000,
);

const port = await freePort();
const governor = new ControllerProcess({
  bundle,
  args: [
    'reap',
    'node',
    '--leader-elect=false',
    `--metrics-port=${port}`,
    '--health-port=0',
    '--bind-address=127.0.0.1',
    '--log-level=info',
    `--node-selector=${LABEL}=yes`,
    '--reap-after=1',
    '--soft-reap=false',
    `--max-kill-nodes=${unhealthy}`,
    '--reap-throttle=0',
    '--sweep-interval=60',
    `--state-namespace=${ns}`,
  ],
  env: { POD_NAMESPACE: ns },
  logFile: path.join(stateDir(), 'logs', 'bench-governor.log'),
}).start();
await eventually(
  'governor swept once',
  async () => ((await metric(port, 'governor_sweeps_total').catch(() => 0)) > 0 ? true : undefined),
  300_000,
  500,
);

const victims = await Promise.all(groups.map(async (g) => (await scenario.nodes(g.name))[0]!));
const victimIds = new Set(victims.map((n) => n.spec?.providerID?.split('/').pop() ?? ''));
const before = (await metric(port, 'rest_client_requests_total')) + (await awsCalls(port));
const started = Date.now();
await Promise.all(victims.map(killKubelet));
const reaped = await eventually(
  'every unhealthy node terminated',
  async () => {
    const kills = await metric(port, 'governor_node_reaper_kills_total');
    return kills >= unhealthy ? kills : undefined;
  },
  600_000,
  250,
);
const detectS = (Date.now() - started) / 1000;
const calls = (await metric(port, 'rest_client_requests_total')) + (await awsCalls(port)) - before;
const rssMb = (await metric(port, 'process_resident_memory_bytes')) / 1024 / 1024;
say(`victims: ${[...victimIds].join(' ')}`);
console.log(
  `governor nodes=${total} detect_s=${detectS.toFixed(1)} reaped=${reaped} api_calls=${calls} rss_mb=${rssMb.toFixed(0)}`,
);

await governor.stop(5000);
for (let i = 0; i < plain.ids.length; i += 500)
  await ec2
    .send(new TerminateInstancesCommand({ InstanceIds: plain.ids.slice(i, i + 500) }))
    .catch(() => undefined);
for (const name of plain.names)
  await client.delete(ResourceTypes.Node, undefined, name).catch(() => undefined);
await scenario.cleanUp();
ec2.destroy();
await client.close();
await env.stop();
