// Turning what a spec names (cluster, subnets and security groups by id or Name tag, an image as an AMI,
// `latest` or `ssm://...`) into AWS ids, checking that they exist. Anything missing becomes a FieldProblem
// naming the field and the missing values, so one status message tells the user everything to fix; AWS
// call failures (throttling, access denied) are not problems with the spec and are rethrown.
import type { FieldProblem } from '@keiko/api';
import { AwsOperationError, type Ec2Image, type EksCluster, type InstanceTypeInfo } from '@keiko/aws';
import { parseImage } from './common';
import { architectureOf, latestImageParameter, osFamilyOf } from './os-family';
import type { GroupContext } from './types';

export interface Resolution<T> {
  value?: T;
  problems: FieldProblem[];
}

function asProblem(field: string, err: unknown): FieldProblem {
  if (err instanceof AwsOperationError) throw err;
  return { field, message: err instanceof Error ? err.message : String(err) };
}

export async function resolveCluster(
  ctx: GroupContext,
  clusterName: string | undefined,
  field: string,
): Promise<Resolution<EksCluster>> {
  if (!clusterName) return { problems: [{ field, message: 'required' }] };
  const cluster = await ctx.aws.eks.describeCluster(clusterName);
  if (!cluster) return { problems: [{ field, message: `EKS cluster ${clusterName} not found` }] };
  return { value: cluster, problems: [] };
}

export async function resolveSubnets(
  ctx: GroupContext,
  entries: readonly string[] | undefined,
  vpcId: string | undefined,
  field: string,
): Promise<Resolution<string[]>> {
  if (!entries || entries.length === 0)
    return { problems: [{ field, message: 'at least one subnet is required' }] };
  try {
    const subnets = await ctx.aws.ec2.describeSubnets(entries, vpcId ? { vpcId } : {});
    // Keep the spec's order (it decides nothing, but stable renderings do not churn).
    const ids = entries
      .map((e) => subnets.find((s) => s.id === e || s.name === e)?.id)
      .filter((id): id is string => !!id);
    return { value: [...new Set(ids)], problems: [] };
  } catch (err) {
    return { problems: [asProblem(field, err)] };
  }
}

export async function resolveSecurityGroups(
  ctx: GroupContext,
  entries: readonly string[] | undefined,
  vpcId: string | undefined,
  field: string,
): Promise<Resolution<string[]>> {
  if (!entries || entries.length === 0) return { value: [], problems: [] };
  try {
    const groups = await ctx.aws.ec2.describeSecurityGroups(entries, vpcId ? { vpcId } : {});
    const ids = entries
      .map((e) => groups.find((g) => g.id === e || g.groupName === e || g.name === e)?.id)
      .filter((id): id is string => !!id);
    return { value: [...new Set(ids)], problems: [] };
  } catch (err) {
    return { problems: [asProblem(field, err)] };
  }
}

/**
 * The AMI to launch: as given, the EKS-optimized one for the cluster's version, or an SSM parameter's —
 * and it must exist (for this account), be `available`, and run on the instance type's architecture.
 * A typo is then reported with the other configuration problems, before anything is created, instead
 * of surfacing as instances that never launch.
 */
export async function resolveImage(
  ctx: GroupContext,
  image: string | undefined,
  opts: Parameters<typeof resolveImageReference>[2],
  field: string,
): Promise<Resolution<string>> {
  const resolved = await resolveImageReference(ctx, image, opts, field);
  if (resolved.value === undefined) return resolved;
  const id = resolved.value;
  // `latest` and `ssm://...` say where the id came from: the parameter may be what is wrong.
  const source = parseImage(image).kind === 'ami' ? '' : ` (from ${image?.trim() ?? ''})`;
  const [images, types] = await Promise.all([
    ctx.aws.ec2.describeImages([id]),
    opts.instanceType ? ctx.aws.ec2.describeInstanceTypes([opts.instanceType]) : Promise.resolve([]),
  ]);
  const problem = imageProblem(id, images[0], types[0]);
  return problem ? { problems: [{ field, message: `${problem}${source}` }] } : resolved;
}

/**
 * Why an image cannot launch the group's instances, or undefined when it can. Pure. An instance type
 * EC2 does not know skips the architecture check (the launch reports an unknown type itself).
 */
export function imageProblem(
  id: string,
  image: Ec2Image | undefined,
  instanceType: InstanceTypeInfo | undefined,
): string | undefined {
  if (!image) return `AMI not found (or not shared with this account): ${id}`;
  if (image.state !== 'available') return `AMI ${id} is ${image.state}, not available`;
  const archs = instanceType?.architectures ?? [];
  if (image.architecture && archs.length > 0 && !archs.includes(image.architecture))
    return `AMI ${id} is ${image.architecture}, but instance type ${instanceType?.instanceType} runs ${archs.join('/')}`;
  return undefined;
}

/** The AMI id the spec names: as given, the EKS-optimized one for the cluster's version, or an SSM parameter's. */
async function resolveImageReference(
  ctx: GroupContext,
  image: string | undefined,
  opts: { kubernetesVersion?: string; instanceType?: string },
  field: string,
): Promise<Resolution<string>> {
  const ref = parseImage(image);
  switch (ref.kind) {
    case 'missing':
      return { problems: [{ field, message: 'required (an AMI id, latest, or ssm://<parameter>)' }] };
    case 'ami':
      return { value: ref.id, problems: [] };
    case 'latest': {
      if (!opts.kubernetesVersion)
        return {
          problems: [
            {
              field,
              message: "latest needs the cluster's Kubernetes version, and the cluster was not found",
            },
          ],
        };
      // The EKS-optimized image of the group's operating system family (os-family.ts).
      const family = osFamilyOf(ctx.ig);
      if (!family.ok) return { problems: [family.problem] };
      const latest = latestImageParameter(
        family.family,
        opts.kubernetesVersion,
        architectureOf(opts.instanceType),
      );
      if ('error' in latest) return { problems: [{ field, message: latest.error }] };
      const parameter = latest.parameter;
      const value = await ctx.aws.ssm.getParameter(parameter);
      return value
        ? { value, problems: [] }
        : { problems: [{ field, message: `latest: SSM parameter ${parameter} not found` }] };
    }
    case 'ssm': {
      const value = await ctx.aws.ssm.getParameter(ref.parameter);
      return value
        ? { value: value.trim(), problems: [] }
        : { problems: [{ field, message: `SSM parameter ${ref.parameter} not found` }] };
    }
  }
}

/**
 * Where any node group's instances go: the cluster, then (in its VPC) the subnets and the security groups.
 * `field` is the spec path of the configuration block. eks-managed needs no more than this.
 */
export async function resolveNetwork(
  ctx: GroupContext,
  config: { clusterName?: string; subnets?: string[]; securityGroups?: string[] },
  field: string,
) {
  const cluster = await resolveCluster(ctx, config.clusterName, `${field}.clusterName`);
  const { subnets, groups } = await resolveInVpc(ctx, config, cluster.value?.vpcId, field);
  const problems = [...cluster.problems, ...subnets.problems, ...groups.problems];
  return { cluster, subnets, groups, problems };
}

/** The subnets and security groups a configuration names, looked up together in the cluster's VPC. */
async function resolveInVpc(
  ctx: GroupContext,
  config: { subnets?: string[]; securityGroups?: string[] },
  vpcId: string | undefined,
  field: string,
) {
  const [subnets, groups] = await Promise.all([
    resolveSubnets(ctx, config.subnets, vpcId, `${field}.subnets`),
    resolveSecurityGroups(ctx, config.securityGroups, vpcId, `${field}.securityGroups`),
  ]);
  return { subnets, groups };
}

/**
 * What every self-managed node group (eks, eks-cf) launches into, resolved together: the cluster, then
 * (in its VPC) the subnets, the security groups and the image. `field` is the spec path of the
 * configuration block.
 */
export async function resolveLaunchInputs(
  ctx: GroupContext,
  config: {
    clusterName?: string;
    subnets?: string[];
    securityGroups?: string[];
    image?: string;
    instanceType?: string;
  },
  field: string,
) {
  const cluster = await resolveCluster(ctx, config.clusterName, `${field}.clusterName`);
  const vpcId = cluster.value?.vpcId;
  const [{ subnets, groups }, image] = await Promise.all([
    resolveInVpc(ctx, config, vpcId, field),
    resolveImage(
      ctx,
      config.image,
      { kubernetesVersion: cluster.value?.version, instanceType: config.instanceType },
      `${field}.image`,
    ),
  ]);
  const problems = [...cluster.problems, ...subnets.problems, ...groups.problems, ...image.problems];
  return { cluster, subnets, groups, image, problems };
}

/**
 * The fields a self-managed group (eks, eks-cf) cannot do without and the schema leaves optional:
 * `configuration.instanceType` and `maxSize`. `block` is the spec path of the provisioner's block.
 */
export function requiredFieldProblems(
  spec: { maxSize?: number; configuration?: { instanceType?: string } } | undefined,
  block: string,
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!spec?.configuration?.instanceType)
    problems.push({ field: `${block}.configuration.instanceType`, message: 'required' });
  if (spec?.maxSize === undefined) problems.push({ field: `${block}.maxSize`, message: 'required' });
  return problems;
}
