// The eks provisioner's Auto Scaling group: what the spec wants, and the changes that take the group
// there. Pure.
import type { InstanceGroup } from '@keiko/api';
import type {
  GroupUpdate,
  LaunchTemplateSpec,
  LifecycleHook,
  LifecycleHookSpec,
  MixedInstancesPolicy,
  ScalingGroup,
} from '@keiko/aws';
import { groupTags, resolveIntOrPercent } from '../common';
import { LAUNCH_CONFIGURATION_TAG } from './launch-configuration';

/** Tag on the group listing the lifecycle hooks this controller made (others — lifecycle-manager's — are left alone). */
export const MANAGED_HOOKS_TAG = 'instancemgr.keikoproj.io/lifecycle-hooks';

/** Every scaling process, for suspendProcesses: [All]. */
export const ALL_SCALING_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'AlarmNotification',
  'AZRebalance',
  'HealthCheck',
  'InstanceRefresh',
  'ReplaceUnhealthy',
  'ScheduledActions',
];

export interface DesiredGroup {
  name: string;
  minSize: number;
  maxSize: number;
  subnetIds: string[];
  launchTemplate?: LaunchTemplateSpec;
  mixedInstancesPolicy?: MixedInstancesPolicy;
  /** type LaunchConfiguration: the group launches from this launch configuration (no template, no policy). */
  launchConfigurationName?: string;
  tags: Record<string, string>;
  suspendProcesses: string[];
  lifecycleHooks: LifecycleHookSpec[];
  lifecycle: 'normal' | 'spot' | 'mixed';
}

/**
 * `poolTypes`: the types `mixedInstancesPolicy.instancePool` stands for (instance-pool.ts), used when the
 * policy lists no instanceTypes; the instanceType comes first either way.
 */
export function mixedInstancesPolicy(
  ig: InstanceGroup,
  template: LaunchTemplateSpec,
  poolTypes?: readonly string[],
): MixedInstancesPolicy | undefined {
  const config = ig.spec.eks?.configuration;
  const policy = config?.mixedInstancesPolicy;
  if (!policy) return undefined;
  const types = [
    ...(config?.instanceType ? [{ type: config.instanceType }] : []),
    ...(policy.instanceTypes?.length
      ? policy.instanceTypes
      : (poolTypes ?? []).map((type): { type: string; weight?: number } => ({ type }))),
  ].filter((t, i, all) => all.findIndex((o) => o.type === t.type) === i);
  const spotPercent = resolveIntOrPercent(policy.spotRatio, 100, 0);
  return {
    launchTemplate: template,
    overrides: types.map((t) => ({
      instanceType: t.type,
      ...(t.weight !== undefined ? { weightedCapacity: String(t.weight) } : {}),
    })),
    instancesDistribution: {
      onDemandAllocationStrategy: 'prioritized',
      onDemandBaseCapacity: policy.baseCapacity ?? 0,
      onDemandPercentageAboveBaseCapacity: Math.max(0, Math.min(100, 100 - spotPercent)),
      spotAllocationStrategy: policy.strategy === 'LowestPrice' ? 'lowest-price' : 'capacity-optimized',
      ...(policy.strategy === 'LowestPrice' && policy.spotPools
        ? { spotInstancePools: policy.spotPools }
        : {}),
    },
  };
}

export function lifecycleHookSpecs(ig: InstanceGroup, groupName: string): LifecycleHookSpec[] {
  return (ig.spec.eks?.configuration?.lifecycleHooks ?? []).map((h) => ({
    groupName,
    hookName: h.name,
    transition:
      h.lifecycle.toLowerCase() === 'launch'
        ? 'autoscaling:EC2_INSTANCE_LAUNCHING'
        : 'autoscaling:EC2_INSTANCE_TERMINATING',
    ...(h.heartbeatTimeout !== undefined ? { heartbeatTimeoutSeconds: h.heartbeatTimeout } : {}),
    defaultResult: (h.defaultResult ?? 'abandon').toLowerCase() === 'continue' ? 'CONTINUE' : 'ABANDON',
    ...(h.notificationArn ? { notificationTargetArn: h.notificationArn } : {}),
    ...(h.roleArn ? { roleArn: h.roleArn } : {}),
    ...(h.metadata ? { notificationMetadata: h.metadata } : {}),
  }));
}

export function desiredGroup(
  ig: InstanceGroup,
  input: {
    name: string;
    clusterName: string;
    subnetIds: string[];
    /** Exactly one of launchTemplate and launchConfigurationName. */
    launchTemplate?: LaunchTemplateSpec;
    launchConfigurationName?: string;
    poolTypes?: readonly string[];
  },
): DesiredGroup {
  const eks = ig.spec.eks;
  const config = eks?.configuration;
  const minSize = eks?.minSize ?? 0;
  const maxSize = eks?.maxSize ?? minSize;
  const mixed = input.launchTemplate
    ? mixedInstancesPolicy(ig, input.launchTemplate, input.poolTypes)
    : undefined;
  const suspend = config?.suspendProcesses ?? [];
  const hooks = lifecycleHookSpecs(ig, input.name);
  const tags = groupTags({
    clusterName: input.clusterName,
    namespace: ig.metadata.namespace ?? 'default',
    name: ig.metadata.name ?? '',
    nameTag: input.name,
    userTags: config?.tags,
  });
  if (hooks.length > 0)
    tags[MANAGED_HOOKS_TAG] = hooks
      .map((h) => h.hookName)
      .sort()
      .join(',');
  if (input.launchConfigurationName) tags[LAUNCH_CONFIGURATION_TAG] = input.launchConfigurationName;
  return {
    name: input.name,
    minSize,
    maxSize,
    subnetIds: input.subnetIds,
    ...(input.launchConfigurationName
      ? { launchConfigurationName: input.launchConfigurationName }
      : mixed
        ? { mixedInstancesPolicy: mixed }
        : input.launchTemplate
          ? { launchTemplate: input.launchTemplate }
          : {}),
    tags,
    suspendProcesses: suspend.some((p) => p.toLowerCase() === 'all')
      ? [...ALL_SCALING_PROCESSES]
      : [...suspend],
    lifecycleHooks: hooks,
    lifecycle: mixed ? 'mixed' : config?.spotPrice ? 'spot' : 'normal',
  };
}

export interface GroupChanges {
  update?: GroupUpdate;
  setTags: Array<{ key: string; value: string }>;
  deleteTags: string[];
  suspend: string[];
  resume: string[];
  putHooks: LifecycleHookSpec[];
  deleteHooks: string[];
}

function sameTemplate(a: LaunchTemplateSpec | undefined, b: LaunchTemplateSpec | undefined): boolean {
  if (!a || !b) return a === b;
  const sameId = a.id && b.id ? a.id === b.id : (a.name ?? '').toLowerCase() === (b.name ?? '').toLowerCase();
  return sameId && (a.version ?? '') === (b.version ?? '');
}

function sameMixedPolicy(
  current: MixedInstancesPolicy | undefined,
  desired: MixedInstancesPolicy | undefined,
): boolean {
  if (!current || !desired) return current === desired;
  const d = desired.instancesDistribution ?? {};
  const c = current.instancesDistribution ?? {};
  const keys = Object.keys(d) as Array<keyof typeof d>;
  return (
    sameTemplate(current.launchTemplate, desired.launchTemplate) &&
    JSON.stringify(current.overrides.map((o) => [o.instanceType, o.weightedCapacity ?? ''])) ===
      JSON.stringify(desired.overrides.map((o) => [o.instanceType, o.weightedCapacity ?? ''])) &&
    keys.every((k) => c[k] === d[k])
  );
}

function sameHook(a: LifecycleHook, b: LifecycleHookSpec): boolean {
  return (
    a.transition === b.transition &&
    (a.defaultResult ?? 'ABANDON') === (b.defaultResult ?? 'ABANDON') &&
    (b.heartbeatTimeoutSeconds === undefined || a.heartbeatTimeoutSeconds === b.heartbeatTimeoutSeconds) &&
    // Unset in the spec means "whatever AWS has" (the emulator even invents a target and role).
    (b.notificationTargetArn === undefined || a.notificationTargetArn === b.notificationTargetArn) &&
    (b.roleArn === undefined || a.roleArn === b.roleArn) &&
    (b.notificationMetadata === undefined || a.notificationMetadata === b.notificationMetadata)
  );
}

/** The calls that turn `current` into `desired`. */
export function groupChanges(
  current: ScalingGroup,
  desired: DesiredGroup,
  currentHooks: readonly LifecycleHook[],
): GroupChanges {
  const update: GroupUpdate = {};
  if (current.minSize !== desired.minSize) update.minSize = desired.minSize;
  if (current.maxSize !== desired.maxSize) update.maxSize = desired.maxSize;
  if (current.desiredCapacity < desired.minSize || current.desiredCapacity > desired.maxSize)
    update.desiredCapacity = Math.min(desired.maxSize, Math.max(desired.minSize, current.desiredCapacity));
  if ([...current.subnetIds].sort().join(',') !== [...desired.subnetIds].sort().join(','))
    update.subnetIds = desired.subnetIds;
  // AWS reports one launch definition per group: setting one replaces the other. (The emulator keeps a
  // launch configuration after the group moves to a template and the reverse; comparing only the
  // wanted kind keeps that from looking like a change on every pass.)
  if (desired.launchConfigurationName) {
    if (current.launchConfigurationName !== desired.launchConfigurationName)
      update.launchConfigurationName = desired.launchConfigurationName;
  } else if (desired.mixedInstancesPolicy) {
    if (!sameMixedPolicy(current.mixedInstancesPolicy, desired.mixedInstancesPolicy))
      update.mixedInstancesPolicy = desired.mixedInstancesPolicy;
  } else if (
    desired.launchTemplate &&
    (current.mixedInstancesPolicy || !sameTemplate(current.launchTemplate, desired.launchTemplate))
  ) {
    update.launchTemplate = desired.launchTemplate;
  }

  const setTags = Object.entries(desired.tags)
    .filter(([k, v]) => current.tags[k] !== v)
    .map(([key, value]) => ({ key, value }));
  // The group belongs to the InstanceGroup: tags the spec no longer has go, as in the original
  // (aws:* tags are AWS's own and cannot be removed).
  const deleteTags = Object.keys(current.tags).filter((k) => !(k in desired.tags) && !k.startsWith('aws:'));

  const wantSuspended = new Set(desired.suspendProcesses);
  const suspend = desired.suspendProcesses.filter((p) => !current.suspendedProcesses.includes(p));
  const resume = current.suspendedProcesses.filter((p) => !wantSuspended.has(p));

  const byName = new Map(currentHooks.map((h) => [h.hookName, h]));
  const putHooks = desired.lifecycleHooks.filter((h) => {
    const existing = byName.get(h.hookName);
    return !existing || !sameHook(existing, h);
  });
  const managed = (current.tags[MANAGED_HOOKS_TAG] ?? '').split(',').filter(Boolean);
  const wanted = new Set(desired.lifecycleHooks.map((h) => h.hookName));
  const deleteHooks = managed.filter((n) => !wanted.has(n) && byName.has(n));

  return {
    ...(Object.keys(update).length > 0 ? { update } : {}),
    setTags,
    deleteTags,
    suspend,
    resume,
    putHooks,
    deleteHooks,
  };
}

export function hasChanges(c: GroupChanges): boolean {
  return (
    !!c.update ||
    c.setTags.length +
      c.deleteTags.length +
      c.suspend.length +
      c.resume.length +
      c.putHooks.length +
      c.deleteHooks.length >
      0
  );
}

/**
 * The group as the upgrade stage should judge it: with only the launch definition this provisioner set
 * (a launch configuration for type LaunchConfiguration, a template or mixed policy otherwise). AWS never
 * reports two; the emulator keeps the previous kind after a switch, which would make drift compare
 * instances with the old one.
 */
export function withOwnLaunchDefinition(group: ScalingGroup, launchConfiguration: boolean): ScalingGroup {
  const { launchConfigurationName, launchTemplate, mixedInstancesPolicy: policy, ...rest } = group;
  if (launchConfiguration) return launchConfigurationName ? { ...rest, launchConfigurationName } : group;
  if (!launchConfigurationName || (!launchTemplate && !policy)) return group;
  return {
    ...rest,
    ...(launchTemplate ? { launchTemplate } : {}),
    ...(policy ? { mixedInstancesPolicy: policy } : {}),
  };
}
