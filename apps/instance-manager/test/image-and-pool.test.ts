// The image check and mixedInstancesPolicy.instancePool, with the controller in-process against the real
// test cluster and the AWS emulator. moto loads its built-in AMIs and the real instance type catalogue
// into every region: the sandbox's image parameter points at one of those AMIs (ami-ekslinux, x86_64).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { InstanceGroup } from '@keiko/api';
import { roleName } from '../src/names';
import { stackNameOf } from '../src/provisioners/eks-cf/provisioner';
import { groupNameOf } from '../src/provisioners/eks/provisioner';
import { example } from './support/fixtures';
import { startWorld, type World } from './support/world';

const condition = (ig: InstanceGroup | undefined, type: string) =>
  ig?.status?.conditions?.find((c) => c.type === type);
const isError = (ig: InstanceGroup) => ig.status?.currentState === 'Error';

function named(ig: InstanceGroup, name: string): InstanceGroup {
  const copy = structuredClone(ig);
  copy.metadata = { name };
  delete copy.status;
  return copy;
}

/** The eks example, one instance, no warm pool; `configure` adjusts its configuration. */
function eksGroup(
  name: string,
  configure: (c: NonNullable<NonNullable<InstanceGroup['spec']['eks']>['configuration']>) => void,
): InstanceGroup {
  const ig = named(example('instance-manager/eks-rolling-update.yaml'), name);
  const eks = ig.spec.eks;
  if (!eks?.configuration) throw new Error('fixture has no eks configuration');
  eks.minSize = 1;
  eks.maxSize = 2;
  delete eks.warmPool;
  configure(eks.configuration);
  return ig;
}

/** Nothing of the group exists in AWS: no scaling group, launch template or node role. */
async function nothingCreated(world: World, ig: InstanceGroup): Promise<void> {
  const name = groupNameOf(ig);
  expect(await world.aws.autoScaling.describeGroup(name)).toBeUndefined();
  expect(await world.aws.ec2.describeLaunchTemplate({ name })).toBeUndefined();
  const role = roleName(
    ig.spec.eks?.configuration?.clusterName ?? '',
    world.namespace,
    ig.metadata.name ?? '',
  );
  expect(await world.aws.iam.getRole(role)).toBeUndefined();
}

let world: World;

beforeAll(async () => {
  world = await startWorld({ prefix: 'im-pool' });
}, 240_000);

afterAll(async () => {
  await world?.stop();
}, 180_000);

describe('image check', () => {
  it('an AMI that does not exist is an Error naming spec.eks.configuration.image, and nothing is created', async () => {
    await world.apply(
      eksGroup('no-such-ami', (c) => {
        c.image = 'ami-0123456789abcdef0';
      }),
    );
    const ig = await world.waitFor('no-such-ami', 'Error', isError);
    expect(condition(ig, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidConfiguration' });
    expect(condition(ig, 'Ready')?.message).toBe(
      'spec.eks.configuration.image: AMI not found (or not shared with this account): ami-0123456789abcdef0',
    );
    expect(condition(ig, 'SpecValid')?.status).toBe('True');
    await nothingCreated(world, ig);
    await world.remove('no-such-ami');
  }, 60_000);

  it('an image of another architecture than the instance type is an Error naming where the id came from', async () => {
    await world.apply(
      eksGroup('wrong-arch', (c) => {
        c.instanceType = 'm6g.large'; // arm64; the sandbox's image is x86_64
        delete c.mixedInstancesPolicy;
      }),
    );
    const ig = await world.waitFor('wrong-arch', 'Error', isError);
    expect(condition(ig, 'Ready')?.message).toBe(
      'spec.eks.configuration.image: AMI ami-ekslinux is x86_64, but instance type m6g.large runs arm64 (from ssm:///keiko/sandbox/eks-node-ami)',
    );
    await nothingCreated(world, ig);
    await world.remove('wrong-arch');
  }, 60_000);

  it("the talk's example as written reports its AMI along with its EXAMPLE subnets and security group (eks-cf)", async () => {
    await world.apply(named(example('talk/instancegroup-hello-world.yaml'), 'talk'));
    const ig = await world.waitFor('talk', 'Error', isError);
    const message = condition(ig, 'Ready')?.message ?? '';
    expect(message).toContain('spec.eks-cf.configuration.subnets: subnets not found');
    expect(message).toContain('spec.eks-cf.configuration.securityGroups: security groups not found');
    expect(message).toMatch(
      /; spec\.eks-cf\.configuration\.image: AMI not found \(or not shared with this account\): ami-fe2dc743aEXAMPLE$/,
    );
    expect(await world.aws.cloudFormation.describeStack(stackNameOf(ig))).toBeUndefined();
    await world.remove('talk');
  }, 60_000);
});

describe('mixedInstancesPolicy.instancePool', () => {
  it('SubFamilyFlexible: the scaling group launches the instanceType and its m5 siblings of the same size', async () => {
    await world.apply(
      eksGroup('pool', (c) => {
        c.instanceType = 'm5.xlarge';
        // baseCapacity 1: moto rounds a lone instance's 50% on-demand share down to none, and launches nothing.
        c.mixedInstancesPolicy = {
          strategy: 'CapacityOptimized',
          baseCapacity: 1,
          spotRatio: '50%',
          instancePool: 'SubFamilyFlexible',
        };
      }),
    );
    const ig = await world.waitFor('pool', 'Ready', (g) => g.status?.currentState === 'Ready', 90_000);
    const group = await world.aws.autoScaling.describeGroup(groupNameOf(ig));
    // moto's catalogue is AWS's: every m5 variant with 4 vCPUs, 16 GiB and x86_64.
    expect(group?.mixedInstancesPolicy?.overrides.map((o) => o.instanceType)).toEqual([
      'm5.xlarge',
      'm5a.xlarge',
      'm5ad.xlarge',
      'm5d.xlarge',
      'm5dn.xlarge',
      'm5n.xlarge',
      'm5zn.xlarge',
    ]);
    expect(group?.mixedInstancesPolicy?.instancesDistribution).toMatchObject({
      onDemandPercentageAboveBaseCapacity: 50,
      spotAllocationStrategy: 'capacity-optimized',
    });
    expect(ig.status?.lifecycle).toBe('mixed');
  }, 120_000);

  it('an unknown pool is refused at apply time, naming the field (the controller checks it too: instance-pool.test.ts)', async () => {
    await expect(
      world.apply(
        eksGroup('bad-pool', (c) => {
          c.mixedInstancesPolicy = { instancePool: 'FamilyFlexible' };
        }),
      ),
    ).rejects.toThrow(
      /spec\.eks\.configuration\.mixedInstancesPolicy\.instancePool: .*must be one of SubFamilyFlexible/,
    );
    expect(await world.get('bad-pool')).toBeUndefined();
  }, 60_000);
});
