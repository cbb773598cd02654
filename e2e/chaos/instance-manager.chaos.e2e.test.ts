// Chaos: instance-manager's rolling update of an InstanceGroup (maxBatchSize 1 of 3, a new instance type)
// while AWS throttles 20 % of its calls, fails 5 % with HTTP 500 and adds latency, and its leader (of two
// replicas, leader election on the chart's Lease) is SIGKILLed three times, the first mid-drain.
// Invariants, from outside: never more than one node of the group out of service (apiserver samples), one
// terminate per old instance and none of a new one (counted in the emulator), no node left cordoned by
// instance-manager, the group back Ready on the new instance type.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
import { ResourceTypes } from '@keiko/kube-runtime';
import { createNamespace, eventually } from '@keiko/testenv';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import {
  build,
  chartIdentity,
  deleteAllGroups,
  startScenario,
  type ChartIdentity,
  type Scenario,
} from '../instance-manager/support';
import {
  AwsFaults,
  chaosSeed,
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

const NAME = 'hello-world-sandbox';
let s: Scenario;
let identity: ChartIdentity;
let chart: ChartController;
let systemNs: string;
let bundle: string;
let replicas: Replicas | undefined;
const faults = new AwsFaults(`im-${process.pid}`);
const ready = (ig: InstanceGroup) => ig.status?.currentState === 'Ready';

beforeAll(async () => {
  bundle = build('instance-manager');
  s = await startScenario('chaos-im');
  systemNs = `${s.namespace}-system`;
  await createNamespace(systemNs, { exact: true });
  identity = await chartIdentity(systemNs);
  chart = {
    rbac: identity.rbac,
    kubeconfig: identity.kubeconfig,
    leaseNamespace: identity.namespace,
    leaseName: identity.leaseName,
    tmp: fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-im-')),
    uninstall: () => identity.uninstall(),
  };
}, 600_000);

const loads: Array<{ stop: () => void } | undefined> = [];

afterAll(async () => {
  for (const l of loads) l?.stop();
  await faults.off().catch(() => undefined);
  if (s) await deleteAllGroups(s).catch((err: unknown) => console.error(String(err)));
  await replicas?.stop();
  await identity?.uninstall();
  if (systemNs) await s?.client.delete(ResourceTypes.Namespace, undefined, systemNs).catch(() => false);
  await s?.close();
  cleanupWorkspace();
}, 240_000);

/** The group Ready, and the controller's two replicas running: once, before the runs. */
async function bringUp(): Promise<string> {
  replicas = await new Replicas({
    bundle,
    chart,
    name: 'im',
    faults,
    identityArgs: identity.args,
    args: [`--namespace=${s.namespace}`, '--drain-timeout=60'],
  }).up();
  await s.apply(s.manifest('examples/instance-manager/hello-world-sandbox.yaml'));
  const up = await s.waitFor(NAME, 'Ready', ready, 180_000);
  return up.status?.activeScalingGroupName ?? '';
}

/** A rolling update to `instanceType` (template version `version`); with a seed, under faults and SIGKILLs. */
async function rotate(asg: string, instanceType: string, version: string, seed: number | undefined) {
  if (!replicas) throw new Error('bringUp first');
  const old = (await s.nodesOf(asg)).map((n) => n.spec?.providerID?.split('/').pop() ?? '');
  expect(old).toHaveLength(3);

  if (seed) await faults.on(seed);
  const watch = new NodeWatch(() => s.nodesOf(asg)).start();
  const owner = new RegExp(`^instance-manager/${s.namespace}/${NAME}$`);
  let finished = false;
  const kills = killer(replicas, seeded(seed ?? 1), {
    count: seed ? KILLS : 0,
    apiserverRestart: FULL && !!seed,
    trigger: async () => watch.samples.at(-1)?.nodes.some((n) => n.unschedulable) ?? false,
    stop: () => finished,
  });
  const load = seed ? fullLoad() : undefined;
  loads.push(load);
  const started = Date.now();
  await s.client.patch(InstanceGroupKind, s.namespace, NAME, {
    spec: {
      rollingUpdate: { pauseTime: 'PT2S' },
      'eks-cf': { configuration: { instanceType } },
    },
  });
  const done = await eventually(
    'every node replaced and the group Ready',
    async () => {
      const ig = await s.get(NAME);
      const nodes = await s.nodesOf(asg);
      return ig &&
        ready(ig) &&
        ig.status?.latestTemplateVersion === version &&
        nodes.length === 3 &&
        nodes.every((n) => !old.some((i) => n.spec?.providerID?.endsWith(i)))
        ? ig
        : undefined;
    },
    FULL ? 600_000 : 400_000,
    500,
    async () => `${await s.explain(NAME)}\n${replicas?.tail()}`,
  );
  const seconds = (Date.now() - started) / 1000;
  finished = true;
  load?.stop();
  const killedAt = await kills.done;
  await watch.stop();

  const inv = new Invariants();
  const peak = watch.peakDown(3);
  inv.check(peak <= 1, `${peak} nodes out of service at once (maxBatchSize 1)`);
  const terminated = await faults.reached('TerminateInstanceInAutoScalingGroup');
  for (const id of old)
    inv.check(terminated.get(id) === 1, `instance ${id} terminated ${terminated.get(id) ?? 0} times`);
  for (const [id, n] of terminated) inv.check(old.includes(id), `new instance ${id} terminated ${n} times`);
  const nodes = await s.nodesOf(asg);
  inv.check(
    nodes.every((n) => n.metadata?.labels?.['node.kubernetes.io/instance-type'] === instanceType),
    'a node not on the new instance type',
  );
  const cordoned = await leftCordoned(owner);
  inv.check(cordoned.length === 0, `left cordoned: ${cordoned.join(', ')}`);
  const aws = await faults.summary();
  await faults.off();
  return { seconds, inv, killedAt, aws, replaced: old.length, state: done.status?.currentState };
}

describe('chaos: instance-manager', () => {
  it('a rolling update under AWS faults and leader SIGKILLs (the first mid-drain) keeps every invariant', async () => {
    const asg = await bringUp();
    const baseline = FULL ? (await rotate(asg, 'm3.large', '2', undefined)).seconds : undefined;
    const seed = chaosSeed('instance-manager');
    const run = await rotate(asg, FULL ? 'c5.large' : 'm3.large', FULL ? '3' : '2', seed);
    report({
      scenario: 'instance-manager rolling update (3 nodes, maxBatchSize 1)',
      seed,
      faults: faultWords(),
      operations: `${run.replaced}/3 nodes replaced, group ${run.state}`,
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
