// upgrade-manager end to end: the bundled controller (dist/main.js, as in its image) against the test
// cluster and the AWS emulator. Each Auto Scaling group's instances appear as simulated nodes through
// packages/testenv's AsgNodeSimulator — the test harness playing the kubelet's part of registering a
// node for every new instance (and the cloud controller's part of removing it). The controller talks
// to AWS through a recording proxy, so the TerminateInstanceInAutoScalingGroup calls it makes are
// counted on the wire.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import type { RollingUpgrade } from '@keiko/api';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AsgScenario,
  buildApp,
  ControllerProcess,
  eventually,
  freePort,
  installChartCrds,
  kubeConfigFromEnv,
} from '@keiko/testenv';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { cleanupWorkspace } from '../../charts/test/support/charts';
import { writeKubeConfigAs } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';
import { AwsCallRecorder } from './support/aws-recorder';

const scenario = new AsgScenario<RollingUpgrade>({ bootDelayMs: 500 });
const client = new KubeClient(scenario.kc);
let bundle: string;
const recorder = new AwsCallRecorder(process.env.AWS_ENDPOINT_URL ?? '');
let ns: string;
let controller: ControllerProcess;
/** The chart's ServiceAccount and RBAC, as `helm install` creates them: the controller runs as it. */
let rbac: ChartRbac;
let tmp: string;
let kubeconfig: string;

/** The bundled controller as the chart's ServiceAccount (testenv's launcher), talking to AWS through the recorder. */
async function startController(
  leaderElection: string[] = ['--leader-elect=false'],
): Promise<ControllerProcess> {
  return new ControllerProcess({
    bundle,
    identity: { kubeconfig, namespace: rbac.serviceAccount.namespace },
    args: [
      `--namespace=${ns}`,
      ...leaderElection,
      `--metrics-port=${await freePort()}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      '--poll-interval=0.3',
      '--aws-cache-ttl=1',
      '--lock-requeue=1',
      '--shutdown-grace=2',
    ],
    env: { AWS_ENDPOINT_URL: recorder.endpoint },
  }).start();
}

const ready = (n: k8s.V1Node) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const get = (name: string) => scenario.getRollingUpgrade(ns, name);
const finished = (name: string, timeoutMs = 120_000) =>
  eventually(
    `${ns}/${name} finished`,
    async () => {
      const ru = await get(name);
      const s = ru?.status?.currentStatus;
      return s === 'completed' || s === 'error' ? (ru as RollingUpgrade) : undefined;
    },
    timeoutMs,
    200,
  );

/**
 * Samples the group every ~100 ms. Unavailable = capacity before the upgrade − Ready, schedulable nodes.
 * `byUpgrade` leaves out nodes that had been Ready and went NotReady without being touched (the
 * simulated kubelets' leases lag on a busy machine — the controller then waits, but cannot prevent it); `cordoned` counts what the
 * controller itself took out of service.
 */
function sampleUnavailable(
  group: string,
  capacity: number,
): { stop: () => Promise<{ all: number[]; byUpgrade: number[]; cordoned: number[] }> } {
  const all: number[] = [];
  const byUpgrade: number[] = [];
  const cordoned: number[] = [];
  let on = true;
  const loop = (async () => {
    const everReady = new Set<string>();
    while (on) {
      const nodes = await scenario.nodes(group);
      for (const n of nodes) if (ready(n)) everReady.add(n.metadata?.name ?? '');
      const available = nodes.filter((n) => ready(n) && !n.spec?.unschedulable).length;
      // Ready before, NotReady now, never cordoned: the simulated kubelet lagged (the upgrade never
      // makes a node NotReady). A replacement that is not Ready yet is the upgrade's doing and counts.
      const untouchedNotReady = nodes.filter(
        (n) => !ready(n) && !n.spec?.unschedulable && everReady.has(n.metadata?.name ?? ''),
      ).length;
      all.push(capacity - available);
      byUpgrade.push(capacity - available - untouchedNotReady);
      cordoned.push(nodes.filter((n) => n.spec?.unschedulable).length);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return { all, byUpgrade, cordoned };
    },
  };
}

beforeAll(async () => {
  bundle = buildApp('upgrade-manager');
  await installChartCrds(kubeConfigFromEnv(), 'upgrade-manager');
  await recorder.start();
  await scenario.start();
  ns = await scenario.namespace('um-e2e');
  // A missing permission in the chart's ClusterRole fails this suite: the controller is not admin.
  rbac = await installChartRbac('upgrade-manager', { namespace: await scenario.namespace('um-e2e-system') });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'um-e2e-'));
  kubeconfig = writeKubeConfigAs(rbac.serviceAccount, path.join(tmp, 'kubeconfig'));
  controller = await startController();
}, 180_000);

afterAll(async () => {
  await controller?.stop(10_000);
  await scenario.cleanUp();
  await recorder.stop();
  await rbac?.uninstall();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  cleanupWorkspace();
});

describe('upgrade-manager (bundled controller)', () => {
  it('replaces every drifted node with at most maxUnavailable down at any moment, and survives kill -9 without a second terminate', async () => {
    const group = await scenario.createGroup('roll', 6);
    // AlwaysAllow: a pod the node lifecycle controller marked NotReady (simulated kubelets lag on a busy
    // machine) may go; healthy pods are still guarded by the budget.
    await scenario.workload(ns, group.name, {
      name: 'web',
      replicas: 6,
      pdb: { maxUnavailable: 2, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });
    const old = await scenario.instances(group.name);
    await scenario.driftGroup(group);
    const sampler = sampleUnavailable(group.name, 6);

    await scenario.createRollingUpgrade(ns, 'roll', {
      asgName: group.name,
      strategy: { maxUnavailable: 2 },
      postDrainDelaySeconds: 1,
    });
    // Kill the controller right after its first terminate went out, mid-batch.
    await eventually('a first terminate', () => recorder.terminations().size > 0 || undefined, 90_000, 20);
    await controller.kill9();
    const atKill = (await get('roll'))?.status;
    expect(Object.keys(atKill?.inProcessingNodes ?? {}).length).toBeGreaterThan(0);
    controller = await startController();

    const ru = await finished('roll');
    const samples = await sampler.stop();
    expect(ru.status).toMatchObject({
      currentStatus: 'completed',
      nodesProcessed: 6,
      totalNodes: 6,
      completePercentage: '100%',
    });
    expect(samples.byUpgrade.length).toBeGreaterThan(50);
    expect(Math.max(...samples.byUpgrade)).toBeLessThanOrEqual(2);
    expect(Math.max(...samples.cordoned)).toBeLessThanOrEqual(2);
    expect(Math.max(...samples.byUpgrade)).toBe(2); // it did take two at a time
    if (Math.max(...samples.all) > 2)
      console.warn(
        `untouched nodes went NotReady during the rollout (simulator lag): peak ${Math.max(...samples.all)} counting them`,
      );
    // exactly one terminate per old instance, none for the new ones
    const terminations = recorder.terminations();
    expect([...terminations.keys()].sort()).toEqual([...old].sort());
    expect([...terminations.values()].every((n) => n === 1)).toBe(true);
    const now = await scenario.instances(group.name);
    expect(now.filter((i) => old.includes(i))).toEqual([]);
    expect((await scenario.waitForNodes(group.name, 6)).filter((n) => n.spec?.unschedulable)).toEqual([]);
  }, 240_000);

  it('two replicas with leader election: the leader killed with SIGKILL mid-rollout, the standby takes over; one terminate per instance, never more than maxUnavailable down', async () => {
    await controller.stop(10_000);
    // The chart's Lease: its leader-election Role allows that one name only.
    const leaseNs = rbac.serviceAccount.namespace;
    const leaseName = rbac.leaseName ?? '';
    const replica = (id: string) =>
      startController([
        '--leader-elect=true',
        `--leader-election-namespace=${leaseNs}`,
        `--leader-election-id=${leaseName}`,
        `--leader-election-identity=${id}`,
        '--lease-duration=4',
        '--renew-deadline=3',
        '--retry-period=1',
      ]);
    const replicas = new Map([
      ['replica-a', await replica('replica-a')],
      ['replica-b', await replica('replica-b')],
    ]);
    const holder = async () =>
      (await client.get<k8s.V1Lease>(ResourceTypes.Lease, leaseNs, leaseName))?.spec?.holderIdentity;
    let sampler: ReturnType<typeof sampleUnavailable> | undefined;
    try {
      const group = await scenario.createGroup('handover', 4);
      await scenario.workload(ns, group.name, {
        name: 'api',
        replicas: 4,
        pdb: { maxUnavailable: 2, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
      });
      const old = await scenario.instances(group.name);
      await scenario.driftGroup(group);
      sampler = sampleUnavailable(group.name, 4);
      await scenario.createRollingUpgrade(ns, 'handover', {
        asgName: group.name,
        strategy: { maxUnavailable: 2 },
        postDrainDelaySeconds: 1,
      });
      const explain = async () =>
        `lease holder: ${await holder()}\n` +
        [...replicas].map(([id, r]) => `${id}:\n${r.log.slice(-15).join('\n')}`).join('\n');
      await eventually(
        'a first terminate',
        () => old.some((i) => recorder.terminations().has(i)) || undefined,
        90_000,
        20,
        explain,
      );
      const leader = (await holder()) ?? '';
      expect([...replicas.keys()]).toContain(leader);
      await replicas.get(leader)?.kill9();
      const standby = [...replicas.keys()].find((id) => id !== leader) ?? '';
      await eventually(
        `${standby} leads`,
        async () => ((await holder()) === standby ? true : undefined),
        60_000,
      );

      const ru = await finished('handover', 180_000);
      const samples = await sampler.stop();
      expect(ru.status).toMatchObject({ currentStatus: 'completed', nodesProcessed: 4 });
      expect(Math.max(...samples.byUpgrade)).toBeLessThanOrEqual(2);
      expect(Math.max(...samples.cordoned)).toBeLessThanOrEqual(2);
      const terminations = recorder.terminations();
      expect(old.map((i) => terminations.get(i))).toEqual(old.map(() => 1));
      expect((await scenario.waitForNodes(group.name, 4)).filter((n) => n.spec?.unschedulable)).toEqual([]);
    } finally {
      await sampler?.stop();
      for (const r of replicas.values()) await r.stop(10_000);
      controller = await startController();
    }
  }, 300_000);

  it('a PodDisruptionBudget blocking a drain past drainTimeout fails that node with the pod and PDB named; the rest is replaced', async () => {
    const group = await scenario.createGroup('pdb', 2);
    await scenario.workload(ns, group.name, { name: 'db', replicas: 1, pdb: { minAvailable: 1 } });
    const pinned = (
      await client.list<k8s.V1Pod>(
        { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
        { namespace: ns, labelSelector: 'app=db' },
      )
    ).items[0];
    const pinnedNode = pinned?.spec?.nodeName ?? '';
    const pinnedInstance =
      (await scenario.nodes(group.name))
        .find((n) => n.metadata?.name === pinnedNode)
        ?.spec?.providerID?.split('/')
        .pop() ?? '';
    await scenario.driftGroup(group);

    await scenario.createRollingUpgrade(ns, 'pdb', {
      asgName: group.name,
      strategy: { maxUnavailable: 1, drainTimeout: 3 },
    });
    const ru = await finished('pdb');
    expect(ru.status?.currentStatus).toBe('error');
    expect(ru.status?.nodesProcessed).toBe(1);
    const complete = ru.status?.conditions?.find((c) => c.type === 'Complete');
    expect(complete).toMatchObject({ status: 'False', reason: 'DrainFailed' });
    expect(complete?.message).toContain(`pod ${pinned?.metadata?.namespace}/${pinned?.metadata?.name}`);
    expect(complete?.message).toContain(`PodDisruptionBudget ${ns}/db`);
    expect(ru.status?.drainFailures).toEqual([
      expect.objectContaining({
        nodeName: pinnedNode,
        instanceID: pinnedInstance,
        reason: 'DisruptionBudget',
        attempts: 2,
        pods: [`${ns}/${pinned?.metadata?.name}`],
        podDisruptionBudgets: [`${ns}/db`],
      }),
    ]);
    // the node stays in service, uncordoned; its instance was never terminated
    const node = (await scenario.nodes(group.name)).find((n) => n.metadata?.name === pinnedNode);
    expect(node?.spec?.unschedulable).toBeFalsy();
    expect(recorder.terminations().has(pinnedInstance)).toBe(false);
    // Events follow the status write they belong to.
    const events = await eventually('the Failed event', async () => {
      const list = await scenario.events(ns, 'pdb');
      return list.some((e) => e.reason === 'Failed') ? list : undefined;
    });
    expect(events.filter((e) => e.reason === 'DrainFailed' && e.type === 'Warning').length).toBeGreaterThan(
      0,
    );
    expect(events.find((e) => e.reason === 'Failed')?.message).toContain(`PodDisruptionBudget ${ns}/db`);
  }, 180_000);

  it('a second RollingUpgrade on the same group waits, says so, and runs after the first', async () => {
    const group = await scenario.createGroup('lock', 2);
    await scenario.driftGroup(group);
    await scenario.createRollingUpgrade(ns, 'first', { asgName: group.name, postDrainDelaySeconds: 2 });
    await eventually(
      'first running',
      async () => (await get('first'))?.status?.currentStatus === 'running' || undefined,
    );
    await scenario.createRollingUpgrade(ns, 'second', { asgName: group.name });
    const waiting = await eventually('second waiting', async () => {
      const c = (await get('second'))?.status?.conditions?.find((x) => x.type === 'Progressing');
      return c?.reason === 'WaitingForScalingGroup' ? c : undefined;
    });
    expect(waiting).toMatchObject({
      status: 'False',
      message: `RollingUpgrade ${ns}/first is rotating ASG ${group.name}`,
    });
    expect((await get('second'))?.status?.currentStatus).toBe('init');
    await eventually('the WaitingForScalingGroup event', async () =>
      (await scenario.events(ns, 'second')).find((e) => e.reason === 'WaitingForScalingGroup'),
    );
    expect((await finished('first')).status?.currentStatus).toBe('completed');
    const second = await finished('second');
    expect(second.status).toMatchObject({ currentStatus: 'completed', nodesProcessed: 0 });
  }, 180_000);

  it('deleting a RollingUpgrade mid-drain stops it and uncordons the node it cordoned', async () => {
    const group = await scenario.createGroup('delete', 2);
    await scenario.workload(ns, group.name, {
      name: 'stuck',
      replicas: 2,
      pdb: { minAvailable: 2 },
      onePerNode: true,
    });
    await scenario.driftGroup(group);
    const before = await scenario.instances(group.name);
    await scenario.createRollingUpgrade(ns, 'delete', { asgName: group.name });
    const cordoned = await eventually('a node cordoned by the upgrade', async () =>
      (await scenario.nodes(group.name)).find(
        (n) =>
          n.spec?.unschedulable &&
          n.metadata?.annotations?.['keiko.io/cordoned-by'] === `upgrade-manager/${ns}/delete`,
      ),
    );
    await client.delete(
      {
        group: 'upgrademgr.keikoproj.io',
        version: 'v1alpha1',
        plural: 'rollingupgrades',
        kind: 'RollingUpgrade',
        namespaced: true,
      },
      ns,
      'delete',
    );
    await eventually('the RollingUpgrade gone', async () => ((await get('delete')) ? undefined : true));
    const node = (await scenario.nodes(group.name)).find((n) => n.metadata?.name === cordoned.metadata?.name);
    expect(node?.spec?.unschedulable).toBeFalsy();
    expect(node?.metadata?.annotations?.['keiko.io/cordoned-by']).toBeUndefined();
    expect(before.some((i) => recorder.terminations().has(i))).toBe(false);
    expect(await scenario.instances(group.name)).toEqual(before);
  }, 120_000);

  it('dry run writes the plan and changes nothing', async () => {
    const group = await scenario.createGroup('dry', 3);
    await scenario.driftGroup(group);
    const before = await scenario.instances(group.name);
    const nodes = (await scenario.nodes(group.name)).map((n) => n.metadata?.name).sort();
    await scenario.createRollingUpgrade(ns, 'dry', {
      asgName: group.name,
      dryRun: true,
      strategy: { maxUnavailable: 2 },
    });
    const ru = await eventually('a plan', async () => {
      const r = await get('dry');
      return r?.status?.plan?.length ? r : undefined;
    });
    expect(ru.status?.plan?.map((b) => b.nodes.length)).toEqual([2, 1]);
    expect(ru.status?.plan?.flatMap((b) => b.nodes).sort()).toEqual(nodes);
    expect(ru.status?.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'False',
      reason: 'DryRun',
    });
    expect(ru.metadata.finalizers ?? []).toEqual([]);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await scenario.nodes(group.name)).filter((n) => n.spec?.unschedulable)).toEqual([]);
    expect(await scenario.instances(group.name)).toEqual(before);
    expect(before.some((i) => recorder.terminations().has(i))).toBe(false);
    expect(recorder.find('SetDesiredCapacity')).toEqual([]);
    expect((await get('dry'))?.status?.currentStatus).toBe('init');
  }, 120_000);

  it("was never refused a request (403) under the chart's RBAC", () => {
    expect(controller.lines(/forbidden|"statusCode":403|: 403 /i)).toEqual([]);
  });
});
