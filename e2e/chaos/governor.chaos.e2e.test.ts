// Chaos: governor's node reaper (reap node, two replicas with leader election on the chart's Lease) reaps
// the dead nodes of a group — kubelets gone, Ready Unknown for 15 minutes — while AWS throttles 20 % of its
// calls, fails 5 % with HTTP 500 and adds latency, and its leader is SIGKILLed three times, the first
// mid-drain (a PodDisruptionBudget holds each drain until --drain-timeout). Invariants, from outside: each
// dead instance terminated once and no live one (counted in the emulator), never more terminations than
// --max-kill-nodes, never a live node cordoned, no node left cordoned by governor, the group back to its
// size with Ready nodes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { ASG_NODE_LABEL, AsgScenario, buildApp, eventually } from '@keiko/testenv';
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
  type ChartController,
} from './support/harness';

const scenario = new AsgScenario({ bootDelayMs: 300 });
const client = new KubeClient(scenario.kc);
const core = scenario.kc.makeApiClient(k8s.CoreV1Api);
let bundle: string;
let chart: ChartController;
let replicas: Replicas | undefined;
const faults = new AwsFaults(`gov-${process.pid}`);

/** What a dead kubelet leaves: KWOK lets go of the node, whose Ready has been Unknown for 15 minutes. */
async function killKubelet(node: string): Promise<void> {
  await client.patch(ResourceTypes.Node, undefined, node, {
    metadata: { annotations: { 'kwok.x-k8s.io/status': 'custom' } },
  });
  const since = new Date(Date.now() - 15 * 60_000).toISOString();
  const n = await core.readNode({ name: node });
  const conditions = (n.status?.conditions ?? []).map((c) =>
    c.type === 'Ready'
      ? {
          ...c,
          status: 'Unknown',
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
          lastTransitionTime: since,
        }
      : c,
  );
  await client.patch(
    ResourceTypes.Node,
    undefined,
    node,
    { status: { conditions } },
    { subresource: 'status', type: 'strategic' },
  );
}
const instanceOf = (n: k8s.V1Node) => n.spec?.providerID?.split('/').pop() ?? '';

beforeAll(async () => {
  bundle = buildApp('governor');
  await scenario.start();
  chart = await chartController('governor', await scenario.namespace('chaos-gov-system'));
}, 600_000);

const loads: Array<{ stop: () => void } | undefined> = [];

afterAll(async () => {
  for (const l of loads) l?.stop();
  await faults.off().catch(() => undefined);
  await replicas?.stop();
  await scenario.cleanUp();
  await chart?.uninstall();
  cleanupWorkspace();
});

/** One reap of `deadCount` dead nodes in a group of `size`; with a seed, under faults and leader SIGKILLs. */
async function reapRun(seed: number | undefined) {
  const size = FULL ? 8 : 5;
  const deadCount = 2;
  const group = await scenario.createGroup(seed ? 'chaos-gov' : 'chaos-gov-base', size);
  const ns = await scenario.namespace('chaos-gov-work');
  // Every pod guarded: a drain waits on the budget until --drain-timeout, then the dead node goes anyway.
  await scenario.workload(ns, group.name, {
    name: 'web',
    replicas: size,
    onePerNode: true,
    pdb: { minAvailable: size },
  });
  const nodes = await scenario.nodes(group.name);
  const dead = nodes.slice(0, deadCount);
  const live = nodes.slice(deadCount);
  if (seed) await faults.on(seed);
  replicas = await new Replicas({
    bundle,
    chart,
    name: 'gov',
    faults,
    identityArgs: [`--state-configmap=${chart.rbac.serviceAccount.name}-state`],
    args: [
      'reap',
      'node',
      `--node-selector=${ASG_NODE_LABEL}=${group.name}`,
      '--reap-after=1',
      '--soft-reap=false',
      '--breaker-threshold=50',
      `--max-kill-nodes=${deadCount}`,
      '--reap-throttle=1',
      '--drain-timeout=6',
      '--sweep-interval=1',
      '--shutdown-grace=2',
    ],
  }).up();
  await replicas.leader();
  const watch = new NodeWatch(`${ASG_NODE_LABEL}=${group.name}`).start();
  let finished = false;
  const kills = killer(replicas, seeded(seed ?? 1), {
    count: seed ? KILLS : 0,
    apiserverRestart: FULL && !!seed,
    trigger: async () => watch.samples.at(-1)?.nodes.some((n) => n.cordonedBy === 'governor') ?? false,
    stop: () => finished,
  });
  const load = seed ? fullLoad() : undefined;
  loads.push(load);
  const started = Date.now();
  for (const n of dead) await killKubelet(n.metadata?.name ?? '');
  await eventually(
    `the group back at ${size} Ready nodes without the dead ones`,
    async () => {
      const now = await scenario.nodes(group.name);
      const fresh = now.filter((n) => isReady(n) && !dead.some((d) => d.metadata?.name === n.metadata?.name));
      return fresh.length === size && now.length === size ? true : undefined;
    },
    FULL ? 600_000 : 300_000,
    500,
    async () => replicas?.tail() ?? '',
  );
  const seconds = (Date.now() - started) / 1000;
  finished = true;
  load?.stop();
  const killedAt = await kills.done;
  await watch.stop();

  const inv = new Invariants();
  const terminated = await faults.reached('TerminateInstanceInAutoScalingGroup');
  for (const n of dead) {
    const id = instanceOf(n);
    inv.check(terminated.get(id) === 1, `dead instance ${id} terminated ${terminated.get(id) ?? 0} times`);
  }
  for (const n of live)
    inv.check(!terminated.has(instanceOf(n)), `live instance ${instanceOf(n)} terminated`);
  const total = [...terminated.values()].reduce((a, b) => a + b, 0);
  inv.check(total <= deadCount, `${total} terminations (max-kill-nodes ${deadCount})`);
  const liveNames = new Set(live.map((n) => n.metadata?.name));
  const cordonedLive = watch.samples.some((s) =>
    s.nodes.some((n) => liveNames.has(n.name) && n.unschedulable),
  );
  inv.check(!cordonedLive, 'a live node was cordoned');
  const cordoned = await leftCordoned(/^governor$/);
  inv.check(cordoned.length === 0, `left cordoned: ${cordoned.join(', ')}`);
  const aws = await faults.summary();
  await faults.off();
  await replicas.stop();
  replicas = undefined;
  return { seconds, inv, killedAt, aws, reaped: [...terminated.keys()].length, size, deadCount };
}

describe('chaos: governor', () => {
  it('reaping dead nodes under AWS faults and leader SIGKILLs (the first mid-drain) keeps every invariant', async () => {
    const baseline = FULL ? (await reapRun(undefined)).seconds : undefined;
    const seed = chaosSeed('governor');
    const run = await reapRun(seed);
    report({
      scenario: `governor reap node (${run.size} nodes, ${run.deadCount} dead)`,
      seed,
      faults: faultWords(),
      operations: `${run.reaped}/${run.deadCount} dead nodes reaped and replaced`,
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
