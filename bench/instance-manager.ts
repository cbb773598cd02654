// npm run bench -- instance-manager [groups] [steadySeconds]
// Many InstanceGroups at once, run by the bundled instance-manager as in its container: `groups` copies of
// the sandbox's eks-cf example (2 instances each, nodes played by the harness's AsgNodeSimulator) are
// applied together. Measures how long until every group is Ready, reconciles at rest, memory, and how long
// deleting them all takes. AWS calls per group at rest are the `footprint` bench's figure (counted at the
// emulator). Prints one line:
// instance-manager groups=.. ready_s=.. steady_reconciles_per_group_min=.. rss_mb=.. delete_s=..
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

/** The sum of a metric's samples whose line starts with `prefix` (a name, or a name and labels). */
async function metric(prefix: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith(prefix) && !l.startsWith('#'));
  return lines.length === 0 ? NaN : lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

try {
  await eventually('controller metrics endpoint', () => metric('process_').then(() => true), 30_000);
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
  await new Promise((r) => setTimeout(r, steadySeconds * 1000));
  const reconciles = (await metric('controller_runtime_reconcile_total{')) - reconcilesBefore;
  const rssMb = (await metric('process_resident_memory_bytes')) / 2 ** 20;

  const deleting = Date.now();
  await scenario.deleteAll(InstanceGroupKind, groups * 30_000);
  const deleteS = (Date.now() - deleting) / 1000;

  const reconcilesPerGroupMin = reconciles / groups / (steadySeconds / 60);
  console.log(
    `instance-manager groups=${groups} ready_s=${readyS.toFixed(1)} steady_reconciles_per_group_min=${reconcilesPerGroupMin.toFixed(2)} rss_mb=${rssMb.toFixed(0)} delete_s=${deleteS.toFixed(1)}`,
  );
} finally {
  await controller.stop();
  await scenario.close();
  await env.stop();
}
