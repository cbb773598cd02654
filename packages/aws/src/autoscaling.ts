// Auto Scaling port: the ASG operations Keiko's controllers need, with Keiko's own plain types so plan
// code and tests never touch SDK shapes. AwsAutoScaling is the SDK adapter; CachedAutoScaling (cache.ts)
// decorates any AutoScalingPort with a short TTL cache.
import {
  CompleteLifecycleActionCommand,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  CreateOrUpdateTagsCommand,
  DeleteAutoScalingGroupCommand,
  DeleteLaunchConfigurationCommand,
  DeleteLifecycleHookCommand,
  DeleteTagsCommand,
  DeleteWarmPoolCommand,
  DescribeLifecycleHooksCommand,
  DescribeWarmPoolCommand,
  DisableMetricsCollectionCommand,
  EnableMetricsCollectionCommand,
  EnterStandbyCommand,
  ExitStandbyCommand,
  PutLifecycleHookCommand,
  PutWarmPoolCommand,
  RecordLifecycleActionHeartbeatCommand,
  ResumeProcessesCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  paginateDescribeAutoScalingGroups,
  paginateDescribeLaunchConfigurations,
} from '@aws-sdk/client-auto-scaling';
import type {
  AutoScalingClient,
  AutoScalingGroup as SdkAutoScalingGroup,
  BlockDeviceMapping as SdkBlockDeviceMapping,
  CreateAutoScalingGroupCommandInput,
  Filter as SdkAsgFilter,
  Instance as SdkAsgInstance,
  LaunchConfiguration as SdkLaunchConfiguration,
  LaunchTemplateSpecification as SdkLaunchTemplateSpecification,
  LifecycleHook as SdkLifecycleHook,
  LifecycleState,
  MixedInstancesPolicy as SdkMixedInstancesPolicy,
  UpdateAutoScalingGroupCommandInput,
  WarmPoolConfiguration as SdkWarmPoolConfiguration,
} from '@aws-sdk/client-auto-scaling';
import { AWS_LIMITS, chunk, unique } from './batching';
import { callAws, hasAwsErrorCode, listForMessage } from './errors';

export type { LifecycleState };

const SERVICE = 'autoscaling';

/** DescribeLaunchConfigurations: LaunchConfigurationNames per call (API limit 50). */
const DESCRIBE_LAUNCH_CONFIGURATIONS_NAMES = 50;
/** DescribeLaunchConfigurations / DescribeWarmPool: records per page (API maximum 100). */
const PAGE_SIZE = 100;

/**
 * A launch template as an ASG (or one of its instances) refers to it. `version` is what AWS reports:
 * `$Latest`, `$Default`, a number as a string, or absent (AWS then uses `$Default`).
 */
export interface LaunchTemplateSpec {
  id?: string;
  name?: string;
  version?: string;
}

export interface MixedInstancesOverride {
  instanceType?: string;
  weightedCapacity?: string;
  /** An override may launch its instance type from a different template than the policy's. */
  launchTemplate?: LaunchTemplateSpec;
}

export interface InstancesDistribution {
  onDemandAllocationStrategy?: string;
  onDemandBaseCapacity?: number;
  onDemandPercentageAboveBaseCapacity?: number;
  spotAllocationStrategy?: string;
  spotInstancePools?: number;
  spotMaxPrice?: string;
}

export interface MixedInstancesPolicy {
  launchTemplate: LaunchTemplateSpec;
  overrides: MixedInstancesOverride[];
  instancesDistribution?: InstancesDistribution;
}

/** An instance as its Auto Scaling group reports it. */
export interface GroupInstance {
  id: string;
  availabilityZone: string;
  lifecycleState: LifecycleState | string;
  /** `Healthy` or `Unhealthy`. */
  healthStatus: string;
  instanceType?: string;
  launchTemplate?: LaunchTemplateSpec;
  launchConfigurationName?: string;
  protectedFromScaleIn: boolean;
}

export interface GroupTag {
  key: string;
  value: string;
  propagateAtLaunch: boolean;
}

export interface ScalingGroup {
  name: string;
  arn?: string;
  /** Exactly one of launchTemplate, mixedInstancesPolicy, launchConfigurationName is normally set. */
  launchTemplate?: LaunchTemplateSpec;
  mixedInstancesPolicy?: MixedInstancesPolicy;
  launchConfigurationName?: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  availabilityZones: string[];
  /** From VPCZoneIdentifier. */
  subnetIds: string[];
  instances: GroupInstance[];
  /** Tag key -> value. */
  tags: Record<string, string>;
  /** The same tags with their propagate-at-launch flag. */
  tagList: GroupTag[];
  suspendedProcesses: string[];
  /** Names of the metrics CloudWatch collects for the group (EnabledMetrics); absent when AWS lists none. */
  enabledMetrics?: string[];
  /** The group's warm pool, when it has one (WarmPoolConfiguration). */
  warmPool?: WarmPoolConfig;
  /** Set while the group is being deleted (`Delete in progress`). */
  status?: string;
  createdTime?: Date;
}

/** A warm pool's configuration, as PutWarmPool takes it and DescribeWarmPool reports it. */
export interface WarmPoolConfig {
  /** Instances kept in the pool at least; AWS's default 0. */
  minSize?: number;
  /**
   * Instances allowed in the pool and the group together; -1 (AWS's default, also reported as absent)
   * means the group's maximum size.
   */
  maxGroupPreparedCapacity?: number;
  /** `Stopped` (AWS's default), `Running` or `Hibernated`. */
  poolState?: string;
  /** Whether instances scaled in go back to the pool instead of being terminated. */
  reuseOnScaleIn?: boolean;
  /** `PendingDelete` while a deleted pool is being emptied (DescribeWarmPool only). */
  status?: string;
}

/** DescribeWarmPool: the configuration and the instances in the pool (`Warmed:*` lifecycle states). */
export interface WarmPool extends WarmPoolConfig {
  instances: GroupInstance[];
}

/** GroupMetrics of EnableMetricsCollection: CloudWatch granularity; AWS knows only `1Minute`. */
export const METRICS_GRANULARITY = '1Minute';

/** An EBS volume of a launch configuration (Auto Scaling's own shape, not EC2's). */
export interface LaunchConfigurationBlockDevice {
  deviceName: string;
  ebs?: {
    volumeSize?: number;
    volumeType?: string;
    iops?: number;
    throughput?: number;
    snapshotId?: string;
    deleteOnTermination?: boolean;
    encrypted?: boolean;
  };
  /** Suppresses a device the AMI maps. */
  noDevice?: boolean;
}

/**
 * What CreateLaunchConfiguration takes. Launch configurations are immutable: a change is a new one
 * (under a new name) and the group is moved to it. AWS no longer lets accounts created after 2024 create
 * them (UnsupportedOperation); launch templates replace them.
 */
export interface LaunchConfigurationSpec {
  name: string;
  imageId: string;
  instanceType: string;
  /** Instance profile name or ARN. */
  iamInstanceProfile?: string;
  /** Security group ids. */
  securityGroups?: string[];
  /** Base64, as AWS wants it. */
  userData?: string;
  keyName?: string;
  /** Maximum spot price; absent for on-demand. */
  spotPrice?: string;
  blockDeviceMappings?: LaunchConfigurationBlockDevice[];
  metadataOptions?: { httpEndpoint?: string; httpTokens?: string; httpPutResponseHopLimit?: number };
  /** `default` or `dedicated` (launch configurations know no `host` tenancy). */
  placementTenancy?: string;
  associatePublicIpAddress?: boolean;
  ebsOptimized?: boolean;
  /** Detailed (1-minute) CloudWatch monitoring of the instances. */
  instanceMonitoring?: boolean;
}

/** A launch configuration as DescribeLaunchConfigurations reports it. */
export interface LaunchConfiguration extends LaunchConfigurationSpec {
  arn?: string;
  createdTime?: Date;
}

export interface TerminateInstanceResult {
  /** The group AWS says the instance belonged to (from the scaling activity). */
  groupName?: string;
  activityId?: string;
  description?: string;
  statusCode?: string;
}

export interface GroupUpdate {
  minSize?: number;
  maxSize?: number;
  desiredCapacity?: number;
  /** Switches the group to this template (and away from a launch configuration / mixed policy). */
  launchTemplate?: LaunchTemplateSpec;
  mixedInstancesPolicy?: MixedInstancesPolicy;
  launchConfigurationName?: string;
  subnetIds?: string[];
  /** Any other UpdateAutoScalingGroup field, passed through as is. */
  extra?: Omit<UpdateAutoScalingGroupCommandInput, 'AutoScalingGroupName'>;
}

export interface GroupCreate {
  name: string;
  minSize: number;
  maxSize: number;
  desiredCapacity?: number;
  launchTemplate?: LaunchTemplateSpec;
  mixedInstancesPolicy?: MixedInstancesPolicy;
  launchConfigurationName?: string;
  subnetIds?: string[];
  availabilityZones?: string[];
  tags?: Array<{ key: string; value: string; propagateAtLaunch?: boolean }>;
  extra?: Omit<CreateAutoScalingGroupCommandInput, 'AutoScalingGroupName' | 'MinSize' | 'MaxSize'>;
}

export interface GroupTagInput {
  key: string;
  value: string;
  /** Default true: Keiko's tags are meant to reach the instances. */
  propagateAtLaunch?: boolean;
}

export interface GroupFilter {
  /** Groups having every one of these tags; a value of `undefined` matches any value of the key. */
  tags?: Readonly<Record<string, string | undefined>>;
}

export type LifecycleTransition =
  'autoscaling:EC2_INSTANCE_LAUNCHING' | 'autoscaling:EC2_INSTANCE_TERMINATING';
export type LifecycleActionResult = 'CONTINUE' | 'ABANDON';

export interface LifecycleHookSpec {
  groupName: string;
  hookName: string;
  transition: LifecycleTransition;
  heartbeatTimeoutSeconds?: number;
  defaultResult?: LifecycleActionResult;
  notificationTargetArn?: string;
  roleArn?: string;
  notificationMetadata?: string;
}

export interface LifecycleHook extends LifecycleHookSpec {
  globalTimeoutSeconds?: number;
}

/** Which pending lifecycle action: by instance id, by the token from the notification, or both. */
export interface LifecycleActionRef {
  groupName: string;
  hookName: string;
  instanceId?: string;
  token?: string;
}

export interface AutoScalingPort {
  /** The named groups that exist, in the order of `names` (missing ones left out). Empty in, empty out. */
  describeGroups(names: readonly string[]): Promise<ScalingGroup[]>;
  /** The group, or undefined when there is no group by that name. */
  describeGroup(name: string): Promise<ScalingGroup | undefined>;
  /** Every group in the region, optionally only those carrying the given tags. */
  listGroups(filter?: GroupFilter): Promise<ScalingGroup[]>;
  createGroup(spec: GroupCreate): Promise<void>;
  /** Deletes the group; false when it did not exist. forceDelete also terminates its instances. */
  deleteGroup(name: string, options?: { forceDelete?: boolean }): Promise<boolean>;
  /** Terminates one instance through its group; with decrementDesired false the group launches a replacement. */
  terminateInstanceInGroup(
    instanceId: string,
    options: { decrementDesired: boolean },
  ): Promise<TerminateInstanceResult>;
  setDesiredCapacity(
    groupName: string,
    desiredCapacity: number,
    options?: { honorCooldown?: boolean },
  ): Promise<void>;
  updateGroup(groupName: string, update: GroupUpdate): Promise<void>;
  enterStandby(
    groupName: string,
    instanceIds: readonly string[],
    options: { decrementDesired: boolean },
  ): Promise<void>;
  exitStandby(groupName: string, instanceIds: readonly string[]): Promise<void>;
  setInstanceProtection(
    groupName: string,
    instanceIds: readonly string[],
    protectedFromScaleIn: boolean,
  ): Promise<void>;
  createOrUpdateTags(groupName: string, tags: readonly GroupTagInput[]): Promise<void>;
  deleteTags(groupName: string, keys: readonly string[]): Promise<void>;
  /** Suspends the named processes (`Launch`, `Terminate`, `AZRebalance`...); all of them when omitted. */
  suspendProcesses(groupName: string, processes?: readonly string[]): Promise<void>;
  resumeProcesses(groupName: string, processes?: readonly string[]): Promise<void>;
  putLifecycleHook(hook: LifecycleHookSpec): Promise<void>;
  describeLifecycleHooks(groupName: string, hookNames?: readonly string[]): Promise<LifecycleHook[]>;
  /** Deletes the hook; false when it did not exist. */
  deleteLifecycleHook(groupName: string, hookName: string): Promise<boolean>;
  completeLifecycleAction(action: LifecycleActionRef & { result: LifecycleActionResult }): Promise<void>;
  recordLifecycleActionHeartbeat(action: LifecycleActionRef): Promise<void>;
  /** The group's warm pool with its instances, or undefined when the group has none. */
  describeWarmPool(groupName: string): Promise<WarmPool | undefined>;
  /** Creates or updates the group's warm pool (status is ignored). */
  putWarmPool(groupName: string, config: WarmPoolConfig): Promise<void>;
  /**
   * Deletes the group's warm pool; false when it had none. forceDelete also terminates its instances
   * without waiting for lifecycle actions.
   */
  deleteWarmPool(groupName: string, options?: { forceDelete?: boolean }): Promise<boolean>;
  /**
   * Enables CloudWatch group metrics at 1-minute granularity: the named ones, or every metric when
   * `metrics` is omitted (AWS's meaning of an empty list). An empty list does nothing.
   */
  enableMetricsCollection(groupName: string, metrics?: readonly string[]): Promise<void>;
  /** Disables the named group metrics, or all of them when `metrics` is omitted. An empty list does nothing. */
  disableMetricsCollection(groupName: string, metrics?: readonly string[]): Promise<void>;
  /** Creates a launch configuration; AWS refuses accounts created after 2024 (code UnsupportedOperation). */
  createLaunchConfiguration(spec: LaunchConfigurationSpec): Promise<void>;
  /** The named launch configurations that exist, in the order of `names`. Empty in, empty out. */
  describeLaunchConfigurations(names: readonly string[]): Promise<LaunchConfiguration[]>;
  /**
   * Every launch configuration in the region, optionally only those whose name starts with `namePrefix`
   * (AWS filters by exact names only: this pages through all of them).
   */
  listLaunchConfigurations(filter?: { namePrefix?: string }): Promise<LaunchConfiguration[]>;
  /**
   * Deletes a launch configuration; false when it did not exist. One still attached to a group is refused
   * by AWS (code ResourceInUse).
   */
  deleteLaunchConfiguration(name: string): Promise<boolean>;
  /**
   * Drops any cached view of the group (all groups when omitted) so the next read goes to AWS. A no-op
   * on the uncached adapter; use it before a read that must reflect changes made by someone else.
   */
  invalidate(groupName?: string): void;
}

// ---- SDK <-> Keiko shapes (pure) -------------------------------------------------------------------

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function fromSdkLaunchTemplate(
  spec: SdkLaunchTemplateSpecification | undefined,
): LaunchTemplateSpec | undefined {
  if (!spec) return undefined;
  const result = definedOnly({
    id: spec.LaunchTemplateId,
    name: spec.LaunchTemplateName,
    version: spec.Version,
  });
  return result.id || result.name ? result : undefined;
}

export function toSdkLaunchTemplate(spec: LaunchTemplateSpec): SdkLaunchTemplateSpecification {
  if (!spec.id && !spec.name) throw new Error('a launch template reference needs an id or a name');
  // AWS rejects a spec carrying both id and name; the id is the unambiguous one.
  return definedOnly({
    LaunchTemplateId: spec.id,
    LaunchTemplateName: spec.id ? undefined : spec.name,
    Version: spec.version,
  });
}

function fromSdkMixedInstancesPolicy(
  policy: SdkMixedInstancesPolicy | undefined,
): MixedInstancesPolicy | undefined {
  const base = fromSdkLaunchTemplate(policy?.LaunchTemplate?.LaunchTemplateSpecification);
  if (!policy || !base) return undefined;
  const distribution = policy.InstancesDistribution;
  return {
    launchTemplate: base,
    overrides: (policy.LaunchTemplate?.Overrides ?? []).map((o) =>
      definedOnly({
        instanceType: o.InstanceType,
        weightedCapacity: o.WeightedCapacity,
        launchTemplate: fromSdkLaunchTemplate(o.LaunchTemplateSpecification),
      }),
    ),
    ...(distribution
      ? {
          instancesDistribution: definedOnly({
            onDemandAllocationStrategy: distribution.OnDemandAllocationStrategy,
            onDemandBaseCapacity: distribution.OnDemandBaseCapacity,
            onDemandPercentageAboveBaseCapacity: distribution.OnDemandPercentageAboveBaseCapacity,
            spotAllocationStrategy: distribution.SpotAllocationStrategy,
            spotInstancePools: distribution.SpotInstancePools,
            spotMaxPrice: distribution.SpotMaxPrice,
          }),
        }
      : {}),
  };
}

function toSdkMixedInstancesPolicy(policy: MixedInstancesPolicy): SdkMixedInstancesPolicy {
  const d = policy.instancesDistribution;
  return {
    LaunchTemplate: {
      LaunchTemplateSpecification: toSdkLaunchTemplate(policy.launchTemplate),
      Overrides: policy.overrides.map((o) =>
        definedOnly({
          InstanceType: o.instanceType,
          WeightedCapacity: o.weightedCapacity,
          LaunchTemplateSpecification: o.launchTemplate ? toSdkLaunchTemplate(o.launchTemplate) : undefined,
        }),
      ),
    },
    ...(d
      ? {
          InstancesDistribution: definedOnly({
            OnDemandAllocationStrategy: d.onDemandAllocationStrategy,
            OnDemandBaseCapacity: d.onDemandBaseCapacity,
            OnDemandPercentageAboveBaseCapacity: d.onDemandPercentageAboveBaseCapacity,
            SpotAllocationStrategy: d.spotAllocationStrategy,
            SpotInstancePools: d.spotInstancePools,
            SpotMaxPrice: d.spotMaxPrice,
          }),
        }
      : {}),
  };
}

export function fromSdkGroupInstance(instance: SdkAsgInstance): GroupInstance {
  return definedOnly({
    id: instance.InstanceId ?? '',
    availabilityZone: instance.AvailabilityZone ?? '',
    lifecycleState: instance.LifecycleState ?? '',
    healthStatus: instance.HealthStatus ?? '',
    instanceType: instance.InstanceType,
    launchTemplate: fromSdkLaunchTemplate(instance.LaunchTemplate),
    launchConfigurationName: instance.LaunchConfigurationName,
    protectedFromScaleIn: instance.ProtectedFromScaleIn ?? false,
  });
}

export function fromSdkGroup(group: SdkAutoScalingGroup): ScalingGroup {
  const tagList: GroupTag[] = (group.Tags ?? [])
    .filter((t) => t.Key !== undefined)
    .map((t) => ({
      key: t.Key ?? '',
      value: t.Value ?? '',
      propagateAtLaunch: t.PropagateAtLaunch ?? false,
    }));
  return definedOnly({
    name: group.AutoScalingGroupName ?? '',
    arn: group.AutoScalingGroupARN,
    launchTemplate: fromSdkLaunchTemplate(group.LaunchTemplate),
    mixedInstancesPolicy: fromSdkMixedInstancesPolicy(group.MixedInstancesPolicy),
    launchConfigurationName: group.LaunchConfigurationName || undefined,
    minSize: group.MinSize ?? 0,
    maxSize: group.MaxSize ?? 0,
    desiredCapacity: group.DesiredCapacity ?? 0,
    availabilityZones: group.AvailabilityZones ?? [],
    subnetIds: (group.VPCZoneIdentifier ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    instances: (group.Instances ?? []).map(fromSdkGroupInstance),
    tags: Object.fromEntries(tagList.map((t) => [t.key, t.value])),
    tagList,
    suspendedProcesses: (group.SuspendedProcesses ?? []).flatMap((p) =>
      p.ProcessName ? [p.ProcessName] : [],
    ),
    enabledMetrics: group.EnabledMetrics?.flatMap((m) => (m.Metric ? [m.Metric] : [])),
    warmPool: group.WarmPoolConfiguration ? fromSdkWarmPoolConfig(group.WarmPoolConfiguration) : undefined,
    status: group.Status,
    createdTime: group.CreatedTime,
  });
}

export function fromSdkWarmPoolConfig(config: SdkWarmPoolConfiguration): WarmPoolConfig {
  return definedOnly({
    minSize: config.MinSize,
    maxGroupPreparedCapacity: config.MaxGroupPreparedCapacity,
    poolState: config.PoolState,
    reuseOnScaleIn: config.InstanceReusePolicy?.ReuseOnScaleIn,
    status: config.Status,
  });
}

export function toSdkLaunchConfiguration(spec: LaunchConfigurationSpec) {
  return definedOnly({
    LaunchConfigurationName: spec.name,
    ImageId: spec.imageId,
    InstanceType: spec.instanceType,
    IamInstanceProfile: spec.iamInstanceProfile,
    SecurityGroups: spec.securityGroups ? [...spec.securityGroups] : undefined,
    UserData: spec.userData,
    KeyName: spec.keyName,
    SpotPrice: spec.spotPrice,
    BlockDeviceMappings: spec.blockDeviceMappings?.map((b): SdkBlockDeviceMapping =>
      definedOnly({
        DeviceName: b.deviceName,
        Ebs: b.ebs
          ? definedOnly({
              VolumeSize: b.ebs.volumeSize,
              VolumeType: b.ebs.volumeType,
              Iops: b.ebs.iops,
              Throughput: b.ebs.throughput,
              SnapshotId: b.ebs.snapshotId,
              DeleteOnTermination: b.ebs.deleteOnTermination,
              Encrypted: b.ebs.encrypted,
            })
          : undefined,
        NoDevice: b.noDevice,
      }),
    ),
    MetadataOptions: spec.metadataOptions
      ? definedOnly({
          HttpEndpoint: spec.metadataOptions.httpEndpoint as 'enabled' | 'disabled' | undefined,
          HttpTokens: spec.metadataOptions.httpTokens as 'optional' | 'required' | undefined,
          HttpPutResponseHopLimit: spec.metadataOptions.httpPutResponseHopLimit,
        })
      : undefined,
    PlacementTenancy: spec.placementTenancy,
    AssociatePublicIpAddress: spec.associatePublicIpAddress,
    EbsOptimized: spec.ebsOptimized,
    InstanceMonitoring:
      spec.instanceMonitoring !== undefined ? { Enabled: spec.instanceMonitoring } : undefined,
  });
}

export function fromSdkLaunchConfiguration(lc: SdkLaunchConfiguration): LaunchConfiguration {
  const metadata = lc.MetadataOptions;
  return definedOnly({
    name: lc.LaunchConfigurationName ?? '',
    arn: lc.LaunchConfigurationARN,
    imageId: lc.ImageId ?? '',
    instanceType: lc.InstanceType ?? '',
    iamInstanceProfile: lc.IamInstanceProfile,
    securityGroups: lc.SecurityGroups,
    userData: lc.UserData,
    keyName: lc.KeyName || undefined,
    spotPrice: lc.SpotPrice,
    blockDeviceMappings: lc.BlockDeviceMappings?.map((b) =>
      definedOnly({
        deviceName: b.DeviceName ?? '',
        ebs: b.Ebs
          ? definedOnly({
              volumeSize: b.Ebs.VolumeSize,
              volumeType: b.Ebs.VolumeType,
              iops: b.Ebs.Iops,
              throughput: b.Ebs.Throughput,
              snapshotId: b.Ebs.SnapshotId,
              deleteOnTermination: b.Ebs.DeleteOnTermination,
              encrypted: b.Ebs.Encrypted,
            })
          : undefined,
        noDevice: b.NoDevice || undefined,
      }),
    ),
    metadataOptions: metadata
      ? definedOnly({
          httpEndpoint: metadata.HttpEndpoint,
          httpTokens: metadata.HttpTokens,
          httpPutResponseHopLimit: metadata.HttpPutResponseHopLimit,
        })
      : undefined,
    placementTenancy: lc.PlacementTenancy,
    associatePublicIpAddress: lc.AssociatePublicIpAddress,
    ebsOptimized: lc.EbsOptimized,
    instanceMonitoring: lc.InstanceMonitoring?.Enabled,
    createdTime: lc.CreatedTime,
  });
}

function fromSdkLifecycleHook(hook: SdkLifecycleHook): LifecycleHook {
  return definedOnly({
    groupName: hook.AutoScalingGroupName ?? '',
    hookName: hook.LifecycleHookName ?? '',
    transition: (hook.LifecycleTransition ?? '') as LifecycleTransition,
    heartbeatTimeoutSeconds: hook.HeartbeatTimeout,
    globalTimeoutSeconds: hook.GlobalTimeout,
    defaultResult: hook.DefaultResult as LifecycleActionResult | undefined,
    notificationTargetArn: hook.NotificationTargetARN,
    roleArn: hook.RoleARN,
    notificationMetadata: hook.NotificationMetadata,
  });
}

/** The DescribeAutoScalingGroups filters for a tag filter (pure; exported for tests). */
export function tagFilters(tags: Readonly<Record<string, string | undefined>> = {}): SdkAsgFilter[] {
  return Object.entries(tags).map(([key, value]) =>
    value === undefined ? { Name: 'tag-key', Values: [key] } : { Name: `tag:${key}`, Values: [value] },
  );
}

/** Orders `groups` as `names` lists them, dropping names with no group (pure; exported for tests). */
export function orderByNames(groups: readonly ScalingGroup[], names: readonly string[]): ScalingGroup[] {
  const byName = new Map(groups.map((g) => [g.name, g]));
  return unique(names).flatMap((n) => {
    const group = byName.get(n);
    return group ? [group] : [];
  });
}

// ---- the SDK adapter -------------------------------------------------------------------------------

export class AwsAutoScaling implements AutoScalingPort {
  constructor(private readonly client: AutoScalingClient) {}

  invalidate(): void {
    // Nothing cached here; see CachedAutoScaling.
  }

  async describeGroups(names: readonly string[]): Promise<ScalingGroup[]> {
    // Never send an empty name list: DescribeAutoScalingGroups would return every group in the region.
    const wanted = unique(names.filter(Boolean));
    if (wanted.length === 0) return [];
    const found: ScalingGroup[] = [];
    for (const batch of chunk(wanted, AWS_LIMITS.describeGroupsNames)) {
      found.push(
        ...(await this.describePages({ AutoScalingGroupNames: batch }, `groups ${listForMessage(batch)}`)),
      );
    }
    return orderByNames(found, wanted);
  }

  async describeGroup(name: string): Promise<ScalingGroup | undefined> {
    const [group] = await this.describeGroups([name]);
    return group;
  }

  listGroups(filter: GroupFilter = {}): Promise<ScalingGroup[]> {
    const filters = tagFilters(filter.tags);
    return this.describePages(filters.length > 0 ? { Filters: filters } : {}, 'all groups');
  }

  private async describePages(
    input: { AutoScalingGroupNames?: string[]; Filters?: SdkAsgFilter[] },
    subject: string,
  ): Promise<ScalingGroup[]> {
    return callAws({ service: SERVICE, operation: 'DescribeAutoScalingGroups', subject }, async () => {
      const groups: ScalingGroup[] = [];
      const pages = paginateDescribeAutoScalingGroups(
        { client: this.client, pageSize: AWS_LIMITS.describeGroupsPageSize },
        { ...input },
      );
      for await (const page of pages) groups.push(...(page.AutoScalingGroups ?? []).map(fromSdkGroup));
      return groups;
    });
  }

  async createGroup(spec: GroupCreate): Promise<void> {
    await callAws(
      { service: SERVICE, operation: 'CreateAutoScalingGroup', subject: `group ${spec.name}` },
      () =>
        this.client.send(
          new CreateAutoScalingGroupCommand(
            definedOnly({
              ...spec.extra,
              AutoScalingGroupName: spec.name,
              MinSize: spec.minSize,
              MaxSize: spec.maxSize,
              DesiredCapacity: spec.desiredCapacity,
              LaunchTemplate: spec.launchTemplate ? toSdkLaunchTemplate(spec.launchTemplate) : undefined,
              MixedInstancesPolicy: spec.mixedInstancesPolicy
                ? toSdkMixedInstancesPolicy(spec.mixedInstancesPolicy)
                : undefined,
              LaunchConfigurationName: spec.launchConfigurationName,
              VPCZoneIdentifier: spec.subnetIds?.join(','),
              AvailabilityZones: spec.availabilityZones,
              Tags: spec.tags?.map((t) => ({
                Key: t.key,
                Value: t.value,
                PropagateAtLaunch: t.propagateAtLaunch ?? true,
              })),
            }),
          ),
        ),
    );
  }

  async deleteGroup(name: string, options: { forceDelete?: boolean } = {}): Promise<boolean> {
    try {
      await callAws({ service: SERVICE, operation: 'DeleteAutoScalingGroup', subject: `group ${name}` }, () =>
        this.client.send(
          new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: options.forceDelete }),
        ),
      );
      return true;
    } catch (err) {
      // AWS answers a missing group with a generic ValidationError; only its message tells.
      if (hasAwsErrorCode(err, 'ValidationError') && /not found/i.test(String((err as Error).message)))
        return false;
      throw err;
    }
  }

  async terminateInstanceInGroup(
    instanceId: string,
    options: { decrementDesired: boolean },
  ): Promise<TerminateInstanceResult> {
    const out = await callAws(
      {
        service: SERVICE,
        operation: 'TerminateInstanceInAutoScalingGroup',
        subject: `instance ${instanceId}`,
      },
      () =>
        this.client.send(
          new TerminateInstanceInAutoScalingGroupCommand({
            InstanceId: instanceId,
            ShouldDecrementDesiredCapacity: options.decrementDesired,
          }),
        ),
    );
    const activity = out.Activity;
    return definedOnly({
      groupName: activity?.AutoScalingGroupName,
      activityId: activity?.ActivityId,
      description: activity?.Description,
      statusCode: activity?.StatusCode,
    });
  }

  async setDesiredCapacity(
    groupName: string,
    desiredCapacity: number,
    options: { honorCooldown?: boolean } = {},
  ): Promise<void> {
    await callAws(
      {
        service: SERVICE,
        operation: 'SetDesiredCapacity',
        subject: `group ${groupName} desired ${desiredCapacity}`,
      },
      () =>
        this.client.send(
          new SetDesiredCapacityCommand({
            AutoScalingGroupName: groupName,
            DesiredCapacity: desiredCapacity,
            HonorCooldown: options.honorCooldown ?? false,
          }),
        ),
    );
  }

  async updateGroup(groupName: string, update: GroupUpdate): Promise<void> {
    await callAws(
      { service: SERVICE, operation: 'UpdateAutoScalingGroup', subject: `group ${groupName}` },
      () =>
        this.client.send(
          new UpdateAutoScalingGroupCommand(
            definedOnly({
              ...update.extra,
              AutoScalingGroupName: groupName,
              MinSize: update.minSize,
              MaxSize: update.maxSize,
              DesiredCapacity: update.desiredCapacity,
              LaunchTemplate: update.launchTemplate ? toSdkLaunchTemplate(update.launchTemplate) : undefined,
              MixedInstancesPolicy: update.mixedInstancesPolicy
                ? toSdkMixedInstancesPolicy(update.mixedInstancesPolicy)
                : undefined,
              LaunchConfigurationName: update.launchConfigurationName,
              VPCZoneIdentifier: update.subnetIds?.join(','),
            }),
          ),
        ),
    );
  }

  async enterStandby(
    groupName: string,
    instanceIds: readonly string[],
    options: { decrementDesired: boolean },
  ): Promise<void> {
    for (const batch of chunk(unique(instanceIds), AWS_LIMITS.standbyInstances)) {
      await callAws(
        {
          service: SERVICE,
          operation: 'EnterStandby',
          subject: `group ${groupName} instances ${listForMessage(batch)}`,
        },
        () =>
          this.client.send(
            new EnterStandbyCommand({
              AutoScalingGroupName: groupName,
              InstanceIds: batch,
              ShouldDecrementDesiredCapacity: options.decrementDesired,
            }),
          ),
      );
    }
  }

  async exitStandby(groupName: string, instanceIds: readonly string[]): Promise<void> {
    for (const batch of chunk(unique(instanceIds), AWS_LIMITS.standbyInstances)) {
      await callAws(
        {
          service: SERVICE,
          operation: 'ExitStandby',
          subject: `group ${groupName} instances ${listForMessage(batch)}`,
        },
        () =>
          this.client.send(new ExitStandbyCommand({ AutoScalingGroupName: groupName, InstanceIds: batch })),
      );
    }
  }

  async setInstanceProtection(
    groupName: string,
    instanceIds: readonly string[],
    protectedFromScaleIn: boolean,
  ): Promise<void> {
    for (const batch of chunk(unique(instanceIds), AWS_LIMITS.protectionInstances)) {
      await callAws(
        {
          service: SERVICE,
          operation: 'SetInstanceProtection',
          subject: `group ${groupName} instances ${listForMessage(batch)}`,
        },
        () =>
          this.client.send(
            new SetInstanceProtectionCommand({
              AutoScalingGroupName: groupName,
              InstanceIds: batch,
              ProtectedFromScaleIn: protectedFromScaleIn,
            }),
          ),
      );
    }
  }

  async createOrUpdateTags(groupName: string, tags: readonly GroupTagInput[]): Promise<void> {
    if (tags.length === 0) return;
    await callAws(
      {
        service: SERVICE,
        operation: 'CreateOrUpdateTags',
        subject: `group ${groupName} tags ${tags.map((t) => t.key).join(',')}`,
      },
      () =>
        this.client.send(
          new CreateOrUpdateTagsCommand({
            Tags: tags.map((t) => ({
              ResourceId: groupName,
              ResourceType: 'auto-scaling-group',
              Key: t.key,
              Value: t.value,
              PropagateAtLaunch: t.propagateAtLaunch ?? true,
            })),
          }),
        ),
    );
  }

  async deleteTags(groupName: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await callAws(
      { service: SERVICE, operation: 'DeleteTags', subject: `group ${groupName} tags ${keys.join(',')}` },
      () =>
        this.client.send(
          new DeleteTagsCommand({
            Tags: keys.map((key) => ({
              ResourceId: groupName,
              ResourceType: 'auto-scaling-group',
              Key: key,
            })),
          }),
        ),
    );
  }

  async suspendProcesses(groupName: string, processes?: readonly string[]): Promise<void> {
    await callAws(
      {
        service: SERVICE,
        operation: 'SuspendProcesses',
        subject: `group ${groupName} processes ${processes?.join(',') ?? 'all'}`,
      },
      () =>
        this.client.send(
          new SuspendProcessesCommand({
            AutoScalingGroupName: groupName,
            ScalingProcesses: processes ? [...processes] : undefined,
          }),
        ),
    );
  }

  async resumeProcesses(groupName: string, processes?: readonly string[]): Promise<void> {
    await callAws(
      {
        service: SERVICE,
        operation: 'ResumeProcesses',
        subject: `group ${groupName} processes ${processes?.join(',') ?? 'all'}`,
      },
      () =>
        this.client.send(
          new ResumeProcessesCommand({
            AutoScalingGroupName: groupName,
            ScalingProcesses: processes ? [...processes] : undefined,
          }),
        ),
    );
  }

  async putLifecycleHook(hook: LifecycleHookSpec): Promise<void> {
    await callAws(
      {
        service: SERVICE,
        operation: 'PutLifecycleHook',
        subject: `group ${hook.groupName} hook ${hook.hookName}`,
      },
      () =>
        this.client.send(
          new PutLifecycleHookCommand(
            definedOnly({
              AutoScalingGroupName: hook.groupName,
              LifecycleHookName: hook.hookName,
              LifecycleTransition: hook.transition,
              HeartbeatTimeout: hook.heartbeatTimeoutSeconds,
              DefaultResult: hook.defaultResult,
              NotificationTargetARN: hook.notificationTargetArn,
              RoleARN: hook.roleArn,
              NotificationMetadata: hook.notificationMetadata,
            }),
          ),
        ),
    );
  }

  async describeLifecycleHooks(groupName: string, hookNames?: readonly string[]): Promise<LifecycleHook[]> {
    const out = await callAws(
      { service: SERVICE, operation: 'DescribeLifecycleHooks', subject: `group ${groupName}` },
      () =>
        this.client.send(
          new DescribeLifecycleHooksCommand({
            AutoScalingGroupName: groupName,
            LifecycleHookNames: hookNames ? [...hookNames] : undefined,
          }),
        ),
    );
    return (out.LifecycleHooks ?? []).map(fromSdkLifecycleHook);
  }

  async deleteLifecycleHook(groupName: string, hookName: string): Promise<boolean> {
    try {
      await callAws(
        {
          service: SERVICE,
          operation: 'DeleteLifecycleHook',
          subject: `group ${groupName} hook ${hookName}`,
        },
        () =>
          this.client.send(
            new DeleteLifecycleHookCommand({ AutoScalingGroupName: groupName, LifecycleHookName: hookName }),
          ),
      );
      return true;
    } catch (err) {
      if (
        hasAwsErrorCode(err, 'ValidationError') &&
        /not found|does not exist/i.test(String((err as Error).message))
      )
        return false;
      throw err;
    }
  }

  async completeLifecycleAction(
    action: LifecycleActionRef & { result: LifecycleActionResult },
  ): Promise<void> {
    await callAws(
      { service: SERVICE, operation: 'CompleteLifecycleAction', subject: lifecycleSubject(action) },
      () =>
        this.client.send(
          new CompleteLifecycleActionCommand(
            definedOnly({
              AutoScalingGroupName: action.groupName,
              LifecycleHookName: action.hookName,
              InstanceId: action.instanceId,
              LifecycleActionToken: action.token,
              LifecycleActionResult: action.result,
            }),
          ),
        ),
    );
  }

  async recordLifecycleActionHeartbeat(action: LifecycleActionRef): Promise<void> {
    await callAws(
      { service: SERVICE, operation: 'RecordLifecycleActionHeartbeat', subject: lifecycleSubject(action) },
      () =>
        this.client.send(
          new RecordLifecycleActionHeartbeatCommand(
            definedOnly({
              AutoScalingGroupName: action.groupName,
              LifecycleHookName: action.hookName,
              InstanceId: action.instanceId,
              LifecycleActionToken: action.token,
            }),
          ),
        ),
    );
  }

  async describeWarmPool(groupName: string): Promise<WarmPool | undefined> {
    return callAws(
      { service: SERVICE, operation: 'DescribeWarmPool', subject: `group ${groupName}` },
      async () => {
        let config: SdkWarmPoolConfiguration | undefined;
        const instances: GroupInstance[] = [];
        let token: string | undefined;
        do {
          const page = await this.client.send(
            new DescribeWarmPoolCommand({
              AutoScalingGroupName: groupName,
              MaxRecords: PAGE_SIZE,
              NextToken: token,
            }),
          );
          config ??= page.WarmPoolConfiguration;
          instances.push(...(page.Instances ?? []).map(fromSdkGroupInstance));
          token = page.NextToken || undefined;
        } while (token);
        return config ? { ...fromSdkWarmPoolConfig(config), instances } : undefined;
      },
    );
  }

  async putWarmPool(groupName: string, config: WarmPoolConfig): Promise<void> {
    await callAws({ service: SERVICE, operation: 'PutWarmPool', subject: `group ${groupName}` }, () =>
      this.client.send(
        new PutWarmPoolCommand(
          definedOnly({
            AutoScalingGroupName: groupName,
            MinSize: config.minSize,
            MaxGroupPreparedCapacity: config.maxGroupPreparedCapacity,
            PoolState: config.poolState as 'Stopped' | 'Running' | 'Hibernated' | undefined,
            InstanceReusePolicy:
              config.reuseOnScaleIn !== undefined ? { ReuseOnScaleIn: config.reuseOnScaleIn } : undefined,
          }),
        ),
      ),
    );
  }

  async deleteWarmPool(groupName: string, options: { forceDelete?: boolean } = {}): Promise<boolean> {
    try {
      await callAws({ service: SERVICE, operation: 'DeleteWarmPool', subject: `group ${groupName}` }, () =>
        this.client.send(
          new DeleteWarmPoolCommand({ AutoScalingGroupName: groupName, ForceDelete: options.forceDelete }),
        ),
      );
      return true;
    } catch (err) {
      // A group without a warm pool: AWS answers with a ValidationError naming the missing pool.
      if (hasAwsErrorCode(err, 'ValidationError') && /warm pool/i.test(String((err as Error).message)))
        return false;
      throw err;
    }
  }

  async enableMetricsCollection(groupName: string, metrics?: readonly string[]): Promise<void> {
    if (metrics && metrics.length === 0) return;
    await callAws(
      {
        service: SERVICE,
        operation: 'EnableMetricsCollection',
        subject: `group ${groupName} metrics ${metrics ? listForMessage(metrics) : 'all'}`,
      },
      () =>
        this.client.send(
          new EnableMetricsCollectionCommand({
            AutoScalingGroupName: groupName,
            Granularity: METRICS_GRANULARITY,
            Metrics: metrics ? [...metrics] : undefined,
          }),
        ),
    );
  }

  async disableMetricsCollection(groupName: string, metrics?: readonly string[]): Promise<void> {
    if (metrics && metrics.length === 0) return;
    await callAws(
      {
        service: SERVICE,
        operation: 'DisableMetricsCollection',
        subject: `group ${groupName} metrics ${metrics ? listForMessage(metrics) : 'all'}`,
      },
      () =>
        this.client.send(
          new DisableMetricsCollectionCommand({
            AutoScalingGroupName: groupName,
            Metrics: metrics ? [...metrics] : undefined,
          }),
        ),
    );
  }

  async createLaunchConfiguration(spec: LaunchConfigurationSpec): Promise<void> {
    await callAws(
      {
        service: SERVICE,
        operation: 'CreateLaunchConfiguration',
        subject: `launch configuration ${spec.name}`,
      },
      () => this.client.send(new CreateLaunchConfigurationCommand(toSdkLaunchConfiguration(spec))),
    );
  }

  async describeLaunchConfigurations(names: readonly string[]): Promise<LaunchConfiguration[]> {
    // Never send an empty name list: AWS would return every launch configuration in the region.
    const wanted = unique(names.filter(Boolean));
    if (wanted.length === 0) return [];
    const found: LaunchConfiguration[] = [];
    for (const batch of chunk(wanted, DESCRIBE_LAUNCH_CONFIGURATIONS_NAMES)) {
      found.push(
        ...(await this.describeLaunchConfigurationPages(
          batch,
          `launch configurations ${listForMessage(batch)}`,
        )),
      );
    }
    const byName = new Map(found.map((lc) => [lc.name, lc]));
    return wanted.flatMap((n) => {
      const lc = byName.get(n);
      return lc ? [lc] : [];
    });
  }

  async listLaunchConfigurations(filter: { namePrefix?: string } = {}): Promise<LaunchConfiguration[]> {
    const all = await this.describeLaunchConfigurationPages(undefined, 'all launch configurations');
    const prefix = filter.namePrefix;
    return prefix ? all.filter((lc) => lc.name.startsWith(prefix)) : all;
  }

  private describeLaunchConfigurationPages(
    names: string[] | undefined,
    subject: string,
  ): Promise<LaunchConfiguration[]> {
    return callAws({ service: SERVICE, operation: 'DescribeLaunchConfigurations', subject }, async () => {
      const out: LaunchConfiguration[] = [];
      const pages = paginateDescribeLaunchConfigurations(
        { client: this.client, pageSize: PAGE_SIZE },
        names ? { LaunchConfigurationNames: names } : {},
      );
      for await (const page of pages)
        out.push(...(page.LaunchConfigurations ?? []).map(fromSdkLaunchConfiguration));
      return out;
    });
  }

  async deleteLaunchConfiguration(name: string): Promise<boolean> {
    try {
      await callAws(
        { service: SERVICE, operation: 'DeleteLaunchConfiguration', subject: `launch configuration ${name}` },
        () => this.client.send(new DeleteLaunchConfigurationCommand({ LaunchConfigurationName: name })),
      );
      return true;
    } catch (err) {
      // AWS answers a missing launch configuration with a generic ValidationError; only its message tells.
      if (
        hasAwsErrorCode(err, 'ValidationError') &&
        /not found|does not exist/i.test(String((err as Error).message))
      )
        return false;
      throw err;
    }
  }
}

function lifecycleSubject(action: LifecycleActionRef): string {
  return `group ${action.groupName} hook ${action.hookName}${action.instanceId ? ` instance ${action.instanceId}` : ''}`;
}
