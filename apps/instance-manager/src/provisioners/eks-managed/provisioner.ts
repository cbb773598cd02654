// The eks-managed provisioner: an EKS managed node group. EKS owns the instances and rotates them itself
// (the `managed` strategy); the controller creates the node group, keeps its size, labels and Kubernetes
// version in line with the spec, and deletes it.
import type { FieldProblem, InstanceGroup } from '@keiko/api';
import type { Nodegroup } from '@keiko/aws';
import { resourcePrefix } from '../../names';
import { tagListToRecord } from '../common';
import { resolveCluster, resolveSecurityGroups, resolveSubnets } from '../resolve';
import type { DeleteOutcome, GroupContext, ProvisionOutcome, Provisioner } from '../types';

const FIELD = 'spec.eks-managed.configuration';
const POLL_MS = 10_000;
export const NODEGROUP_LABEL = 'eks.amazonaws.com/nodegroup';

export function nodegroupNameOf(ig: InstanceGroup): string {
  if (ig.status?.activeScalingGroupName) return ig.status.activeScalingGroupName;
  const cluster = ig.spec['eks-managed']?.configuration.clusterName ?? '';
  return resourcePrefix(cluster, ig.metadata.namespace ?? 'default', ig.metadata.name ?? '')
    .replace(/[^a-zA-Z0-9_-]/g, '-')
    .slice(0, 63);
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

export class EksManagedProvisioner implements Provisioner {
  async reconcile(ctx: GroupContext): Promise<ProvisionOutcome> {
    const block = ctx.ig.spec['eks-managed'];
    const c = block?.configuration;
    const name = nodegroupNameOf(ctx.ig);
    const clusterName = c?.clusterName ?? '';
    const base = {
      provisioner: 'eks-managed',
      activeScalingGroupName: name,
      ...(c?.nodeRole ? { nodesInstanceRoleArn: c.nodeRole } : {}),
    };

    const cluster = await resolveCluster(ctx, c?.clusterName, `${FIELD}.clusterName`);
    const vpcId = cluster.value?.vpcId;
    const [subnets, groups] = await Promise.all([
      resolveSubnets(ctx, c?.subnets, vpcId, `${FIELD}.subnets`),
      resolveSecurityGroups(ctx, c?.securityGroups, vpcId, `${FIELD}.securityGroups`),
    ]);
    const problems = [...cluster.problems, ...subnets.problems, ...groups.problems];
    if (!c?.nodeRole)
      problems.push({ field: `${FIELD}.nodeRole`, message: 'required (the IAM role ARN of the nodes)' });
    if (problems.length > 0)
      return {
        phase: 'failed',
        state: 'Error',
        message: `cannot provision managed node group ${name}`,
        status: base,
        problems,
        failureReason: 'InvalidConfiguration',
      };

    const minSize = block?.minSize ?? 0;
    const maxSize = block?.maxSize ?? minSize;
    let ng = await ctx.aws.eks.describeNodegroup(clusterName, name);
    if (!ng) {
      await ctx.record('InitCreate', `creating managed node group ${name}`);
      const created = await ctx.act(
        'CreateNodegroup',
        `create managed node group ${name} in ${clusterName}`,
        () =>
          ctx.aws.eks.createNodegroup({
            clusterName,
            name,
            nodeRole: c?.nodeRole ?? '',
            subnets: subnets.value ?? [],
            scaling: { minSize, maxSize, desiredSize: minSize },
            ...(c?.instanceType ? { instanceTypes: [c.instanceType] } : {}),
            ...(c?.amiType ? { amiType: c.amiType } : {}),
            ...(c?.volSize ? { diskSize: c.volSize } : {}),
            ...(c?.version ? { version: c.version } : {}),
            ...(c?.releaseVersion ? { releaseVersion: c.releaseVersion } : {}),
            labels: c?.nodeLabels ?? {},
            tags: tagListToRecord(c?.tags),
            ...(c?.keyPairName
              ? { remoteAccess: { ec2SshKey: c.keyPairName, sourceSecurityGroups: groups.value ?? [] } }
              : {}),
          }),
      );
      if (!created)
        return {
          phase: 'provisioning',
          state: 'InitCreate',
          message: `dry run: would create managed node group ${name}`,
          status: base,
        };
      ctx.event('Normal', 'NodegroupCreating', `creating managed node group ${name}`);
      ng = created;
    }
    const status = {
      ...base,
      currentMin: ng.scaling?.minSize ?? minSize,
      currentMax: ng.scaling?.maxSize ?? maxSize,
      lifecycle: ng.capacityType === 'SPOT' ? 'spot' : 'normal',
    };
    if (ng.status === 'CREATING' || ng.status === 'UPDATING' || ng.status === 'DELETING')
      return {
        phase: 'provisioning',
        state: 'ReconcileModifying',
        message: `managed node group ${name} ${ng.status}`,
        status,
        requeueAfterMs: POLL_MS,
      };
    if (ng.status === 'CREATE_FAILED' || ng.status === 'DELETE_FAILED' || ng.status === 'DEGRADED')
      return {
        phase: 'failed',
        state: 'Error',
        message: `managed node group ${name} ${ng.status}: ${ng.issues.join('; ') || 'no details from EKS'}`,
        status,
        failureReason: `Nodegroup${ng.status === 'DEGRADED' ? 'Degraded' : 'Failed'}`,
      };

    const immutable = immutableChanges(ctx.ig, ng, subnets.value ?? []);
    if (immutable.length > 0)
      return {
        phase: 'failed',
        state: 'Error',
        message: `managed node group ${name} cannot be changed that way`,
        status,
        problems: immutable,
        failureReason: 'ImmutableField',
      };

    // Size and labels: one UpdateNodegroupConfig.
    const scaling = ng.scaling;
    const wantLabels = c?.nodeLabels ?? {};
    const addLabels = Object.fromEntries(Object.entries(wantLabels).filter(([k, v]) => ng?.labels[k] !== v));
    const removeLabels = Object.keys(ng.labels).filter((k) => !(k in wantLabels));
    const sizeChanged = !scaling || scaling.minSize !== minSize || scaling.maxSize !== maxSize;
    if (sizeChanged || Object.keys(addLabels).length > 0 || removeLabels.length > 0) {
      await ctx.record('InitUpdate', `updating managed node group ${name}`);
      const desiredSize = Math.min(maxSize, Math.max(minSize, scaling?.desiredSize ?? minSize));
      await ctx.act('UpdateNodegroupConfig', `update size/labels of managed node group ${name}`, () =>
        ctx.aws.eks.updateNodegroupConfig(clusterName, name, {
          ...(sizeChanged ? { scaling: { minSize, maxSize, desiredSize } } : {}),
          ...(Object.keys(addLabels).length > 0 || removeLabels.length > 0
            ? { labels: { addOrUpdate: addLabels, remove: removeLabels } }
            : {}),
        }),
      );
      return {
        phase: 'provisioning',
        state: 'ReconcileModifying',
        message: `updating managed node group ${name}`,
        status,
        requeueAfterMs: POLL_MS,
      };
    }
    // Kubernetes version / AMI release: EKS rotates the nodes (the managed strategy).
    const wantVersion = c?.version && c.version !== ng.version ? c.version : undefined;
    const wantRelease =
      c?.releaseVersion && c.releaseVersion !== ng.releaseVersion ? c.releaseVersion : undefined;
    if (wantVersion || wantRelease) {
      await ctx.record('InitUpgrade', `upgrading managed node group ${name}`);
      await ctx.act(
        'UpdateNodegroupVersion',
        `upgrade managed node group ${name} to ${wantVersion ?? ng.version} ${wantRelease ?? ''}`.trim(),
        () =>
          ctx.aws.eks.updateNodegroupVersion(clusterName, name, {
            ...(wantVersion ? { version: wantVersion } : {}),
            ...(wantRelease ? { releaseVersion: wantRelease } : {}),
          }),
      );
      ctx.event('Normal', 'NodegroupUpgrading', `EKS is upgrading managed node group ${name}`);
      return {
        phase: 'provisioning',
        state: 'InitUpgrade',
        message: `EKS is upgrading managed node group ${name}`,
        status,
        requeueAfterMs: POLL_MS,
      };
    }
    return {
      phase: 'provisioned',
      state: 'ReconcileModified',
      message: `managed node group ${name} ACTIVE`,
      status: { ...status, currentMin: minSize, currentMax: maxSize },
    };
  }

  async delete(ctx: GroupContext): Promise<DeleteOutcome> {
    const c = ctx.ig.spec['eks-managed']?.configuration;
    const name = nodegroupNameOf(ctx.ig);
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
