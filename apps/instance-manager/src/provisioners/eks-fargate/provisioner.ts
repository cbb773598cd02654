// The eks-fargate provisioner: an EKS Fargate profile (and its pod execution role when the spec names
// none). Profiles cannot be changed in place, so a changed spec replaces the profile: delete, wait, create.
import type { EKSFargateSpec, InstanceGroup } from '@keiko/api';
import type { FargateProfile } from '@keiko/aws';
import { identityTags, resolveResourceName, resourcePrefix, roleName, type GroupIdentity } from '../../names';
import { tagListToRecord } from '../common';
import { resolveCluster, resolveSubnets } from '../resolve';
import type { DeleteOutcome, GroupContext, ProvisionOutcome, Provisioner } from '../types';

const FIELD = 'spec.eks-fargate';
const POLL_MS = 10_000;
export const FARGATE_EXECUTION_POLICY = 'arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy';
export const FARGATE_ASSUME_ROLE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: ['eks-fargate-pods.amazonaws.com'] },
      Action: ['sts:AssumeRole'],
    },
  ],
});

function identityOf(ig: InstanceGroup): GroupIdentity {
  const clusterName = ig.spec['eks-fargate']?.clusterName ?? '';
  return { clusterName, namespace: ig.metadata.namespace ?? 'default', name: ig.metadata.name ?? '' };
}

function legacyProfileName(ig: InstanceGroup): string {
  const { clusterName, namespace, name } = identityOf(ig);
  return resourcePrefix(clusterName, namespace, name)
    .replace(/[^a-zA-Z0-9_-]/g, '-')
    .slice(0, 63);
}

/** The spec's profile name, else the recorded one, else the original's. */
export function profileNameOf(ig: InstanceGroup): string {
  return (
    ig.spec['eks-fargate']?.fargateProfileName || ig.status?.activeScalingGroupName || legacyProfileName(ig)
  );
}

/** As profileNameOf, but a derived name whose profile belongs to another group is disambiguated (see names.ts). */
function resolveProfileName(ctx: GroupContext): Promise<string> {
  const id = identityOf(ctx.ig);
  const chosen = ctx.ig.spec['eks-fargate']?.fargateProfileName;
  return resolveResourceName({
    recorded: chosen || ctx.ig.status?.activeScalingGroupName,
    legacy: legacyProfileName(ctx.ig),
    id,
    maxLength: 63,
    tagsOf: async (name) => (await ctx.aws.eks.describeFargateProfile(id.clusterName, name))?.tags,
  });
}

function executionRoleName(ig: InstanceGroup): string {
  return roleName(
    ig.spec['eks-fargate']?.clusterName ?? '',
    ig.metadata.namespace ?? 'default',
    `${ig.metadata.name ?? ''}-fargate`,
  );
}

/** Whether the existing profile is what the spec asks for (selectors, subnets, role, tags). */
export function profileMatches(
  profile: FargateProfile,
  spec: EKSFargateSpec,
  subnetIds: readonly string[],
  roleArn: string,
): boolean {
  const norm = (sels: ReadonlyArray<{ namespace: string; labels?: Record<string, string> }>) =>
    JSON.stringify(
      sels
        .map((s) => ({
          namespace: s.namespace,
          labels: Object.fromEntries(Object.entries(s.labels ?? {}).sort()),
        }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
  const tags = tagListToRecord(spec.tags);
  return (
    norm(profile.selectors) === norm(spec.selectors) &&
    [...profile.subnets].sort().join(',') === [...subnetIds].sort().join(',') &&
    (profile.podExecutionRoleArn ?? '') === roleArn &&
    Object.entries(tags).every(([k, v]) => profile.tags[k] === v)
  );
}

export class EksFargateProvisioner implements Provisioner {
  async reconcile(ctx: GroupContext): Promise<ProvisionOutcome> {
    const spec = ctx.ig.spec['eks-fargate'];
    const name = await resolveProfileName(ctx);
    const base = { provisioner: 'eks-fargate', activeScalingGroupName: name };
    if (!spec)
      return {
        phase: 'failed',
        state: 'Error',
        message: 'spec.eks-fargate is required',
        status: base,
        problems: [{ field: FIELD, message: 'required' }],
      };
    const cluster = await resolveCluster(ctx, spec.clusterName, `${FIELD}.clusterName`);
    const subnets = spec.subnets?.length
      ? await resolveSubnets(ctx, spec.subnets, cluster.value?.vpcId, `${FIELD}.subnets`)
      : { value: [] as string[], problems: [] };
    const problems = [...cluster.problems, ...subnets.problems];
    if (problems.length > 0)
      return {
        phase: 'failed',
        state: 'Error',
        message: `cannot provision Fargate profile ${name}`,
        status: base,
        problems,
        failureReason: 'InvalidConfiguration',
      };

    const roleArn = spec.podExecutionRoleArn ?? (await this.ensureExecutionRole(ctx));
    if (!roleArn)
      return {
        phase: 'provisioning',
        state: 'InitCreate',
        message: `dry run: would create the pod execution role`,
        status: base,
      };
    const status = { ...base, nodesInstanceRoleArn: roleArn };

    const profile = await ctx.aws.eks.describeFargateProfile(spec.clusterName, name);
    if (!profile) {
      await ctx.record('InitCreate', `creating Fargate profile ${name}`);
      const created = await ctx.act(
        'CreateFargateProfile',
        `create Fargate profile ${name} in ${spec.clusterName}`,
        () =>
          ctx.aws.eks.createFargateProfile({
            clusterName: spec.clusterName,
            name,
            podExecutionRoleArn: roleArn,
            subnets: subnets.value ?? [],
            selectors: spec.selectors.map((s) => ({
              namespace: s.namespace,
              ...(s.labels ? { labels: s.labels } : {}),
            })),
            // Who the profile belongs to (an ambiguous name is then told apart; see names.ts).
            tags: { ...tagListToRecord(spec.tags), ...identityTags(identityOf(ctx.ig)) },
          }),
      );
      if (!created)
        return {
          phase: 'provisioning',
          state: 'InitCreate',
          message: `dry run: would create Fargate profile ${name}`,
          status,
        };
      ctx.event('Normal', 'FargateProfileCreating', `creating Fargate profile ${name}`);
      return {
        phase: created.status === 'ACTIVE' ? 'provisioned' : 'provisioning',
        state: created.status === 'ACTIVE' ? 'ReconcileModified' : 'ReconcileModifying',
        message: `Fargate profile ${name} ${created.status}`,
        status,
        requeueAfterMs: POLL_MS,
      };
    }
    if (profile.status === 'CREATING' || profile.status === 'DELETING')
      return {
        phase: 'provisioning',
        state: 'ReconcileModifying',
        message: `Fargate profile ${name} ${profile.status}`,
        status,
        requeueAfterMs: POLL_MS,
      };
    if (profile.status === 'CREATE_FAILED' || profile.status === 'DELETE_FAILED')
      return {
        phase: 'failed',
        state: 'Error',
        message: `Fargate profile ${name} ${profile.status}: ${profile.issues.join('; ') || 'no details from EKS'}`,
        status,
        failureReason: 'FargateProfileFailed',
      };
    if (!profileMatches(profile, spec, subnets.value ?? [], roleArn)) {
      // Immutable: replace it. The next reconcile creates the new one once this one is gone.
      await ctx.record(
        'ReconcileModifying',
        `replacing Fargate profile ${name} (profiles cannot change in place)`,
      );
      await ctx.act('DeleteFargateProfile', `delete Fargate profile ${name} to recreate it`, () =>
        ctx.aws.eks.deleteFargateProfile(spec.clusterName, name),
      );
      ctx.event(
        'Normal',
        'FargateProfileReplacing',
        `Fargate profile ${name} differs from the spec; replacing it`,
      );
      return {
        phase: 'provisioning',
        state: 'ReconcileModifying',
        message: `replacing Fargate profile ${name}`,
        status,
        requeueAfterMs: POLL_MS,
      };
    }
    return {
      phase: 'provisioned',
      state: 'ReconcileModified',
      message: `Fargate profile ${name} ACTIVE`,
      status,
    };
  }

  private async ensureExecutionRole(ctx: GroupContext): Promise<string | undefined> {
    const name = executionRoleName(ctx.ig);
    const existing = await ctx.aws.iam.getRole(name);
    const role =
      existing ??
      (await ctx.act('CreateRole', `create pod execution role ${name}`, () =>
        ctx.aws.iam.createRole({
          name,
          assumeRolePolicyDocument: FARGATE_ASSUME_ROLE_POLICY,
          description: `Fargate pods of InstanceGroup ${ctx.namespace}/${ctx.name}`,
        }),
      ));
    if (!role) return undefined;
    const attached = await ctx.aws.iam.listAttachedRolePolicies(name);
    if (!attached.includes(FARGATE_EXECUTION_POLICY))
      await ctx.act('AttachRolePolicy', `attach ${FARGATE_EXECUTION_POLICY} to ${name}`, () =>
        ctx.aws.iam.attachRolePolicy(name, FARGATE_EXECUTION_POLICY),
      );
    return role.arn;
  }

  async delete(ctx: GroupContext): Promise<DeleteOutcome> {
    const spec = ctx.ig.spec['eks-fargate'];
    const name = await resolveProfileName(ctx);
    const clusterName = spec?.clusterName ?? '';
    const profile = await ctx.aws.eks.describeFargateProfile(clusterName, name);
    if (profile) {
      if (profile.status !== 'DELETING') {
        await ctx.act('DeleteFargateProfile', `delete Fargate profile ${name}`, () =>
          ctx.aws.eks.deleteFargateProfile(clusterName, name),
        );
        if (ctx.dryRun) return { done: false, message: `dry run: would delete Fargate profile ${name}` };
      }
      if (await ctx.aws.eks.describeFargateProfile(clusterName, name))
        return { done: false, message: `deleting Fargate profile ${name}`, requeueAfterMs: POLL_MS };
    }
    if (!spec?.podExecutionRoleArn) {
      const role = executionRoleName(ctx.ig);
      if (await ctx.aws.iam.getRole(role)) {
        await ctx.act('DetachRolePolicy', `detach ${FARGATE_EXECUTION_POLICY}`, () =>
          ctx.aws.iam.detachRolePolicy(role, FARGATE_EXECUTION_POLICY),
        );
        await ctx.act('DeleteRole', `delete pod execution role ${role}`, () => ctx.aws.iam.deleteRole(role));
      }
    }
    return { done: true, message: `Fargate profile ${name} deleted` };
  }
}
