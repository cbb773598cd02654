// Chaos: upgrade-manager rotates a drifted group (RollingUpgrade, maxUnavailable 2) while AWS throttles 20 %
// of its calls, fails 5 % with HTTP 500 and adds latency, and its leader (of two replicas, leader election
// on the chart's Lease) is SIGKILLed three times, the first mid-drain. Invariants, checked from outside:
// never more than maxUnavailable nodes out (sampled from the apiserver), one terminate per old instance
// and none for the new ones (counted in the emulator), no node left cordoned by upgrade-manager, the
// upgrade completes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RollingUpgrade } from '@keiko/api';
import {
  ASG_NODE_LABEL,
  AsgScenario,
  buildApp,
  eventually,
  installChartCrds,
  kubeConfigFromEnv,
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
  killer,
  leftCordoned,
  NodeWatch,
  Replicas,
  report,
  seeded,
  type ChartController,
} from './support/harness';

const scenario = new AsgScenario<RollingUpgrade>({ bootDelayMs: 500 });
let bundle: string;
let chart: ChartController;
let ns: string;

beforeAll(async () => {
  bundle = buildApp('upgrade-manager');
  await installChartCrds(kubeConfigFromEnv(), 'upgrade-manager');
  await scenario.start();
  ns = await scenario.namespace('chaos-um');
  chart = await chartController('upgrade-manager', await scenario.namespace('chaos-um-system'));
}, 600_000);

afterAll(async () => {
  await scenario.cleanUp();
  await chart?.uninstall();
  cleanupWorkspace();
});

/** One rollout of `size` nodes; with `chaos`, under AWS faults and `kills` SIGKILLs of the leader. */
async function rollout(name: string, size: number, chaos: { seed: number; kills: number } | undefined) {
  const group = await scenario.createGroup(name, size);
  await scenario.workload(ns, group.name, {
    name,
    replicas: size,
    pdb: { maxUnavailable: 2, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
  });
  const old = await scenario.instances(group.name);
  await scenario.driftGroup(group);
  const faults = new AwsFaults(`um-${name}-${process.pid}`);
  if (chaos) await faults.on(chaos.seed);
  const replicas = await new Replicas({
    bundle,
    chart,
    name,
    faults,
    args: [
      `--namespace=${ns}`,
      '--poll-interval=0.3',
      '--aws-cache-ttl=1',
      '--lock-requeue=1',
      '--shutdown-grace=2',
    ],
  }).up();
  await replicas.leader();
  const watch = new NodeWatch(`${ASG_NODE_LABEL}=${group.name}`).start();
  const started = Date.now();
  await scenario.createRollingUpgrade(ns, name, {
    asgName: group.name,
    strategy: { maxUnavailable: 2 },
    postDrainDelaySeconds: 1,
  });
  let finished = false;
  const owner = new RegExp(`^upgrade-manager/${ns}/${name}$`);
  const kills = chaos
    ? killer(replicas, seeded(chaos.seed), {
        count: chaos.kills,
        trigger: async () =>
          (await watch.samples.at(-1)?.nodes.some((n) => owner.test(n.cordonedBy ?? ''))) ?? false,
        stop: () => finished,
        apiserverRestart: FULL,
      })
    : undefined;
  const load = chaos ? fullLoad() : undefined;
  try {
    const ru = await eventually(
      `${ns}/${name} finished`,
      async () => {
        const r = await scenario.getRollingUpgrade(ns, name);
        const s = r?.status?.currentStatus;
        return s === 'completed' || s === 'error' ? r : undefined;
      },
      FULL ? 600_000 : 300_000,
      300,
      async () => replicas.tail(),
    );
    const seconds = (Date.now() - started) / 1000;
    finished = true;
    const killedAt = (await kills?.done) ?? [];
    await watch.stop();
    const inv = new Invariants();
    inv.check(ru?.status?.currentStatus === 'completed', `the upgrade ended ${ru?.status?.currentStatus}`);
    const peak = watch.peakDown(size);
    inv.check(peak <= 2, `${peak} nodes out of service at once (maxUnavailable 2)`);
    const terminated = await faults.reached('TerminateInstanceInAutoScalingGroup');
    for (const id of old)
      inv.check(terminated.get(id) === 1, `instance ${id} terminated ${terminated.get(id) ?? 0} times`);
    for (const [id, n] of terminated) inv.check(old.includes(id), `new instance ${id} terminated ${n} times`);
    const now = await scenario.waitForNodes(group.name, size);
    inv.check(
      now.every((n) => !old.some((i) => n.spec?.providerID?.endsWith(i))),
      'an old node still in the group',
    );
    const cordoned = await leftCordoned(owner);
    inv.check(cordoned.length === 0, `left cordoned: ${cordoned.join(', ')}`);
    return {
      seconds,
      inv,
      killedAt,
      aws: await faults.summary(),
      processed: ru?.status?.nodesProcessed ?? 0,
    };
  } finally {
    finished = true;
    load?.stop();
    await watch.stop();
    await replicas.stop();
    await faults.off();
  }
}

describe('chaos: upgrade-manager', () => {
  it('a RollingUpgrade under AWS faults and leader SIGKILLs (the first mid-drain) keeps every invariant', async () => {
    const size = FULL ? 8 : 4;
    const baseline = FULL ? (await rollout('um-base', size, undefined)).seconds : undefined;
    const seed = chaosSeed('upgrade-manager');
    const run = await rollout('um-chaos', size, { seed, kills: KILLS });
    report({
      scenario: `upgrade-manager RollingUpgrade (${size} nodes, maxUnavailable 2)`,
      seed,
      faults: faultWords(),
      operations: `${run.processed}/${size} nodes replaced`,
      kills: run.killedAt.length,
      aws: run.aws,
      seconds: run.seconds,
      ...(baseline !== undefined ? { baselineSeconds: baseline } : {}),
      violations: run.inv.violations,
    });
    expect(run.killedAt.length).toBe(KILLS);
    expect(run.aws.throttled + run.aws.errors).toBeGreaterThan(0);
    expect(run.inv.violations).toEqual([]);
  }, 900_000);
});
