// The controller in-process against the real test cluster and the AWS emulator. Groups' instances
// appear as nodes through packages/testenv's AsgNodeSimulator, which plays the kubelet's part.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RollingUpgrade, RollingUpgradeStatus } from '@keiko/api';
import { AwsOperationError } from '@keiko/aws';
import { Manager, ResourceTypes, type ResourceType } from '@keiko/kube-runtime';
import type { V1Job } from '@kubernetes/client-node';
import { DisruptionLocks } from '@keiko/node-ops';
import { eventually, kubeConfigFromEnv } from '@keiko/testenv';
import { parseConfig } from '../src/config';
import {
  addRollingUpgradeController,
  type RollingUpgradeControllerHandle,
} from '../src/rollingupgrade/controller';
import { FINALIZER, ownerId } from '../src/rollingupgrade/plan';
import { installCrd, RU, Scenario } from './support/scenario';

const scenario = new Scenario();

interface Running {
  mgr: Manager;
  handle: RollingUpgradeControllerHandle;
  terminated: string[];
  stop(): Promise<void>;
}

async function startController(namespace: string, args: string[] = []): Promise<Running> {
  const cfg = parseConfig([
    'node',
    'upgrade-manager',
    `--namespace=${namespace}`,
    '--leader-elect=false',
    '--metrics-port=0',
    '--health-port=0',
    '--poll-interval=0.3',
    '--aws-cache-ttl=1',
    '--lock-requeue=1',
    '--log-level=error',
    ...args,
  ]);
  const mgr = new Manager('upgrade-manager', cfg.manager, { kubeConfig: kubeConfigFromEnv() });
  const handle = addRollingUpgradeController(mgr, cfg.controller);
  // Count terminate calls at the port: what the controller asks AWS to do.
  const ports = handle.aws.for('us-west-2');
  const terminated: string[] = [];
  const original = ports.autoScaling.terminateInstanceInGroup.bind(ports.autoScaling);
  ports.autoScaling.terminateInstanceInGroup = (id, o) => {
    terminated.push(id);
    return original(id, o);
  };
  const done = mgr.start({ handleSignals: false });
  return {
    mgr,
    handle,
    terminated,
    async stop() {
      await mgr.stop();
      await done;
    },
  };
}

const SCRIPT_FLAGS = [
  '--scripts-enabled=true',
  '--scripts-image=busybox:1.37',
  '--scripts-service-account=node-scripts',
  '--scripts-timeout=120',
];
const JOB: ResourceType = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true };
const jobsIn = async (ns: string) => (await scenario.client.list<V1Job>(JOB, { namespace: ns })).items;

const statusOf = async (ns: string, name: string) => (await scenario.getRollingUpgrade(ns, name))?.status;
const completed = (ns: string, name: string, timeoutMs = 90_000) =>
  eventually(
    `${ns}/${name} completed`,
    async () => {
      const s = await statusOf(ns, name);
      if (s?.currentStatus === 'error') throw new Error(`upgrade failed: ${JSON.stringify(s.conditions)}`);
      return s?.currentStatus === 'completed' ? s : undefined;
    },
    timeoutMs,
  );

beforeAll(async () => {
  await installCrd();
  await scenario.start();
});
afterAll(async () => {
  await scenario.cleanUp();
});

describe('RollingUpgrade controller (in-process)', () => {
  it('replaces every drifted node, emits the events, records statistics and metrics', async () => {
    const ns = await scenario.namespace('ru-basic');
    const group = await scenario.createGroup('basic', 3);
    await scenario.workload(ns, group.name, {
      replicas: 3,
      pdb: { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });
    const before = await scenario.instances(group.name);
    await scenario.driftGroup(group);
    const ctl = await startController(ns);
    try {
      await scenario.createRollingUpgrade(ns, 'basic', { asgName: group.name, postDrainDelaySeconds: 1 });
      const status = await completed(ns, 'basic');
      expect(status).toMatchObject({
        currentStatus: 'completed',
        totalNodes: 3,
        nodesProcessed: 3,
        completePercentage: '100%',
      });
      expect(status.startTime).toBeDefined();
      expect(status.endTime).toBeDefined();
      expect(status.conditions?.find((c) => c.type === 'Complete')).toMatchObject({ status: 'True' });
      expect(status.conditions?.find((c) => c.type === 'SpecValid')).toMatchObject({ status: 'True' });
      const steps = Object.fromEntries((status.statistics ?? []).map((s) => [s.stepName, s.durationCount]));
      expect(steps).toMatchObject({ drain: 3, post_wait: 3, terminate: 3, post_terminate: 3, total: 3 });

      expect([...ctl.terminated].sort()).toEqual([...before].sort());
      const after = await scenario.instances(group.name);
      expect(after.filter((i) => before.includes(i))).toEqual([]);
      // every new node Ready and schedulable; the workload running on them
      const nodes = await scenario.waitForNodes(group.name, 3);
      expect(nodes.filter((n) => n.spec?.unschedulable)).toEqual([]);

      // Events follow the status write they belong to: give the last one a moment.
      const reasons = await eventually('the Completed event', async () => {
        const list = (await scenario.events(ns, 'basic')).map((e) => e.reason);
        return list.includes('Completed') ? list : undefined;
      });
      for (const r of [
        'Started',
        'BatchStarted',
        'NodeDrained',
        'NodeTerminated',
        'NodeReplaced',
        'BatchCompleted',
      ])
        expect(reasons).toContain(r);

      // Metrics too follow the status write (and the gauge reads the informer's cache).
      const text = await eventually('the metrics of the finished upgrade', async () => {
        const t = await ctl.mgr.metrics.registry.metrics();
        return /keiko_upgrade_manager_rollingupgrades\{status="completed"\} 1/.test(t) &&
          /nodes_processed_total 3/.test(t)
          ? t
          : undefined;
      });
      expect(text).toMatch(/keiko_upgrade_manager_nodes_processed_total 3/);
      expect(text).toMatch(/keiko_upgrade_manager_node_step_duration_seconds_count\{step="drain"\} 3/);
      expect(text).toMatch(/keiko_upgrade_manager_rollingupgrades\{status="completed"\} 1/);
      expect(text).toMatch(
        /keiko_aws_api_calls_total\{service="autoscaling",operation="TerminateInstanceInAutoScalingGroup",outcome="success"\} 3/,
      );
      // finished: the finalizer is released (right after the final status write)
      await eventually(
        'the finalizer released',
        async () =>
          !((await scenario.getRollingUpgrade(ns, 'basic'))?.metadata.finalizers ?? []).includes(FINALIZER),
      );
    } finally {
      await ctl.stop();
    }
  });

  it('resumes from a recorded terminate step: terminates what was not, never what already was', async () => {
    const ns = await scenario.namespace('ru-resume');
    const group = await scenario.createGroup('resume', 3);
    await scenario.driftGroup(group);
    const [a, b] = await scenario.instances(group.name);
    const nodeOf = async (id: string) =>
      (await scenario.nodes(group.name)).find((n) => n.spec?.providerID?.endsWith(`/${id}`))?.metadata
        ?.name ?? '';
    const nodeA = await nodeOf(a!);
    const nodeB = await nodeOf(b!);
    // A previous process recorded both at "terminate", called terminate for A, then died.
    const ru = await scenario.createRollingUpgrade(ns, 'resume', {
      asgName: group.name,
      strategy: { maxUnavailable: 2 },
    });
    await scenario.client.patch<RollingUpgrade>(RU, ns, 'resume', { metadata: { finalizers: [FINALIZER] } });
    const at = new Date(Date.now() - 5000).toISOString();
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: `${at.slice(0, 19)}Z`,
      totalNodes: 3,
      nodesProcessed: 0,
      inProcessingNodes: {
        [nodeA]: {
          nodeName: nodeA,
          instanceID: a,
          stepName: 'terminate',
          upgradeStartTime: at,
          stepStartTime: at,
        },
        [nodeB]: {
          nodeName: nodeB,
          instanceID: b,
          stepName: 'terminate',
          upgradeStartTime: at,
          stepStartTime: at,
        },
      },
    };
    await scenario.client.patch(RU, ns, 'resume', { status }, { subresource: 'status' });
    for (const n of [nodeA, nodeB]) {
      await scenario.client.patch(ResourceTypes.Node, undefined, n, {
        metadata: { annotations: { 'keiko.io/cordoned-by': ownerId(ru) } },
        spec: { unschedulable: true },
      });
    }
    await scenario.aws.autoScaling.terminateInstanceInGroup(a!, { decrementDesired: false });

    const ctl = await startController(ns);
    try {
      const done = await completed(ns, 'resume');
      expect(done.nodesProcessed).toBe(3);
      expect(ctl.terminated.filter((id) => id === a)).toEqual([]);
      expect(ctl.terminated.filter((id) => id === b)).toEqual([b]);
      expect(ctl.terminated).toHaveLength(2); // b, and the third instance in the next batch
      const events = await scenario.events(ns, 'resume');
      expect(events.find((e) => e.reason === 'TerminateSkipped')?.message).toContain(a);
    } finally {
      await ctl.stop();
    }
  });

  it('eager mode launches the surge first, never more than once, and returns to the original capacity', async () => {
    const ns = await scenario.namespace('ru-eager');
    const group = await scenario.createGroup('eager', 2, { maxSize: 4 });
    await scenario.driftGroup(group);
    const ctl = await startController(ns);
    let maxDesired = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const g = await scenario.aws.autoScaling.describeGroup(group.name);
        maxDesired = Math.max(maxDesired, g?.desiredCapacity ?? 0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await scenario.createRollingUpgrade(ns, 'eager', {
        asgName: group.name,
        strategy: { mode: 'eager', maxUnavailable: 2 },
      });
      const status = await completed(ns, 'eager');
      expect(status.nodesProcessed).toBe(2);
      expect(status.surge).toBeUndefined();
      const g = await scenario.aws.autoScaling.describeGroup(group.name);
      expect(g?.desiredCapacity).toBe(2);
      expect(maxDesired).toBe(4);
      expect((await scenario.events(ns, 'eager')).map((e) => e.reason)).toContain('SurgeLaunched');
    } finally {
      sampling = false;
      await sampler;
      await ctl.stop();
    }
  });

  it('backs off when AWS throttles instead of retrying in a loop', async () => {
    const ns = await scenario.namespace('ru-throttle');
    const ctl = await startController(ns);
    const ports = ctl.handle.aws.for('us-west-2');
    let describes = 0;
    ports.autoScaling.describeGroup = async () => {
      describes++;
      throw new AwsOperationError(
        { service: 'autoscaling', operation: 'DescribeAutoScalingGroups', subject: 'group x' },
        Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }),
      );
    };
    try {
      await scenario.createRollingUpgrade(ns, 'throttled', { asgName: `does-not-matter-${ns}` });
      const event = await eventually('AwsThrottled event', async () =>
        (await scenario.events(ns, 'throttled')).find((e) => e.reason === 'AwsThrottled'),
      );
      expect(event.type).toBe('Warning');
      const seen = describes;
      await new Promise((r) => setTimeout(r, 6000));
      // Backoff 5 s, then 10 s, 20 s...: a couple of calls in 6 s (one more may come from the status
      // write's own watch event); a hot loop would make hundreds.
      expect(describes - seen).toBeLessThanOrEqual(4);
      expect((await statusOf(ns, 'throttled'))?.currentStatus).not.toBe('error');
    } finally {
      await ctl.stop();
    }
  });

  it('runs scripts as Jobs (image, ServiceAccount, env, deadline), one per node and phase across a restart', async () => {
    const ns = await scenario.namespace('ru-scripts');
    await scenario.client.create(ResourceTypes.ServiceAccount, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'node-scripts', namespace: ns },
    });
    const group = await scenario.createGroup('scripts', 2);
    await scenario.driftGroup(group);
    const before = await scenario.instances(group.name);
    const oldNodes = (await scenario.nodes(group.name)).map((n) => n.metadata?.name ?? '');
    let ctl = await startController(ns, SCRIPT_FLAGS);
    try {
      const ru = await scenario.createRollingUpgrade(ns, 'scripts', {
        asgName: group.name,
        preDrain: { script: 'echo "pre $INSTANCE_ID $INSTANCE_NAME $ASG_NAME"' },
        postDrain: { script: 'echo post', waitSeconds: 1, postWaitScript: 'echo waited' },
        postTerminate: { script: 'echo gone' },
      });
      // A restart (a new leader) while the first script runs: it finds that Job instead of making another.
      const first = await eventually('the first script Job', async () => (await jobsIn(ns))[0], 60_000);
      await ctl.stop();
      ctl = await startController(ns, SCRIPT_FLAGS);
      const status = await completed(ns, 'scripts', 180_000);
      expect(status.nodesProcessed).toBe(2);
      const jobs = await jobsIn(ns);
      const phases = (j: V1Job) =>
        `${j.metadata?.annotations?.['upgrademgr.keikoproj.io/node']} ${j.metadata?.labels?.['upgrademgr.keikoproj.io/script-phase']}`;
      expect(jobs.map(phases).sort()).toEqual(
        oldNodes
          .flatMap((n) => ['postDrain', 'postTerminate', 'postWait', 'preDrain'].map((p) => `${n} ${p}`))
          .sort(),
      );
      expect(jobs.find((j) => j.metadata?.name === first.metadata?.name)?.metadata?.uid).toBe(
        first.metadata?.uid,
      );
      for (const job of jobs) {
        expect(job.status?.conditions?.find((c) => c.type === 'Complete')?.status).toBe('True');
        expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 120 });
        expect(job.spec?.ttlSecondsAfterFinished).toBeGreaterThanOrEqual(3600);
        expect(job.metadata?.ownerReferences?.[0]).toMatchObject({
          kind: 'RollingUpgrade',
          uid: ru.metadata.uid,
        });
        const pod = job.spec?.template.spec;
        expect(pod?.serviceAccountName).toBe('node-scripts');
        const container = pod?.containers[0];
        expect(container?.image).toBe('busybox:1.37');
        expect(container?.command?.slice(0, 2)).toEqual(['/bin/sh', '-c']);
        const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
        expect(before).toContain(env.INSTANCE_ID);
        expect(env.INSTANCE_NAME).toBe(job.metadata?.annotations?.['upgrademgr.keikoproj.io/node']);
        expect(env).toMatchObject({
          ASG_NAME: group.name,
          ROLLING_UPGRADE_NAME: 'scripts',
          ROLLING_UPGRADE_NAMESPACE: ns,
        });
      }
      const steps = Object.fromEntries((status.statistics ?? []).map((s) => [s.stepName, s.durationCount]));
      expect(steps).toMatchObject({
        predrain_script: 2,
        postdrain_script: 2,
        post_wait: 2,
        post_terminate: 2,
      });
      const reasons = (await scenario.events(ns, 'scripts')).map((e) => e.reason);
      expect(reasons).toEqual(expect.arrayContaining(['ScriptStarted', 'ScriptSucceeded']));

      // Deleted with the RollingUpgrade.
      await scenario.client.delete(RU, ns, 'scripts');
      await eventually(
        'the script Jobs deleted with the upgrade',
        async () => (await jobsIn(ns)).length === 0,
      );
    } finally {
      await ctl.stop();
    }
  });

  it('a script Job that fails stops the upgrade, names the Job, the phase and the reason, and uncordons the node', async () => {
    // No ServiceAccount for the scripts in this namespace: the Job never gets a pod, and the real Job
    // controller fails it once its activeDeadlineSeconds (--scripts-timeout) has passed.
    const ns = await scenario.namespace('ru-script-fails');
    const group = await scenario.createGroup('script-fails', 1);
    await scenario.driftGroup(group);
    const [nodeName] = (await scenario.nodes(group.name)).map((n) => n.metadata?.name ?? '');
    const ctl = await startController(ns, [...SCRIPT_FLAGS, '--scripts-timeout=3']);
    try {
      await scenario.createRollingUpgrade(ns, 'fails', {
        asgName: group.name,
        postDrain: { script: 'true' },
      });
      const status = await eventually(
        'the upgrade stopped in error',
        async () => {
          const s = await statusOf(ns, 'fails');
          return s?.currentStatus === 'error' ? s : undefined;
        },
        90_000,
      );
      const [job] = await jobsIn(ns);
      expect(job?.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({
        status: 'True',
        reason: 'DeadlineExceeded',
      });
      expect(job?.spec?.activeDeadlineSeconds).toBe(3);
      const complete = status.conditions?.find((c) => c.type === 'Complete');
      expect(complete).toMatchObject({ status: 'False', reason: 'ScriptFailed' });
      expect(complete?.message).toContain(
        `postDrain script (spec.postDrain.script) of node ${nodeName} failed`,
      );
      expect(complete?.message).toContain(`Job ${ns}/${job?.metadata?.name}: DeadlineExceeded`);
      const warning = await eventually('the ScriptFailed event', async () =>
        (await scenario.events(ns, 'fails')).find((e) => e.reason === 'ScriptFailed'),
      );
      expect(warning.type).toBe('Warning');
      expect(warning.message).toContain(`${nodeName} uncordoned`);
      // The node was drained and cordoned before the script: given back, and its instance kept.
      await eventually('the node uncordoned', async () => {
        const n = (await scenario.nodes(group.name)).find((x) => x.metadata?.name === nodeName);
        return n && !n.spec?.unschedulable;
      });
      expect(ctl.terminated).toEqual([]);
      expect(status.inProcessingNodes?.[nodeName ?? '']?.stepName).toBe('postdrain_script');
    } finally {
      await ctl.stop();
    }
  });

  it('scripts disabled: an upgrade that sets scripts waits and says how to enable them; ignoreScripts proceeds', async () => {
    const ns = await scenario.namespace('ru-scripts-off');
    const group = await scenario.createGroup('scripts-off', 1);
    await scenario.driftGroup(group);
    const ctl = await startController(ns);
    try {
      await scenario.createRollingUpgrade(ns, 'off', {
        asgName: group.name,
        preDrain: { script: 'echo hi' },
        postTerminate: { script: 'echo bye' },
      });
      const waiting = await eventually('the upgrade waiting for scripts', async () => {
        const c = (await statusOf(ns, 'off'))?.conditions?.find((x) => x.type === 'Progressing');
        return c?.reason === 'ScriptsDisabled' ? c : undefined;
      });
      expect(waiting.message).toContain('spec.preDrain.script, spec.postTerminate.script');
      expect(waiting.message).toContain('scripts.enabled');
      expect(waiting.message).toContain('spec.ignoreScripts');
      const warning = await eventually('the ScriptsDisabled event', async () =>
        (await scenario.events(ns, 'off')).find((e) => e.reason === 'ScriptsDisabled'),
      );
      expect(warning.type).toBe('Warning');
      expect((await statusOf(ns, 'off'))?.currentStatus).toBe('init');
      expect(ctl.terminated).toEqual([]);
      expect((await scenario.nodes(group.name)).filter((n) => n.spec?.unschedulable)).toEqual([]);

      await scenario.client.patch(RU, ns, 'off', { spec: { ignoreScripts: true } });
      const status = await completed(ns, 'off');
      expect(status.nodesProcessed).toBe(1);
      expect(ctl.terminated).toHaveLength(1);
      expect(status.conditions?.find((c) => c.type === 'ScriptsIgnored')).toMatchObject({
        status: 'True',
        reason: 'IgnoreScripts',
      });
      expect(await jobsIn(ns)).toEqual([]);
      const events = await scenario.events(ns, 'off');
      expect(events.filter((e) => e.reason === 'ScriptsDisabled').map((e) => e.count ?? 1)).toEqual([1]);
    } finally {
      await ctl.stop();
    }
  });

  it("waits while another tool holds the group's disruption lock, then upgrades and gives it back", async () => {
    const ns = await scenario.namespace('ru-lock');
    const group = await scenario.createGroup('locked', 1);
    await scenario.driftGroup(group);
    const locks = new DisruptionLocks(scenario.client);
    const ref = { region: 'us-west-2', name: group.name };
    expect(await locks.acquire(ref, 'governor/test', 'reaping a node')).toEqual({ held: true });
    const ctl = await startController(ns);
    try {
      await scenario.createRollingUpgrade(ns, 'locked', { asgName: group.name });
      const waiting = await eventually('the upgrade to wait for the lock', async () => {
        const c = (await statusOf(ns, 'locked'))?.conditions?.find((x) => x.type === 'Progressing');
        return c?.reason === 'WaitingForScalingGroup' ? c : undefined;
      });
      expect(waiting.message).toContain('governor/test is disrupting');
      expect(ctl.terminated).toEqual([]);

      await locks.release(ref, 'governor/test');
      const status = await completed(ns, 'locked');
      expect(status.nodesProcessed).toBe(1);
      expect(ctl.terminated).toHaveLength(1);
      // Given back once the finished upgrade lets go of the group (after its status says completed).
      await eventually('the lock given back', async () => (await locks.holder(ref)) === undefined);
    } finally {
      await ctl.stop();
    }
  });
});
