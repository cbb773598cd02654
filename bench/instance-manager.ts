// npm run bench -- instance-manager [groups] [steadySeconds]
// Many InstanceGroups at once, run by the bundled instance-manager as in its container: `groups` copies of
// the sandbox's eks-cf example (2 instances each, nodes played by the harness's AsgNodeSimulator) are
// applied together. Measures how long until every group is Ready, what the controller costs at rest (AWS
// calls per group per minute with the default --resync and --aws-cache-ttl, the figure AWS throttling depends on; and
// memory), and how long deleting them all takes. Prints one line:
// instance-manager groups=.. ready_s=.. steady_reconciles_per_group_min=.. steady_aws_calls_per_group_min=.. rss_mb=.. delete_s=..
import { InstanceGroupKind, TAG_NAMESPACE, type InstanceGroup } from '@keiko/api';
import { KubeClient } from '@keiko/kube-runtime';
import {
  buildApp,
  ControllerProcess,
  eventually,
  freePort,
  startTestEnv,
  startToolScenario,
} from '@keiko/testenv';
import { awsCalls } from './support/metrics';

const groups = Number(process.argv[2] ?? 20);
const steadySeconds = Number(process.argv[3] ?? 180);

const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);

const bundle = buildApp('instance-manager');
const scenario = await startToolScenario('bench-im', {
  crds: ['instance-manager', 'upgrade-manager'],
  groupTags: (namespace) => ({ [TAG_NAMESPACE]: namespace }),
});
const client = new KubeClient(scenario.kc);
const metricsPort = await freePort();
const controller = new ControllerProcess({
  bundle,
  args: [
    `--namespace=${scenario.namespace}`,
    '--leader-elect=false',
    `--metrics-port=${metricsPort}`,
    '--health-port=0',
    '--bind-address=127.0.0.1',
    '--log-level=warn',
    '--concurrency=4',
  ],
  env: { POD_NAMESPACE: scenario.namespace },
}).start();

/** keiko_aws_api_calls_total by service and operation. */
async function callsByOperation(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^keiko_aws_api_calls_total\{([^}]*)\} (\d+(?:\.\d+)?)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    const key = `${labels.service}:${labels.operation}`;
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

/** The sum of a metric's samples whose line starts with `prefix` (a name, or a name and labels). */
async function metric(prefix: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith(prefix) && !l.startsWith('#'));
  return lines.length === 0 ? NaN : lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

try {
  await eventually('controller metrics endpoint', () => awsCalls(metricsPort).then(() => true), 30_000);
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
  await eventually(
    `all ${groups} groups Ready`,
    async () => {
      const list = (await client.list<InstanceGroup>(InstanceGroupKind, { namespace: scenario.namespace }))
        .items;
      return list.length === groups && list.every((g) => g.status?.currentState === 'Ready');
    },
    groups * 30_000,
    1_000,
  );
  const readyS = (Date.now() - started) / 1000;
  say(
    `all Ready after ${readyS.toFixed(1)} s; measuring ${steadySeconds} s at rest (default --resync and --aws-cache-ttl)`,
  );

  const reconcilesBefore = await metric('controller_runtime_reconcile_total{');
  const before = await callsByOperation();
  await new Promise((r) => setTimeout(r, steadySeconds * 1000));
  const after = await callsByOperation();
  const delta = [...after]
    .map(([op, n]) => [op, n - (before.get(op) ?? 0)] as const)
    .filter(([, n]) => n > 0);
  const steadyCalls = delta.reduce((sum, [, n]) => sum + n, 0);
  const reconciles = (await metric('controller_runtime_reconcile_total{')) - reconcilesBefore;
  say(
    `at rest, by operation: ${delta
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op}=${n}`)
      .join(' ')}`,
  );
  const rssMb = (await metric('process_resident_memory_bytes')) / 2 ** 20;

  const deleting = Date.now();
  await scenario.deleteAll(InstanceGroupKind, groups * 30_000);
  const deleteS = (Date.now() - deleting) / 1000;

  const perGroupMin = steadyCalls / groups / (steadySeconds / 60);
  const reconcilesPerGroupMin = reconciles / groups / (steadySeconds / 60);
  console.log(
    `instance-manager groups=${groups} ready_s=${readyS.toFixed(1)} steady_reconciles_per_group_min=${reconcilesPerGroupMin.toFixed(2)} steady_aws_calls_per_group_min=${perGroupMin.toFixed(2)} rss_mb=${rssMb.toFixed(0)} delete_s=${deleteS.toFixed(1)}`,
  );
} finally {
  await controller.stop();
  await scenario.close();
  await env.stop();
}
