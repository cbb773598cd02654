// Pure parts of the image check and of mixedInstancesPolicy.instancePool: which types a pool stands for
// (against a table of real instance types, vCPUs/memory/architectures as DescribeInstanceTypes reports
// them), how they land in the mixed instances policy, and why an image cannot launch a group.
import { describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup, type InstanceGroup } from '@keiko/api';
import type { Ec2Image, InstanceTypeInfo } from '@keiko/aws';
import { noopLogger, type KubeClient } from '@keiko/kube-runtime';
import {
  instancePoolName,
  MAX_POLICY_OVERRIDES,
  parseInstanceTypeName,
  resolveInstancePool,
  subFamilyFlexibleTypes,
} from '../src/provisioners/eks/instance-pool';
import { desiredGroup } from '../src/provisioners/eks/scaling-group';
import { imageProblem } from '../src/provisioners/resolve';
import type { AwsPortsForGroups, GroupContext } from '../src/provisioners/types';
import { example } from './support/fixtures';

// [type, default vCPUs, memory MiB, architectures] — real values (us-west-2).
const TABLE: Array<[string, number, number, string[]]> = [
  ['m5.large', 2, 8192, ['x86_64']],
  ['m5.xlarge', 4, 16384, ['x86_64']],
  ['m5a.xlarge', 4, 16384, ['x86_64']],
  ['m5ad.xlarge', 4, 16384, ['x86_64']],
  ['m5d.xlarge', 4, 16384, ['x86_64']],
  ['m5dn.xlarge', 4, 16384, ['x86_64']],
  ['m5n.xlarge', 4, 16384, ['x86_64']],
  ['m5zn.xlarge', 4, 16384, ['x86_64']],
  ['m5.2xlarge', 8, 32768, ['x86_64']],
  ['m5a.2xlarge', 8, 32768, ['x86_64']],
  ['m4.xlarge', 4, 16384, ['x86_64']],
  ['m6i.xlarge', 4, 16384, ['x86_64']],
  ['m6g.xlarge', 4, 16384, ['arm64']],
  ['m6gd.xlarge', 4, 16384, ['arm64']],
  ['m7i.xlarge', 4, 16384, ['x86_64']],
  ['m7i-flex.xlarge', 4, 16384, ['x86_64']],
  ['t3.xlarge', 4, 16384, ['x86_64']],
  ['t3a.xlarge', 4, 16384, ['x86_64']],
  ['c5.xlarge', 4, 8192, ['x86_64']],
  ['c5a.xlarge', 4, 8192, ['x86_64']],
  ['c5n.xlarge', 4, 10752, ['x86_64']],
  ['r5.xlarge', 4, 32768, ['x86_64']],
  ['i4i.xlarge', 4, 32768, ['x86_64']],
  ['i4g.xlarge', 4, 32768, ['arm64']],
  ['im4gn.xlarge', 4, 16384, ['arm64']],
  ['inf1.xlarge', 4, 8192, ['x86_64']],
  ['m3.medium', 1, 3840, ['i386', 'x86_64']],
  ['m5.24xlarge', 96, 393216, ['x86_64']],
  ['m5.metal', 96, 393216, ['x86_64']],
  ['m5d.metal', 96, 393216, ['x86_64']],
  ['u-6tb1.56xlarge', 224, 6291456, ['x86_64']],
];
const catalog: InstanceTypeInfo[] = TABLE.map(([instanceType, vcpus, memoryMiB, architectures]) => ({
  instanceType,
  vcpus,
  memoryMiB,
  architectures,
  usageClasses: ['on-demand', 'spot'],
}));
const info = (t: string) => catalog.find((c) => c.instanceType === t);

describe('instance type names', () => {
  it('splits family, generation, attributes and size', () => {
    expect(parseInstanceTypeName('m5dn.xlarge')).toEqual({
      family: 'm',
      generation: '5',
      attributes: 'dn',
      size: 'xlarge',
    });
    expect(parseInstanceTypeName('m7i-flex.large')).toEqual({
      family: 'm',
      generation: '7',
      attributes: 'i-flex',
      size: 'large',
    });
    // Multi-letter families are families of their own, not the i family.
    expect(parseInstanceTypeName('inf1.xlarge')).toMatchObject({ family: 'inf', generation: '1' });
    expect(parseInstanceTypeName('im4gn.xlarge')).toMatchObject({
      family: 'im',
      generation: '4',
      attributes: 'gn',
    });
    expect(parseInstanceTypeName('u-6tb1.56xlarge')).toBeUndefined();
    expect(parseInstanceTypeName('nonsense')).toBeUndefined();
  });

  it('knows SubFamilyFlexible whatever its case, and nothing else', () => {
    expect(instancePoolName('SubFamilyFlexible')).toBe('SubFamilyFlexible');
    expect(instancePoolName('subfamilyflexible')).toBe('SubFamilyFlexible');
    expect(instancePoolName('FamilyFlexible')).toBeUndefined();
  });
});

describe('SubFamilyFlexible', () => {
  it('m5.xlarge: the m5 variants with 4 vCPUs and 16 GiB, the instanceType first, then by name', () => {
    expect(subFamilyFlexibleTypes('m5.xlarge', catalog)).toEqual({
      types: [
        'm5.xlarge',
        'm5a.xlarge',
        'm5ad.xlarge',
        'm5d.xlarge',
        'm5dn.xlarge',
        'm5n.xlarge',
        'm5zn.xlarge',
      ],
    });
  });

  it('never another generation, family, size or architecture', () => {
    const { types } = subFamilyFlexibleTypes('m5.xlarge', catalog) as { types: string[] };
    for (const other of [
      'm4.xlarge',
      'm6i.xlarge',
      'm6g.xlarge',
      't3.xlarge',
      'im4gn.xlarge',
      'm5.large',
      'm5.2xlarge',
    ])
      expect(types).not.toContain(other);
    expect(subFamilyFlexibleTypes('m6g.xlarge', catalog)).toEqual({ types: ['m6g.xlarge', 'm6gd.xlarge'] });
    expect(subFamilyFlexibleTypes('c5.xlarge', catalog)).toEqual({ types: ['c5.xlarge', 'c5a.xlarge'] }); // c5n has more memory
    expect(subFamilyFlexibleTypes('i4i.xlarge', catalog)).toEqual({ types: ['i4i.xlarge'] }); // i4g is arm64
    expect(subFamilyFlexibleTypes('m7i.xlarge', catalog)).toEqual({
      types: ['m7i.xlarge', 'm7i-flex.xlarge'],
    });
  });

  it('a type alone in its sub-family, or outside the naming pattern, is its own pool', () => {
    expect(subFamilyFlexibleTypes('m3.medium', catalog)).toEqual({ types: ['m3.medium'] });
    expect(subFamilyFlexibleTypes('u-6tb1.56xlarge', catalog)).toEqual({ types: ['u-6tb1.56xlarge'] });
  });

  it('bare metal of the same size is the same capacity (as in the original)', () => {
    expect(subFamilyFlexibleTypes('m5.24xlarge', catalog)).toEqual({
      types: ['m5.24xlarge', 'm5.metal', 'm5d.metal'],
    });
  });

  it('an instanceType the region does not offer is a problem naming it', () => {
    expect(subFamilyFlexibleTypes('m5.xlargee', catalog)).toEqual({
      problem:
        'instance type m5.xlargee is not offered in this region, so instancePool SubFamilyFlexible has nothing to derive types from',
    });
  });

  it('stops at the 40 overrides AWS allows, keeping the instanceType', () => {
    // m5aa.xlarge, m5ab.xlarge... (made up: no real sub-family is that large)
    const letters = (i: number) => String.fromCharCode(97 + Math.floor(i / 26), 97 + (i % 26));
    const many: InstanceTypeInfo[] = [
      'm5.xlarge',
      ...Array.from({ length: 60 }, (_v, i) => `m5${letters(i)}.xlarge`),
    ].map((instanceType) => ({
      instanceType,
      vcpus: 4,
      memoryMiB: 16384,
      architectures: ['x86_64'],
      usageClasses: [],
    }));
    const result = subFamilyFlexibleTypes('m5.xlarge', many) as { types: string[] };
    expect(result.types).toHaveLength(MAX_POLICY_OVERRIDES);
    expect(result.types[0]).toBe('m5.xlarge');
  });
});

describe('the mixed instances policy of a pool group', () => {
  const lt = { id: 'lt-1', version: '1' };
  const poolGroup = (instanceTypes?: Array<{ type: string; weight?: number }>): InstanceGroup => {
    const ig = normalizeInstanceGroup(example('instance-manager/eks-rolling-update.yaml'));
    const c = ig.spec.eks?.configuration;
    if (!c) throw new Error('fixture');
    c.instanceType = 'm5.xlarge';
    c.mixedInstancesPolicy = {
      strategy: 'CapacityOptimized',
      spotRatio: '50%',
      instancePool: 'SubFamilyFlexible',
      ...(instanceTypes ? { instanceTypes } : {}),
    };
    return ig;
  };
  const derived = (subFamilyFlexibleTypes('m5.xlarge', catalog) as { types: string[] }).types;

  it('overrides are the derived types, each one unit of capacity like the instanceType', () => {
    const d = desiredGroup(poolGroup(), {
      name: 'g',
      clusterName: 'c',
      subnetIds: [],
      launchTemplate: lt,
      poolTypes: derived,
    });
    expect(d.mixedInstancesPolicy?.overrides).toEqual(derived.map((instanceType) => ({ instanceType })));
    expect(d.lifecycle).toBe('mixed');
  });

  it('listed instanceTypes win over the pool', () => {
    const d = desiredGroup(poolGroup([{ type: 'c5.xlarge', weight: 1 }]), {
      name: 'g',
      clusterName: 'c',
      subnetIds: [],
      launchTemplate: lt,
      poolTypes: derived,
    });
    expect(d.mixedInstancesPolicy?.overrides).toEqual([
      { instanceType: 'm5.xlarge' },
      { instanceType: 'c5.xlarge', weightedCapacity: '1' },
    ]);
  });

  describe('resolving the pool', () => {
    const context = (ig: InstanceGroup, calls: string[]): GroupContext => ({
      ig,
      namespace: 'ns',
      name: 'g',
      owner: 'instance-manager/ns/g',
      log: noopLogger,
      aws: {
        ec2: {
          describeInstanceTypes: async (types?: readonly string[]) => {
            calls.push(types ? types.join(',') : '*');
            return catalog;
          },
        },
      } as unknown as AwsPortsForGroups,
      kube: {} as KubeClient,
      dryRun: false,
      now: () => new Date(),
      record: async () => {},
      act: async (_op, _d, run) => run(),
      event: () => {},
    });
    const FIELD = 'spec.eks.configuration';

    it('derives the types from every instance type of the region', async () => {
      const calls: string[] = [];
      expect(await resolveInstancePool(context(poolGroup(), calls), FIELD)).toEqual({
        value: derived,
        problems: [],
        warnings: [],
      });
      expect(calls).toEqual(['*']);
    });

    it('an unknown pool is a problem naming the field, found without asking AWS', async () => {
      const ig = poolGroup();
      const policy = ig.spec.eks?.configuration?.mixedInstancesPolicy;
      if (policy) policy.instancePool = 'FamilyFlexible';
      const calls: string[] = [];
      expect(await resolveInstancePool(context(ig, calls), FIELD)).toEqual({
        problems: [
          {
            field: `${FIELD}.mixedInstancesPolicy.instancePool`,
            message: 'unknown instance pool FamilyFlexible (known: SubFamilyFlexible)',
          },
        ],
        warnings: [],
      });
      expect(calls).toEqual([]);
    });

    it('with instanceTypes listed, the pool is ignored with a warning (the original did the same, silently)', async () => {
      const calls: string[] = [];
      const r = await resolveInstancePool(context(poolGroup([{ type: 'c5.xlarge' }]), calls), FIELD);
      expect(r).toEqual({
        problems: [],
        warnings: [
          `${FIELD}.mixedInstancesPolicy.instancePool is ignored: ${FIELD}.mixedInstancesPolicy.instanceTypes lists the types`,
        ],
      });
      expect(calls).toEqual([]);
    });

    it('an instanceType the region does not offer is a problem naming instanceType', async () => {
      const ig = poolGroup();
      if (ig.spec.eks?.configuration) ig.spec.eks.configuration.instanceType = 'm5.huge';
      const r = await resolveInstancePool(context(ig, []), FIELD);
      expect(r.problems.map((p) => p.field)).toEqual([`${FIELD}.instanceType`]);
      expect(r.value).toBeUndefined();
    });
  });
});

describe('image problems', () => {
  const image = (over: Partial<Ec2Image> = {}): Ec2Image => ({
    id: 'ami-0abc',
    state: 'available',
    architecture: 'x86_64',
    tags: {},
    ...over,
  });

  it('an image that exists, is available and runs on the instance type is fine', () => {
    expect(imageProblem('ami-0abc', image(), info('m5.xlarge'))).toBeUndefined();
    expect(imageProblem('ami-0abc', image(), info('m3.medium'))).toBeUndefined(); // i386 and x86_64
    expect(imageProblem('ami-0abc', image({ architecture: 'arm64' }), info('m6g.xlarge'))).toBeUndefined();
  });

  it('names the id of an image that does not exist', () => {
    expect(imageProblem('ami-fe2dc743aEXAMPLE', undefined, info('m3.medium'))).toBe(
      'AMI not found (or not shared with this account): ami-fe2dc743aEXAMPLE',
    );
  });

  it('refuses an image that is not available', () => {
    expect(imageProblem('ami-0abc', image({ state: 'pending' }), info('m5.xlarge'))).toBe(
      'AMI ami-0abc is pending, not available',
    );
    expect(imageProblem('ami-0abc', image({ state: 'deregistered' }), undefined)).toBe(
      'AMI ami-0abc is deregistered, not available',
    );
  });

  it('refuses an image of another architecture than the instance type', () => {
    expect(imageProblem('ami-0abc', image(), info('m6g.xlarge'))).toBe(
      'AMI ami-0abc is x86_64, but instance type m6g.xlarge runs arm64',
    );
    expect(imageProblem('ami-0abc', image({ architecture: 'arm64' }), info('m5.xlarge'))).toBe(
      'AMI ami-0abc is arm64, but instance type m5.xlarge runs x86_64',
    );
  });

  it('cannot check the architecture of an instance type EC2 does not know', () => {
    expect(imageProblem('ami-0abc', image({ architecture: 'arm64' }), undefined)).toBeUndefined();
  });
});
