// npm run bench -- instance-rotation [nodes] [batch]
// instance-manager's rollingUpdate strategy (the disruption engine, as upgrade-manager's bench measures
// it) replaces every instance of one eks-cf InstanceGroup — the sandbox's example with `nodes` instances,
// `maxBatchSize: batch` and `minInstancesInService: nodes - batch` — after its instance type changes, run
// by the bundled controller as in its container. Nodes are the kubelet stand-in's (packages/testenv), each
// carrying a pod evicted on its drain; a replacement's node joins BOOT_DELAY_S after its instance is
// InService. Prints one line:
// instance-rotation nodes=.. batch=.. wall_s=.. model_min_s=.. ratio=.. peak_unavailable=.. aws_calls=..
// where model_min = ceil(nodes / batch) x boot delay (a batch cannot end before its replacements join),
// and peak_unavailable counts the group's nodes not Ready-and-schedulable against its size (the budget is
// `batch`; nodes that went NotReady untouched — the stand-in's leases lagging on a loaded machine — are
// reported apart on stderr).
import { InstanceGroupKind, TAG_NAMESPACE, type InstanceGroup } from '@keiko/api';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import {
  buildApp,
  ControllerProcess,
  eventually,
  freePort,
  startTestEnv,
  startToolScenario,
} from '@keiko/testenv';
import type { V1Node } from '@kubernetes/client-node';
import { awsCalls } from './support/metrics';

const nodes = Number(process.argv[2] ?? 24);
const batch = Number(process.argv[3] ?? 4);
const BOOT_DELAY_S = 5;

const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const bundle = buildApp('instance-manager');
const scenario = await startToolScenario('bench-rotation', {
  crds: ['instance-manager'],
  groupTags: (namespace) => ({ [TAG_NAMESPACE]: namespace }),
  bootDelayMs: BOOT_DELAY_S * 1000,
  pollIntervalMs: 300,
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
  ],
  env: { POD_NAMESPACE: scenario.namespace },
}).start();

const isReady = (n: V1Node) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const group = () => client.get<InstanceGroup>(InstanceGroupKind, scenario.namespace, 'rotation');

/** Samples the group's nodes every 200 ms until stopped: peak unavailable (ours) and untouched NotReady. */
function sample(asgName: string) {
  const everReady = new Set<string>();
  const peak = { ours: 0, untouched: 0 };
  let on = true;
  const done = (async () => {
    while (on) {
      const list = await scenario.nodesOf(asgName);
      for (const n of list) if (isReady(n)) everReady.add(n.metadata?.name ?? '');
      const available = list.filter((n) => !n.spec?.unschedulable && isReady(n)).length;
      const untouched = list.filter(
        (n) => !n.spec?.unschedulable && !isReady(n) && everReady.has(n.metadata?.name ?? ''),
      ).length;
      peak.untouched = Math.max(peak.untouched, untouched);
      peak.ours = Math.max(peak.ours, nodes - available - untouched);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await done;
      return peak;
    },
  };
}

try {
  await eventually('controller metrics endpoint', () => awsCalls(metricsPort).then(() => true), 30_000);
  const [ig] = scenario.manifest('examples/instance-manager/hello-world-sandbox.yaml') as InstanceGroup[];
  if (!ig?.spec['eks-cf'] || !ig.spec.rollingUpdate) throw new Error('the sandbox example changed shape');
  ig.metadata = { name: 'rotation', namespace: scenario.namespace };
  Object.assign(ig.spec['eks-cf'], { minSize: nodes, maxSize: nodes + batch });
  Object.assign(ig.spec.rollingUpdate, {
    maxBatchSize: batch,
    minInstancesInService: nodes - batch,
    pauseTime: 'PT0S',
  });
  say(`creating an eks-cf group of ${nodes} instances`);
  await scenario.apply([ig]);
  const ready = await eventually(
    'the group Ready',
    async () => {
      const g = await group();
      return g?.status?.currentState === 'Ready' ? g : undefined;
    },
    900_000,
    1_000,
  );
  const asgName = ready.status?.activeScalingGroupName ?? '';
  const before = new Set((await scenario.nodesOf(asgName)).map((n) => n.metadata?.name));
  await client.create(ResourceTypes.Deployment, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: scenario.namespace },
    spec: {
      replicas: nodes,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }],
          tolerations: [{ operator: 'Exists' }],
        },
      },
    },
  });

  const callsBefore = await awsCalls(metricsPort);
  const sampler = sample(asgName);
  say(`rotating ${nodes} nodes, batches of ${batch}, boot delay ${BOOT_DELAY_S}s`);
  const started = Date.now();
  await client.patch(InstanceGroupKind, scenario.namespace, 'rotation', {
    spec: { 'eks-cf': { configuration: { instanceType: 'm5.large' } } },
  });
  await eventually(
    'every node replaced and the group Ready',
    async () => {
      const g = await group();
      const rolling = g?.status?.conditions?.find((c) => c.type === 'RollingUpdate');
      if (g?.status?.currentState !== 'Ready' || rolling?.reason !== 'Complete') return false;
      const now = await scenario.nodesOf(asgName);
      return now.length === nodes && now.every((n) => !before.has(n.metadata?.name) && isReady(n));
    },
    3_600_000,
    1_000,
  );
  const wallS = (Date.now() - started) / 1000;
  const peak = await sampler.stop();
  const calls = (await awsCalls(metricsPort)) - callsBefore;
  say(`untouched NotReady nodes at peak: ${peak.untouched}`);
  const modelMinS = Math.ceil(nodes / batch) * BOOT_DELAY_S;
  console.log(
    `instance-rotation nodes=${nodes} batch=${batch} wall_s=${wallS.toFixed(1)} model_min_s=${modelMinS} ratio=${(wallS / modelMinS).toFixed(3)} peak_unavailable=${peak.ours} aws_calls=${calls}`,
  );
} finally {
  await controller.stop();
  await scenario.close();
  await env.stop();
}
