// The eks provisioner's I/O for what hangs off the scaling group besides its launch template: launch
// configurations (type LaunchConfiguration), the warm pool, CloudWatch group metrics, and the cleanup of
// launch resources no instance uses any more. The decisions are the pure modules beside this file
// (launch-configuration.ts, warm-pool.ts, metrics-collection.ts); every mutation goes through ctx.act
// (skipped in dry run).
//
// What the emulator (moto 5.2.1) lacks, and how the code and tests live with it:
//  - DisableMetricsCollection is not implemented (HTTP 500): disabling metrics works on AWS only.
//  - EnableMetricsCollection replaces the group's metrics instead of adding to them: the whole wanted
//    list is always sent (a no-op for enabled ones on AWS).
//  - DescribeWarmPool never lists instances (moto launches none into a pool); a warm pool's MinSize and
//    MaxGroupPreparedCapacity are stored and echoed.
//  - Instances report the group's *current* launch configuration, and a group switched from a launch
//    template to a launch configuration (or back) keeps the old one too — moto keeps launching from the
//    template after a switch to a launch configuration. Drift reads the per-instance
//    instancemgr.keikoproj.io/launch-configuration tag (instancegroup/fleet.ts); LT -> LC cannot be
//    exercised against moto.
//  - DeleteLaunchConfiguration deletes a configuration still attached to a group (AWS: ResourceInUse):
//    the controller never asks to.
import type { FieldProblem, InstanceGroup } from '@keiko/api';
import {
  AwsOperationError,
  hasAwsErrorCode,
  type GroupInstance,
  type LaunchTemplateInfo,
  type RequestLaunchTemplateData,
  type ScalingGroup,
} from '@keiko/aws';
import type { GroupContext } from '../types';
import {
  isOwnLaunchConfiguration,
  LAUNCH_CONFIGURATION_UNSUPPORTED,
  launchConfigurationSpec,
  launchConfigurationsToDelete,
  TYPE_FIELD,
  withEc2LaunchTemplate,
} from './launch-configuration';
import { metricsChanges } from './metrics-collection';
import { describeWarmPool, desiredWarmPool, warmPoolAction, type DesiredWarmPool } from './warm-pool';

export type LaunchConfigurationResult =
  | { ok: true; name: string; created: boolean }
  | { ok: false; dryRun: true; message: string }
  | { ok: false; dryRun: false; message: string; problem: FieldProblem };

/**
 * The launch configuration for this rendering: created unless one of its name (the fingerprint) exists.
 * A refusal by AWS (accounts created after 2024) is a problem naming spec.eks.type; nothing else has been
 * changed by then.
 */
export async function ensureLaunchConfiguration(
  ctx: GroupContext,
  input: { groupName: string; data: RequestLaunchTemplateData; groupExists: boolean },
): Promise<LaunchConfigurationResult> {
  const spec = launchConfigurationSpec(input.groupName, input.data);
  const [existing] = await ctx.aws.autoScaling.describeLaunchConfigurations([spec.name]);
  if (existing) return { ok: true, name: spec.name, created: false };
  if (input.groupExists)
    await ctx.record('InitUpdate', `new launch configuration ${spec.name} for ${input.groupName}`);
  try {
    const created = await ctx.act(
      'CreateLaunchConfiguration',
      `create launch configuration ${spec.name}`,
      async () => {
        await ctx.aws.autoScaling.createLaunchConfiguration(spec);
        return true;
      },
    );
    if (!created)
      return { ok: false, dryRun: true, message: `dry run: would create launch configuration ${spec.name}` };
  } catch (err) {
    if (hasAwsErrorCode(err, LAUNCH_CONFIGURATION_UNSUPPORTED)) {
      const message = `AWS refuses to create launch configuration ${spec.name} (${err instanceof Error ? err.message : String(err)}): accounts created after 2024 cannot use launch configurations; set ${TYPE_FIELD} to LaunchTemplate (or leave it unset)`;
      return { ok: false, dryRun: false, message, problem: { field: TYPE_FIELD, message } };
    }
    // Made by an earlier attempt whose answer was lost: the name is the content.
    if (!hasAwsErrorCode(err, 'AlreadyExists')) throw err;
  }
  ctx.event('Normal', 'LaunchConfigurationCreated', `created launch configuration ${spec.name}`);
  return { ok: true, name: spec.name, created: true };
}

export interface WarmPoolResult {
  /** What the message says about the pool ('' when the group has none and wants none). */
  summary: string;
}

/** PutWarmPool when the spec's pool differs from DescribeWarmPool's, DeleteWarmPool when the spec has none. */
export async function ensureWarmPool(ctx: GroupContext, group: ScalingGroup): Promise<WarmPoolResult> {
  const desired: DesiredWarmPool | undefined = desiredWarmPool(ctx.ig);
  // The group's own description says whether it has a pool: no DescribeWarmPool for groups without one.
  if (!desired && !group.warmPool) return { summary: '' };
  const current = await ctx.aws.autoScaling.describeWarmPool(group.name);
  const step = warmPoolAction(current, desired);
  switch (step.action) {
    case 'put': {
      const done = await ctx.act(
        'PutWarmPool',
        `${step.create ? 'create' : 'update'} the warm pool of ${group.name} (${describeWarmPool(step.config)})`,
        async () => {
          await ctx.aws.autoScaling.putWarmPool(group.name, {
            minSize: step.config.minSize,
            maxGroupPreparedCapacity: step.config.maxGroupPreparedCapacity,
          });
          return true;
        },
      );
      if (done)
        ctx.event(
          'Normal',
          step.create ? 'WarmPoolCreated' : 'WarmPoolUpdated',
          `warm pool of ${group.name}: ${describeWarmPool(step.config)}`,
        );
      return { summary: `warm pool ${describeWarmPool(step.config)}` };
    }
    case 'delete': {
      const done = await ctx.act('DeleteWarmPool', `delete the warm pool of ${group.name}`, () =>
        ctx.aws.autoScaling.deleteWarmPool(group.name, { forceDelete: true }),
      );
      if (done) ctx.event('Normal', 'WarmPoolDeleted', `deleted the warm pool of ${group.name}`);
      return { summary: '' };
    }
    case 'wait':
      // Put again on a later pass (the resync), once AWS has emptied it.
      return { summary: `the previous warm pool of ${group.name} is still being deleted` };
    default:
      return { summary: desired ? `warm pool ${describeWarmPool(desired)}` : '' };
  }
}

/** EnableMetricsCollection (1Minute) for wanted metrics not enabled, DisableMetricsCollection for enabled ones not wanted. */
export async function ensureMetricsCollection(
  ctx: GroupContext,
  group: ScalingGroup,
  wanted: readonly string[],
): Promise<ScalingGroup> {
  let changes = metricsChanges(group.enabledMetrics ?? [], wanted);
  let current = group;
  if (changes.enable.length > 0) {
    const done = await ctx.act(
      'EnableMetricsCollection',
      `enable metrics ${changes.enable.join(',')} on ${group.name}`,
      async () => {
        await ctx.aws.autoScaling.enableMetricsCollection(group.name, changes.enable);
        return true;
      },
    );
    if (done) {
      ctx.event(
        'Normal',
        'MetricsCollectionEnabled',
        `collecting ${changes.enable.join(', ')} for ${group.name}`,
      );
      if (changes.disable.length > 0) {
        // Read again: what is left to disable after the enable (see metricsChanges).
        current = (await ctx.aws.autoScaling.describeGroup(group.name)) ?? current;
        changes = metricsChanges(current.enabledMetrics ?? [], wanted);
      }
    }
  }
  if (changes.disable.length > 0) {
    const done = await ctx.act(
      'DisableMetricsCollection',
      `disable metrics ${changes.disable.join(',')} on ${group.name}`,
      async () => {
        await ctx.aws.autoScaling.disableMetricsCollection(group.name, changes.disable);
        return true;
      },
    );
    if (done)
      ctx.event(
        'Normal',
        'MetricsCollectionDisabled',
        `no longer collecting ${changes.disable.join(', ')} for ${group.name}`,
      );
  }
  return current;
}

/** What the group's instances (and its warm pool's) were launched from. */
async function launchesInUse(
  ctx: GroupContext,
  group: ScalingGroup,
): Promise<{ configurations: Set<string>; templates: GroupInstance[] }> {
  // The pool first, then a fresh read of the group: an instance moving from the pool into service in
  // between is then seen in one or both, never in neither.
  const pool = group.warmPool ? await ctx.aws.autoScaling.describeWarmPool(group.name) : undefined;
  ctx.aws.autoScaling.invalidate(group.name);
  const fresh = (await ctx.aws.autoScaling.describeGroup(group.name)) ?? group;
  const listed = [...fresh.instances, ...(pool?.instances ?? [])];
  const ec2 = new Map((await ctx.aws.ec2.describeInstances(listed.map((i) => i.id))).map((i) => [i.id, i]));
  const configurations = new Set<string>();
  const templates: GroupInstance[] = [];
  for (const instance of listed) {
    // The group's view corrected by EC2's per-instance tags, as drift sees it (instancegroup/fleet.ts): on
    // AWS the same, in the emulator the only one that tells instances apart.
    const view = withEc2LaunchTemplate(instance, ec2.get(instance.id));
    if (view.launchConfigurationName) configurations.add(view.launchConfigurationName);
    if (view.launchTemplate) templates.push(view);
  }
  return { configurations, templates };
}

export interface LaunchCleanup {
  /** The group's launch template still exists (a type LaunchConfiguration group moved away from it). */
  templateLeft: boolean;
  /** Launch configurations of the group still there besides the one in use. */
  configurationsLeft: string[];
}

/**
 * Deletes the group's launch resources no instance uses any more: its older launch configurations beyond
 * the retention, and, after a switch of spec.eks.type, the launch template (type LaunchConfiguration) or
 * every launch configuration (LaunchTemplate). Best effort: what AWS refuses is tried again next time.
 */
export async function cleanUpLaunchResources(
  ctx: GroupContext,
  input: {
    group: ScalingGroup;
    /** The launch configuration the group should launch from (type LaunchConfiguration). */
    launchConfigurationName?: string;
    /** Look for launch configurations (always for type LaunchConfiguration; after a switch for LaunchTemplate). */
    lookForConfigurations: boolean;
    /** The launch template to delete once unused (type LaunchConfiguration, after a switch). */
    template?: LaunchTemplateInfo;
    retain: number;
  },
): Promise<LaunchCleanup> {
  const { group } = input;
  const owned = input.lookForConfigurations
    ? (await ctx.aws.autoScaling.listLaunchConfigurations({ namePrefix: `${group.name}-` })).filter((lc) =>
        isOwnLaunchConfiguration(group.name, lc.name),
      )
    : [];
  const keep = [input.launchConfigurationName, group.launchConfigurationName];
  const retain = input.launchConfigurationName ? input.retain : 0;
  const candidates = launchConfigurationsToDelete({
    groupName: group.name,
    all: owned,
    keep,
    inUse: new Set(),
    retain,
  });
  if (candidates.length === 0 && !input.template)
    return {
      templateLeft: false,
      configurationsLeft: owned.map((lc) => lc.name).filter((n) => n !== input.launchConfigurationName),
    };

  const used = await launchesInUse(ctx, group);
  const deleted = new Set<string>();
  for (const lcName of launchConfigurationsToDelete({
    groupName: group.name,
    all: owned,
    keep,
    inUse: used.configurations,
    retain,
  })) {
    try {
      const done = await ctx.act(
        'DeleteLaunchConfiguration',
        `delete launch configuration ${lcName} (no instance uses it)`,
        () => ctx.aws.autoScaling.deleteLaunchConfiguration(lcName),
      );
      if (done !== undefined) {
        deleted.add(lcName);
        ctx.event(
          'Normal',
          'LaunchConfigurationDeleted',
          `deleted launch configuration ${lcName}: no instance of ${group.name} uses it`,
        );
      }
    } catch (err) {
      // Still attached somewhere (ResourceInUse) or refused: kept, tried again on a later pass.
      if (!(err instanceof AwsOperationError)) throw err;
      ctx.log.debug('could not delete a launch configuration', {
        launchConfiguration: lcName,
        error: err.message,
      });
    }
  }
  let templateLeft = false;
  const template = input.template;
  if (template) {
    const inUse = used.templates.some(
      (i) =>
        i.launchTemplate?.id === template.id ||
        (i.launchTemplate?.name ?? '').toLowerCase() === template.name.toLowerCase(),
    );
    templateLeft = true;
    if (!inUse) {
      const done = await ctx.act(
        'DeleteLaunchTemplate',
        `delete launch template ${template.name} (no instance uses it)`,
        () => ctx.aws.ec2.deleteLaunchTemplate({ id: template.id }),
      );
      if (done !== undefined) {
        templateLeft = false;
        ctx.event(
          'Normal',
          'LaunchTemplateDeleted',
          `deleted launch template ${template.name}: the group launches from launch configurations and no instance uses it`,
        );
      }
    }
  }
  return {
    templateLeft,
    configurationsLeft: owned
      .map((lc) => lc.name)
      .filter((n) => n !== input.launchConfigurationName && !deleted.has(n)),
  };
}

/** Deletion: every launch configuration of the group (after the group is gone). */
export async function deleteLaunchConfigurations(ctx: GroupContext, groupName: string): Promise<string[]> {
  const owned = (await ctx.aws.autoScaling.listLaunchConfigurations({ namePrefix: `${groupName}-` })).filter(
    (lc) => isOwnLaunchConfiguration(groupName, lc.name),
  );
  const deleted: string[] = [];
  for (const lc of owned) {
    try {
      await ctx.act('DeleteLaunchConfiguration', `delete launch configuration ${lc.name}`, () =>
        ctx.aws.autoScaling.deleteLaunchConfiguration(lc.name),
      );
      deleted.push(lc.name);
    } catch (err) {
      // In use by a scaling group (a group of another namespace whose name collides with this one's):
      // AWS refuses, which is right; it must not keep this group's finalizer on for ever.
      if (!hasAwsErrorCode(err, 'ResourceInUse')) throw err;
      ctx.log.info('launch configuration still in use; left alone', { launchConfiguration: lc.name });
    }
  }
  return deleted;
}

/** Warnings for spec fields that are not applied, once per group generation (events, not every poll). */
export function warnOnce(
  seen: Set<string>,
  ig: InstanceGroup,
  ctx: GroupContext,
  problems: readonly FieldProblem[],
  reason: string,
): void {
  if (problems.length === 0) return;
  const key = `${ig.metadata.namespace ?? ''}/${ig.metadata.name ?? ''}@${ig.metadata.generation ?? 0}:${reason}`;
  if (seen.has(key)) return;
  seen.add(key);
  for (const p of problems) ctx.event('Warning', reason, `${p.field}: ${p.message}`);
}
