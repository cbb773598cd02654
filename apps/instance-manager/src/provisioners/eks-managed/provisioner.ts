// The eks-managed provisioner: an EKS managed node group. EKS owns the instances and rotates them itself
// (the `managed` strategy); the controller creates the node group, keeps its size, labels and Kubernetes
// version in line with the spec, and deletes it.
import type { FieldProblem, InstanceGroup } from '@keiko/api';
import type { Nodegroup } from '@keiko/aws';
import { identityTags, resolveResourceName, resourcePrefix, type GroupIdentity } from '../../names';
import { tagListToRecord } from '../common';
import { dryRunStop, failed, invalidConfiguration, pollAgain } from '../outcomes';
import { resolveNetwork } from '../resolve';
import type { DeleteOutcome, GroupContext, ProvisionOutcome, Provisioner } from '../types';

const FIELD = 'spec.eks-managed.configuration';
const POLL_MS = 10_000;
export const NODEGROUP_LABEL = 'eks.amazonaws.com/nodegroup';

function identityOf(ig: InstanceGroup): GroupIdentity {
  const clusterName = ig.spec['eks-managed']?.configuration.clusterName ?? '';
  return { clusterName, namespace: ig.metadata.namespace ?? 'default', name: ig.metadata.name ?? '' };
}

function legacyNodegroupName(ig: InstanceGroup): string {
  const { clusterName, namespace, name } = identityOf(ig);
  return resourcePrefix(clusterName, namespace, name)
    .replace(/[^a-zA-Z0-9_-]/g, '-')
    .slice(0, 63);
}

/** The group's node group name as recorded, else the original's. */
export function nodegroupNameOf(ig: InstanceGroup): string {
  return ig.status?.activeScalingGroupName || legacyNodegroupName(ig);
}

/** As nodegroupNameOf, but a name whose node group belongs to another group is disambiguated (see names.ts). */
function resolveNodegroupName(ctx: GroupContext): Promise<string> {
  const id = identityOf(ctx.ig);
  return resolveResourceName({
    recorded: ctx.ig.status?.activeScalingGroupName,
    legacy: legacyNodegroupName(ctx.ig),
    id,
    maxLength: 63,
    tagsOf: async (name) => (await ctx.aws.eks.describeNodegroup(id.clusterName, name))?.tags,
  });
}

/** Spec fields EKS cannot change on an existing node group. */
export function immutableChanges(
  ig: InstanceGroup,
  ng: Nodegroup,
  subnetIds: readonly string[],
): FieldProblem[] {
  const c = ig.spec['eks-managed']?.configuration;
  const out: FieldProblem[] = [];
  const msg = (what: string, was: string) =>
    `${what} of managed node group ${ng.name} cannot change (is ${was}); create a new InstanceGroup instead`;
  if (c?.instanceType && ng.instanceTypes.length > 0 && !ng.instanceTypes.includes(c.instanceType))
    out.push({
      field: `${FIELD}.instanceType`,
      message: msg('the instance type', ng.instanceTypes.join(',')),
    });
  if (c?.amiType && ng.amiType && c.amiType !== ng.amiType)
    out.push({ field: `${FIELD}.amiType`, message: msg('the AMI type', ng.amiType) });
  if (c?.volSize !== undefined && ng.diskSize !== undefined && c.volSize !== ng.diskSize)
    out.push({ field: `${FIELD}.volSize`, message: msg('the disk size', String(ng.diskSize)) });
  if (c?.nodeRole && ng.nodeRole && c.nodeRole !== ng.nodeRole)
    out.push({ field: `${FIELD}.nodeRole`, message: msg('the node role', ng.nodeRole) });
  if (subnetIds.length > 0 && [...subnetIds].sort().join(',') !== [...ng.subnets].sort().join(','))
    out.push({ field: `${FIELD}.subnets`, message: msg('the subnets', ng.subnets.join(',')) });
  return out;
}

/**
 * EKS is still at work on the node group (look again), or left it failed or degraded (the answer names
 * EKS's issues); undefined when it is ACTIVE.
 */
function settlingOrFailed(ng: Nodegroup, status: ProvisionOutcome['status']): ProvisionOutcome | undefined {
  if (ng.status === 'CREATING' || ng.status === 'UPDATING' || ng.status === 'DELETING')
    return pollAgain('ReconcileModifying', `managed node group ${ng.name} ${ng.status}`, status, POLL_MS);
  if (ng.status === 'CREATE_FAILED' || ng.status === 'DELETE_FAILED' || ng.status === 'DEGRADED')
    return failed(
      `managed node group ${ng.name} ${ng.status}: ${ng.issues.join('; ') || 'no details from EKS'}`,
      status,
      `Nodegroup${ng.status === 'DEGRADED' ? 'Degraded' : 'Failed'}`,
    );
  return undefined;
}

/** Spec fields EKS cannot change on an existing node group refuse the change; undefined when none differs. */
function immutableRefusal(
  ig: InstanceGroup,
  ng: Nodegroup,
  subnetIds: readonly string[],
  status: ProvisionOutcome['status'],
): ProvisionOutcome | undefined {
  const immutable = immutableChanges(ig, ng, subnetIds);
  if (immutable.length === 0) return undefined;
  return failed(
    `managed node group ${ng.name} cannot be changed that way`,
    status,
    'ImmutableField',
    immutable,
  );
}

type ManagedBlock = NonNullable<InstanceGroup['spec']['eks-managed']>;
type ManagedConfig = ManagedBlock['configuration'];

/** The size the spec asks for: maxSize defaults to minSize, minSize to 0. */
function sizeOf(block: ManagedBlock | undefined): { minSize: number; maxSize: number } {
  const minSize = block?.minSize ?? 0;
  return { minSize, maxSize: block?.maxSize ?? minSize };
}

export class EksManagedProvisioner implements Provisioner {
  /**
   * The managed node group in order: created when missing, followed while EKS works on it, then its size
   * and labels, then its Kubernetes version and AMI release, each changed the way EKS allows.
   */
  async reconcile(ctx: GroupContext): Promise<ProvisionOutcome> {
    const block = ctx.ig.spec['eks-managed'];
    const c = block?.configuration;
    const name = await resolveNodegroupName(ctx);
    const base = {
      provisioner: 'eks-managed',
      activeScalingGroupName: name,
      ...(c?.nodeRole ? { nodesInstanceRoleArn: c.nodeRole } : {}),
    };

    const network = await resolveNetwork(ctx, c ?? {}, FIELD);
    const problems = [...network.problems];
    if (!c?.nodeRole)
      problems.push({ field: `${FIELD}.nodeRole`, message: 'required (the IAM role ARN of the nodes)' });
    if (problems.length > 0)
      return invalidConfiguration(`cannot provision managed node group ${name}`, base, problems);

    const size = sizeOf(block);
    const subnetIds = network.subnets.value ?? [];
    const ng = await this.ensureNodegroup(ctx, { name, subnetIds, groups: network.groups.value ?? [], base });
    if ('phase' in ng) return ng;
    const status = {
      ...base,
      currentMin: ng.scaling?.minSize ?? size.minSize,
      currentMax: ng.scaling?.maxSize ?? size.maxSize,
      lifecycle: ng.capacityType === 'SPOT' ? 'spot' : 'normal',
    };
    return (
      settlingOrFailed(ng, status) ??
      immutableRefusal(ctx.ig, ng, subnetIds, status) ??
      (await this.updateConfig(ctx, ng, size, status)) ??
      (await this.upgradeVersion(ctx, ng, status)) ?? {
        phase: 'provisioned',
        state: 'ReconcileModified',
        message: `managed node group ${name} ACTIVE`,
        status: { ...status, currentMin: size.minSize, currentMax: size.maxSize },
      }
    );
  }

  /** The node group as EKS has it: created when missing (a dry run stops there). */
  private async ensureNodegroup(
    ctx: GroupContext,
    input: { name: string; subnetIds: string[]; groups: string[]; base: ProvisionOutcome['status'] },
  ): Promise<Nodegroup | ProvisionOutcome> {
    const { name, base } = input;
    const block = ctx.ig.spec['eks-managed'];
    const c: Partial<ManagedConfig> = block?.configuration ?? {};
    const clusterName = c.clusterName ?? '';
    const existing = await ctx.aws.eks.describeNodegroup(clusterName, name);
    if (existing) return existing;
    const { minSize, maxSize } = sizeOf(block);
    await ctx.record('InitCreate', `creating managed node group ${name}`);
    const created = await ctx.act(
      'CreateNodegroup',
      `create managed node group ${name} in ${clusterName}`,
      () =>
        ctx.aws.eks.createNodegroup({
          clusterName,
          name,
          nodeRole: c.nodeRole ?? '',
          subnets: input.subnetIds,
          scaling: { minSize, maxSize, desiredSize: minSize },
          ...(c.instanceType ? { instanceTypes: [c.instanceType] } : {}),
          ...(c.amiType ? { amiType: c.amiType } : {}),
          ...(c.volSize ? { diskSize: c.volSize } : {}),
          ...(c.version ? { version: c.version } : {}),
          ...(c.releaseVersion ? { releaseVersion: c.releaseVersion } : {}),
          labels: c.nodeLabels ?? {},
          // Who the node group belongs to (an ambiguous name is then told apart; see names.ts).
          tags: { ...tagListToRecord(c.tags), ...identityTags(identityOf(ctx.ig)) },
          ...(c.keyPairName
            ? { remoteAccess: { ec2SshKey: c.keyPairName, sourceSecurityGroups: input.groups } }
            : {}),
        }),
    );
    if (!created) return dryRunStop('InitCreate', `dry run: would create managed node group ${name}`, base);
    ctx.event('Normal', 'NodegroupCreating', `creating managed node group ${name}`);
    return created;
  }

  /**
   * Size and labels, in one UpdateNodegroupConfig when either differs from the spec (the desired size
   * kept within the new bounds); undefined when both match.
   */
  private async updateConfig(
    ctx: GroupContext,
    ng: Nodegroup,
    size: { minSize: number; maxSize: number },
    status: ProvisionOutcome['status'],
  ): Promise<ProvisionOutcome | undefined> {
    const { minSize, maxSize } = size;
    const c = ctx.ig.spec['eks-managed']?.configuration;
    const { name, scaling } = ng;
    const wantLabels = c?.nodeLabels ?? {};
    const addLabels = Object.fromEntries(Object.entries(wantLabels).filter(([k, v]) => ng.labels[k] !== v));
    const removeLabels = Object.keys(ng.labels).filter((k) => !(k in wantLabels));
    const labelsChanged = Object.keys(addLabels).length > 0 || removeLabels.length > 0;
    const sizeChanged = !scaling || scaling.minSize !== minSize || scaling.maxSize !== maxSize;
    if (!sizeChanged && !labelsChanged) return undefined;
    await ctx.record('InitUpdate', `updating managed node group ${name}`);
    const desiredSize = Math.min(maxSize, Math.max(minSize, scaling?.desiredSize ?? minSize));
    await ctx.act('UpdateNodegroupConfig', `update size/labels of managed node group ${name}`, () =>
      ctx.aws.eks.updateNodegroupConfig(c?.clusterName ?? '', name, {
        ...(sizeChanged ? { scaling: { minSize, maxSize, desiredSize } } : {}),
        ...(labelsChanged ? { labels: { addOrUpdate: addLabels, remove: removeLabels } } : {}),
      }),
    );
    return pollAgain('ReconcileModifying', `updating managed node group ${name}`, status, POLL_MS);
  }

  /**
   * Kubernetes version and AMI release: one UpdateNodegroupVersion when either differs from the spec,
   * after which EKS rotates the nodes itself (the managed strategy); undefined when both match.
   */
  private async upgradeVersion(
    ctx: GroupContext,
    ng: Nodegroup,
    status: ProvisionOutcome['status'],
  ): Promise<ProvisionOutcome | undefined> {
    const c = ctx.ig.spec['eks-managed']?.configuration;
    const { name } = ng;
    const wantVersion = c?.version && c.version !== ng.version ? c.version : undefined;
    const wantRelease =
      c?.releaseVersion && c.releaseVersion !== ng.releaseVersion ? c.releaseVersion : undefined;
    if (!wantVersion && !wantRelease) return undefined;
    await ctx.record('InitUpgrade', `upgrading managed node group ${name}`);
    await ctx.act(
      'UpdateNodegroupVersion',
      `upgrade managed node group ${name} to ${wantVersion ?? ng.version} ${wantRelease ?? ''}`.trim(),
      () =>
        ctx.aws.eks.updateNodegroupVersion(c?.clusterName ?? '', name, {
          ...(wantVersion ? { version: wantVersion } : {}),
          ...(wantRelease ? { releaseVersion: wantRelease } : {}),
        }),
    );
    ctx.event('Normal', 'NodegroupUpgrading', `EKS is upgrading managed node group ${name}`);
    return pollAgain('InitUpgrade', `EKS is upgrading managed node group ${name}`, status, POLL_MS);
  }

  async delete(ctx: GroupContext): Promise<DeleteOutcome> {
    const c = ctx.ig.spec['eks-managed']?.configuration;
    const name = await resolveNodegroupName(ctx);
    const clusterName = c?.clusterName ?? '';
    const ng = await ctx.aws.eks.describeNodegroup(clusterName, name);
    if (!ng) return { done: true, message: `managed node group ${name} deleted` };
    if (ng.status === 'CREATING' || ng.status === 'UPDATING')
      return {
        done: false,
        message: `managed node group ${name} ${ng.status}; deleting once it settles`,
        requeueAfterMs: POLL_MS,
      };
    if (ng.status !== 'DELETING') {
      await ctx.act('DeleteNodegroup', `delete managed node group ${name}`, () =>
        ctx.aws.eks.deleteNodegroup(clusterName, name),
      );
      if (ctx.dryRun) return { done: false, message: `dry run: would delete managed node group ${name}` };
    }
    const after = await ctx.aws.eks.describeNodegroup(clusterName, name);
    return after
      ? { done: false, message: `managed node group ${name} ${after.status}`, requeueAfterMs: POLL_MS }
      : { done: true, message: `managed node group ${name} deleted` };
  }
}
