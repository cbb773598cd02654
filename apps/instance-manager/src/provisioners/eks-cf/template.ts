// The eks-cf provisioner's CloudFormation template, rendered from the group's spec. Pure.
//
// One stack per group: a node IAM role and instance profile (unless the group names its own), a launch
// template and an Auto Scaling group. Differences from the original's template, on purpose:
//  - a launch template instead of a launch configuration: AWS no longer lets new accounts create launch
//    configurations, and a template change becomes a new version of the same template (no replacement);
//  - no AutoScalingRollingUpdate policy: CloudFormation would terminate instances without draining them.
//    The controller rotates drifted instances itself (drain first, see strategies/rolling-update.ts),
//    honouring the same minInstancesInService / maxBatchSize / pauseTime;
//  - no DesiredCapacity: it defaults to MinSize at creation, and leaving it out means a stack update never
//    resets a size that cluster-autoscaler (or a person) chose;
//  - every value is rendered into the template (no Parameters), so the template body alone says what
//    the stack holds and two renderings of one spec are byte-identical.
import type { InstanceGroup } from '@keiko/api';
import { blockDeviceMappings, groupTags, managedPolicyArns } from '../common';
import { renderUserData, type BootstrapInput } from '../bootstrap';
import { EC2_ASSUME_ROLE_POLICY } from '@keiko/aws';

export const OUTPUT_ROLE_ARN = 'NodeInstanceRole';
export const OUTPUT_ASG_NAME = 'AsgName';
export const OUTPUT_LAUNCH_TEMPLATE_ID = 'LaunchTemplateId';
export const OUTPUT_LAUNCH_TEMPLATE_NAME = 'LaunchTemplateName';
export const OUTPUT_LAUNCH_TEMPLATE_VERSION = 'LaunchTemplateVersion';

/** What the spec cannot say by itself: names resolved to ids, the image resolved to an AMI. */
export interface EksCfResolved {
  stackName: string;
  clusterName: string;
  subnetIds: string[];
  securityGroupIds: string[];
  imageId: string;
  apiServerEndpoint?: string;
  certificateAuthorityData?: string;
}

export interface RenderedStack {
  template: Record<string, unknown>;
  /** JSON, keys in a fixed order. */
  body: string;
  /** Stack tags (CloudFormation propagates them to the resources it can tag). */
  tags: Record<string, string>;
  /** Whether the template creates IAM resources (CAPABILITY_IAM needed). */
  createsIam: boolean;
}

type Json = Record<string, unknown>;

export function renderEksCfTemplate(ig: InstanceGroup, resolved: EksCfResolved): RenderedStack {
  const block = ig.spec['eks-cf'];
  const config = block?.configuration ?? {};
  const namespace = ig.metadata.namespace ?? 'default';
  const name = ig.metadata.name ?? '';
  const minSize = block?.minSize ?? 0;
  const maxSize = block?.maxSize ?? minSize;
  const spot = !!config.spotPrice;

  const tags = groupTags({
    clusterName: resolved.clusterName,
    namespace,
    name,
    nameTag: `${resolved.stackName}-Node`,
    userTags: config.tags,
  });
  const { Name: _asgNameTag, ...stackTags } = tags;

  const bootstrap: BootstrapInput = {
    clusterName: resolved.clusterName,
    groupName: name,
    spot,
    ...(config.bootstrapArguments ? { bootstrapArguments: config.bootstrapArguments } : {}),
    ...(resolved.apiServerEndpoint ? { apiServerEndpoint: resolved.apiServerEndpoint } : {}),
    ...(resolved.certificateAuthorityData
      ? { certificateAuthorityData: resolved.certificateAuthorityData }
      : {}),
  };
  const userData = Buffer.from(renderUserData(bootstrap), 'utf8').toString('base64');

  const resources: Json = {};
  const existingRole = config.roleName?.trim();
  const existingProfile = config.instanceProfileName?.trim();
  let createsIam = false;

  if (!existingRole) {
    createsIam = true;
    resources.NodeInstanceRole = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: JSON.parse(EC2_ASSUME_ROLE_POLICY) as Json,
        Path: '/',
        ManagedPolicyArns: managedPolicyArns(config.managedPolicies),
      },
    };
  }
  if (!existingProfile) {
    createsIam = true;
    resources.NodeInstanceProfile = {
      Type: 'AWS::IAM::InstanceProfile',
      Properties: { Path: '/', Roles: [existingRole ? existingRole : { Ref: 'NodeInstanceRole' }] },
    };
  }
  const profileArn = existingProfile
    ? { 'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:instance-profile/${existingProfile}` }
    : { 'Fn::GetAtt': ['NodeInstanceProfile', 'Arn'] };

  const launchTemplateData: Json = {
    ImageId: resolved.imageId,
    InstanceType: config.instanceType,
    IamInstanceProfile: { Arn: profileArn },
    SecurityGroupIds: resolved.securityGroupIds,
    BlockDeviceMappings: blockDeviceMappings(undefined, config.volSize),
    UserData: userData,
    ...(config.keyPairName ? { KeyName: config.keyPairName } : {}),
    ...(spot
      ? {
          InstanceMarketOptions: {
            MarketType: 'spot',
            SpotOptions: { MaxPrice: config.spotPrice, SpotInstanceType: 'one-time' },
          },
        }
      : {}),
  };
  resources.NodeLaunchTemplate = {
    Type: 'AWS::EC2::LaunchTemplate',
    Properties: { LaunchTemplateName: resolved.stackName, LaunchTemplateData: launchTemplateData },
  };

  const metrics = config.metricsCollection ?? [];
  resources.NodeGroup = {
    Type: 'AWS::AutoScaling::AutoScalingGroup',
    Properties: {
      MinSize: String(minSize),
      MaxSize: String(maxSize),
      LaunchTemplate: {
        LaunchTemplateId: { Ref: 'NodeLaunchTemplate' },
        Version: { 'Fn::GetAtt': ['NodeLaunchTemplate', 'LatestVersionNumber'] },
      },
      VPCZoneIdentifier: resolved.subnetIds,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value, PropagateAtLaunch: 'true' })),
      ...(metrics.length > 0
        ? {
            MetricsCollection: [
              {
                Granularity: '1Minute',
                ...(metrics.some((m) => m.toLowerCase() === 'all') ? {} : { Metrics: metrics }),
              },
            ],
          }
        : {}),
    },
  };

  const roleArn = existingRole
    ? { 'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${existingRole}` }
    : { 'Fn::GetAtt': ['NodeInstanceRole', 'Arn'] };
  const template: Json = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `instance-manager: InstanceGroup ${namespace}/${name} (eks-cf) for cluster ${resolved.clusterName}`,
    Resources: resources,
    Outputs: {
      [OUTPUT_ROLE_ARN]: { Description: 'The node instance role', Value: roleArn },
      [OUTPUT_ASG_NAME]: { Description: 'The Auto Scaling group', Value: { Ref: 'NodeGroup' } },
      [OUTPUT_LAUNCH_TEMPLATE_ID]: {
        Description: 'The launch template',
        Value: { Ref: 'NodeLaunchTemplate' },
      },
      [OUTPUT_LAUNCH_TEMPLATE_NAME]: { Description: 'The launch template name', Value: resolved.stackName },
      [OUTPUT_LAUNCH_TEMPLATE_VERSION]: {
        Description: 'The launch template version the group launches',
        Value: { 'Fn::GetAtt': ['NodeLaunchTemplate', 'LatestVersionNumber'] },
      },
    },
  };
  return { template, body: JSON.stringify(template, null, 2), tags: stackTags, createsIam };
}
