// instance-manager end to end: the bundled controller (node apps/instance-manager/dist/main.js, leader
// election on, as deployed) against the test cluster and the AWS emulator. It runs as the Helm chart's
// ServiceAccount with exactly the chart's RBAC (charts/instance-manager: its ClusterRole, the Roles holding
// kube-system/aws-auth and the managed defaults ConfigMap, the leader-election Role; see chartIdentity in
// support.ts), installed in a release namespace of its own — apart from the groups', as a platform team
// installs it, so the groups' Events need the ClusterRole. A rule missing from the chart fails a scenario
// here, and the last test fails on any request the apiserver refused. There are no kubelets: the
// node simulator (packages/testenv's AsgNodeSimulator, the kubelet stand-in) registers a simulated node for every
// InService instance of this scenario's scaling groups, with the labels and taints the instance's
// bootstrap user data gives kubelet, and removes it when the instance goes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InstanceGroupKind, RollingUpgradeKind, type InstanceGroup } from '@keiko/api';
import { classifyStackStatus } from '@keiko/aws';
import { ResourceTypes } from '@keiko/kube-runtime';
import {
  KubeConfig,
  type CoreV1Event,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { createNamespace, eventually, registeredTaints } from '@keiko/testenv';
import { cleanupWorkspace, findObject, preparedChart, renderChart } from '../../charts/test/support/charts';
import { serviceAccountUser, whoAmI } from '../../charts/test/support/impersonate';
import {
  build,
  chartIdentity,
  deleteAllGroups,
  startController,
  startScenario,
  type ChartIdentity,
  type RunningController,
  type Scenario,
} from './support';

const ready = (ig: InstanceGroup) => ig.status?.currentState === 'Ready';
const condition = (ig: InstanceGroup | undefined, type: string) =>
  ig?.status?.conditions?.find((c) => c.type === type);
const usable = (n: V1Node) =>
  !n.spec?.unschedulable && !!n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

let s: Scenario;
let controller: RunningController;
/** The release namespace: the chart's ServiceAccount, Roles, Lease and managed defaults ConfigMap. */
let systemNs: string;
/** The chart installed into systemNs (as `helm install -n <systemNs>`): the controller's identity. */
let identity: ChartIdentity;

beforeAll(async () => {
  const bundle = build('instance-manager');
  s = await startScenario('im-e2e');
  systemNs = `${s.namespace}-system`;
  await createNamespace(systemNs, { exact: true });
  identity = await chartIdentity(systemNs);
  // Leader election stays on (the default), on the chart's Lease in the release namespace.
  controller = await startController(bundle, s.namespace, ['--drain-timeout=60'], { identity });
}, 180_000);

afterAll(async () => {
  if (s) await deleteAllGroups(s).catch((err: unknown) => console.error(String(err)));
  await controller?.stop();
  await identity?.uninstall();
  if (systemNs) await s?.client.delete(ResourceTypes.Namespace, undefined, systemNs).catch(() => false);
  await s?.close();
  cleanupWorkspace();
}, 180_000);

async function awsAuthRoles(): Promise<string> {
  const cm = await s.client.get<V1ConfigMap>(ResourceTypes.ConfigMap, 'kube-system', 'aws-auth');
  return cm?.data?.mapRoles ?? '';
}

type Upgrade = KubernetesObject & { spec?: { asgName?: string }; status?: { currentStatus?: string } };

const upgradesIn = async (ns: string) =>
  (await s.client.list<Upgrade>(RollingUpgradeKind, { namespace: ns })).items.filter(
    (u) => !u.metadata?.deletionTimestamp,
  );

/** A group with the example's crd strategy (maxRetries 1, Forbid) whose RollingUpgrades fail fast on a blocked drain. */
function crdStrategyGroup(): InstanceGroup {
  // The example's strategy on an eks-cf group: the emulator launches from CloudFormation-made template
  // versions (it cannot from API-made ones; see docs/instance-manager.md).
  const [base] = s.manifest('examples/instance-manager/hello-world-sandbox.yaml') as InstanceGroup[];
  const [example] = s.manifest('examples/instance-manager/eks-crd-strategy.yaml') as InstanceGroup[];
  const crd = example?.spec.strategy?.crd;
  if (!base?.spec['eks-cf'] || !crd) throw new Error('fixture');
  base.metadata = { name: 'batch-workers', namespace: s.namespace };
  delete base.spec.rollingUpdate;
  crd.maxRetries = 1;
  crd.spec = crd.spec
    .replace('namespace: instance-manager', `namespace: ${s.namespace}`)
    .replace(/postDrainDelaySeconds: \d+/, 'postDrainDelaySeconds: 0')
    .replace(/nodeIntervalSeconds: \d+/, 'nodeIntervalSeconds: 0')
    .replace(/drainTimeout: \d+/, 'drainTimeout: 10');
  base.spec.strategy = example.spec.strategy;
  base.spec['eks-cf'].minSize = 1;
  return base;
}

/** One pod on the group's node that a PodDisruptionBudget forbids evicting: every drain of it fails. */
async function pinDrainBlocker(): Promise<void> {
  const labels = { app: 'drain-blocker' };
  await s.client.create(ResourceTypes.PodDisruptionBudget, {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'drain-blocker', namespace: s.namespace },
    spec: { minAvailable: 1, selector: { matchLabels: labels } },
  });
  await s.client.create(ResourceTypes.Deployment, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'drain-blocker', namespace: s.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'node.kubernetes.io/role': 'batch-workers' },
          containers: [{ name: 'main', image: 'registry.invalid/blocker:1' }],
        },
      },
    },
  });
  await eventually('the drain blocker Running', async () =>
    (
      await s.client.list<V1Pod>(ResourceTypes.Pod, {
        namespace: s.namespace,
        labelSelector: 'app=drain-blocker',
      })
    ).items.some((p) => p.status?.phase === 'Running'),
  );
}

const setInstanceType = (instanceType: string) =>
  s.client.patch(InstanceGroupKind, s.namespace, 'batch-workers', {
    spec: { 'eks-cf': { configuration: { instanceType } } },
  });

/**
 * v2 is submitted and blocked by the PodDisruptionBudget; v3 is asked for meanwhile and waits (Forbid) until
 * v2 has failed; v3 fails once, is resubmitted (maxRetries 1), and completes once the PodDisruptionBudget goes.
 */
async function runCrdStrategyScenario(): Promise<void> {
  await s.apply([crdStrategyGroup()]);
  const up = await s.waitFor('batch-workers', 'Ready', ready, 120_000);
  const asg = up.status?.activeScalingGroupName ?? '';
  await pinDrainBlocker();

  await setInstanceType('m5.large');
  const v2 = await s.waitFor(
    'batch-workers',
    'the v2 RollingUpgrade submitted',
    (g) => !!g.status?.strategyResourceName,
  );
  const v2Name = v2.status?.strategyResourceName ?? '';
  await eventually(`${v2Name} draining (its node cordoned by upgrade-manager)`, async () =>
    (await s.nodesOf(asg)).some((n) => n.spec?.unschedulable),
  );
  await setInstanceType('c5.2xlarge');
  const waiting = await s.waitFor('batch-workers', 'Forbid: waiting for the v2 upgrade', (g) =>
    (condition(g, 'Ready')?.message ?? '').includes(`concurrencyPolicy Forbid: waiting for ${v2Name}`),
  );
  const v3Name = waiting.status?.strategyResourceName ?? '';
  expect(v3Name).not.toBe(v2Name);
  expect((await upgradesIn(s.namespace)).map((u) => u.metadata?.name)).toEqual([v2Name]);

  // v2 fails (two drain attempts past drainTimeout); only then is v3 submitted; it fails too, and is resubmitted.
  const retried = await s.waitFor(
    'batch-workers',
    'v3 resubmitted once',
    (g) => g.status?.strategyResourceName === v3Name && g.status.strategyRetryCount === 1,
    240_000,
  );
  expect(retried.status?.currentState).toBe('InitUpgrade');
  const v2Final = await s.client.get<Upgrade>(RollingUpgradeKind, s.namespace, v2Name);
  expect(v2Final?.status?.currentStatus).toBe('error');
  await s.client.delete(ResourceTypes.PodDisruptionBudget, s.namespace, 'drain-blocker');

  const done = await s.waitFor('batch-workers', 'Ready after the resubmitted v3', ready, 240_000);
  expect(done.status?.strategyResourceName).toBe(v3Name);
  // (The retry was asserted above; a success resets strategyRetryCount, in the same or a later write.)
  const v3Final = await s.client.get<Upgrade>(RollingUpgradeKind, s.namespace, v3Name);
  expect(v3Final?.status?.currentStatus).toBe('completed');
  expect(v3Final?.spec?.asgName).toBe(asg);
  expect(
    (await s.nodesOf(asg)).every(
      (n) => n.metadata?.labels?.['node.kubernetes.io/instance-type'] === 'c5.2xlarge',
    ),
  ).toBe(true);
  await s.client.delete(ResourceTypes.Deployment, s.namespace, 'drain-blocker');
}

describe('instance-manager (bundled, leader election on)', () => {
  it("acts as the chart's ServiceAccount", async () => {
    const asChart = new KubeConfig();
    asChart.loadFromFile(identity.kubeconfig);
    expect((await whoAmI(asChart)).username).toBe(serviceAccountUser(identity.serviceAccount));
  });

  it("takes the chart's lease and serves health and metrics", async () => {
    expect(identity.leaseName).toBeTruthy();
    const lease = await eventually('the leader lease', () =>
      s.client.get<KubernetesObject & { spec?: { holderIdentity?: string } }>(
        ResourceTypes.Lease,
        systemNs,
        identity.leaseName,
      ),
    );
    expect(lease.spec?.holderIdentity).toBeTruthy();
    const readyz = await eventually('readyz leading', async () => {
      const res = await fetch(`http://127.0.0.1:${controller.healthPort}/readyz`);
      const body = await res.text();
      return res.status === 200 && body.includes('leading') ? body : undefined;
    });
    expect(readyz).toContain('leading');
  }, 60_000);

  it("applies the talk's example as written, and reports the EXAMPLE subnets and security group it cannot find", async () => {
    const objects = s.manifest('examples/talk/instancegroup-hello-world.yaml');
    expect(await s.apply(objects)).toContain('instancegroup.instancemgr.keikoproj.io/hello-world created');
    const stored = await s.get('hello-world');
    expect(stored?.spec.rollingUpdate).toEqual({
      minInstancesInService: 1,
      maxBatchSize: 1,
      pauseTime: 'PT5M',
    });
    const ig = await s.waitFor('hello-world', 'Error', (g) => g.status?.currentState === 'Error');
    const message = condition(ig, 'Ready')?.message ?? '';
    for (const id of [
      'subnet-abb1c79de3EXAMPLE',
      'subnet-cdd1c79de3EXAMPLE',
      'subnet-eff1c79de3EXAMPLE',
      'sg-a04adb633bEXAMPLE',
      'ami-fe2dc743aEXAMPLE',
    ])
      expect(message).toContain(id);
    expect(message).toMatch(/^spec\.eks-cf\.configuration\.subnets: subnets not found/);
    expect(
      (await s.events('hello-world')).some(
        (e) => e.type === 'Warning' && e.message?.includes('subnet-abb1c79de3EXAMPLE'),
      ),
    ).toBe(true);
  }, 60_000);

  it("brings the talk's group up with names the emulator has: stack, scaling group and Ready nodes", async () => {
    await s.apply(s.manifest('examples/instance-manager/hello-world-sandbox.yaml'));
    const ig = await s.waitFor('hello-world-sandbox', 'Ready', ready, 120_000);
    const stack = await s.cloudFormation.describeStack(ig.status?.stackName ?? '');
    expect(stack && classifyStackStatus(stack.status)).toBe('complete');
    const asg = ig.status?.activeScalingGroupName ?? '';
    expect(asg).toBe(stack?.outputs.AsgName);
    const group = await s.autoScaling.describeGroup(asg);
    expect(group?.instances.filter((i) => i.lifecycleState === 'InService')).toHaveLength(3);
    const nodes = await s.nodesOf(asg);
    expect(nodes.filter(usable)).toHaveLength(3);
    expect(nodes[0]?.metadata?.labels).toMatchObject({
      'some-label': 'true',
      'node.kubernetes.io/role': 'hello-world-sandbox',
    });
    expect(await awsAuthRoles()).toContain(ig.status?.nodesInstanceRoleArn?.split('/').pop());
    // printer columns: kubectl get ig
    const table = await import('@keiko/testenv').then((t) =>
      t.kubectl(s.kc, ['get', 'ig', '-n', s.namespace, 'hello-world-sandbox']),
    );
    expect(table).toMatch(
      /hello-world-sandbox\s+Ready\s+3\s+6\s+\S*NodeGroup\S*\s+eks-cf\s+rollingUpdate\s+normal/,
    );
  }, 150_000);

  it('changing instanceType replaces every node one batch at a time, draining each first, never below minInstancesInService', async () => {
    const before = (await s.get('hello-world-sandbox')) as InstanceGroup;
    const asg = before.status?.activeScalingGroupName ?? '';
    const oldNodes = (await s.nodesOf(asg)).map((n) => n.metadata?.name ?? '');
    await s.client.create(ResourceTypes.Deployment, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'hello', namespace: s.namespace },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'hello' } },
        template: {
          metadata: { labels: { app: 'hello' } },
          spec: {
            nodeSelector: { 'node.kubernetes.io/role': 'hello-world-sandbox' },
            containers: [{ name: 'hello', image: 'registry.invalid/hello:1' }],
          },
        },
      },
    });
    const pods = async () =>
      (await s.client.list<V1Pod>(ResourceTypes.Pod, { namespace: s.namespace, labelSelector: 'app=hello' }))
        .items;
    await eventually(
      'hello pods Running',
      async () => (await pods()).filter((p) => p.status?.phase === 'Running').length === 3,
    );

    // The talk's batch of 1 with a short pause, and a new instance type.
    await s.client.patch(InstanceGroupKind, s.namespace, 'hello-world-sandbox', {
      spec: {
        rollingUpdate: { pauseTime: 'PT2S' },
        'eks-cf': { configuration: { instanceType: 'm3.large' } },
      },
    });
    let fewest = Infinity;
    const done = await eventually(
      'every node replaced',
      async () => {
        const nodes = await s.nodesOf(asg);
        fewest = Math.min(fewest, nodes.filter(usable).length);
        const ig = await s.get('hello-world-sandbox');
        return ig &&
          ready(ig) &&
          ig.status?.latestTemplateVersion === '2' &&
          nodes.length === 3 &&
          nodes.every((n) => !oldNodes.includes(n.metadata?.name ?? ''))
          ? ig
          : undefined;
      },
      180_000,
      250,
      () => s.explain('hello-world-sandbox'),
    );
    // maxBatchSize 1 of 3: never more than one node out; minInstancesInService 1 a fortiori.
    expect(fewest).toBeGreaterThanOrEqual(2);
    const events = await s.events('hello-world-sandbox');
    for (const old of oldNodes) {
      expect(events.some((e) => e.reason === 'NodeDrained' && e.message?.includes(old))).toBe(true);
      expect(events.some((e) => e.reason === 'InstanceTerminated' && e.message?.includes(old))).toBe(true);
    }
    const nodes = await s.nodesOf(asg);
    expect(nodes.every((n) => n.metadata?.labels?.['node.kubernetes.io/instance-type'] === 'm3.large')).toBe(
      true,
    );
    await eventually('hello pods on new nodes', async () => {
      const running = (await pods()).filter(
        (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
      );
      return running.length === 3 && running.every((p) => !oldNodes.includes(p.spec?.nodeName ?? ''));
    });
    expect(condition(done, 'RollingUpdate')?.reason).toBe('Complete');
    await s.client.delete(ResourceTypes.Deployment, s.namespace, 'hello');
  }, 240_000);

  it('runs an eks group: lifecycle hooks on its scaling group, labels and taints on its nodes', async () => {
    const [ig] = s.manifest('examples/instance-manager/eks-rolling-update.yaml') as InstanceGroup[];
    if (!ig?.spec.eks) throw new Error('fixture');
    ig.spec.eks.minSize = 2;
    await s.apply([ig]);
    const up = await s.waitFor('general-purpose', 'Ready', ready, 120_000);
    const asg = up.status?.activeScalingGroupName ?? '';
    const hooks = await s.autoScaling.describeLifecycleHooks(asg);
    expect(
      hooks.map((h) => `${h.hookName} ${h.transition} ${h.defaultResult} ${h.heartbeatTimeoutSeconds}`),
    ).toEqual(['drain-on-terminate autoscaling:EC2_INSTANCE_TERMINATING CONTINUE 300']);
    const nodes = await s.nodesOf(asg);
    expect(nodes).toHaveLength(2);
    for (const n of nodes) {
      expect(n.metadata?.labels).toMatchObject({
        team: 'platform',
        'node.kubernetes.io/role': 'general-purpose',
        'instancemgr.keikoproj.io/lifecycle': 'normal',
      });
      expect(registeredTaints(n)).toEqual([{ key: 'dedicated', value: 'platform', effect: 'NoSchedule' }]);
    }
    expect(up.status?.lifecycle).toBe('mixed');
  }, 150_000);

  it('the crd strategy with the real upgrade-manager: Forbid waits for the running upgrade, a failed one is resubmitted up to maxRetries, then it completes', async () => {
    // upgrade-manager is part of this composition: if it cannot be built or started, this test fails.
    const upgradeManager = await startController(build('upgrade-manager'), s.namespace, [
      '--leader-elect=false',
    ]);
    try {
      await runCrdStrategyScenario();
    } finally {
      await upgradeManager.stop();
    }
  }, 420_000);

  it('deleting a group removes its stack, scaling group and aws-auth role, and only its own role', async () => {
    const gone = (await s.get('hello-world-sandbox')) as InstanceGroup;
    const kept = (await s.get('general-purpose')) as InstanceGroup;
    const goneRole = gone.status?.nodesInstanceRoleArn?.split('/').pop() ?? '';
    const keptRole = kept.status?.nodesInstanceRoleArn?.split('/').pop() ?? '';
    expect(await awsAuthRoles()).toContain(goneRole);
    await s.client.delete(InstanceGroupKind, s.namespace, 'hello-world-sandbox');
    await eventually('hello-world-sandbox gone', async () => !(await s.get('hello-world-sandbox')), 90_000);
    expect(await s.cloudFormation.describeStack(gone.status?.stackName ?? '')).toBeUndefined();
    expect(await s.autoScaling.describeGroup(gone.status?.activeScalingGroupName ?? '')).toBeUndefined();
    const roles = await awsAuthRoles();
    expect(roles).not.toContain(goneRole);
    expect(roles).toContain(keptRole);
  }, 120_000);

  it('a bad spec gives a clear error: the apiserver refuses minSize > maxSize and unknown strategies; the controller names the rest', async () => {
    const [talk] = s.manifest('examples/talk/instancegroup-hello-world.yaml') as InstanceGroup[];
    if (!talk?.spec['eks-cf']) throw new Error('fixture');
    const tooSmall = structuredClone(talk);
    tooSmall.metadata.name = 'too-small';
    if (tooSmall.spec['eks-cf']) tooSmall.spec['eks-cf'].minSize = 9;
    await expect(s.apply([tooSmall])).rejects.toThrow(
      /spec\.eks-cf\.minSize: Invalid value: .*minSize must be less than or equal to maxSize/,
    );
    const unknown = structuredClone(talk);
    unknown.metadata.name = 'unknown-strategy';
    unknown.spec.strategy = { type: 'blueGreen' };
    await expect(s.apply([unknown])).rejects.toThrow(/spec\.strategy\.type/);
    const wrong = structuredClone(talk);
    wrong.metadata.name = 'wrong-strategy';
    wrong.spec.strategy = { type: 'managed' };
    await s.apply([wrong]);
    const ig = await s.waitFor('wrong-strategy', 'Error', (g) => g.status?.currentState === 'Error');
    expect(condition(ig, 'SpecValid')).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: expect.stringContaining('spec.strategy.type: managed is only for provisioner eks-managed'),
    });
  }, 60_000);

  it("applies the managed defaults ConfigMap the chart renders, read under the chart's Role", async () => {
    // The chart's own ConfigMap (managedConfig.create), in the release namespace where its Role allows it.
    const rendered = await renderChart(await preparedChart('instance-manager'), {
      namespace: systemNs,
      args: [
        '--set',
        'managedConfig.create=true',
        '--set',
        'managedConfig.defaults.spec.eks-cf.configuration.clusterName=my-eks-cluster',
        '--set',
        'managedConfig.boundaries.restricted[0]=spec.eks-cf.configuration.clusterName',
      ],
    });
    const cm = findObject<V1ConfigMap>(rendered, 'ConfigMap');
    await s.apply([cm]);
    // Watched (every group is re-rendered) and read: a group already Ready records the configuration's hash.
    const kept = await s.waitFor(
      'general-purpose',
      'the managed configuration applied',
      (g) => !!g.status?.configMD5,
      60_000,
    );
    expect(kept.status?.currentState).toBe('Ready');
    // A tenant's own clusterName is replaced by the restricted default, and told so.
    const [talk] = s.manifest('examples/talk/instancegroup-hello-world.yaml') as InstanceGroup[];
    if (!talk?.spec['eks-cf']?.configuration) throw new Error('fixture');
    talk.metadata.name = 'restricted';
    talk.spec['eks-cf'].configuration.clusterName = 'someone-elses-cluster';
    await s.apply([talk]);
    await eventually('a FieldRestricted event', async () =>
      (await s.events('restricted')).find(
        (e) => e.reason === 'FieldRestricted' && e.message?.includes('spec.eks-cf.configuration.clusterName'),
      ),
    );
    const ig = await s.waitFor('restricted', 'configMD5', (g) => !!g.status?.configMD5);
    expect(ig.status?.configMD5).toBe(kept.status?.configMD5);
  }, 120_000);

  it('exports its metrics, AWS call and throttle counts included', async () => {
    const res = await fetch(`http://127.0.0.1:${controller.metricsPort}/metrics`);
    const text = await res.text();
    for (const m of [
      'keiko_instance_manager_instance_groups',
      'keiko_instance_manager_cloud_operations_total',
      'keiko_instance_manager_nodes_replaced_total',
      'keiko_instance_manager_aws_auth_writes_total',
      'keiko_aws_api_calls_total',
      'keiko_aws_throttles_total',
      'controller_runtime_reconcile_total',
    ])
      expect(text).toContain(m);
    expect(text).toMatch(/keiko_instance_manager_nodes_replaced_total\{provisioner="eks-cf"\} [1-9]/);
  }, 30_000);

  // Last: every scenario above ran under the chart's RBAC; a refused call the controller only logged (an
  // informer retrying its LIST, an Event it could not record, an aws-auth write) or reported in an Event
  // (a drain's refused eviction) fails here.
  it("was never refused a request by the apiserver (403) under the chart's RBAC", async () => {
    const log = controller.log();
    expect(log).not.toBe('');
    expect(log.split('\n').filter((l) => /\b403\b|forbidden/i.test(l))).toEqual([]);
    const events = (await s.client.list<CoreV1Event>(ResourceTypes.Event, { namespace: s.namespace })).items;
    expect(
      events.filter((e) => /forbidden/i.test(e.message ?? '')).map((e) => `${e.reason}: ${e.message}`),
    ).toEqual([]);
  });
});
