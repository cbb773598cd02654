// The eks provisioner's launch template data, rendered from the spec. Pure.
//
// Each rendering carries a fingerprint (md5 of its canonical JSON) in the version description; a new
// version is created exactly when the fingerprint of the latest version differs from the spec's. Comparing
// fingerprints rather than EC2's echo of the data means AWS-side defaults and reordering never look like
// drift.
import { formatProblems, type EKSConfiguration, type InstanceGroup } from '@keiko/api';
import type { RequestLaunchTemplateData } from '@keiko/aws';
import { md5 } from '../../names';
import { renderNodeUserData, type UserDataStage } from '../bootstrap';
import { blockDeviceMappings } from '../common';
import { osFamilyOf, osFamilyProblems } from '../os-family';
import { desiredWarmPool } from './warm-pool';

export const FINGERPRINT_PREFIX = 'instance-manager ';

export interface LaunchTemplateResolved {
  imageId: string;
  securityGroupIds: string[];
  instanceProfileArn: string;
  apiServerEndpoint?: string;
  certificateAuthorityData?: string;
  /** The cluster's service CIDR: Amazon Linux 2023 (nodeadm) nodes need it. */
  serviceIpv4Cidr?: string;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

export function fingerprint(data: RequestLaunchTemplateData): string {
  return md5(JSON.stringify(sortKeys(data)));
}

export function versionDescription(data: RequestLaunchTemplateData): string {
  return `${FINGERPRINT_PREFIX}${fingerprint(data)}`;
}

/** The fingerprint a version was created with, if this controller created it. */
export function fingerprintOf(description: string | undefined): string | undefined {
  return description?.startsWith(FINGERPRINT_PREFIX)
    ? description.slice(FINGERPRINT_PREFIX.length)
    : undefined;
}

function stagesOf(config: EKSConfiguration): UserDataStage[] {
  return (config.userData ?? []).map((u) => ({
    stage: u.stage,
    data: u.data,
    ...(u.name ? { name: u.name } : {}),
  }));
}

export function renderLaunchTemplateData(
  ig: InstanceGroup,
  resolved: LaunchTemplateResolved,
): RequestLaunchTemplateData {
  const config = ig.spec.eks?.configuration ?? {};
  const mixed = config.mixedInstancesPolicy !== undefined;
  // The operating system's user data (amazonlinux2 unless the os-family annotation says otherwise). What
  // the family cannot honour is refused here too, never rendered into nodes that cannot boot.
  const family = osFamilyOf(ig);
  const problems = osFamilyProblems(ig);
  if (!family.ok || problems.length > 0) throw new Error(formatProblems(problems));
  // With a warm pool (one the group gets: not one AWS would refuse), the user data joins the cluster only on
  // the boot that goes into service; without one it is what it always was (no new template version).
  const warmPool = desiredWarmPool(ig) !== undefined;
  const userData = renderNodeUserData(family.family, {
    clusterName: config.clusterName ?? '',
    groupName: ig.metadata.name ?? '',
    spot: !!config.spotPrice && !mixed,
    labels: config.labels ?? {},
    taints: config.taints ?? [],
    ...(config.bootstrapArguments ? { bootstrapArguments: config.bootstrapArguments } : {}),
    stages: stagesOf(config),
    volumes: config.volumes ?? [],
    ...(config.bootstrapOptions?.maxPods !== undefined ? { maxPods: config.bootstrapOptions.maxPods } : {}),
    ...(config.bootstrapOptions?.containerRuntime
      ? { containerRuntime: config.bootstrapOptions.containerRuntime }
      : {}),
    ...(resolved.apiServerEndpoint ? { apiServerEndpoint: resolved.apiServerEndpoint } : {}),
    ...(resolved.certificateAuthorityData
      ? { certificateAuthorityData: resolved.certificateAuthorityData }
      : {}),
    ...(resolved.serviceIpv4Cidr ? { serviceIpv4Cidr: resolved.serviceIpv4Cidr } : {}),
    ...(warmPool ? { warmPool } : {}),
  });
  const metadata = config.metadataOptions;
  const placement = config.placement;
  const data: RequestLaunchTemplateData = {
    ImageId: resolved.imageId,
    InstanceType: config.instanceType as RequestLaunchTemplateData['InstanceType'],
    IamInstanceProfile: { Arn: resolved.instanceProfileArn },
    SecurityGroupIds: resolved.securityGroupIds,
    BlockDeviceMappings: blockDeviceMappings(
      config.volumes,
      config.volSize,
    ) as RequestLaunchTemplateData['BlockDeviceMappings'],
    UserData: Buffer.from(userData, 'utf8').toString('base64'),
  };
  if (config.keyPairName) data.KeyName = config.keyPairName;
  if (metadata && (metadata.httpEndpoint || metadata.httpTokens || metadata.httpPutHopLimit !== undefined)) {
    data.MetadataOptions = {
      ...(metadata.httpEndpoint ? { HttpEndpoint: metadata.httpEndpoint } : {}),
      ...(metadata.httpTokens ? { HttpTokens: metadata.httpTokens } : {}),
      ...(metadata.httpPutHopLimit !== undefined
        ? { HttpPutResponseHopLimit: metadata.httpPutHopLimit }
        : {}),
    };
  }
  // A mixed instances policy sets spot through the group; a launch template with market options
  // would be refused for such a group.
  if (config.spotPrice && !mixed) {
    data.InstanceMarketOptions = {
      MarketType: 'spot',
      SpotOptions: { MaxPrice: config.spotPrice, SpotInstanceType: 'one-time' },
    };
  }
  if (placement && (placement.availabilityZone || placement.hostResourceGroupArn || placement.tenancy)) {
    data.Placement = {
      ...(placement.availabilityZone ? { AvailabilityZone: placement.availabilityZone } : {}),
      ...(placement.hostResourceGroupArn ? { HostResourceGroupArn: placement.hostResourceGroupArn } : {}),
      ...(placement.tenancy ? { Tenancy: placement.tenancy } : {}),
    };
  }
  if (config.licenseSpecifications && config.licenseSpecifications.length > 0) {
    data.LicenseSpecifications = config.licenseSpecifications.map((arn) => ({
      LicenseConfigurationArn: arn,
    }));
  }
  return data;
}
