// The eks provisioner's launch configurations (spec.eks.type: LaunchConfiguration). Pure.
//
// A launch configuration is immutable: each rendering is a new one named `<group>-<fingerprint>` (the
// first 12 hex digits of the MD5 of its canonical JSON), the group is moved to it, and older ones are
// deleted once no instance uses them (keeping --template-retention of them). It is rendered from the same
// data as the launch template (renderLaunchTemplateData): user data, image, instance type, security
// groups, instance profile, volumes, spot price, IMDS options, key pair. What only a launch template can
// express (placement beyond dedicated tenancy, license specifications, mixed instances) is refused,
// naming the field.
//
// AWS no longer lets accounts created after 2024 create launch configurations: CreateLaunchConfiguration
// fails with UnsupportedOperation, reported naming spec.eks.type.
import type { FieldProblem, InstanceGroup } from '@keiko/api';
import type {
  Ec2Instance,
  GroupInstance,
  LaunchConfiguration,
  LaunchConfigurationSpec,
  RequestLaunchTemplateData,
} from '@keiko/aws';
import { md5 } from '../../names';

export const TYPE_FIELD = 'spec.eks.type';

/**
 * Tag (propagated at launch) on a launch-configuration group naming its launch configuration: every
 * instance then carries the name of the configuration it was launched from, in EC2. The group's own
 * per-instance LaunchConfigurationName says the same on AWS; the emulator (moto) reports every instance
 * with the group's current configuration, so drift reads this tag (withEc2LaunchTemplate, below).
 */
export const LAUNCH_CONFIGURATION_TAG = 'instancemgr.keikoproj.io/launch-configuration';

/**
 * The group instance with its launch template version taken from EC2's aws:ec2launchtemplate:* tags when
 * EC2 has them: those are per instance everywhere, while the emulator reports every group instance with
 * the template's default version (see packages/aws README). Likewise its launch configuration, from the
 * tag the eks provisioner propagates to a launch-configuration group's instances (the emulator reports
 * every instance with the group's current configuration, and a template the group moved to). An
 * instance launched from a template has no launch configuration, and the reverse.
 */
export function withEc2LaunchTemplate(instance: GroupInstance, ec2: Ec2Instance | undefined): GroupInstance {
  const lt = ec2?.launchTemplate;
  if (lt?.version) {
    const { launchConfigurationName: _fromTemplate, ...rest } = instance;
    return { ...rest, launchTemplate: { ...instance.launchTemplate, id: lt.id, version: lt.version } };
  }
  const lc = ec2?.tags[LAUNCH_CONFIGURATION_TAG];
  if (!lc) return instance;
  const { launchTemplate: _fromConfiguration, ...rest } = instance;
  return { ...rest, launchConfigurationName: lc };
}

/** AWS's CreateLaunchConfiguration error for accounts that can no longer create launch configurations. */
export const LAUNCH_CONFIGURATION_UNSUPPORTED = 'UnsupportedOperation';

const FINGERPRINT_LENGTH = 12;

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  return v;
}

/** True for `type: LaunchConfiguration`; unset (or LaunchTemplate) means a launch template. */
export function usesLaunchConfiguration(ig: InstanceGroup): boolean {
  return ig.spec.eks?.type === 'LaunchConfiguration';
}

/** What a launch configuration cannot express, naming the fields; empty for launch-template groups. */
export function launchConfigurationProblems(ig: InstanceGroup): FieldProblem[] {
  if (!usesLaunchConfiguration(ig)) return [];
  const config = ig.spec.eks?.configuration;
  const out: FieldProblem[] = [];
  if (config?.mixedInstancesPolicy)
    out.push({
      field: TYPE_FIELD,
      message:
        'LaunchConfiguration cannot have configuration.mixedInstancesPolicy (mixed instances need a launch template): use LaunchTemplate',
    });
  const placement = config?.placement;
  if (placement?.availabilityZone || placement?.hostResourceGroupArn || placement?.tenancy === 'host')
    out.push({
      field: 'spec.eks.configuration.placement',
      message:
        'a launch configuration supports only tenancy default or dedicated (no availabilityZone, hostResourceGroupArn or host tenancy): use spec.eks.type LaunchTemplate',
    });
  if (config?.licenseSpecifications && config.licenseSpecifications.length > 0)
    out.push({
      field: 'spec.eks.configuration.licenseSpecifications',
      message: 'a launch configuration has no license specifications: use spec.eks.type LaunchTemplate',
    });
  return out;
}

/** The launch configuration for the launch template data of the same spec, named after its fingerprint. */
export function launchConfigurationSpec(
  groupName: string,
  data: RequestLaunchTemplateData,
): LaunchConfigurationSpec {
  const metadata = data.MetadataOptions;
  const spotPrice = data.InstanceMarketOptions?.SpotOptions?.MaxPrice;
  const body: Omit<LaunchConfigurationSpec, 'name'> = {
    imageId: data.ImageId ?? '',
    instanceType: String(data.InstanceType ?? ''),
    ...(data.IamInstanceProfile?.Arn || data.IamInstanceProfile?.Name
      ? { iamInstanceProfile: data.IamInstanceProfile.Arn ?? data.IamInstanceProfile.Name ?? '' }
      : {}),
    ...(data.SecurityGroupIds && data.SecurityGroupIds.length > 0
      ? { securityGroups: [...data.SecurityGroupIds] }
      : {}),
    ...(data.UserData ? { userData: data.UserData } : {}),
    ...(data.KeyName ? { keyName: data.KeyName } : {}),
    ...(spotPrice ? { spotPrice } : {}),
    ...(data.BlockDeviceMappings && data.BlockDeviceMappings.length > 0
      ? {
          blockDeviceMappings: data.BlockDeviceMappings.map((b) => ({
            deviceName: b.DeviceName ?? '',
            ...(b.Ebs
              ? {
                  ebs: {
                    ...(b.Ebs.VolumeSize !== undefined ? { volumeSize: b.Ebs.VolumeSize } : {}),
                    ...(b.Ebs.VolumeType ? { volumeType: String(b.Ebs.VolumeType) } : {}),
                    ...(b.Ebs.Iops !== undefined ? { iops: b.Ebs.Iops } : {}),
                    ...(b.Ebs.Throughput !== undefined ? { throughput: b.Ebs.Throughput } : {}),
                    ...(b.Ebs.SnapshotId ? { snapshotId: b.Ebs.SnapshotId } : {}),
                    ...(b.Ebs.DeleteOnTermination !== undefined
                      ? { deleteOnTermination: b.Ebs.DeleteOnTermination }
                      : {}),
                    ...(b.Ebs.Encrypted !== undefined ? { encrypted: b.Ebs.Encrypted } : {}),
                  },
                }
              : {}),
          })),
        }
      : {}),
    ...(metadata &&
    (metadata.HttpEndpoint || metadata.HttpTokens || metadata.HttpPutResponseHopLimit !== undefined)
      ? {
          metadataOptions: {
            ...(metadata.HttpEndpoint ? { httpEndpoint: String(metadata.HttpEndpoint) } : {}),
            ...(metadata.HttpTokens ? { httpTokens: String(metadata.HttpTokens) } : {}),
            ...(metadata.HttpPutResponseHopLimit !== undefined
              ? { httpPutResponseHopLimit: metadata.HttpPutResponseHopLimit }
              : {}),
          },
        }
      : {}),
    ...(data.Placement?.Tenancy === 'dedicated' ? { placementTenancy: 'dedicated' } : {}),
  };
  return {
    name: `${groupName}-${md5(JSON.stringify(canonical(body))).slice(0, FINGERPRINT_LENGTH)}`,
    ...body,
  };
}

/** The fingerprint part of a launch configuration this controller named (names crd strategy resources). */
export function launchConfigurationFingerprint(groupName: string, lcName: string): string | undefined {
  return isOwnLaunchConfiguration(groupName, lcName) ? lcName.slice(groupName.length + 1) : undefined;
}

/**
 * Whether `lcName` is one of the group's launch configurations: `<group>-` and exactly the fingerprint,
 * so the configurations of a group named `<group>-x` are never taken for this group's.
 */
export function isOwnLaunchConfiguration(groupName: string, lcName: string): boolean {
  if (!lcName.startsWith(`${groupName}-`)) return false;
  return new RegExp(`^[0-9a-f]{${FINGERPRINT_LENGTH}}$`).test(lcName.slice(groupName.length + 1));
}

/**
 * The group's launch configurations to delete: never one in `keep` (the one wanted, the one the group
 * uses) or one an instance still runs (`inUse`); of the others, the `retain` newest stay.
 */
export function launchConfigurationsToDelete(input: {
  groupName: string;
  all: readonly LaunchConfiguration[];
  keep: readonly (string | undefined)[];
  inUse: ReadonlySet<string>;
  retain: number;
}): string[] {
  const keep = new Set(input.keep.filter((k): k is string => !!k));
  const old = input.all
    .filter((lc) => isOwnLaunchConfiguration(input.groupName, lc.name) && !keep.has(lc.name))
    .sort(
      (a, b) =>
        (b.createdTime?.getTime() ?? 0) - (a.createdTime?.getTime() ?? 0) || b.name.localeCompare(a.name),
    );
  return old
    .slice(Math.max(0, input.retain))
    .map((lc) => lc.name)
    .filter((n) => !input.inUse.has(n))
    .sort();
}
