// The eks provisioner's warm pool, group metrics and launch configurations, with the InstanceGroup
// controller in-process against the real test cluster and the AWS emulator (moto 5.2.1). Nodes come from
// the node simulator (packages/testenv's AsgNodeSimulator, the kubelet stand-in), which registers a simulated node for every InService
// instance of this test's groups.
//
// What moto cannot do is not tested here: DisableMetricsCollection (not implemented), warm pool instances
// (it launches none), switching a group from a launch template to a launch configuration (it keeps
// launching from the template). Those decisions are unit-tested in eks-features.test.ts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '@keiko/testenv';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
import { mimeParts } from '../src/provisioners/userdata/al2023';
import { hasWarmPoolGate, TARGET_LIFECYCLE_STATE_URL } from '../src/provisioners/userdata/warm-pool-gate';
import { LAUNCH_CONFIGURATION_TAG } from '../src/provisioners/eks/launch-configuration';
import { groupNameOf } from '../src/provisioners/eks/provisioner';
import { example } from './support/fixtures';
import { startWorld, type World } from './support/world';

const isReady = (ig: InstanceGroup) => ig.status?.currentState === 'Ready';
const condition = (ig: InstanceGroup | undefined, type: string) =>
  ig?.status?.conditions?.find((c) => c.type === type);

/** The eks example, small, without the mixed instances policy (warm pools and launch configurations refuse one). */
function eksGroup(name: string, mutate: (ig: InstanceGroup) => void = () => {}): InstanceGroup {
  const ig = structuredClone(example('instance-manager/eks-rolling-update.yaml'));
  ig.metadata = { name };
  delete ig.status;
  const eks = ig.spec.eks;
  if (!eks) throw new Error('example changed');
  eks.minSize = 2;
  eks.maxSize = 3;
  delete eks.configuration.mixedInstancesPolicy;
  eks.configuration.lifecycleHooks = [];
  eks.configuration.instanceType = 't3.small';
  ig.spec.strategy = { type: 'rollingUpdate', rollingUpdate: { maxUnavailable: 1 } };
  mutate(ig);
  return ig;
}

/** The user data of the group's launch template version `version` (as EC2 stores it, decoded). */
async function templateUserData(
  world: World,
  groupName: string,
  version: string | undefined,
): Promise<string> {
  const [v] = await world.aws.ec2.describeLaunchTemplateVersions({ name: groupName }, [
    version ?? '$Default',
  ]);
  return Buffer.from(v?.data.UserData ?? '', 'base64').toString('utf8');
}

async function change(world: World, name: string, mutate: (ig: InstanceGroup) => void): Promise<void> {
  await eventually(`${name} changed`, async () => {
    const ig = await world.get(name);
    if (!ig) return false;
    mutate(ig);
    await world.client.replace(InstanceGroupKind, ig);
    return true;
  });
}

let world: World;

beforeAll(async () => {
  world = await startWorld({ prefix: 'im-feat' });
}, 240_000);

afterAll(async () => {
  await world?.stop();
}, 180_000);

describe('eks warm pool and metrics collection', () => {
  it('a group with a warm pool and metrics reaches Ready and AWS has both; dropping the pool deletes it', async () => {
    await world.apply(
      eksGroup('warm', (ig) => {
        if (!ig.spec.eks) return;
        ig.spec.eks.warmPool = { minSize: 1, maxSize: -1 };
        ig.spec.eks.configuration.metricsCollection = ['GroupInServiceInstances', 'groupDesiredCapacity'];
      }),
    );
    const ig = await world.waitFor('warm', 'Ready', isReady, 90_000);
    const name = groupNameOf(ig);
    expect(await world.aws.autoScaling.describeWarmPool(name)).toMatchObject({
      minSize: 1,
      maxGroupPreparedCapacity: -1,
    });
    world.aws.autoScaling.invalidate(name);
    const group = await world.aws.autoScaling.describeGroup(name);
    expect(group?.enabledMetrics).toEqual(['GroupInServiceInstances', 'GroupDesiredCapacity']);
    expect(condition(ig, 'NodesReady')).toMatchObject({ status: 'True', message: '2 node(s) Ready' });
    const reasons = (await world.events('warm')).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['WarmPoolCreated', 'MetricsCollectionEnabled']));
    // What instances (warm pool ones too) launch with: the cloud-config that runs the script on every boot,
    // then the script whose gate (the target lifecycle state) comes before bootstrap.sh.
    const gated = await templateUserData(world, name, ig.status?.latestTemplateVersion);
    expect(mimeParts(gated)?.map((p) => p.contentType.split(';')[0])).toEqual([
      'text/cloud-config',
      'text/x-shellscript',
    ]);
    expect(gated).toContain('- [scripts-user, always]');
    const script = mimeParts(gated)?.[1]?.body ?? '';
    expect(script.indexOf(TARGET_LIFECYCLE_STATE_URL)).toBeGreaterThan(0);
    expect(script.indexOf(TARGET_LIFECYCLE_STATE_URL)).toBeLessThan(script.indexOf('/etc/eks/bootstrap.sh'));
    // The node simulator read the group's labels from that document.
    const nodes = await world.groupNodes(name);
    expect(nodes.map((n) => n.metadata?.labels?.['node.kubernetes.io/role'])).toEqual(['warm', 'warm']);

    // A bigger pool and one more metric; then no pool at all.
    await change(world, 'warm', (g) => {
      if (!g.spec.eks) return;
      g.spec.eks.warmPool = { minSize: 2, maxSize: 3 };
      g.spec.eks.configuration.metricsCollection = [
        'GroupInServiceInstances',
        'GroupDesiredCapacity',
        'GroupMaxSize',
      ];
    });
    await eventually(
      'the warm pool updated',
      async () => (await world.aws.autoScaling.describeWarmPool(name))?.minSize === 2,
      30_000,
    );
    expect(await world.aws.autoScaling.describeWarmPool(name)).toMatchObject({
      minSize: 2,
      maxGroupPreparedCapacity: 3,
    });
    await eventually(
      'the third metric enabled',
      async () => {
        world.aws.autoScaling.invalidate(name);
        return (await world.aws.autoScaling.describeGroup(name))?.enabledMetrics?.length === 3;
      },
      30_000,
    );
    await change(world, 'warm', (g) => {
      if (g.spec.eks) delete g.spec.eks.warmPool;
    });
    await eventually(
      'the warm pool deleted',
      async () => !(await world.aws.autoScaling.describeWarmPool(name)),
      30_000,
    );
    const again = await world.waitFor(
      'warm',
      'Ready again',
      (g) => isReady(g) && (g.metadata.generation ?? 0) === condition(g, 'Ready')?.observedGeneration,
    );
    expect((await world.events('warm')).map((e) => e.reason)).toEqual(
      expect.arrayContaining(['WarmPoolUpdated', 'WarmPoolDeleted']),
    );
    // Without a pool, the user data is bootstrap.sh's script again, ungated.
    const plain = await templateUserData(world, name, again.status?.latestTemplateVersion);
    expect(plain).toMatch(/^#!\/bin\/bash\nset -o xtrace\n/);
    expect(hasWarmPoolGate(plain)).toBe(false);
    await world.remove('warm', 90_000);
    expect(await world.aws.autoScaling.describeGroup(name)).toBeUndefined();
  }, 180_000);

  it('a warm pool AWS would refuse (mixed instances policy) is reported and not applied; the group still comes up', async () => {
    const ig = eksGroup('warm-mixed', (g) => {
      if (!g.spec.eks) return;
      g.spec.eks.minSize = 1;
      g.spec.eks.warmPool = { minSize: 1 };
      g.spec.eks.configuration.mixedInstancesPolicy = {
        instanceTypes: [{ type: 't3.small' }, { type: 't3a.small' }],
      };
    });
    await world.apply(ig);
    const ready = await world.waitFor('warm-mixed', 'Ready', isReady, 90_000);
    expect(await world.aws.autoScaling.describeWarmPool(groupNameOf(ready))).toBeUndefined();
    const warning = (await world.events('warm-mixed')).find((e) => e.reason === 'WarmPoolNotApplied');
    expect(warning?.type).toBe('Warning');
    expect(warning?.message).toContain(
      'spec.eks.warmPool: AWS does not allow a warm pool on a group with configuration.mixedInstancesPolicy',
    );
    await world.remove('warm-mixed', 90_000);
  }, 150_000);

  it('an unknown metric is an error naming the field; nothing is created', async () => {
    await world.apply(
      eksGroup(
        'bad-metric',
        (g) => g.spec.eks && (g.spec.eks.configuration.metricsCollection = ['NodeCount']),
      ),
    );
    const ig = await world.waitFor('bad-metric', 'Error', (g) => g.status?.currentState === 'Error');
    expect(condition(ig, 'Ready')?.message).toMatch(
      /^spec\.eks\.configuration\.metricsCollection: unknown group metrics NodeCount; use All or some of /,
    );
    expect(await world.aws.autoScaling.describeGroup(groupNameOf(ig))).toBeUndefined();
    await world.remove('bad-metric');
  }, 60_000);
});

describe('eks type LaunchConfiguration', () => {
  it('the apiserver refuses a launch configuration with a mixed instances policy, naming spec.eks.type', async () => {
    const bad = eksGroup('lc-mixed', (g) => {
      if (!g.spec.eks) return;
      g.spec.eks.type = 'LaunchConfiguration';
      g.spec.eks.configuration.mixedInstancesPolicy = { instanceTypes: [{ type: 't3.small' }] };
    });
    const err = await world.apply(bad).catch((e: unknown) => e);
    expect(String(err)).toContain('spec.eks.type: Invalid value');
    expect(String(err)).toContain('type LaunchConfiguration cannot have configuration.mixedInstancesPolicy');
  }, 30_000);

  it('runs on a real launch configuration: Ready with nodes, an instance type change rolls every node onto a new one, a switch to LaunchTemplate moves it and cleans up', async () => {
    await world.apply(eksGroup('lc', (g) => g.spec.eks && (g.spec.eks.type = 'LaunchConfiguration')));
    const ready = await world.waitFor('lc', 'Ready', isReady, 90_000);
    const name = groupNameOf(ready);
    const first = ready.status?.activeLaunchConfigurationName ?? '';
    expect(first).toMatch(new RegExp(`^${name}-[0-9a-f]{12}$`));
    expect(ready.status?.activeLaunchTemplateName).toBeUndefined();
    expect(await world.aws.ec2.describeLaunchTemplate({ name })).toBeUndefined();
    const [lc] = await world.aws.autoScaling.describeLaunchConfigurations([first]);
    expect(lc).toMatchObject({ instanceType: 't3.small', imageId: 'ami-ekslinux', keyName: 'my-key-pair' });
    world.aws.autoScaling.invalidate(name);
    const group = await world.aws.autoScaling.describeGroup(name);
    expect(group?.launchConfigurationName).toBe(first);
    expect(group?.tags[LAUNCH_CONFIGURATION_TAG]).toBe(first);
    const oldNodes = (await world.groupNodes(name)).map((n) => n.metadata?.name ?? '');
    expect(oldNodes).toHaveLength(2);
    // The simulated kubelets registered with what the launch configuration's user data says.
    for (const n of await world.groupNodes(name))
      expect(n.metadata?.labels).toMatchObject({ team: 'platform', 'node.kubernetes.io/role': 'lc' });

    // A new instance type: a new launch configuration, and every node drained and replaced.
    await change(world, 'lc', (g) => g.spec.eks && (g.spec.eks.configuration.instanceType = 't3.medium'));
    const rolled = await eventually(
      'every node replaced onto the new launch configuration',
      async () => {
        const g = await world.get('lc');
        const nodes = await world.groupNodes(name);
        return g &&
          isReady(g) &&
          g.status?.activeLaunchConfigurationName !== first &&
          nodes.length === 2 &&
          nodes.every(
            (n) =>
              !oldNodes.includes(n.metadata?.name ?? '') &&
              n.metadata?.labels?.['node.kubernetes.io/instance-type'] === 't3.medium',
          )
          ? g
          : undefined;
      },
      150_000,
      500,
      () => world.explain('lc'),
    );
    const second = rolled.status?.activeLaunchConfigurationName ?? '';
    expect(condition(rolled, 'RollingUpdate')?.reason).toBe('Complete');
    const events = await world.events('lc');
    expect(events.filter((e) => e.reason === 'InstanceTerminated')).toHaveLength(2);
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['LaunchConfigurationCreated', 'NodeDrained']),
    );
    // --template-retention (2 by default here) keeps the older configuration; the e2e test runs with 0.
    expect(
      (await world.aws.autoScaling.describeLaunchConfigurations([first, second])).map((c) => c.name),
    ).toEqual([first, second]);

    // Switch to a launch template: the group moves, its instances are replaced, the configurations go.
    const rolledNodes = (await world.groupNodes(name)).map((n) => n.metadata?.name ?? '');
    await change(world, 'lc', (g) => g.spec.eks && (g.spec.eks.type = 'LaunchTemplate'));
    const switched = await eventually(
      'the group on a launch template, every node replaced, the launch configurations deleted',
      async () => {
        const g = await world.get('lc');
        const nodes = await world.groupNodes(name);
        const left = await world.aws.autoScaling.describeLaunchConfigurations([first, second]);
        return g &&
          isReady(g) &&
          g.status?.activeLaunchTemplateName === name &&
          !g.status.activeLaunchConfigurationName &&
          left.length === 0 &&
          nodes.length === 2 &&
          nodes.every((n) => !rolledNodes.includes(n.metadata?.name ?? ''))
          ? g
          : undefined;
      },
      150_000,
      500,
      () => world.explain('lc'),
    );
    expect(switched.status?.latestTemplateVersion).toBe('1');
    world.aws.autoScaling.invalidate(name);
    expect((await world.aws.autoScaling.describeGroup(name))?.tags[LAUNCH_CONFIGURATION_TAG]).toBeUndefined();
    expect((await world.events('lc')).map((e) => e.reason)).toEqual(
      expect.arrayContaining(['LaunchTemplateCreated', 'LaunchConfigurationDeleted']),
    );

    await world.remove('lc', 90_000);
    expect(await world.aws.autoScaling.describeGroup(name)).toBeUndefined();
    expect(await world.aws.ec2.describeLaunchTemplate({ name })).toBeUndefined();
  }, 420_000);

  it('deleting a launch-configuration group deletes its launch configurations', async () => {
    await world.apply(
      eksGroup(
        'lc-gone',
        (g) => g.spec.eks && ((g.spec.eks.type = 'LaunchConfiguration'), (g.spec.eks.minSize = 1)),
      ),
    );
    const ready = await world.waitFor('lc-gone', 'Ready', isReady, 90_000);
    const name = groupNameOf(ready);
    const lcName = ready.status?.activeLaunchConfigurationName ?? '';
    expect(await world.aws.autoScaling.describeLaunchConfigurations([lcName])).toHaveLength(1);
    await world.remove('lc-gone', 90_000);
    expect(await world.aws.autoScaling.describeGroup(name)).toBeUndefined();
    expect(await world.aws.autoScaling.listLaunchConfigurations({ namePrefix: `${name}-` })).toEqual([]);
  }, 150_000);
});
