// The eks provisioner's pure parts: bootstrap user data, launch template data, the scaling group and the
// changes that bring an existing group to it.
import { describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup, type InstanceGroup } from '@keiko/api';
import type { LifecycleHook, ScalingGroup } from '@keiko/aws';
import {
  kubeletRegistrationFromUserData,
  mountCommands,
  renderUserData,
} from '../src/provisioners/bootstrap';
import {
  eksOptimizedAmiParameter,
  isArmInstanceType,
  parseImage,
  parseIsoDuration,
  resolveIntOrPercent,
} from '../src/provisioners/common';
import {
  fingerprint,
  fingerprintOf,
  renderLaunchTemplateData,
  versionDescription,
} from '../src/provisioners/eks/launch-template';
import {
  ALL_SCALING_PROCESSES,
  desiredGroup,
  groupChanges,
  hasChanges,
  MANAGED_HOOKS_TAG,
} from '../src/provisioners/eks/scaling-group';
import { decodeStageData } from '../src/provisioners/userdata/stage-data';
import { example } from './support/fixtures';

const rolling = (): InstanceGroup =>
  normalizeInstanceGroup(example('instance-manager/eks-rolling-update.yaml'));
const resolved = {
  imageId: 'ami-1',
  securityGroupIds: ['sg-1'],
  instanceProfileArn: 'arn:aws:iam::1:instance-profile/p',
};

describe('bootstrap user data', () => {
  it('runs the stages around bootstrap.sh with labels, taints and kubelet flags', () => {
    const text = renderUserData({
      clusterName: 'prod',
      groupName: 'web',
      spot: true,
      labels: { team: 'a' },
      taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }],
      bootstrapArguments: '--v=2',
      maxPods: 58,
      containerRuntime: 'containerd',
      stages: [
        { stage: 'PostBootstrap', data: 'echo after' },
        { stage: 'PreBootstrap', name: 'prep', data: Buffer.from('echo before\n').toString('base64') },
      ],
    });
    const lines = text.split('\n');
    const boot = lines.findIndex((l) => l.startsWith('/etc/eks/bootstrap.sh'));
    expect(lines.indexOf('echo before')).toBeLessThan(boot);
    expect(lines.indexOf('echo after')).toBeGreaterThan(boot);
    expect(lines[boot]).toBe(
      "/etc/eks/bootstrap.sh 'prod' --kubelet-extra-args '--node-labels=instancemgr.keikoproj.io/lifecycle=spot,node.kubernetes.io/role=web,team=a --register-with-taints=dedicated=web:NoSchedule --max-pods=58 --v=2' --use-max-pods false --container-runtime containerd",
    );
    expect(kubeletRegistrationFromUserData(text)).toEqual({
      labels: { 'instancemgr.keikoproj.io/lifecycle': 'spot', 'node.kubernetes.io/role': 'web', team: 'a' },
      taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }],
    });
  });

  it('formats and mounts volumes that ask for it, never the root volume', () => {
    expect(
      mountCommands([
        { name: '/dev/xvda', type: 'gp3', size: 50 },
        {
          name: '/dev/xvdb',
          type: 'gp3',
          size: 100,
          mountOptions: { fileSystem: 'xfs', mount: '/data', persistance: true },
        },
      ]),
    ).toEqual([
      "if ! blkid '/dev/xvdb'; then mkfs.xfs '/dev/xvdb'; fi",
      "mkdir -p '/data'",
      "mount '/dev/xvdb' '/data'",
      "echo '/dev/xvdb /data xfs defaults,nofail 0 2' >> /etc/fstab",
    ]);
  });

  it('decodes base64 stage data and leaves plain text alone', () => {
    expect(decodeStageData(Buffer.from('yum install -y htop').toString('base64'))).toBe(
      'yum install -y htop',
    );
    expect(decodeStageData('echo hello')).toBe('echo hello');
    expect(decodeStageData('abcdabcd')).toBe('abcdabcd');
  });
});

describe('images', () => {
  it('parses ids, latest and ssm:// references', () => {
    expect(parseImage('ami-123')).toEqual({ kind: 'ami', id: 'ami-123' });
    expect(parseImage('latest')).toEqual({ kind: 'latest' });
    expect(parseImage('ssm:///team/ami')).toEqual({ kind: 'ssm', parameter: '/team/ami' });
    expect(parseImage(undefined)).toEqual({ kind: 'missing' });
  });

  it('resolves latest to the EKS-optimized parameter of the cluster version and architecture', () => {
    expect(eksOptimizedAmiParameter('1.31', 'm5.large')).toBe(
      '/aws/service/eks/optimized-ami/1.31/amazon-linux-2/recommended/image_id',
    );
    expect(eksOptimizedAmiParameter('1.31', 'm6g.large')).toBe(
      '/aws/service/eks/optimized-ami/1.31/amazon-linux-2-arm64/recommended/image_id',
    );
    expect(['a1.large', 'c7gn.xlarge', 't4g.small', 'r6gd.large'].every(isArmInstanceType)).toBe(true);
    expect(['m5.large', 'g4dn.xlarge', 'p4d.24xlarge', 'c5n.large'].some(isArmInstanceType)).toBe(false);
  });

  it('parses pause times and percentages', () => {
    expect(parseIsoDuration('PT5M')).toBe(300_000);
    expect(parseIsoDuration('PT1H2M3S')).toBe(3_723_000);
    expect(parseIsoDuration('PT')).toBeUndefined();
    expect(resolveIntOrPercent('30%', 9, 1)).toBe(3);
    expect(resolveIntOrPercent('1%', 9, 1)).toBe(1);
    expect(resolveIntOrPercent(2, 9, 1)).toBe(2);
    expect(resolveIntOrPercent(undefined, 9, 1)).toBe(1);
  });
});

describe('launch template data', () => {
  it('renders the spec, IMDS options included', () => {
    const ig = rolling();
    const c = ig.spec.eks?.configuration;
    if (!c) throw new Error('fixture');
    c.metadataOptions = { httpTokens: 'required', httpPutHopLimit: 2 };
    const data = renderLaunchTemplateData(ig, resolved);
    expect(data).toMatchObject({
      ImageId: 'ami-1',
      InstanceType: 'm5.large',
      KeyName: 'my-key-pair',
      SecurityGroupIds: ['sg-1'],
      IamInstanceProfile: { Arn: 'arn:aws:iam::1:instance-profile/p' },
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
    });
    expect(
      data.BlockDeviceMappings?.map((b) => [b.DeviceName, b.Ebs?.VolumeSize, b.Ebs?.VolumeType]),
    ).toEqual([
      ['/dev/xvda', 50, 'gp3'],
      ['/dev/xvdb', 100, 'gp3'],
    ]);
    // A mixed instances policy buys spot through the group, so the template carries no market options.
    expect(data.InstanceMarketOptions).toBeUndefined();
    const userData = Buffer.from(data.UserData ?? '', 'base64').toString();
    expect(kubeletRegistrationFromUserData(userData)).toEqual({
      labels: {
        'instancemgr.keikoproj.io/lifecycle': 'normal',
        'node.kubernetes.io/role': 'general-purpose',
        team: 'platform',
      },
      taints: [{ key: 'dedicated', value: 'platform', effect: 'NoSchedule' }],
    });
    expect(userData).toContain("mount '/dev/xvdb' '/data'");
  });

  it('fingerprints renderings: equal specs, equal fingerprints; any change, a new version', () => {
    const a = renderLaunchTemplateData(rolling(), resolved);
    const b = renderLaunchTemplateData(rolling(), resolved);
    expect(fingerprint(a)).toBe(fingerprint(b));
    expect(fingerprintOf(versionDescription(a))).toBe(fingerprint(a));
    expect(fingerprintOf('made by hand')).toBeUndefined();
    const changed = rolling();
    if (changed.spec.eks?.configuration) changed.spec.eks.configuration.instanceType = 'm5.xlarge';
    expect(fingerprint(renderLaunchTemplateData(changed, resolved))).not.toBe(fingerprint(a));
  });
});

describe('scaling group', () => {
  const lt = { id: 'lt-1', version: '3' };
  const desired = () =>
    desiredGroup(rolling(), {
      name: 'my-eks-cluster-instance-manager-general-purpose',
      clusterName: 'my-eks-cluster',
      subnetIds: ['subnet-a', 'subnet-b'],
      launchTemplate: lt,
    });

  it('renders size, mixed instances policy, hooks, processes and tags', () => {
    const d = desired();
    expect(d).toMatchObject({
      minSize: 4,
      maxSize: 9,
      subnetIds: ['subnet-a', 'subnet-b'],
      lifecycle: 'mixed',
      suspendProcesses: ['AZRebalance'],
    });
    expect(d.launchTemplate).toBeUndefined();
    expect(d.mixedInstancesPolicy).toEqual({
      launchTemplate: lt,
      overrides: [{ instanceType: 'm5.large' }, { instanceType: 'm5a.large' }],
      instancesDistribution: {
        onDemandAllocationStrategy: 'prioritized',
        onDemandBaseCapacity: 2,
        onDemandPercentageAboveBaseCapacity: 50,
        spotAllocationStrategy: 'capacity-optimized',
      },
    });
    expect(d.lifecycleHooks).toEqual([
      {
        groupName: 'my-eks-cluster-instance-manager-general-purpose',
        hookName: 'drain-on-terminate',
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeoutSeconds: 300,
        defaultResult: 'CONTINUE',
      },
    ]);
    expect(d.tags).toMatchObject({
      team: 'platform',
      [MANAGED_HOOKS_TAG]: 'drain-on-terminate',
      'instancegroups.keikoproj.io/InstanceGroup': 'general-purpose',
    });
  });

  it('suspends every process for [All]', () => {
    const ig = rolling();
    if (ig.spec.eks?.configuration) ig.spec.eks.configuration.suspendProcesses = ['All'];
    expect(
      desiredGroup(ig, { name: 'g', clusterName: 'c', subnetIds: [], launchTemplate: lt }).suspendProcesses,
    ).toEqual(ALL_SCALING_PROCESSES);
  });

  it('computes only the calls needed to converge an existing group', () => {
    const d = desired();
    const current: ScalingGroup = {
      name: d.name,
      minSize: 4,
      maxSize: 6,
      desiredCapacity: 4,
      availabilityZones: [],
      subnetIds: ['subnet-b', 'subnet-a'],
      instances: [],
      tags: { ...d.tags, team: 'old', stale: 'x', 'aws:cloudformation:stack-name': 'keep' },
      tagList: [],
      suspendedProcesses: ['AZRebalance', 'HealthCheck'],
      ...(d.mixedInstancesPolicy ? { mixedInstancesPolicy: d.mixedInstancesPolicy } : {}),
    };
    const hooks: LifecycleHook[] = [
      {
        groupName: d.name,
        hookName: 'lifecycle-manager',
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      },
    ];
    const c = groupChanges(current, d, hooks);
    expect(c.update).toEqual({ maxSize: 9 });
    expect(c.setTags).toEqual([{ key: 'team', value: 'platform' }]);
    expect(c.deleteTags).toEqual(['stale']);
    expect(c.suspend).toEqual([]);
    expect(c.resume).toEqual(['HealthCheck']);
    expect(c.putHooks.map((h) => h.hookName)).toEqual(['drain-on-terminate']);
    expect(c.deleteHooks).toEqual([]); // lifecycle-manager's hook is not ours
    const converged: ScalingGroup = {
      ...current,
      maxSize: 9,
      tags: d.tags,
      suspendedProcesses: ['AZRebalance'],
    };
    expect(hasChanges(groupChanges(converged, d, [...d.lifecycleHooks]))).toBe(false);
  });

  it('deletes only the hooks it made when the spec drops them, and clamps desired into the new size', () => {
    const ig = rolling();
    if (ig.spec.eks) {
      ig.spec.eks.minSize = 5;
      if (ig.spec.eks.configuration) ig.spec.eks.configuration.lifecycleHooks = [];
    }
    const d = desiredGroup(ig, { name: 'g', clusterName: 'c', subnetIds: [], launchTemplate: lt });
    const current: ScalingGroup = {
      name: 'g',
      minSize: 3,
      maxSize: 9,
      desiredCapacity: 3,
      availabilityZones: [],
      subnetIds: [],
      instances: [],
      tagList: [],
      suspendedProcesses: ['AZRebalance'],
      tags: { ...d.tags, [MANAGED_HOOKS_TAG]: 'drain-on-terminate' },
      ...(d.mixedInstancesPolicy ? { mixedInstancesPolicy: d.mixedInstancesPolicy } : {}),
    };
    const hooks: LifecycleHook[] = [
      { groupName: 'g', hookName: 'drain-on-terminate', transition: 'autoscaling:EC2_INSTANCE_TERMINATING' },
      { groupName: 'g', hookName: 'lifecycle-manager', transition: 'autoscaling:EC2_INSTANCE_TERMINATING' },
    ];
    const c = groupChanges(current, d, hooks);
    expect(c.deleteHooks).toEqual(['drain-on-terminate']);
    expect(c.deleteTags).toEqual([MANAGED_HOOKS_TAG]);
    expect(c.update).toEqual({ minSize: 5, desiredCapacity: 5 });
  });
});
