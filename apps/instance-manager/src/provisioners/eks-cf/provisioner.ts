// The eks-cf provisioner: the group as one CloudFormation stack (node role + instance profile, launch
// template, Auto Scaling group). Creates, updates and deletes the stack, follows its events into the
// group's status and Events, and hands the stack's scaling group to the upgrade stage.
import type { InstanceGroup } from '@keiko/api';
import { classifyStackStatus, describeStackEvent, type CloudFormationPort, type Stack } from '@keiko/aws';
import { stackName as deriveStackName, resolveResourceName } from '../../names';
import { osFamilyProblems } from '../os-family';
import { dryRunStop, failed, invalidConfiguration, pollAgain } from '../outcomes';
import { requiredFieldProblems, resolveLaunchInputs } from '../resolve';
import type { DeleteOutcome, GroupContext, ProvisionOutcome, Provisioner } from '../types';
import { currentOperation, eventsSince, failureReason, latestProgress } from './stack-events';
import {
  OUTPUT_ASG_NAME,
  OUTPUT_LAUNCH_TEMPLATE_ID,
  OUTPUT_LAUNCH_TEMPLATE_NAME,
  OUTPUT_LAUNCH_TEMPLATE_VERSION,
  OUTPUT_ROLE_ARN,
  renderEksCfTemplate,
  type RenderedStack,
} from './template';

const FIELD = 'spec.eks-cf.configuration';
const POLL_MS = 5_000;

/** The stack of a group: the one its status names, else the one its identity derives (the original's). */
export function stackNameOf(ig: InstanceGroup): string {
  if (ig.status?.stackName) return ig.status.stackName;
  const clusterName = ig.spec['eks-cf']?.configuration?.clusterName ?? '';
  return deriveStackName(clusterName, ig.metadata.namespace ?? 'default', ig.metadata.name ?? '');
}

/** As stackNameOf, but a name whose stack belongs to another group is disambiguated (see names.ts). */
function resolveStackName(ctx: GroupContext): Promise<string> {
  const { ig } = ctx;
  const clusterName = ig.spec['eks-cf']?.configuration?.clusterName ?? '';
  const namespace = ig.metadata.namespace ?? 'default';
  const name = ig.metadata.name ?? '';
  return resolveResourceName({
    recorded: ig.status?.stackName,
    legacy: deriveStackName(clusterName, namespace, name),
    id: { clusterName, namespace, name },
    maxLength: 128,
    tagsOf: async (stack) => (await ctx.aws.cloudFormation.describeStack(stack))?.tags,
  });
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

type StackSpec = Parameters<CloudFormationPort['createStack']>[0];

/** The group's stack template, rendered from the spec and what was resolved for it. */
function renderStack(
  ig: InstanceGroup,
  stackName: string,
  inputs: Awaited<ReturnType<typeof resolveLaunchInputs>>,
): RenderedStack {
  const { cluster, subnets, groups, image } = inputs;
  return renderEksCfTemplate(ig, {
    stackName,
    clusterName: ig.spec['eks-cf']?.configuration?.clusterName ?? '',
    subnetIds: subnets.value ?? [],
    securityGroupIds: groups.value ?? [],
    imageId: image.value ?? '',
    ...(cluster.value?.endpoint ? { apiServerEndpoint: cluster.value.endpoint } : {}),
    ...(cluster.value?.certificateAuthorityData
      ? { certificateAuthorityData: cluster.value.certificateAuthorityData }
      : {}),
  });
}

export class EksCfProvisioner implements Provisioner {
  /** Per stack, the newest event already reported as a Kubernetes Event (this process's memory only). */
  private readonly reported = new Map<string, number>();
  /** Per stack, the rendering it was last seen to hold (and when the stack last changed). */
  private readonly inSync = new Map<string, string>();
  /** Per stack, the status/last change already followed: a settled stack's events are not re-read. */
  private readonly followed = new Map<string, string>();
  private readonly startedAt = Date.now();

  /**
   * The group's stack in order: created when missing, followed while CloudFormation works, replaced when
   * it failed to create, updated to the rendered template; then its scaling group is handed on.
   */
  async reconcile(ctx: GroupContext): Promise<ProvisionOutcome> {
    const { ig } = ctx;
    const block = ig.spec['eks-cf'];
    const name = await resolveStackName(ctx);
    const base = {
      stackName: name,
      provisioner: 'eks-cf',
      lifecycle: block?.configuration?.spotPrice ? 'spot' : 'normal',
    };

    const inputs = await resolveLaunchInputs(ctx, block?.configuration ?? {}, FIELD);
    const problems = [
      ...inputs.problems,
      ...osFamilyProblems(ig),
      ...requiredFieldProblems(block, 'spec.eks-cf'),
    ];
    const existing = await ctx.aws.cloudFormation.describeStack(name);
    if (problems.length > 0) return invalidConfiguration(`cannot provision stack ${name}`, base, problems);
    const rendered = renderStack(ig, name, inputs);
    const spec = {
      name,
      templateBody: rendered.body,
      tags: rendered.tags,
      capabilities: rendered.createsIam ? (['CAPABILITY_IAM'] as const) : [],
    };

    const stack = existing ?? (await this.createStack(ctx, spec, base));
    if ('phase' in stack) return stack;
    await this.reportEvents(ctx, stack);
    const status = { ...base, stackName: stack.name };
    const cls = classifyStackStatus(stack.status);
    if (cls === 'in-progress') return this.followStackOperation(ctx, stack, status);
    if (cls === 'failed' || cls === 'deleted') return this.planFailedStack(ctx, stack, status);
    // complete, or rolled back after a failed update: bring it to the rendered template.
    const current = await this.updateStack(ctx, { stack, rendered, spec, status });
    if ('phase' in current) return current;
    return this.provisioned(ctx, current, status);
  }

  /** Creates the stack; a dry run stops there, and so does a stack not visible yet. */
  private async createStack(
    ctx: GroupContext,
    spec: StackSpec,
    base: ProvisionOutcome['status'],
  ): Promise<Stack | ProvisionOutcome> {
    const { name } = spec;
    await ctx.record('InitCreate', `creating stack ${name}`);
    await ctx.act('CreateStack', `create stack ${name}`, () => ctx.aws.cloudFormation.createStack(spec));
    ctx.event('Normal', 'StackCreating', `creating CloudFormation stack ${name}`);
    if (ctx.dryRun) return dryRunStop('InitCreate', `dry run: would create stack ${name}`, base);
    const stack = await ctx.aws.cloudFormation.describeStack(name);
    return stack ?? pollAgain('ReconcileModifying', `stack ${name} submitted`, base, POLL_MS);
  }

  /** CloudFormation is at work on the stack: say what it does now, and look again. */
  private async followStackOperation(
    ctx: GroupContext,
    stack: Stack,
    status: ProvisionOutcome['status'],
  ): Promise<ProvisionOutcome> {
    const events = await ctx.aws.cloudFormation.describeStackEvents(stack.name, { limit: 5 });
    const detail = latestProgress(events);
    return pollAgain(
      stack.status.startsWith('DELETE') ? 'Deleting' : 'ReconcileModifying',
      `stack ${stack.name} ${stack.status}${detail ? `: ${detail}` : ''}`,
      status,
      POLL_MS,
    );
  }

  /**
   * A failed or deleted stack. One that failed to create cannot be updated: once the spec changed since
   * that failure, it is deleted to be created again; until then the failure is the answer.
   */
  private async planFailedStack(
    ctx: GroupContext,
    stack: Stack,
    status: ProvisionOutcome['status'],
  ): Promise<ProvisionOutcome> {
    const { name } = stack;
    const reason = (await this.failure(ctx, stack)) ?? stack.statusReason ?? stack.status;
    const recreatable =
      stack.status === 'ROLLBACK_COMPLETE' ||
      stack.status === 'CREATE_FAILED' ||
      stack.status === 'DELETE_COMPLETE';
    const stale = !failedForThisGeneration(ctx.ig, ['StackCreateFailed']);
    if (recreatable && stale) {
      await ctx.record('ReconcileModifying', `replacing failed stack ${name}`);
      await ctx.act('DeleteStack', `delete failed stack ${name} to create it again`, () =>
        ctx.aws.cloudFormation.deleteStack(name),
      );
      return pollAgain('ReconcileModifying', `replacing failed stack ${name}`, status, POLL_MS);
    }
    return failed(
      `stack ${name} ${stack.status}: ${reason}`,
      status,
      stack.status.startsWith('UPDATE') ? 'StackUpdateFailed' : 'StackCreateFailed',
    );
  }

  /**
   * Brings a settled stack to the rendered template (and tags). The stack's template is fetched only when
   * this process has not seen it match already (one call per restart). An update that failed for this
   * very generation is not tried again. Returns the stack once it is current, or the answer to give now.
   */
  private async updateStack(
    ctx: GroupContext,
    input: { stack: Stack; rendered: RenderedStack; spec: StackSpec; status: ProvisionOutcome['status'] },
  ): Promise<Stack | ProvisionOutcome> {
    const { stack, rendered, spec, status } = input;
    const { name } = stack;
    const fingerprint = `${stack.lastUpdatedTime?.getTime() ?? stack.creationTime?.getTime() ?? 0}:${canonicalJson(rendered.body)}`;
    const knownCurrent = this.inSync.get(stack.id) === fingerprint;
    const currentBody = knownCurrent ? rendered.body : await ctx.aws.cloudFormation.getTemplateBody(name);
    const changed =
      canonicalJson(currentBody) !== canonicalJson(rendered.body) || !sameTags(stack.tags, rendered.tags);
    if (!changed) {
      this.inSync.set(stack.id, fingerprint);
      return stack;
    }
    if (
      classifyStackStatus(stack.status) === 'rolled-back' &&
      failedForThisGeneration(ctx.ig, ['StackUpdateFailed'])
    )
      return this.updateFailed(ctx, stack, status);
    await ctx.record('InitUpdate', `updating stack ${name}`);
    const result = await ctx.act('UpdateStack', `update stack ${name}`, () =>
      ctx.aws.cloudFormation.updateStack(spec),
    );
    if (ctx.dryRun) return dryRunStop('InitUpdate', `dry run: would update stack ${name}`, status);
    if (!result?.updated) return stack;
    ctx.event('Normal', 'StackUpdating', `updating CloudFormation stack ${name}`);
    const after = await ctx.aws.cloudFormation.describeStack(name);
    if (!after || classifyStackStatus(after.status) === 'in-progress')
      return pollAgain('ReconcileModifying', `stack ${name} ${after?.status ?? 'updating'}`, status, POLL_MS);
    await this.reportEvents(ctx, after);
    if (classifyStackStatus(after.status) !== 'complete') return this.updateFailed(ctx, after, status);
    return after;
  }

  /** The stack's update failed: the answer names why, from its events. */
  private async updateFailed(
    ctx: GroupContext,
    stack: Stack,
    status: ProvisionOutcome['status'],
  ): Promise<ProvisionOutcome> {
    const reason = (await this.failure(ctx, stack)) ?? stack.statusReason ?? stack.status;
    return failed(`stack ${stack.name} update failed: ${reason}`, status, 'StackUpdateFailed');
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
    const name = await resolveStackName(ctx);
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
