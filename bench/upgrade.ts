// npm run bench -- upgrade [nodes] [maxUnavailable]
// A RollingUpgrade rolls an Auto Scaling group of 50 simulated nodes (the AWS emulator's instances,
// made nodes by the harness's AsgNodeSimulator, each carrying pods) with maxUnavailable 5, run by the
// bundled controller as in its container. Fixed delays a batch cannot avoid: postDrainDelaySeconds
// after each drain, and the boot delay from a replacement instance being InService to its node
// joining. Prints one line:
// rolling-upgrade nodes=50 max_unavailable=5 wall_s=.. model_min_s=.. ratio=.. peak_unavailable=.. aws_calls=..
// where model_min = ceil(nodes / maxUnavailable) x (postDrainDelay + boot delay).
import type { RollingUpgrade } from '@keiko/api';
import {
  AsgScenario,
  buildApp,
  ControllerProcess,
  eventually,
  freePort,
  installChartCrds,
  kubeConfigFromEnv,
  startTestEnv,
} from '@keiko/testenv';
import { awsCalls } from './support/metrics';

const nodes = Number(process.argv[2] ?? 50);
const maxUnavailable = Number(process.argv[3] ?? 5);
const POST_DRAIN_DELAY_S = 5;
const BOOT_DELAY_S = 5;

const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const scenario = new AsgScenario<RollingUpgrade>({ bootDelayMs: BOOT_DELAY_S * 1000, pollIntervalMs: 100 });
let controller: ControllerProcess | undefined;
try {
  const bundle = buildApp('upgrade-manager');
  await installChartCrds(kubeConfigFromEnv(), 'upgrade-manager');
  await scenario.start();
  const ns = await scenario.namespace('bench-upgrade');
  say(`creating a group of ${nodes} instances and their nodes`);
  const group = await scenario.createGroup('bench', nodes, { maxSize: nodes * 2 });
  // One pod per node on average, evicted on every drain. No PodDisruptionBudget here (the e2e suite
  // covers budgets): on a loaded machine the simulated kubelets' leases lag, the node lifecycle
  // controller marks pods NotReady for good (the simulator never restores them), and a budget then
  // holds evictions for its 5 s retry interval — waits that measure the simulator, not the controller.
  await scenario.workload(ns, group.name, { name: 'web', replicas: nodes });
  await scenario.driftGroup(group);

  const metricsPort = await freePort();
  controller = new ControllerProcess({
    bundle,
    args: [
      `--namespace=${ns}`,
      '--leader-elect=false',
      `--metrics-port=${metricsPort}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      '--poll-interval=0.1',
      '--aws-cache-ttl=1',
      '--log-level=warn',
    ],
  }).start();
  await eventually('controller metrics endpoint', () => awsCalls(metricsPort).then(() => true), 30_000);
  const callsBefore = await awsCalls(metricsPort);

  // Sampled every 200 ms. Unavailable = capacity before the upgrade - Ready, schedulable nodes of the
  // group. Of those, the ones the upgrade took out (cordoned, or an instance replaced and its node not
  // back or not Ready yet) are peak_unavailable; nodes that had been Ready and went NotReady without
  // being touched (the simulated kubelets' leases lagging on a loaded machine) are reported apart, on
  // stderr.
  let peak = 0;
  let peakAll = 0;
  let peakNotReady = 0;
  let sampling = true;
  const isReady = (n: { status?: { conditions?: { type: string; status: string }[] } }) =>
    n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  let peakCordoned = 0;
  const everReady = new Set<string>();
  const sampler = (async () => {
    while (sampling) {
      const list = await scenario.nodes(group.name);
      for (const n of list) if (isReady(n)) everReady.add(n.metadata?.name ?? '');
      const available = list.filter((n) => !n.spec?.unschedulable && isReady(n)).length;
      // Ready before, NotReady now, and not cordoned: the simulated kubelet lagged; the upgrade never
      // makes a node NotReady. (A replacement not Ready yet is the upgrade's doing and counts.)
      const notReadyUntouched = list.filter(
        (n) => !n.spec?.unschedulable && !isReady(n) && everReady.has(n.metadata?.name ?? ''),
      ).length;
      peakAll = Math.max(peakAll, nodes - available);
      peakNotReady = Math.max(peakNotReady, notReadyUntouched);
      peakCordoned = Math.max(peakCordoned, list.filter((n) => n.spec?.unschedulable).length);
      peak = Math.max(peak, nodes - available - notReadyUntouched);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  say(
    `rolling ${nodes} nodes, maxUnavailable ${maxUnavailable}, postDrainDelaySeconds ${POST_DRAIN_DELAY_S}, boot delay ${BOOT_DELAY_S}s`,
  );
  const started = Date.now();
  await scenario.createRollingUpgrade(ns, 'bench', {
    asgName: group.name,
    postDrainDelaySeconds: POST_DRAIN_DELAY_S,
    strategy: { maxUnavailable },
  });
  const done = await eventually(
    'the upgrade to finish',
    async () => {
      const s = (await scenario.getRollingUpgrade(ns, 'bench'))?.status;
      return s?.currentStatus === 'completed' || s?.currentStatus === 'error' ? s : undefined;
    },
    1_800_000,
    100,
  );
  const wallS = (Date.now() - started) / 1000;
  sampling = false;
  await sampler;
  if (done.currentStatus !== 'completed' || done.nodesProcessed !== nodes)
    throw new Error(`upgrade ended ${done.currentStatus} with ${done.nodesProcessed}/${nodes} nodes`);
  const calls = (await awsCalls(metricsPort)) - callsBefore;
  say(
    `peak counting untouched NotReady nodes too: ${peakAll} (untouched NotReady at peak: ${peakNotReady}); peak cordoned: ${peakCordoned}`,
  );
  say(
    `per step (sum over nodes / count): ${(done.statistics ?? []).map((st) => `${st.stepName} ${st.durationSum}/${st.durationCount}`).join(', ')}`,
  );
  const modelMinS = Math.ceil(nodes / maxUnavailable) * (POST_DRAIN_DELAY_S + BOOT_DELAY_S);
  console.log(
    `rolling-upgrade nodes=${nodes} max_unavailable=${maxUnavailable} wall_s=${wallS.toFixed(1)} model_min_s=${modelMinS} ratio=${(wallS / modelMinS).toFixed(3)} peak_unavailable=${peak} aws_calls=${calls}`,
  );
} finally {
  await controller?.stop(10_000);
  await scenario.cleanUp();
  await env.stop();
}
