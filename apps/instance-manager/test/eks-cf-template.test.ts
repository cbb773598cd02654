// The eks-cf provisioner's CloudFormation template, rendered from the talk's example.
import { describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup } from '@keiko/api';
import { kubeletRegistrationFromUserData } from '../src/provisioners/bootstrap';
import { renderEksCfTemplate, type EksCfResolved } from '../src/provisioners/eks-cf/template';
import { currentOperation, failureReason } from '../src/provisioners/eks-cf/stack-events';
import { stackName } from '../src/names';
import { talkGroup } from './support/fixtures';

const resolved: EksCfResolved = {
  stackName: 'my-eks-cluster-instance-manager-hello-world',
  clusterName: 'my-eks-cluster',
  subnetIds: ['subnet-1', 'subnet-2', 'subnet-3'],
  securityGroupIds: ['sg-1'],
  imageId: 'ami-fe2dc743aEXAMPLE',
};

/** A rendered template, walked by dotted path in assertions. */
class Doc {
  constructor(private readonly root: unknown) {}
  get(path: string): unknown {
    let cur = this.root;
    for (const seg of path.split('.'))
      cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[seg] : undefined;
    return cur;
  }
  keys(path: string): string[] {
    return Object.keys((this.get(path) as Record<string, unknown> | undefined) ?? {}).sort();
  }
}

function render(ig = talkGroup()) {
  const r = renderEksCfTemplate(ig, resolved);
  return { ...r, t: new Doc(r.template) };
}

describe('renderEksCfTemplate (the talk example)', () => {
  it('makes a node role, instance profile, launch template and scaling group', () => {
    const { t, createsIam } = render();
    expect(t.keys('Resources')).toEqual([
      'NodeGroup',
      'NodeInstanceProfile',
      'NodeInstanceRole',
      'NodeLaunchTemplate',
    ]);
    expect(createsIam).toBe(true);
    expect(t.get('Resources.NodeInstanceRole.Properties.ManagedPolicyArns')).toEqual([
      'arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy',
      'arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy',
      'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly',
    ]);
    expect(t.get('Resources.NodeInstanceProfile.Properties.Roles')).toEqual([{ Ref: 'NodeInstanceRole' }]);
  });

  it('puts the spec into the launch template and group', () => {
    const { t } = render();
    const lt = t.get('Resources.NodeLaunchTemplate.Properties.LaunchTemplateData');
    expect(lt).toMatchObject({
      ImageId: 'ami-fe2dc743aEXAMPLE',
      InstanceType: 'm3.medium',
      KeyName: 'my-key-pair',
      SecurityGroupIds: ['sg-1'],
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 80, VolumeType: 'gp2', DeleteOnTermination: true } },
      ],
      IamInstanceProfile: { Arn: { 'Fn::GetAtt': ['NodeInstanceProfile', 'Arn'] } },
    });
    const asg = t.get('Resources.NodeGroup.Properties');
    expect(asg).toMatchObject({
      MinSize: '3',
      MaxSize: '6',
      VPCZoneIdentifier: ['subnet-1', 'subnet-2', 'subnet-3'],
    });
    expect(t.get('Resources.NodeGroup.Properties.LaunchTemplate')).toEqual({
      LaunchTemplateId: { Ref: 'NodeLaunchTemplate' },
      Version: { 'Fn::GetAtt': ['NodeLaunchTemplate', 'LatestVersionNumber'] },
    });
  });

  it('has no CloudFormation update policy and no desired capacity: the controller rotates, drains first, and never resets the size', () => {
    const { t } = render();
    expect(t.get('Resources.NodeGroup.UpdatePolicy')).toBeUndefined();
    expect(t.get('Resources.NodeGroup.Properties.DesiredCapacity')).toBeUndefined();
  });

  it('tags the group with ownership, the group identity and the user tags', () => {
    const { t, tags } = render();
    const asgTags = Object.fromEntries(
      (
        t.get('Resources.NodeGroup.Properties.Tags') as Array<{
          Key: string;
          Value: string;
          PropagateAtLaunch: string;
        }>
      ).map((x) => [x.Key, x.Value]),
    );
    expect(asgTags).toMatchObject({
      Name: `${resolved.stackName}-Node`,
      'kubernetes.io/cluster/my-eks-cluster': 'owned',
      KubernetesCluster: 'my-eks-cluster',
      'instancegroups.keikoproj.io/ClusterName': 'my-eks-cluster',
      'instancegroups.keikoproj.io/Namespace': 'instance-manager',
      'instancegroups.keikoproj.io/InstanceGroup': 'hello-world',
      'my-key': 'my-value',
    });
    expect(tags.Name).toBeUndefined(); // a Name stack tag would rename every resource
    expect(tags['my-key']).toBe('my-value');
  });

  it("bootstraps nodes with the group labels and the talk's bootstrapArguments inside --kubelet-extra-args", () => {
    const { t } = render();
    const userData = Buffer.from(
      t.get('Resources.NodeLaunchTemplate.Properties.LaunchTemplateData.UserData') as string,
      'base64',
    ).toString();
    expect(userData).toContain(
      "/etc/eks/bootstrap.sh 'my-eks-cluster' --kubelet-extra-args '--node-labels=instancemgr.keikoproj.io/lifecycle=normal,node.kubernetes.io/role=hello-world --node-labels=some-label=true'",
    );
    expect(kubeletRegistrationFromUserData(userData).labels).toEqual({
      'instancemgr.keikoproj.io/lifecycle': 'normal',
      'node.kubernetes.io/role': 'hello-world',
      'some-label': 'true',
    });
  });

  it('outputs what the controller reads', () => {
    const { t } = render();
    expect(t.keys('Outputs')).toEqual([
      'AsgName',
      'LaunchTemplateId',
      'LaunchTemplateName',
      'LaunchTemplateVersion',
      'NodeInstanceRole',
    ]);
    expect(t.get('Outputs.NodeInstanceRole.Value')).toEqual({ 'Fn::GetAtt': ['NodeInstanceRole', 'Arn'] });
  });

  it('renders byte-identical templates for the same spec (no spurious stack updates)', () => {
    expect(render().body).toBe(render().body);
  });

  it('uses an existing role and profile without creating IAM resources', () => {
    const ig = talkGroup();
    const cf = ig.spec['eks-cf'];
    if (!cf?.configuration) throw new Error('fixture');
    cf.configuration.roleName = 'shared-nodes';
    cf.configuration.instanceProfileName = 'shared-nodes-profile';
    const { t, createsIam } = render(ig);
    expect(t.get('Resources.NodeInstanceRole')).toBeUndefined();
    expect(t.get('Resources.NodeInstanceProfile')).toBeUndefined();
    expect(createsIam).toBe(false);
    expect(t.get('Outputs.NodeInstanceRole.Value')).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/shared-nodes',
    });
    expect(
      t.get('Resources.NodeLaunchTemplate.Properties.LaunchTemplateData.IamInstanceProfile.Arn'),
    ).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/shared-nodes-profile',
    });
  });

  it('adds managed policies, spot options and metrics collection when asked', () => {
    const ig = talkGroup();
    const c = ig.spec['eks-cf']?.configuration;
    if (!c) throw new Error('fixture');
    c.managedPolicies = ['AmazonSSMManagedInstanceCore', 'arn:aws:iam::123456789012:policy/team'];
    c.spotPrice = '0.05';
    c.metricsCollection = ['GroupInServiceInstances'];
    const { t } = render(ig);
    expect(t.get('Resources.NodeInstanceRole.Properties.ManagedPolicyArns')).toEqual(
      expect.arrayContaining([
        'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
        'arn:aws:iam::123456789012:policy/team',
      ]),
    );
    expect(t.get('Resources.NodeLaunchTemplate.Properties.LaunchTemplateData.InstanceMarketOptions')).toEqual(
      {
        MarketType: 'spot',
        SpotOptions: { MaxPrice: '0.05', SpotInstanceType: 'one-time' },
      },
    );
    expect(t.get('Resources.NodeGroup.Properties.MetricsCollection')).toEqual([
      { Granularity: '1Minute', Metrics: ['GroupInServiceInstances'] },
    ]);
  });

  it('defaults the root volume to 32 GiB like the original', () => {
    const ig = normalizeInstanceGroup(talkGroup());
    delete ig.spec['eks-cf']?.configuration?.volSize;
    expect(
      render(ig).t.get('Resources.NodeLaunchTemplate.Properties.LaunchTemplateData.BlockDeviceMappings'),
    ).toMatchObject([{ Ebs: { VolumeSize: 32 } }]);
  });
});

describe('stack names', () => {
  it('are <cluster>-<namespace>-<name>, made CloudFormation-safe', () => {
    expect(stackName('my-eks-cluster', 'instance-manager', 'hello-world')).toBe(
      'my-eks-cluster-instance-manager-hello-world',
    );
    expect(stackName('c_1', 'ns', 'a.b')).toBe('c-1-ns-a-b');
    expect(stackName('1c', 'ns', 'x')).toMatch(/^ig-1c-ns-x$/);
    const long = stackName('c'.repeat(60), 'n'.repeat(60), 'x'.repeat(60));
    expect(long.length).toBeLessThanOrEqual(128);
    expect(long).not.toBe(stackName('c'.repeat(60), 'n'.repeat(60), 'y'.repeat(60)));
  });
});

describe('stack events', () => {
  const ev = (id: string, status: string, reason?: string, at = 0) => ({
    eventId: `${id}-${status}`,
    stackName: 's',
    logicalResourceId: id,
    resourceType: id === 's' ? 'AWS::CloudFormation::Stack' : 'AWS::AutoScaling::AutoScalingGroup',
    resourceStatus: status,
    ...(reason ? { resourceStatusReason: reason } : {}),
    timestamp: new Date(at),
  });

  it('finds the first resource that failed for a reason of its own, in the latest operation only', () => {
    const newestFirst = [
      ev('s', 'ROLLBACK_COMPLETE', undefined, 9),
      ev('NodeLaunchTemplate', 'CREATE_FAILED', 'Resource creation cancelled', 8),
      ev('NodeGroup', 'CREATE_FAILED', 'subnet-x does not exist', 7),
      ev('s', 'CREATE_IN_PROGRESS', 'User Initiated', 6),
      ev('OldThing', 'UPDATE_FAILED', 'an older operation', 5),
    ];
    const op = currentOperation(newestFirst, 's');
    expect(op.map((e) => e.logicalResourceId)).toEqual(['s', 'NodeGroup', 'NodeLaunchTemplate', 's']);
    expect(failureReason(op, 's')).toBe(
      'NodeGroup (AWS::AutoScaling::AutoScalingGroup) CREATE_FAILED: subnet-x does not exist',
    );
  });
});
