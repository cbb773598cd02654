// The InstanceGroup controller in-process against the real test cluster and the AWS emulator. Nodes
// come from the node simulator (packages/testenv's AsgNodeSimulator, the kubelet stand-in): it registers a simulated node for every
// InService instance of this test's groups, with the labels and taints their user data gives kubelet.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InstanceGroupKind, RollingUpgradeKind, type InstanceGroup } from '@keiko/api';
import { classifyStackStatus, EC2_ASSUME_ROLE_POLICY } from '@keiko/aws';
import { ResourceTypes } from '@keiko/kube-runtime';
import {
  emulatorClients,
  eventually,
  registeredTaints,
  seedCluster,
  seedNetwork,
  SIMULATOR_LABEL,
} from '@keiko/testenv';
import type { KubernetesObject, V1ConfigMap, V1Node, V1Pod } from '@kubernetes/client-node';
import { AwsAuth } from '../src/awsauth/apply';
import { AWS_AUTH_NAME, AWS_AUTH_NAMESPACE, normalizeRoleArn, OWNERS_ANNOTATION } from '../src/awsauth/merge';
import { stackNameOf } from '../src/provisioners/eks-cf/provisioner';
import { groupNameOf } from '../src/provisioners/eks/provisioner';
import { example } from './support/fixtures';
import { runId, startWorld, type World } from './support/world';

const condition = (ig: InstanceGroup | undefined, type: string) =>
  ig?.status?.conditions?.find((c) => c.type === type);
const isReady = (ig: InstanceGroup) => ig.status?.currentState === 'Ready';

function named(ig: InstanceGroup, name: string): InstanceGroup {
  const copy = structuredClone(ig);
  copy.metadata = { name };
  delete copy.status;
  return copy;
}

/** The talk's group with names the emulator has (examples/instance-manager/hello-world-sandbox.yaml). */
function talkCopy(name: string, size = 3): InstanceGroup {
  const ig = named(example('instance-manager/hello-world-sandbox.yaml'), name);
  const cf = ig.spec['eks-cf'];
  if (cf) {
    cf.minSize = size;
    cf.maxSize = size + 1;
  }
  return ig;
}

/** The eks example (labels, taints, volumes, mixed instances, lifecycle hooks), small. */
function eksGroup(name: string, size = 2): InstanceGroup {
  const ig = named(example('instance-manager/eks-rolling-update.yaml'), name);
  if (ig.spec.eks) {
    ig.spec.eks.minSize = size;
    ig.spec.eks.maxSize = size + 1;
    delete ig.spec.eks.warmPool;
  }
  return ig;
}

async function awsAuthOwners(world: World): Promise<Record<string, string[]>> {
  const cm = await world.client.get<V1ConfigMap>(ResourceTypes.ConfigMap, AWS_AUTH_NAMESPACE, AWS_AUTH_NAME);
  return JSON.parse(cm?.metadata?.annotations?.[OWNERS_ANNOTATION] ?? '{}') as Record<string, string[]>;
}

async function mappedRoles(world: World): Promise<string[]> {
  return (await new AwsAuth(world.client).read()).mapRoles.map((e) => normalizeRoleArn(String(e.rolearn)));
}

let world: World;

beforeAll(async () => {
  world = await startWorld();
}, 240_000);

afterAll(async () => {
  await world?.stop();
}, 180_000);

describe('eks-cf', () => {
  it("the talk's group (with names the emulator has) reaches Ready with its stack, scaling group, nodes and aws-auth role", async () => {
    await world.apply(talkCopy('hello'));
    const ig = await world.waitFor('hello', 'Ready', isReady, 90_000);
    const stack = await world.aws.cloudFormation.describeStack(stackNameOf(ig));
    expect(stack && classifyStackStatus(stack.status)).toBe('complete');
    expect(ig.status).toMatchObject({
      provisioner: 'eks-cf',
      strategy: 'rollingUpdate',
      lifecycle: 'normal',
      currentMin: 3,
      currentMax: 4,
      stackName: stack?.name,
      activeScalingGroupName: stack?.outputs.AsgName,
      latestTemplateVersion: '1',
    });
    expect(condition(ig, 'NodesReady')).toMatchObject({ status: 'True', message: '3 node(s) Ready' });
    const nodes = await world.groupNodes(ig.status?.activeScalingGroupName ?? '');
    expect(nodes).toHaveLength(3);
    expect(nodes[0]?.metadata?.labels).toMatchObject({
      'node.kubernetes.io/role': 'hello',
      'some-label': 'true',
      'node.kubernetes.io/instance-type': 'm3.medium',
    });
    const role = ig.status?.nodesInstanceRoleArn ?? '';
    expect((await awsAuthOwners(world))[normalizeRoleArn(role)]).toEqual([`${world.namespace}/hello`]);
    const reasons = (await world.events('hello')).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['StackCreating', 'StackStatus', 'RoleMapped', 'Ready']));
  }, 120_000);

  it("the talk's example as written reports the EXAMPLE ids that exist nowhere", async () => {
    const talk = named(example('talk/instancegroup-hello-world.yaml'), 'talk');
    await world.apply(talk);
    const ig = await world.waitFor('talk', 'Error', (g) => g.status?.currentState === 'Error');
    expect(condition(ig, 'Ready')?.message).toMatch(
      /^spec\.eks-cf\.configuration\.subnets: subnets not found (?:in vpc-\w+ )?\(by id or Name tag\): subnet-abb1c79de3EXAMPLE, subnet-cdd1c79de3EXAMPLE, subnet-eff1c79de3EXAMPLE; spec\.eks-cf\.configuration\.securityGroups: security groups not found (?:in vpc-\w+ )?\(by id, group name or Name tag\): sg-a04adb633bEXAMPLE; spec\.eks-cf\.configuration\.image: AMI not found \(or not shared with this account\): ami-fe2dc743aEXAMPLE$/,
    );
    expect(condition(ig, 'SpecValid')?.status).toBe('True');
    expect(await world.aws.cloudFormation.describeStack(stackNameOf(ig))).toBeUndefined();
    await world.remove('talk');
  }, 60_000);

  it('deleting a group while its stack is being created removes the stack and lets the group go', async () => {
    // The emulator completes a stack at once unless the stack asks it to hold (packages/testenv/moto/server.py):
    // this one stays CREATE_IN_PROGRESS long past the test, as an Auto Scaling group's stack does in AWS.
    const ig0 = talkCopy('short-lived', 1);
    ig0.spec['eks-cf']?.configuration?.tags?.push({
      key: 'testenv.keiko.io/hold-create-seconds',
      value: '600',
    });
    await world.apply(ig0);
    const creating = await world.waitFor('short-lived', 'its stack CREATE_IN_PROGRESS', (g) =>
      (condition(g, 'Ready')?.message ?? '').includes('CREATE_IN_PROGRESS'),
    );
    expect(creating.status?.currentState).toBe('ReconcileModifying');
    const stack = await world.aws.cloudFormation.describeStack(stackNameOf(creating));
    expect(stack?.status).toBe('CREATE_IN_PROGRESS');
    await world.remove('short-lived');
    expect(await world.aws.cloudFormation.describeStack(stackNameOf(creating))).toBeUndefined();
  }, 60_000);

  it('two groups whose original stack names collide each get a stack of their own; the first keeps the original name', async () => {
    // `<cluster>-<namespace>-<name>`: cluster my-eks-cluster + group x-<ns>-y and cluster my-eks-cluster-<ns>-x
    // + group y give one name.
    const first = talkCopy(`x-${world.namespace}-y`, 1);
    const second = talkCopy('y', 1);
    const c = second.spec['eks-cf']?.configuration;
    if (c) c.clusterName = `my-eks-cluster-${world.namespace}-x`;
    const clients = emulatorClients();
    const network = await seedNetwork(clients);
    await seedCluster(clients, network.subnetIds, network.securityGroupId, c?.clusterName);
    clients.destroy();
    await world.apply(first);
    const a = await world.waitFor(first.metadata.name ?? '', 'Ready', isReady, 90_000);
    await world.apply(second);
    const b = await world.waitFor('y', 'Ready', isReady, 90_000);
    const original = `my-eks-cluster-${world.namespace}-x-${world.namespace}-y`;
    expect(a.status?.stackName).toBe(original);
    expect(b.status?.stackName).toMatch(new RegExp(`^${original}-[0-9a-f]{8}$`));
    expect(b.status?.activeScalingGroupName).not.toBe(a.status?.activeScalingGroupName);
    const stack = await world.aws.cloudFormation.describeStack(a.status?.stackName ?? '');
    expect(stack?.tags['instancegroups.keikoproj.io/InstanceGroup']).toBe(first.metadata.name);
    await world.remove('y');
    expect(await world.aws.cloudFormation.describeStack(a.status?.stackName ?? '')).toBeDefined();
    await world.remove(first.metadata.name ?? '');
  }, 180_000);

  it('a strategy that does not fit the provisioner is an error naming the field', async () => {
    const bad = talkCopy('wrong-strategy', 1);
    bad.spec.strategy = { type: 'managed' };
    await world.apply(bad);
    const ig = await world.waitFor('wrong-strategy', 'Error', (g) => g.status?.currentState === 'Error');
    expect(condition(ig, 'SpecValid')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(ig, 'Ready')?.message).toContain(
      'spec.strategy.type: managed is only for provisioner eks-managed',
    );
    expect((await world.events('wrong-strategy')).map((e) => e.reason)).toContain('InvalidSpec');
    await world.remove('wrong-strategy');
  }, 60_000);
});

describe('eks', () => {
  it("creates role, launch template and scaling group with lifecycle hooks, and nodes join with the group's labels and taints", async () => {
    await world.apply(eksGroup('workers'));
    const ig = await world.waitFor('workers', 'Ready', isReady, 90_000);
    const name = groupNameOf(ig);
    const group = await world.aws.autoScaling.describeGroup(name);
    expect(group).toMatchObject({ minSize: 2, maxSize: 3, suspendedProcesses: ['AZRebalance'] });
    expect(group?.mixedInstancesPolicy?.overrides.map((o) => o.instanceType)).toEqual([
      'm5.large',
      'm5a.large',
    ]);
    expect(group?.tags).toMatchObject({
      team: 'platform',
      'instancegroups.keikoproj.io/InstanceGroup': 'workers',
    });
    const hooks = await world.aws.autoScaling.describeLifecycleHooks(name);
    expect(hooks.map((h) => [h.hookName, h.transition, h.defaultResult, h.heartbeatTimeoutSeconds])).toEqual([
      ['drain-on-terminate', 'autoscaling:EC2_INSTANCE_TERMINATING', 'CONTINUE', 300],
    ]);
    expect(ig.status).toMatchObject({
      lifecycle: 'mixed',
      activeLaunchTemplateName: name,
      latestTemplateVersion: '1',
    });
    const role = await world.aws.iam.getRole(ig.status?.nodesInstanceRoleArn?.split('/').pop() ?? '');
    expect(role).toBeDefined();
    const nodes = await world.groupNodes(name);
    expect(nodes).toHaveLength(2);
    for (const n of nodes) {
      expect(n.metadata?.labels).toMatchObject({ team: 'platform', 'node.kubernetes.io/role': 'workers' });
      expect(registeredTaints(n)).toEqual([{ key: 'dedicated', value: 'platform', effect: 'NoSchedule' }]);
    }
  }, 120_000);

  it('with lock-upgrades, a spec change makes a new launch template version but rotates nothing; unlocked, every node is replaced', async () => {
    const before = (await world.get('workers')) as InstanceGroup;
    const name = groupNameOf(before);
    const oldNodes = (await world.groupNodes(name)).map((n) => n.metadata?.name).sort();
    const patched = structuredClone(before);
    patched.metadata.annotations = {
      ...patched.metadata.annotations,
      'instancemgr.keikoproj.io/lock-upgrades': 'true',
    };
    if (patched.spec.eks?.configuration) {
      patched.spec.eks.configuration.labels = { team: 'platform', tier: 'two' };
      // Its TERMINATING hook goes too: the emulator, as AWS, holds a replaced instance in Terminating:Wait
      // until the hook's heartbeat timeout (300 s) unless lifecycle-manager completes the action (its e2e).
      delete patched.spec.eks.configuration.lifecycleHooks;
    }
    await world.client.replace(InstanceGroupKind, patched);
    const ig = await world.waitFor(
      'workers',
      'Locked',
      (g) => g.status?.currentState === 'Locked' && g.status.latestTemplateVersion === '2',
    );
    expect(condition(ig, 'RollingUpdate')).toMatchObject({ status: 'False', reason: 'Locked' });
    expect(condition(ig, 'Ready')?.message).toContain(
      '2 instance(s) run an older launch template; upgrades are locked',
    );
    const lt = await world.aws.ec2.describeLaunchTemplate({ name });
    expect(lt).toMatchObject({ latestVersion: 2, defaultVersion: 2 });
    expect((await world.groupNodes(name)).map((n) => n.metadata?.name).sort()).toEqual(oldNodes);
    expect(
      (
        await world.client.listAll<V1Node>(ResourceTypes.Node, {
          labelSelector: `${SIMULATOR_LABEL}=${world.namespace}`,
        })
      ).items.some((n) => n.spec?.unschedulable),
    ).toBe(false);

    // Unlocked, the group rotates: every node is replaced by one launched from version 2, whose user data
    // carries the new label.
    const unlocked = structuredClone(ig);
    delete unlocked.metadata.annotations?.['instancemgr.keikoproj.io/lock-upgrades'];
    await world.client.replace(InstanceGroupKind, unlocked);
    await world.waitFor('workers', 'Ready after rotating', isReady, 120_000);
    const rotated = await world.groupNodes(name);
    expect(rotated).toHaveLength(2);
    for (const n of rotated) {
      expect(oldNodes).not.toContain(n.metadata?.name);
      expect(n.metadata?.labels).toMatchObject({ tier: 'two' });
    }
    await world.remove('workers');
  }, 180_000);
});

describe('rollingUpdate', () => {
  it('drains every drifted node (its pods move) before terminating its instance, maxUnavailable at a time', async () => {
    const ig = talkCopy('rotate', 2);
    ig.spec.rollingUpdate = { maxUnavailable: 1 };
    await world.apply(ig);
    const ready = await world.waitFor('rotate', 'Ready', isReady, 90_000);
    const asg = ready.status?.activeScalingGroupName ?? '';
    const oldNodes = (await world.groupNodes(asg)).map((n) => n.metadata?.name ?? '');
    // Work on the group's nodes, which the drain has to move.
    await world.client.create(ResourceTypes.Deployment, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: world.namespace },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { 'node.kubernetes.io/role': 'rotate' },
            containers: [{ name: 'web', image: 'registry.invalid/web:1' }],
          },
        },
      },
    });
    const pods = async () =>
      (
        await world.client.list<V1Pod>(ResourceTypes.Pod, {
          namespace: world.namespace,
          labelSelector: 'app=web',
        })
      ).items;
    await eventually(
      'web pods running on the group',
      async () => (await pods()).filter((p) => p.status?.phase === 'Running').length === 2,
    );
    const changed = structuredClone(ready);
    if (changed.spec['eks-cf']?.configuration) changed.spec['eks-cf'].configuration.instanceType = 'm3.large';
    await world.client.replace(InstanceGroupKind, changed);
    // Never more than one node of the group unavailable while it rotates.
    let worst = 0;
    const done = await eventually(
      'every node replaced',
      async () => {
        const nodes = await world.groupNodes(asg);
        const usable = nodes.filter(
          (n) =>
            !n.spec?.unschedulable &&
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ).length;
        worst = Math.max(worst, 2 - usable);
        const g = await world.get('rotate');
        return g &&
          isReady(g) &&
          g.status?.latestTemplateVersion === '2' &&
          nodes.every((n) => !oldNodes.includes(n.metadata?.name ?? ''))
          ? g
          : undefined;
      },
      120_000,
      200,
      () => world.explain('rotate'),
    );
    expect(worst).toBeLessThanOrEqual(1);
    const events = await world.events('rotate');
    for (const old of oldNodes) {
      const drained = events.find((e) => e.reason === 'NodeDrained' && e.message?.includes(old));
      const terminated = events.find((e) => e.reason === 'InstanceTerminated' && e.message?.includes(old));
      expect(drained).toBeDefined();
      expect(terminated).toBeDefined();
    }
    await eventually('web pods running on the new nodes', async () => {
      const running = (await pods()).filter(
        (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
      );
      return running.length === 2 && running.every((p) => !oldNodes.includes(p.spec?.nodeName ?? ''));
    });
    expect(condition(done, 'RollingUpdate')?.reason).toBe('Complete');
    await world.client.delete(ResourceTypes.Deployment, world.namespace, 'web');
    await world.remove('rotate');
  }, 180_000);
});

describe('aws-auth', () => {
  it('a role shared by two groups stays until the last one goes; user mappings stay; a removed mapping comes back', async () => {
    const shared = `im-it-${runId()}-shared`;
    await world.aws.iam.createRole({ name: shared, assumeRolePolicyDocument: EC2_ASSUME_ROLE_POLICY });
    await world.aws.iam.createInstanceProfile(shared);
    await world.aws.iam.addRoleToInstanceProfile(shared, shared);
    const withRole = (name: string) => {
      const ig = eksGroup(name, 1);
      const c = ig.spec.eks?.configuration;
      if (c) {
        c.roleName = shared;
        delete c.mixedInstancesPolicy;
        c.lifecycleHooks = [];
      }
      return ig;
    };
    await world.apply(withRole('one'));
    await world.apply(withRole('two'));
    const one = await world.waitFor('one', 'Ready', isReady, 90_000);
    await world.waitFor('two', 'Ready', isReady, 90_000);
    const arn = normalizeRoleArn(one.status?.nodesInstanceRoleArn ?? '');
    await eventually('both groups counted', async () => (await awsAuthOwners(world))[arn]?.length === 2);

    // Someone adds a user mapping, and someone removes the shared node mapping.
    const admin = `arn:aws:iam::123456789012:role/${world.namespace}-admins`;
    await eventually('aws-auth edited by hand', async () => {
      const cm = await world.client.get<V1ConfigMap>(
        ResourceTypes.ConfigMap,
        AWS_AUTH_NAMESPACE,
        AWS_AUTH_NAME,
      );
      if (!cm) return false;
      const kept = (cm.data?.mapRoles ?? '').split(/(?=^- )/m).filter((e) => !e.includes(arn));
      await world.client.replace(ResourceTypes.ConfigMap, {
        ...cm,
        data: {
          ...cm.data,
          mapRoles: `${kept.join('')}- rolearn: ${admin}\n  username: admin\n  groups: [system:masters]\n`,
        },
      });
      return true;
    });
    await eventually(
      'the removed node mapping restored',
      async () => (await mappedRoles(world)).includes(arn),
      30_000,
    );
    // The Event follows the write that restored the mapping.
    await eventually('a RoleMappingRestored event', async () =>
      (await world.events('one'))
        .concat(await world.events('two'))
        .some((e) => e.reason === 'RoleMappingRestored'),
    );

    await world.remove('one');
    expect(await mappedRoles(world)).toEqual(expect.arrayContaining([arn, admin]));
    expect((await awsAuthOwners(world))[arn]).toEqual([`${world.namespace}/two`]);
    await world.remove('two');
    const after = await mappedRoles(world);
    expect(after).not.toContain(arn);
    expect(after).toContain(admin);
    // The group did not own the role: it is still there.
    expect(await world.aws.iam.getRole(shared)).toBeDefined();
    // Leave the shared aws-auth as it was: take the hand-made mapping out again.
    await eventually('the hand-made mapping removed', async () => {
      const cm = await world.client.get<V1ConfigMap>(
        ResourceTypes.ConfigMap,
        AWS_AUTH_NAMESPACE,
        AWS_AUTH_NAME,
      );
      if (!cm) return true;
      const kept = (cm.data?.mapRoles ?? '').split(/(?=^- )/m).filter((e) => !e.includes(admin));
      await world.client.replace(ResourceTypes.ConfigMap, {
        ...cm,
        data: { ...cm.data, mapRoles: kept.join('') },
      });
      return true;
    });
  }, 180_000);
});

describe('crd strategy', () => {
  it('submits a RollingUpgrade for the drifted group, named per launch template version and scoped to its scaling group', async () => {
    // The example's crd strategy on an eks-cf group (the emulator launches from CloudFormation-made
    // template versions; see the lock-upgrades test).
    const ig0 = talkCopy('batch', 1);
    delete ig0.spec.rollingUpdate;
    ig0.spec.strategy = structuredClone(example('instance-manager/eks-crd-strategy.yaml').spec.strategy);
    const crd = ig0.spec.strategy?.crd;
    if (crd) crd.spec = crd.spec.replace('namespace: instance-manager', `namespace: ${world.namespace}`);
    await world.apply(ig0);
    const ready = await world.waitFor('batch', 'Ready', isReady, 90_000);
    const changed = structuredClone(ready);
    if (changed.spec['eks-cf']?.configuration)
      changed.spec['eks-cf'].configuration.instanceType = 'c5.2xlarge';
    await world.client.replace(InstanceGroupKind, changed);
    const upgrading = await world.waitFor(
      'batch',
      'a RollingUpgrade submitted',
      (g) => g.status?.currentState === 'InitUpgrade' && !!g.status.strategyResourceName,
    );
    const ruName = upgrading.status?.strategyResourceName ?? '';
    expect(ruName).toMatch(/^rollup-nodes-[0-9a-f]{6}-2$/);
    // The name is written to status before the resource is created (so a restart finds it): wait for it.
    const ru = await eventually('the RollingUpgrade to be created', () =>
      world.client.get<KubernetesObject & { spec?: { asgName?: string } }>(
        RollingUpgradeKind,
        world.namespace,
        ruName,
      ),
    );
    const asg = upgrading.status?.activeScalingGroupName ?? '';
    expect(ru?.spec?.asgName).toBe(asg);
    expect(ru?.metadata?.annotations?.['instancemgr.keikoproj.io/upgrade-scope']).toBe(asg);
    // Who completes it (upgrade-manager, the real one) and what follows (Forbid, maxRetries): e2e/instance-manager.
    expect(upgrading.status?.strategyRetryCount ?? 0).toBe(0);
  }, 180_000);
});

describe('eks-managed and eks-fargate', () => {
  it('a managed node group and a Fargate profile reach Ready and are deleted', async () => {
    await world.apply(named(example('instance-manager/eks-managed.yaml'), 'managed'));
    await world.apply(named(example('instance-manager/eks-fargate.yaml'), 'serverless'));
    const managed = await world.waitFor('managed', 'Ready', isReady, 90_000);
    const fargate = await world.waitFor('serverless', 'Ready', isReady, 60_000);
    expect(managed.status).toMatchObject({
      provisioner: 'eks-managed',
      strategy: 'managed',
      currentMin: 2,
      currentMax: 4,
    });
    expect(fargate.status).toMatchObject({
      provisioner: 'eks-fargate',
      nodesInstanceRoleArn: 'arn:aws:iam::123456789012:role/my-pod-execution-role',
    });
    const ngName = managed.status?.activeScalingGroupName ?? '';
    expect(await world.aws.eks.describeNodegroup('my-eks-cluster', ngName)).toMatchObject({
      status: 'ACTIVE',
      labels: { lifecycle: 'managed' },
    });

    // Size and labels: UpdateNodegroupConfig; Kubernetes version and AMI release: UpdateNodegroupVersion
    // (the emulator launcher adds the call moto lacks).
    const changed = structuredClone(managed);
    const spec = changed.spec['eks-managed'];
    if (!spec) throw new Error('fixture');
    spec.maxSize = 5;
    spec.configuration.nodeLabels = { lifecycle: 'managed', tier: 'two' };
    spec.configuration.version = '1.31';
    spec.configuration.releaseVersion = '1.31.3-20250101';
    await world.client.replace(InstanceGroupKind, changed);
    const updated = await eventually('the node group updated in EKS', async () => {
      const ng = await world.aws.eks.describeNodegroup('my-eks-cluster', ngName);
      return ng?.version === '1.31' && ng.labels.tier === 'two' && ng.scaling?.maxSize === 5 ? ng : undefined;
    });
    expect(updated).toMatchObject({ releaseVersion: '1.31.3-20250101', scaling: { minSize: 2, maxSize: 5 } });
    const reasons = (await world.events('managed')).map((e) => e.reason);
    expect(reasons).toContain('NodegroupUpgrading');
    await world.waitFor('managed', 'Ready after the update', (g) => isReady(g) && g.status?.currentMax === 5);
    await world.remove('managed');
    await world.remove('serverless');
    expect(await world.aws.eks.describeNodegroup('my-eks-cluster', ngName)).toBeUndefined();
    expect(
      await world.aws.eks.describeFargateProfile(
        'my-eks-cluster',
        fargate.status?.activeScalingGroupName ?? '',
      ),
    ).toBeUndefined();
  }, 150_000);
});

describe('managed defaults and boundaries', () => {
  it('forces restricted fields from the ConfigMap and records its hash', async () => {
    await world.client.create<V1ConfigMap>(ResourceTypes.ConfigMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'instance-manager', namespace: world.namespace },
      data: {
        defaults:
          'spec:\n  eks-cf:\n    configuration:\n      clusterName: my-eks-cluster\n      tags: [{key: billing, value: platform}]\n',
        boundaries:
          'restricted: [spec.eks-cf.configuration.clusterName]\nshared:\n  merge: [spec.eks-cf.configuration.tags]\n',
      },
    });
    const ig = talkCopy('governed', 1);
    const c = ig.spec['eks-cf']?.configuration;
    if (c) c.clusterName = 'somebody-elses-cluster';
    await world.apply(ig);
    const ready = await world.waitFor('governed', 'Ready', isReady, 90_000);
    expect(ready.status?.configMD5).toMatch(/^[0-9a-f]{32}$/);
    expect(ready.status?.stackName).toBe(`my-eks-cluster-${world.namespace}-governed`);
    const stack = await world.aws.cloudFormation.describeStack(ready.status?.stackName ?? '');
    expect(stack?.tags).toMatchObject({
      billing: 'platform',
      'my-key': 'my-value',
      'instancegroups.keikoproj.io/ClusterName': 'my-eks-cluster',
    });
    expect((await world.events('governed')).map((e) => e.reason)).toContain('FieldRestricted');
    await world.remove('governed');
    await world.client.delete(ResourceTypes.ConfigMap, world.namespace, 'instance-manager');
  }, 120_000);

  it("a shortened GitOps group (upstream's: no provisioner, strategy or cluster) applies, waits for the defaults naming spec.provisioner, then takes them", async () => {
    const ig = talkCopy('gitops', 1);
    delete (ig.spec as { provisioner?: string }).provisioner;
    delete ig.spec.rollingUpdate;
    delete ig.spec.strategy;
    const c = ig.spec['eks-cf']?.configuration;
    if (c) delete c.clusterName;
    await world.apply(ig);
    const waiting = await world.waitFor('gitops', 'Error', (g) => g.status?.currentState === 'Error');
    const message = condition(waiting, 'Ready')?.message ?? '';
    expect(message).toBe(
      `spec.provisioner: not set by the group, nor by the cluster defaults (ConfigMap ${world.namespace}/instance-manager)`,
    );
    await eventually('the InvalidSpec Event naming spec.provisioner', async () =>
      (await world.events('gitops')).some((e) => e.reason === 'InvalidSpec' && e.message === message)
        ? true
        : undefined,
    );
    await world.client.create<V1ConfigMap>(ResourceTypes.ConfigMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'instance-manager', namespace: world.namespace },
      data: {
        defaults:
          'spec:\n  provisioner: eks-cf\n  eks-cf:\n    configuration:\n      clusterName: my-eks-cluster\n',
        boundaries: 'restricted: [spec.provisioner, spec.eks-cf.configuration.clusterName]\n',
      },
    });
    const ready = await world.waitFor('gitops', 'Ready from the defaults', isReady, 90_000);
    expect(ready.status?.provisioner).toBe('eks-cf');
    expect(ready.status?.stackName).toBe(`my-eks-cluster-${world.namespace}-gitops`);
    expect(ready.spec.provisioner).toBeUndefined();
    await world.remove('gitops');
    await world.client.delete(ResourceTypes.ConfigMap, world.namespace, 'instance-manager');
  }, 150_000);
});

describe('dry run', () => {
  it('renders and reports what it would do without touching AWS', async () => {
    const dry = await startWorld({ dryRun: true, prefix: 'im-dry' });
    try {
      await dry.apply(talkCopy('rehearsal', 1));
      await eventually('a DryRun event', async () =>
        (await dry.events('rehearsal')).some(
          (e) => e.reason === 'DryRun' && /would create stack/.test(e.message ?? ''),
        ),
      );
      const ig = await dry.get('rehearsal');
      expect(await dry.aws.cloudFormation.describeStack(stackNameOf(ig as InstanceGroup))).toBeUndefined();
      expect(ig?.metadata.finalizers ?? []).toEqual([]);
    } finally {
      await dry.stop();
    }
  }, 90_000);
});
