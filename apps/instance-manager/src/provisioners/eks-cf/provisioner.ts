// The eks-cf provisioner: the group as one CloudFormation stack (node role + instance profile, launch
// template, Auto Scaling group). Creates, updates and deletes the stack, follows its events into the
// group's status and Events, and hands the stack's scaling group to the upgrade stage.
import type { InstanceGroup } from '@keiko/api';
import { classifyStackStatus, describeStackEvent, type Stack } from '@keiko/aws';
import { stackName as deriveStackName } from '../../names';
import { osFamilyProblems } from '../os-family';
import { resolveLaunchInputs } from '../resolve';
import type { DeleteOutcome, GroupContext, ProvisionOutcome, Provisioner } from '../types';
import { currentOperation, eventsSince, failureReason, latestProgress } from './stack-events';
import {
  OUTPUT_ASG_NAME,
  OUTPUT_LAUNCH_TEMPLATE_ID,
  OUTPUT_LAUNCH_TEMPLATE_NAME,
  OUTPUT_LAUNCH_TEMPLATE_VERSION,
  OUTPUT_ROLE_ARN,
  renderEksCfTemplate,
} from './template';

const FIELD = 'spec.eks-cf.configuration';
const POLL_MS = 5_000;

/** The stack of a group: the one its status names, else the one its identity derives. */
export function stackNameOf(ig: InstanceGroup): string {
  if (ig.status?.stackName) return ig.status.stackName;
  const clusterName = ig.spec['eks-cf']?.configuration?.clusterName ?? '';
  return deriveStackName(clusterName, ig.metadata.namespace ?? 'default', ig.metadata.name ?? '');
}

function canonicalJson(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.stringify(sortKeys(JSON.parse(text) as unknown));
  } catch {
    return text;
  }
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

function sameTags(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

/** The controller last recorded a failed stack operation for this very generation of the spec. */
function failedForThisGeneration(ig: InstanceGroup, reasons: readonly string[]): boolean {
  const ready = ig.status?.conditions?.find((c) => c.type === 'Ready');
  return (
    !!ready &&
    ready.status === 'False' &&
    reasons.includes(ready.reason ?? '') &&
    ready.observedGeneration === ig.metadata.generation
  );
}

export class EksCfProvisioner implements Provisioner {
  /** Per stack, the newest event already reported as a Kubernetes Event (this process's memory only). */
  private readonly reported = new Map<string, number>();
  /** Per stack, the rendering it was last seen to hold (and when the stack last changed). */
  private readonly inSync = new Map<string, string>();
  /** Per stack, the status/last change already followed: a settled stack's events are not re-read. */
  private readonly followed = new Map<string, string>();
  private readonly startedAt = Date.now();

  async reconcile(ctx: GroupContext): Promise<ProvisionOutcome> {
    const { ig } = ctx;
    const block = ig.spec['eks-cf'];
    const config = block?.configuration ?? {};
    const name = stackNameOf(ig);
    const base = { stackName: name, provisioner: 'eks-cf', lifecycle: config.spotPrice ? 'spot' : 'normal' };

    const inputs = await resolveLaunchInputs(ctx, config, FIELD);
    const { cluster, subnets, groups, image } = inputs;
    const problems = [...inputs.problems, ...osFamilyProblems(ig)];
    if (!config.instanceType) problems.push({ field: `${FIELD}.instanceType`, message: 'required' });
    if (block?.maxSize === undefined) problems.push({ field: 'spec.eks-cf.maxSize', message: 'required' });

    let stack = await ctx.aws.cloudFormation.describeStack(name);
    if (problems.length > 0) {
      return {
        phase: 'failed',
        state: 'Error',
        message: `cannot provision stack ${name}`,
        status: base,
        problems,
        failureReason: 'InvalidConfiguration',
      };
    }
    const rendered = renderEksCfTemplate(ig, {
      stackName: name,
      clusterName: config.clusterName ?? '',
      subnetIds: subnets.value ?? [],
      securityGroupIds: groups.value ?? [],
      imageId: image.value ?? '',
      ...(cluster.value?.endpoint ? { apiServerEndpoint: cluster.value.endpoint } : {}),
      ...(cluster.value?.certificateAuthorityData
        ? { certificateAuthorityData: cluster.value.certificateAuthorityData }
        : {}),
    });
    const spec = {
      name,
      templateBody: rendered.body,
      tags: rendered.tags,
      capabilities: rendered.createsIam ? (['CAPABILITY_IAM'] as const) : [],
    };

    if (!stack) {
      await ctx.record('InitCreate', `creating stack ${name}`);
      await ctx.act('CreateStack', `create stack ${name}`, () => ctx.aws.cloudFormation.createStack(spec));
      ctx.event('Normal', 'StackCreating', `creating CloudFormation stack ${name}`);
      if (ctx.dryRun)
        return {
          phase: 'provisioning',
          state: 'InitCreate',
          message: `dry run: would create stack ${name}`,
          status: base,
        };
      stack = await ctx.aws.cloudFormation.describeStack(name);
      if (!stack)
        return {
          phase: 'provisioning',
          state: 'ReconcileModifying',
          message: `stack ${name} submitted`,
          status: base,
          requeueAfterMs: POLL_MS,
        };
    }

    await this.reportEvents(ctx, stack);
    const cls = classifyStackStatus(stack.status);
    const status = { ...base, stackName: stack.name };

    if (cls === 'in-progress') {
      const events = await ctx.aws.cloudFormation.describeStackEvents(name, { limit: 5 });
      const detail = latestProgress(events);
      return {
        phase: 'provisioning',
        state: stack.status.startsWith('DELETE') ? 'Deleting' : 'ReconcileModifying',
        message: `stack ${name} ${stack.status}${detail ? `: ${detail}` : ''}`,
        status,
        requeueAfterMs: POLL_MS,
      };
    }

    if (cls === 'failed' || cls === 'deleted') {
      const reason = (await this.failure(ctx, stack)) ?? stack.statusReason ?? stack.status;
      // A stack that failed to create cannot be updated; once the spec changed, replace it.
      const recreatable =
        stack.status === 'ROLLBACK_COMPLETE' ||
        stack.status === 'CREATE_FAILED' ||
        stack.status === 'DELETE_COMPLETE';
      const stale = !failedForThisGeneration(ig, ['StackCreateFailed']);
      if (recreatable && stale) {
        await ctx.record('ReconcileModifying', `replacing failed stack ${name}`);
        await ctx.act('DeleteStack', `delete failed stack ${name} to create it again`, () =>
          ctx.aws.cloudFormation.deleteStack(name),
        );
        return {
          phase: 'provisioning',
          state: 'ReconcileModifying',
          message: `replacing failed stack ${name}`,
          status,
          requeueAfterMs: POLL_MS,
        };
      }
      return {
        phase: 'failed',
        state: 'Error',
        message: `stack ${name} ${stack.status}: ${reason}`,
        status,
        failureReason: stack.status.startsWith('UPDATE') ? 'StackUpdateFailed' : 'StackCreateFailed',
      };
    }

    // complete, or rolled back after a failed update: bring it to the rendered template. The stack's
    // template is fetched only when this process has not seen it match already (one call per restart).
    const fingerprint = `${stack.lastUpdatedTime?.getTime() ?? stack.creationTime?.getTime() ?? 0}:${canonicalJson(rendered.body)}`;
    const knownCurrent = this.inSync.get(stack.id) === fingerprint;
    const currentBody = knownCurrent ? rendered.body : await ctx.aws.cloudFormation.getTemplateBody(name);
    const changed =
      canonicalJson(currentBody) !== canonicalJson(rendered.body) || !sameTags(stack.tags, rendered.tags);
    if (!changed) this.inSync.set(stack.id, fingerprint);
    if (changed) {
      if (cls === 'rolled-back' && failedForThisGeneration(ig, ['StackUpdateFailed'])) {
        const reason = (await this.failure(ctx, stack)) ?? stack.statusReason ?? stack.status;
        return {
          phase: 'failed',
          state: 'Error',
          message: `stack ${name} update failed: ${reason}`,
          status,
          failureReason: 'StackUpdateFailed',
        };
      }
      await ctx.record('InitUpdate', `updating stack ${name}`);
      const result = await ctx.act('UpdateStack', `update stack ${name}`, () =>
        ctx.aws.cloudFormation.updateStack(spec),
      );
      if (ctx.dryRun)
        return {
          phase: 'provisioning',
          state: 'InitUpdate',
          message: `dry run: would update stack ${name}`,
          status,
        };
      if (result?.updated) {
        ctx.event('Normal', 'StackUpdating', `updating CloudFormation stack ${name}`);
        const after = await ctx.aws.cloudFormation.describeStack(name);
        if (!after || classifyStackStatus(after.status) === 'in-progress')
          return {
            phase: 'provisioning',
            state: 'ReconcileModifying',
            message: `stack ${name} ${after?.status ?? 'updating'}`,
            status,
            requeueAfterMs: POLL_MS,
          };
        stack = after;
        await this.reportEvents(ctx, stack);
        if (classifyStackStatus(stack.status) !== 'complete') {
          const reason = (await this.failure(ctx, stack)) ?? stack.statusReason ?? stack.status;
          return {
            phase: 'failed',
            state: 'Error',
            message: `stack ${name} update failed: ${reason}`,
            status,
            failureReason: 'StackUpdateFailed',
          };
        }
      }
    }

    return this.provisioned(ctx, stack, status);
  }

  /** The stack is what the spec says: read its outputs and hand its scaling group on. */
  private async provisioned(
    ctx: GroupContext,
    stack: Stack,
    status: ProvisionOutcome['status'],
  ): Promise<ProvisionOutcome> {
    const asgName = stack.outputs[OUTPUT_ASG_NAME];
    const templateId = stack.outputs[OUTPUT_LAUNCH_TEMPLATE_ID];
    const version = stack.outputs[OUTPUT_LAUNCH_TEMPLATE_VERSION];
    const roleArn = stack.outputs[OUTPUT_ROLE_ARN];
    if (!asgName || !templateId || !version) {
      return {
        phase: 'failed',
        state: 'Error',
        message: `stack ${stack.name} has no ${OUTPUT_ASG_NAME}/${OUTPUT_LAUNCH_TEMPLATE_ID}/${OUTPUT_LAUNCH_TEMPLATE_VERSION} outputs`,
        status,
        failureReason: 'StackOutputsMissing',
      };
    }
    let group = await ctx.aws.autoScaling.describeGroup(asgName);
    if (!group)
      return {
        phase: 'provisioning',
        state: 'ReconcileModifying',
        message: `scaling group ${asgName} not visible yet`,
        status,
        requeueAfterMs: POLL_MS,
      };

    // CloudFormation moves the group to the template's new version itself. Emulators that do not
    // re-resolve Fn::GetAtt on update leave it behind; moving it here is a no-op on AWS.
    if (group.launchTemplate?.version !== version) {
      await ctx.act(
        'UpdateAutoScalingGroup',
        `move group ${asgName} to launch template version ${version}`,
        () => ctx.aws.autoScaling.updateGroup(asgName, { launchTemplate: { id: templateId, version } }),
      );
      group = (await ctx.aws.autoScaling.describeGroup(asgName)) ?? group;
    }
    // The template's default version follows its latest, so EC2's per-instance version tags and the
    // console say which version instances launched from.
    const info = await ctx.aws.ec2.describeLaunchTemplate({ id: templateId });
    if (info && String(info.defaultVersion) !== version) {
      await ctx.act('ModifyLaunchTemplate', `set default version of ${info.name} to ${version}`, () =>
        ctx.aws.ec2.setDefaultLaunchTemplateVersion({ id: templateId }, Number(version)),
      );
    }
    return {
      phase: 'provisioned',
      state: 'ReconcileModified',
      message: `stack ${stack.name} ${stack.status}`,
      status: {
        ...status,
        activeScalingGroupName: asgName,
        activeLaunchTemplateName: stack.outputs[OUTPUT_LAUNCH_TEMPLATE_NAME] ?? info?.name,
        latestTemplateVersion: version,
        ...(roleArn ? { nodesInstanceRoleArn: roleArn } : {}),
        currentMin: group.minSize,
        currentMax: group.maxSize,
      },
      fleet: {
        group,
        resolved: [{ id: templateId, name: info?.name ?? '', version: Number(version) }],
        launchVersion: version,
      },
      ...(roleArn ? { roleArn } : {}),
    };
  }

  async delete(ctx: GroupContext): Promise<DeleteOutcome> {
    const name = stackNameOf(ctx.ig);
    const stack = await ctx.aws.cloudFormation.describeStack(name);
    if (!stack || stack.status === 'DELETE_COMPLETE') return { done: true, message: `stack ${name} deleted` };
    await this.reportEvents(ctx, stack);
    if (stack.status === 'DELETE_IN_PROGRESS')
      return { done: false, message: `stack ${name} DELETE_IN_PROGRESS`, requeueAfterMs: POLL_MS };
    // An update cannot be interrupted by a delete; let it finish (or roll back) first.
    if (stack.status.startsWith('UPDATE') && stack.status.endsWith('_IN_PROGRESS'))
      return {
        done: false,
        message: `stack ${name} ${stack.status}; deleting once it settles`,
        requeueAfterMs: POLL_MS,
      };
    let failure: string | undefined;
    if (stack.status === 'DELETE_FAILED')
      failure = `stack ${name} DELETE_FAILED: ${(await this.failure(ctx, stack)) ?? stack.statusReason ?? ''}; retrying`;
    await ctx.act('DeleteStack', `delete stack ${name}`, () => ctx.aws.cloudFormation.deleteStack(name));
    if (ctx.dryRun) return { done: false, message: `dry run: would delete stack ${name}` };
    const after = await ctx.aws.cloudFormation.describeStack(name);
    if (!after || after.status === 'DELETE_COMPLETE') return { done: true, message: `stack ${name} deleted` };
    return {
      done: false,
      message: `stack ${name} ${after.status}`,
      requeueAfterMs: POLL_MS,
      ...(failure ? { failure } : {}),
    };
  }

  private async failure(ctx: GroupContext, stack: Stack): Promise<string | undefined> {
    const events = await ctx.aws.cloudFormation.describeStackEvents(stack.name, { limit: 100 });
    return failureReason(currentOperation(events, stack.name), stack.name);
  }

  /** Stack events not reported yet become Kubernetes Events: failures as Warnings, stack states as Normal. */
  private async reportEvents(ctx: GroupContext, stack: Stack): Promise<void> {
    const state = `${stack.status}:${stack.lastUpdatedTime?.getTime() ?? stack.creationTime?.getTime() ?? 0}`;
    if (this.followed.get(stack.id) === state && !stack.status.endsWith('_IN_PROGRESS')) return;
    this.followed.set(stack.id, state);
    const since = this.reported.get(stack.id) ?? this.startedAt;
    const fresh = eventsSince(
      await ctx.aws.cloudFormation.describeStackEvents(stack.name, { limit: 50 }),
      since,
    );
    for (const e of fresh) {
      const stackLevel = e.resourceType === 'AWS::CloudFormation::Stack';
      if (e.resourceStatus.endsWith('_FAILED'))
        ctx.event('Warning', 'StackResourceFailed', `stack ${stack.name}: ${describeStackEvent(e)}`);
      else if (stackLevel && !e.resourceStatus.endsWith('_IN_PROGRESS'))
        ctx.event('Normal', 'StackStatus', `stack ${stack.name}: ${e.resourceStatus}`);
      this.reported.set(stack.id, Math.max(this.reported.get(stack.id) ?? 0, e.timestamp.getTime()));
    }
  }
}
