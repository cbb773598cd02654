// The eks provisioner: the group through the AWS APIs directly — a node IAM role and instance profile
// (unless the group names its own), a launch template whose versions follow the spec (or, for type
// LaunchConfiguration, a launch configuration per rendering), and an Auto Scaling group with tags,
// suspended processes, lifecycle hooks, an optional mixed instances policy, warm pool and group metrics.
import type { FieldProblem, InstanceGroup, InstanceGroupStatus } from '@keiko/api';
import { readRecommendation, withRecommendation } from './spot-recommendation';
import {
  AwsOperationError,
  EC2_ASSUME_ROLE_POLICY,
  hasAwsErrorCode,
  launchTemplateVersionsToPrune,
  type LaunchTemplateInfo,
  type RequestLaunchTemplateData,
  type ScalingGroup,
} from '@keiko/aws';
import {
  disambiguatedName,
  resolveResourceName,
  roleName as deriveRoleName,
  resourcePrefix,
  type GroupIdentity,
} from '../../names';
import { DEFAULT_NODE_POLICIES, IAM_POLICY_PREFIX, managedPolicyArns } from '../common';
import { dryRunStop, failed, invalidConfiguration, pollAgain } from '../outcomes';
import { osFamilyProblems } from '../os-family';
import { requiredFieldProblems, resolveLaunchInputs } from '../resolve';
import type { DeleteOutcome, GroupContext, ProvisionOutcome, Provisioner } from '../types';
import {
  cleanUpLaunchResources,
  deleteLaunchConfigurations,
  ensureLaunchConfiguration,
  ensureMetricsCollection,
  ensureWarmPool,
  warnOnce,
  type WarmPoolResult,
} from './group-features';
import { resolveInstancePool } from './instance-pool';
import {
  launchConfigurationFingerprint,
  launchConfigurationProblems,
  usesLaunchConfiguration,
} from './launch-configuration';
import { fingerprintOf, renderLaunchTemplateData, versionDescription } from './launch-template';
import { desiredMetrics } from './metrics-collection';
import { desiredGroup, groupChanges, hasChanges, withOwnLaunchDefinition } from './scaling-group';
import { desiredWarmPool, warmPoolConflicts } from './warm-pool';

const FIELD = 'spec.eks.configuration';
const POLL_MS = 5_000;

export interface EksProvisionerOptions {
  /**
   * Launch template versions kept besides the one in use (the original's config retention); for type
   * LaunchConfiguration, older launch configurations kept (when no instance uses them).
   */
  templateRetention?: number;
}

/** Scaling group and launch template name: the original's `<cluster>-<namespace>-<name>`, made AWS-safe. */
function legacyGroupName(ig: InstanceGroup): string {
  const cluster = ig.spec.eks?.configuration?.clusterName ?? '';
  return resourcePrefix(cluster, ig.metadata.namespace ?? 'default', ig.metadata.name ?? '')
    .replace(/[^a-zA-Z0-9().\-/_]/g, '-')
    .slice(0, 128);
}

function identityOf(ig: InstanceGroup): GroupIdentity {
  const clusterName = ig.spec.eks?.configuration?.clusterName ?? '';
  return { clusterName, namespace: ig.metadata.namespace ?? 'default', name: ig.metadata.name ?? '' };
}

/** The group's scaling group (and launch template) name as recorded, else the original's. */
export function groupNameOf(ig: InstanceGroup): string {
  return ig.status?.activeScalingGroupName || legacyGroupName(ig);
}

/** As groupNameOf, but a name whose scaling group belongs to another group is disambiguated (see names.ts). */
function resolveGroupName(ctx: GroupContext): Promise<string> {
  return resolveResourceName({
    recorded: ctx.ig.status?.activeScalingGroupName,
    legacy: legacyGroupName(ctx.ig),
    id: identityOf(ctx.ig),
    maxLength: 128,
    tagsOf: async (name) => (await ctx.aws.autoScaling.describeGroup(name))?.tags,
  });
}

function iamNames(ig: InstanceGroup, groupName: string): { role: string; profile: string; managed: boolean } {
  const config = ig.spec.eks?.configuration;
  const existing = config?.roleName?.trim();
  if (existing)
    return { role: existing, profile: config?.instanceProfileName?.trim() || existing, managed: false };
  const derived = deriveRoleName(
    config?.clusterName ?? '',
    ig.metadata.namespace ?? 'default',
    ig.metadata.name ?? '',
  );
  // A disambiguated group (its original name was another group's) gets a role of its own too.
  const id = identityOf(ig);
  const disambiguated = groupName === disambiguatedName(legacyGroupName(ig), id, 128);
  const role = disambiguated ? disambiguatedName(derived, id, 63) : derived;
  return { role, profile: role, managed: true };
}

type Launch = { template: LaunchTemplateInfo; version: number } | { configuration: string };

export class EksProvisioner implements Provisioner {
  /** Roles already reported as missing node policies (once per process, not once per poll). */
  private readonly warnedMissing = new Set<string>();
  /** Fields not applied, already reported for a group generation. */
  private readonly warnedFields = new Set<string>();
  /**
   * Per launch-configuration group: the configuration it launched from and how many older ones were left at
   * the last clean-up. Listing launch configurations pages through the whole region's, so it is skipped
   * while nothing can have become deletable (same configuration, no more left than retained); a restart
   * forgets this and lists once.
   */
  private readonly lastCleanup = new Map<string, { configuration: string; left: number }>();

  constructor(private readonly opts: EksProvisionerOptions = {}) {}

  /** Every answer carries the warnings about fields this provisioner does not apply. */
  async reconcile(ctx: GroupContext): Promise<ProvisionOutcome> {
    const warnings = this.unsupported(ctx.ig);
    return { ...(await this.provision(ctx, warnings)), warnings };
  }

  /**
   * The group's resources in order: the node role, what instances launch from, the scaling group, its
   * warm pool and metrics, then clean-up of launch resources no instance uses. Each step may answer
   * early (a spec to fix, a dry run, AWS still at work).
   */
  private async provision(given: GroupContext, warnings: string[]): Promise<ProvisionOutcome> {
    const name = await resolveGroupName(given);
    const ctx = await withSpotRecommendation(given, name);
    const { ig } = ctx;
    const clusterName = ig.spec.eks?.configuration?.clusterName ?? '';
    const useLaunchConfiguration = usesLaunchConfiguration(ig);
    const base = {
      ...baseStatus(ig, name, useLaunchConfiguration),
      ...(ctx !== given ? { usingSpotRecommendation: true } : {}),
    };

    const inputs = await this.resolveInputs(ctx, warnings);
    if (inputs.problems.length > 0)
      return invalidConfiguration(`cannot provision scaling group ${name}`, base, inputs.problems);
    const existing = await ctx.aws.autoScaling.describeGroup(name);
    if (!existing) await ctx.record('InitCreate', `creating scaling group ${name}`);

    const iam = await this.ensureNodeRole(ctx, base, name);
    if ('phase' in iam) return iam;
    const launch = await this.ensureLaunch(ctx, {
      name,
      data: launchTemplateDataOf(ig, inputs, iam.profileArn),
      groupExists: !!existing,
      clusterName,
      useLaunchConfiguration,
      base,
    });
    if ('phase' in launch) return launch;

    const desired = desiredGroup(ig, {
      name,
      clusterName,
      subnetIds: inputs.subnets.value ?? [],
      ...('configuration' in launch
        ? { launchConfigurationName: launch.configuration }
        : { launchTemplate: { id: launch.template.id, version: String(launch.version) } }),
      ...(inputs.pool.value ? { poolTypes: inputs.pool.value } : {}),
    });
    const ensured = await ensureScalingGroup(ctx, { name, existing, desired, base });
    if ('phase' in ensured) return ensured;
    const warmPool = ensured.warmPool ?? (await ensureWarmPool(ctx, ensured.group));
    const group = await ensureMetricsCollection(ctx, ensured.group, inputs.metrics.metrics);

    const { own, launchFields } = await this.settleLaunches(ctx, {
      name,
      group,
      launch,
      useLaunchConfiguration,
    });
    return provisionedGroup({ name, base, launch, launchFields, group, own, desired, iam, warmPool });
  }

  /**
   * The node role and instance profile, or the answer to give now: a role or profile the spec names
   * that is missing or holds another role, policies that cannot be attached, a dry run that would
   * create them.
   */
  private async ensureNodeRole(
    ctx: GroupContext,
    base: ProvisionOutcome['status'],
    groupName: string,
  ): Promise<{ roleArn: string; profileArn: string } | ProvisionOutcome> {
    const iam = await this.ensureIam(ctx, ctx.ig, groupName);
    if ('problem' in iam) return invalidConfiguration(iam.problem.message, base, [iam.problem]);
    if (!iam.profileArn)
      return dryRunStop(
        ctx.dryRun ? 'InitCreate' : 'ReconcileModifying',
        `dry run: would create IAM role ${iamNames(ctx.ig, groupName).role}`,
        base,
      );
    return { roleArn: iam.roleArn, profileArn: iam.profileArn };
  }

  /**
   * What instances launch from: the launch template (a new version whenever the rendering changes) or,
   * for type LaunchConfiguration, a launch configuration per rendering (they are immutable). Or the
   * outcome to return now (a dry run that would create it, a launch configuration AWS refuses).
   */
  private async ensureLaunch(
    ctx: GroupContext,
    input: {
      name: string;
      data: RequestLaunchTemplateData;
      groupExists: boolean;
      clusterName: string;
      useLaunchConfiguration: boolean;
      base: ProvisionOutcome['status'];
    },
  ): Promise<Launch | ProvisionOutcome> {
    if (input.useLaunchConfiguration) {
      const lc = await ensureLaunchConfiguration(ctx, {
        groupName: input.name,
        data: input.data,
        groupExists: input.groupExists,
      });
      if (lc.ok) return { configuration: lc.name };
      if (lc.dryRun)
        return dryRunStop(input.groupExists ? 'InitUpdate' : 'InitCreate', lc.message, input.base);
      return failed(lc.message, input.base, 'LaunchConfigurationUnsupported', [lc.problem]);
    }
    const lt = await this.ensureLaunchTemplate(ctx, {
      name: input.name,
      data: input.data,
      groupExists: input.groupExists,
      clusterName: input.clusterName,
    });
    return lt ?? dryRunStop('InitCreate', `dry run: would create launch template ${input.name}`, input.base);
  }

  /**
   * Launch resources no instance uses any more: older launch configurations, and after a switch of
   * spec.eks.type the other kind (the status keeps naming it until it is gone). Returns the group as
   * its own launch definition sees it, and the status fields naming what launches now.
   */
  private async settleLaunches(
    ctx: GroupContext,
    input: { name: string; group: ScalingGroup; launch: Launch; useLaunchConfiguration: boolean },
  ): Promise<{ own: ScalingGroup; launchFields: Partial<InstanceGroupStatus> }> {
    const { ig } = ctx;
    const { name, group, launch, useLaunchConfiguration } = input;
    const own = withOwnLaunchDefinition(group, useLaunchConfiguration);
    const retain = this.opts.templateRetention ?? 2;
    const last = this.lastCleanup.get(name);
    const settled =
      'configuration' in launch &&
      !ig.status?.activeLaunchTemplateName &&
      last?.configuration === launch.configuration &&
      last.left <= retain;
    const cleanup = settled
      ? { templateLeft: false, configurationsLeft: [] }
      : await cleanUpLaunchResources(ctx, {
          group: own,
          ...('configuration' in launch ? { launchConfigurationName: launch.configuration } : {}),
          lookForConfigurations: useLaunchConfiguration || !!ig.status?.activeLaunchConfigurationName,
          ...(useLaunchConfiguration && ig.status?.activeLaunchTemplateName
            ? { template: await ctx.aws.ec2.describeLaunchTemplate({ name }) }
            : {}),
          retain,
        });
    if ('configuration' in launch && !settled && !ctx.dryRun)
      this.lastCleanup.set(name, {
        configuration: launch.configuration,
        left: cleanup.configurationsLeft.length,
      });
    else if (!('configuration' in launch)) this.lastCleanup.delete(name);

    const launchFields: Partial<InstanceGroupStatus> =
      'configuration' in launch
        ? {
            activeLaunchConfigurationName: launch.configuration,
            activeLaunchTemplateName: cleanup.templateLeft ? name : undefined,
            latestTemplateVersion: cleanup.templateLeft ? ig.status?.latestTemplateVersion : undefined,
          }
        : {
            activeLaunchTemplateName: launch.template.name,
            latestTemplateVersion: String(launch.version),
            activeLaunchConfigurationName:
              cleanup.configurationsLeft.length > 0 ? ig.status?.activeLaunchConfigurationName : undefined,
          };
    return { own, launchFields };
  }

  /**
   * Everything the group is made from, looked up (cluster, subnets, security groups, image, instance
   * pool, metrics), and every problem with the spec found on the way, each naming its field.
   */
  private async resolveInputs(ctx: GroupContext, warnings: string[]) {
    const { ig } = ctx;
    const eks = ig.spec.eks;
    const config = eks?.configuration ?? {};
    const [inputs, pool] = await Promise.all([
      resolveLaunchInputs(ctx, config, FIELD),
      resolveInstancePool(ctx, FIELD),
    ]);
    const { cluster, subnets, groups, image } = inputs;
    warnings.push(...pool.warnings);
    const problems = [...inputs.problems, ...pool.problems, ...requiredFieldProblems(eks, 'spec.eks')];
    const metrics = desiredMetrics(config.metricsCollection);
    problems.push(...metrics.problems, ...launchConfigurationProblems(ig), ...osFamilyProblems(ig));
    warnOnce(this.warnedFields, ig, ctx, warmPoolConflicts(ig), 'WarmPoolNotApplied');
    return { cluster, subnets, groups, image, pool, metrics, problems };
  }

  /** The launch template with a version for this rendering; undefined in a dry run that would create it. */
  private async ensureLaunchTemplate(
    ctx: GroupContext,
    input: { name: string; data: RequestLaunchTemplateData; groupExists: boolean; clusterName: string },
  ): Promise<{ template: LaunchTemplateInfo; version: number } | undefined> {
    const { name, data } = input;
    const description = versionDescription(data);
    let template: LaunchTemplateInfo | undefined = await ctx.aws.ec2.describeLaunchTemplate({ name });
    let version: number;
    if (!template) {
      const created = await ctx.act('CreateLaunchTemplate', `create launch template ${name}`, () =>
        ctx.aws.ec2.createLaunchTemplate({
          name,
          data,
          description,
          tags: { [`kubernetes.io/cluster/${input.clusterName}`]: 'owned' },
        }),
      );
      if (!created) return undefined;
      template = created;
      version = created.latestVersion;
      ctx.event('Normal', 'LaunchTemplateCreated', `created launch template ${name} version ${version}`);
    } else {
      const latest = await ctx.aws.ec2.resolveLaunchTemplateVersion({ id: template.id, version: '$Latest' });
      version = latest.version;
      if (fingerprintOf(latest.description) !== fingerprintOf(description)) {
        if (input.groupExists) await ctx.record('InitUpdate', `new launch template version for ${name}`);
        const created = await ctx.act(
          'CreateLaunchTemplateVersion',
          `create a new version of launch template ${name}`,
          () => ctx.aws.ec2.createLaunchTemplateVersion({ id: template?.id }, { data, description }),
        );
        if (created) {
          version = created.version;
          ctx.event('Normal', 'LaunchTemplateUpdated', `launch template ${name} version ${version}`);
          await this.pruneVersions(ctx, template, version);
        }
      }
    }
    if (template.defaultVersion !== version && !ctx.dryRun) {
      // New instances (and EC2's per-instance version tags) follow the default version too.
      await ctx.act('ModifyLaunchTemplate', `set default version of ${name} to ${version}`, () =>
        ctx.aws.ec2.setDefaultLaunchTemplateVersion({ id: template?.id }, version),
      );
    }
    return { template, version };
  }

  private unsupported(ig: InstanceGroup): string[] {
    return warmPoolConflicts(ig).map((p) => `${p.field}: ${p.message}`);
  }

  /**
   * The node role, its managed policies and the instance profile holding it: created when the group
   * owns them (no roleName in the spec), only checked when the spec names its own. `profileArn` is absent
   * in a dry run that would create something; a problem names the field to fix.
   */
  private async ensureIam(
    ctx: GroupContext,
    ig: InstanceGroup,
    groupName: string,
  ): Promise<{ roleArn: string; profileArn?: string } | { problem: FieldProblem }> {
    const names = iamNames(ig, groupName);
    const role = await ensureRole(ctx, names);
    if (!role) return { roleArn: '' };
    if ('problem' in role) return role;
    if (names.managed) {
      const problem = await this.syncManagedPolicies(ctx, ig, names.role);
      if (problem) return { problem };
    }
    return ensureInstanceProfile(ctx, ig, names, role.arn);
  }

  /**
   * Attaches the policies the spec asks for (the three EKS node policies and managedPolicies) and
   * detaches the others. A policy the spec names that cannot be attached is a problem; a missing EKS
   * node policy (an emulator, another partition) is a Warning once per role, and the role goes on.
   */
  private async syncManagedPolicies(
    ctx: GroupContext,
    ig: InstanceGroup,
    roleName: string,
  ): Promise<FieldProblem | undefined> {
    const { iam } = ctx.aws;
    const want = managedPolicyArns(ig.spec.eks?.configuration?.managedPolicies);
    const have = await iam.listAttachedRolePolicies(roleName);
    const missing: string[] = [];
    for (const arn of want.filter((a) => !have.includes(a))) {
      try {
        await ctx.act('AttachRolePolicy', `attach ${arn} to ${roleName}`, () =>
          iam.attachRolePolicy(roleName, arn),
        );
      } catch (err) {
        if (!hasAwsErrorCode(err, 'NoSuchEntity')) throw err;
        missing.push(arn);
      }
    }
    for (const arn of have.filter((a) => !want.includes(a)))
      await ctx.act('DetachRolePolicy', `detach ${arn} from ${roleName}`, () =>
        iam.detachRolePolicy(roleName, arn),
      );
    const requested = missing.filter(
      (a) => !DEFAULT_NODE_POLICIES.some((d) => a === `${IAM_POLICY_PREFIX}${d}`),
    );
    if (requested.length > 0)
      return {
        field: `${FIELD}.managedPolicies`,
        message: `policies not found or not attachable: ${requested.join(', ')}`,
      };
    // The three EKS node policies exist in every commercial-partition account; an emulator (or another
    // partition) may lack them: say so, and carry on — nodes without them will fail to join, visibly.
    if (missing.length > 0 && !this.warnedMissing.has(roleName)) {
      this.warnedMissing.add(roleName);
      ctx.event(
        'Warning',
        'NodePolicyMissing',
        `AWS managed policies ${missing.join(', ')} do not exist here; role ${roleName} is without them`,
      );
    }
    return undefined;
  }

  /**
   * Drops versions beyond the retention (never the one in use, never the default). Best effort: a failure is
   * a warning, the group goes on. Versions an earlier prune deleted are proposed again (`all` is 1..latest,
   * to spare a describe call) and answered "does not exist": that is the wanted state, not a failure.
   */
  private async pruneVersions(ctx: GroupContext, template: LaunchTemplateInfo, inUse: number): Promise<void> {
    const retain = this.opts.templateRetention ?? 2;
    const all = Array.from({ length: Math.max(template.latestVersion, inUse) }, (_v, i) => i + 1);
    const prune = launchTemplateVersionsToPrune(all, { retain, keep: [inUse, template.defaultVersion] });
    if (prune.length === 0) return;
    try {
      const result = await ctx.act(
        'DeleteLaunchTemplateVersions',
        `delete old versions ${prune.join(',')} of ${template.name}`,
        () => ctx.aws.ec2.deleteLaunchTemplateVersions({ id: template.id }, prune),
      );
      const failed = (result?.failed ?? []).filter((f) => f.code !== 'launchTemplateVersionDoesNotExist');
      if (failed.length > 0)
        ctx.log.warn(`could not delete old versions of launch template ${template.name}`, { failed });
    } catch (err) {
      if (!(err instanceof AwsOperationError)) throw err;
      ctx.log.warn(`could not prune launch template ${template.name}`, { error: err.message });
    }
  }

  async delete(ctx: GroupContext): Promise<DeleteOutcome> {
    const { ig } = ctx;
    const name = await resolveGroupName(ctx);
    const group = await ctx.aws.autoScaling.describeGroup(name);
    if (group) {
      if (group.status !== 'Delete in progress') {
        // The warm pool first (ForceDelete on the group would take it too; a group left with one is not
        // deletable without force).
        if (group.warmPool && group.warmPool.status !== 'PendingDelete')
          await ctx.act('DeleteWarmPool', `delete the warm pool of ${name}`, () =>
            ctx.aws.autoScaling.deleteWarmPool(name, { forceDelete: true }),
          );
        await ctx.act('DeleteAutoScalingGroup', `delete scaling group ${name}`, () =>
          ctx.aws.autoScaling.deleteGroup(name, { forceDelete: true }),
        );
        if (ctx.dryRun) return { done: false, message: `dry run: would delete scaling group ${name}` };
      }
      ctx.aws.autoScaling.invalidate(name);
      if (await ctx.aws.autoScaling.describeGroup(name))
        return { done: false, message: `deleting scaling group ${name}`, requeueAfterMs: POLL_MS };
    }
    const ltName = ig.status?.activeLaunchTemplateName ?? name;
    const template = await ctx.aws.ec2.describeLaunchTemplate({ name: ltName });
    if (template)
      await ctx.act('DeleteLaunchTemplate', `delete launch template ${ltName}`, () =>
        ctx.aws.ec2.deleteLaunchTemplate({ id: template.id }),
      );
    // Launch configurations (type LaunchConfiguration, or left from before a switch), by name.
    await deleteLaunchConfigurations(ctx, name);
    const names = iamNames(ig, name);
    if (names.managed) {
      const { iam } = ctx.aws;
      const profile = await iam.getInstanceProfile(names.profile);
      if (profile) {
        for (const r of profile.roleNames)
          await ctx.act('RemoveRoleFromInstanceProfile', `remove ${r} from ${names.profile}`, () =>
            iam.removeRoleFromInstanceProfile(names.profile, r),
          );
        await ctx.act('DeleteInstanceProfile', `delete instance profile ${names.profile}`, () =>
          iam.deleteInstanceProfile(names.profile),
        );
      }
      if (await iam.getRole(names.role)) {
        for (const arn of await iam.listAttachedRolePolicies(names.role))
          await ctx.act('DetachRolePolicy', `detach ${arn}`, () => iam.detachRolePolicy(names.role, arn));
        await ctx.act('DeleteRole', `delete IAM role ${names.role}`, () => iam.deleteRole(names.role));
      }
    }
    if (ctx.dryRun) return { done: false, message: `dry run: would delete the group's cloud resources` };
    return {
      done: true,
      message: `scaling group ${name}, its launch template or configurations and role deleted`,
    };
  }
}

/** The status fields known before anything is looked up: the group's names and lifecycle. */
/**
 * The context with minion-manager's latest SpotRecommendationGiven for the group applied to the spec's spot
 * price (spot-recommendation.ts), or the same context when there is none or it does not apply. Events that
 * cannot be read leave the spec as it is: a recommendation is advice, never a reason to stop provisioning.
 */
async function withSpotRecommendation(ctx: GroupContext, groupName: string): Promise<GroupContext> {
  const rec = await readRecommendation(ctx.kube, groupName).catch((err: unknown) => {
    ctx.log.warn('spot recommendations not readable; the spec spot price stays', { error: String(err) });
    return undefined;
  });
  const ig = withRecommendation(ctx.ig, rec);
  if (!ig) return ctx;
  const price = ig.spec.eks?.configuration?.spotPrice;
  if (price !== ctx.ig.spec.eks?.configuration?.spotPrice)
    ctx.log.info('spot recommendation applied', { group: groupName, spotPrice: price ?? 'on-demand' });
  return { ...ctx, ig };
}

function baseStatus(
  ig: InstanceGroup,
  name: string,
  useLaunchConfiguration: boolean,
): Partial<InstanceGroupStatus> {
  const config = ig.spec.eks?.configuration ?? {};
  const mixed = config.mixedInstancesPolicy !== undefined;
  return {
    provisioner: 'eks',
    activeScalingGroupName: name,
    ...(useLaunchConfiguration ? {} : { activeLaunchTemplateName: name }),
    lifecycle: mixed ? 'mixed' : config.spotPrice ? 'spot' : 'normal',
  };
}

/** The launch template data of this rendering: the spec, what was resolved, and the node's instance profile. */
function launchTemplateDataOf(
  ig: InstanceGroup,
  inputs: Pick<Awaited<ReturnType<typeof resolveLaunchInputs>>, 'cluster' | 'groups' | 'image'>,
  instanceProfileArn: string,
): RequestLaunchTemplateData {
  const cluster = inputs.cluster.value;
  return renderLaunchTemplateData(ig, {
    imageId: inputs.image.value ?? '',
    securityGroupIds: inputs.groups.value ?? [],
    instanceProfileArn,
    ...(cluster?.endpoint ? { apiServerEndpoint: cluster.endpoint } : {}),
    ...(cluster?.certificateAuthorityData
      ? { certificateAuthorityData: cluster.certificateAuthorityData }
      : {}),
    ...(cluster?.serviceIpv4Cidr ? { serviceIpv4Cidr: cluster.serviceIpv4Cidr } : {}),
  });
}

/**
 * The scaling group as desired: created when missing (a dry run stops there, and so does a group not
 * visible yet), else brought to the spec. A warm pool the spec no longer has (or cannot have) goes before
 * the group changes: AWS refuses a mixed instances policy or a spot price on a group that still has one.
 * Returns the group as AWS has it now, and the warm pool's outcome when it was removed.
 */
async function ensureScalingGroup(
  ctx: GroupContext,
  input: {
    name: string;
    existing: ScalingGroup | undefined;
    desired: ReturnType<typeof desiredGroup>;
    base: ProvisionOutcome['status'];
  },
): Promise<{ group: ScalingGroup; warmPool?: WarmPoolResult } | ProvisionOutcome> {
  const { name, desired, base } = input;
  let group = input.existing;
  if (!group) {
    await createScalingGroup(ctx, name, desired);
    ctx.event('Normal', 'ScalingGroupCreated', `created scaling group ${name}`);
    if (ctx.dryRun) return dryRunStop('InitCreate', `dry run: would create scaling group ${name}`, base);
    group = await ctx.aws.autoScaling.describeGroup(name);
    if (!group)
      return pollAgain('ReconcileModifying', `scaling group ${name} not visible yet`, base, POLL_MS);
  }
  const warmPool = !desiredWarmPool(ctx.ig) && group.warmPool ? await ensureWarmPool(ctx, group) : undefined;
  const hooks = await ctx.aws.autoScaling.describeLifecycleHooks(name);
  const changes = groupChanges(group, desired, hooks);
  if (hasChanges(changes)) {
    await applyGroupChanges(ctx, name, changes);
    group = (await ctx.aws.autoScaling.describeGroup(name)) ?? group;
  }
  return { group, ...(warmPool ? { warmPool } : {}) };
}

/**
 * The answer once the group matches the spec: what it launches from, its size and node role, and the
 * fleet (the group as its own launch definition sees it) for the upgrade stage.
 */
function provisionedGroup(input: {
  name: string;
  base: Partial<InstanceGroupStatus>;
  launch: Launch;
  launchFields: Partial<InstanceGroupStatus>;
  group: ScalingGroup;
  own: ScalingGroup;
  desired: ReturnType<typeof desiredGroup>;
  iam: { roleArn: string };
  warmPool: WarmPoolResult;
}): ProvisionOutcome {
  const { name, launch, group, own, iam } = input;
  const using =
    'configuration' in launch
      ? `launch configuration ${launch.configuration}`
      : `launch template version ${launch.version}`;
  return {
    phase: 'provisioned',
    state: 'ReconcileModified',
    message: [`scaling group ${name} up to date with ${using}`, input.warmPool.summary]
      .filter(Boolean)
      .join('; '),
    status: {
      ...input.base,
      ...input.launchFields,
      nodesInstanceRoleArn: iam.roleArn,
      currentMin: group.minSize,
      currentMax: group.maxSize,
      lifecycle: input.desired.lifecycle,
    },
    fleet:
      'configuration' in launch
        ? {
            group: own,
            resolved: [],
            launchVersion: launchConfigurationFingerprint(name, launch.configuration) ?? launch.configuration,
          }
        : {
            group: own,
            resolved: [{ id: launch.template.id, name: launch.template.name, version: launch.version }],
            launchVersion: String(launch.version),
          },
    roleArn: iam.roleArn,
  };
}

type IamNames = ReturnType<typeof iamNames>;

/**
 * The node role: created when the group owns it; one the spec names must exist. Undefined in a dry run
 * that would create it.
 */
async function ensureRole(
  ctx: GroupContext,
  names: IamNames,
): Promise<{ arn: string } | { problem: FieldProblem } | undefined> {
  const { iam } = ctx.aws;
  const role = await iam.getRole(names.role);
  if (role) return role;
  if (!names.managed)
    return { problem: { field: `${FIELD}.roleName`, message: `IAM role ${names.role} not found` } };
  const created = await ctx.act('CreateRole', `create IAM role ${names.role}`, () =>
    iam.createRole({
      name: names.role,
      assumeRolePolicyDocument: EC2_ASSUME_ROLE_POLICY,
      description: `nodes of InstanceGroup ${ctx.namespace}/${ctx.name}`,
    }),
  );
  if (created) ctx.event('Normal', 'RoleCreated', `created IAM role ${names.role}`);
  return created;
}

/**
 * The instance profile, holding the node role: created when the group owns it or the spec names none;
 * one the spec names must exist, and may not hold another role. `profileArn` is absent in a dry run that
 * would create it.
 */
async function ensureInstanceProfile(
  ctx: GroupContext,
  ig: InstanceGroup,
  names: IamNames,
  roleArn: string,
): Promise<{ roleArn: string; profileArn?: string } | { problem: FieldProblem }> {
  const { iam } = ctx.aws;
  let profile = await iam.getInstanceProfile(names.profile);
  if (!profile) {
    if (!names.managed && ig.spec.eks?.configuration?.instanceProfileName)
      return {
        problem: {
          field: `${FIELD}.instanceProfileName`,
          message: `instance profile ${names.profile} not found`,
        },
      };
    profile = await ctx.act('CreateInstanceProfile', `create instance profile ${names.profile}`, () =>
      iam.createInstanceProfile(names.profile),
    );
    if (!profile) return { roleArn };
  }
  if (!profile.roleNames.includes(names.role)) {
    if (profile.roleNames.length > 0 && !names.managed)
      return {
        problem: {
          field: `${FIELD}.instanceProfileName`,
          message: `instance profile ${names.profile} holds role ${profile.roleNames.join(',')}, not ${names.role}`,
        },
      };
    await ctx.act('AddRoleToInstanceProfile', `add ${names.role} to instance profile ${names.profile}`, () =>
      iam.addRoleToInstanceProfile(names.profile, names.role),
    );
  }
  return { roleArn, profileArn: profile.arn };
}

/** Brings an existing group to the spec: its settings, tags, suspended processes and lifecycle hooks. */
async function applyGroupChanges(
  ctx: GroupContext,
  name: string,
  changes: ReturnType<typeof groupChanges>,
): Promise<void> {
  // The launch definition moves first, its per-instance tag after: an instance launched in between
  // looks drifted (replaced once more), never up to date when it is not.
  if (changes.update)
    await ctx.act('UpdateAutoScalingGroup', `update scaling group ${name}`, () =>
      ctx.aws.autoScaling.updateGroup(name, changes.update ?? {}),
    );
  if (changes.setTags.length > 0)
    await ctx.act('CreateOrUpdateTags', `tag scaling group ${name}`, () =>
      ctx.aws.autoScaling.createOrUpdateTags(name, changes.setTags),
    );
  if (changes.deleteTags.length > 0)
    await ctx.act('DeleteTags', `untag scaling group ${name}`, () =>
      ctx.aws.autoScaling.deleteTags(name, changes.deleteTags),
    );
  if (changes.suspend.length > 0)
    await ctx.act('SuspendProcesses', `suspend ${changes.suspend.join(',')} on ${name}`, () =>
      ctx.aws.autoScaling.suspendProcesses(name, changes.suspend),
    );
  if (changes.resume.length > 0)
    await ctx.act('ResumeProcesses', `resume ${changes.resume.join(',')} on ${name}`, () =>
      ctx.aws.autoScaling.resumeProcesses(name, changes.resume),
    );
  for (const hook of changes.putHooks)
    await ctx.act('PutLifecycleHook', `lifecycle hook ${hook.hookName} on ${name}`, () =>
      ctx.aws.autoScaling.putLifecycleHook(hook),
    );
  for (const hook of changes.deleteHooks)
    await ctx.act('DeleteLifecycleHook', `delete lifecycle hook ${hook} on ${name}`, () =>
      ctx.aws.autoScaling.deleteLifecycleHook(name, hook),
    );
}

async function createScalingGroup(
  ctx: GroupContext,
  name: string,
  desired: ReturnType<typeof desiredGroup>,
): Promise<void> {
  await ctx.act('CreateAutoScalingGroup', `create scaling group ${name}`, () =>
    ctx.aws.autoScaling.createGroup({
      name,
      minSize: desired.minSize,
      maxSize: desired.maxSize,
      desiredCapacity: desired.minSize,
      subnetIds: desired.subnetIds,
      ...(desired.launchConfigurationName
        ? { launchConfigurationName: desired.launchConfigurationName }
        : desired.mixedInstancesPolicy
          ? { mixedInstancesPolicy: desired.mixedInstancesPolicy }
          : { launchTemplate: desired.launchTemplate }),
      tags: Object.entries(desired.tags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
    }),
  );
}
