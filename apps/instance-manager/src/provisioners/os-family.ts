// The operating system of a group's nodes, chosen by the original instance-manager's annotation
// `instancemgr.keikoproj.io/os-family` (amazonlinux2 when absent), and what follows from it: which public
// SSM parameter `image: latest` reads, and which spec fields the family cannot honour. Pure.
import type { FieldProblem, InstanceGroup } from '@keiko/api';
import { isArmInstanceType } from './common';
import { WARM_POOL_FIELD } from './eks/warm-pool';
import { bottlerocketStageProblem, duplicateTables } from './userdata/bottlerocket';
import { decodeStageData } from './userdata/stage-data';
import { windowsStageProblem } from './userdata/windows';

export const OS_FAMILY_ANNOTATION = 'instancemgr.keikoproj.io/os-family';
export const OS_FAMILY_FIELD = `metadata.annotations[${OS_FAMILY_ANNOTATION}]`;
/** amazonlinux2, bottlerocket and windows are the original's; amazonlinux2023 (nodeadm) is new. */
export const OS_FAMILIES = ['amazonlinux2', 'amazonlinux2023', 'bottlerocket', 'windows'] as const;
export type OsFamily = (typeof OS_FAMILIES)[number];
export const DEFAULT_OS_FAMILY: OsFamily = 'amazonlinux2';

export type Architecture = 'x86_64' | 'arm64';

export type OsFamilyResult = { ok: true; family: OsFamily } | { ok: false; problem: FieldProblem };

/**
 * The family of a group's nodes. The value is matched case-insensitively (as the original did); absent or
 * empty means amazonlinux2. eks-cf renders Amazon Linux 2 user data only (the original's eks-cf had no
 * other), so another family there is a problem rather than nodes that cannot boot.
 */
export function osFamilyOf(ig: InstanceGroup): OsFamilyResult {
  const raw = ig.metadata.annotations?.[OS_FAMILY_ANNOTATION]?.trim() ?? '';
  if (raw === '') return { ok: true, family: DEFAULT_OS_FAMILY };
  const family = OS_FAMILIES.find((f) => f === raw.toLowerCase());
  if (!family)
    return {
      ok: false,
      problem: {
        field: OS_FAMILY_FIELD,
        message: `unknown operating system family ${JSON.stringify(raw)}; one of ${OS_FAMILIES.join(', ')}`,
      },
    };
  if (ig.spec.provisioner === 'eks-cf' && family !== 'amazonlinux2')
    return {
      ok: false,
      problem: {
        field: OS_FAMILY_FIELD,
        message: `${family} needs provisioner eks; eks-cf renders Amazon Linux 2 user data only`,
      },
    };
  return { ok: true, family };
}

export function architectureOf(instanceType: string | undefined): Architecture {
  return isArmInstanceType(instanceType) ? 'arm64' : 'x86_64';
}

/**
 * The public SSM parameter holding the latest EKS-optimized AMI of a family for a Kubernetes version
 * (https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html and its Bottlerocket and Windows
 * pages). Windows images are x86_64 only.
 */
export function latestImageParameter(
  family: OsFamily,
  kubernetesVersion: string,
  arch: Architecture,
): { parameter: string } | { error: string } {
  const v = kubernetesVersion;
  switch (family) {
    case 'amazonlinux2':
      return {
        parameter: `/aws/service/eks/optimized-ami/${v}/${arch === 'arm64' ? 'amazon-linux-2-arm64' : 'amazon-linux-2'}/recommended/image_id`,
      };
    case 'amazonlinux2023':
      return {
        parameter: `/aws/service/eks/optimized-ami/${v}/amazon-linux-2023/${arch}/standard/recommended/image_id`,
      };
    case 'bottlerocket':
      return { parameter: `/aws/service/bottlerocket/aws-k8s-${v}/${arch}/latest/image_id` };
    case 'windows':
      if (arch !== 'x86_64')
        return {
          error: 'latest: there are no arm64 EKS-optimized Windows AMIs; use an x86_64 instance type',
        };
      return {
        parameter: `/aws/service/ami-windows-latest/Windows_Server-2022-English-Core-EKS_Optimized-${v}/image_id`,
      };
  }
}

/**
 * Fields of an eks group its operating system cannot honour, each named: an unknown family; Bottlerocket
 * stages that are not TOML fragments it can merge, bootstrapArguments (Bottlerocket has no kubelet command
 * line), a warm pool (spec.eks.warmPool: settings cannot keep a warming instance out of the cluster);
 * Windows stages that are not PowerShell, arm64 instance types; volume mounting from user data (Amazon
 * Linux only); the dockerd runtime (Amazon Linux 2 only).
 */
export function osFamilyProblems(ig: InstanceGroup): FieldProblem[] {
  const result = osFamilyOf(ig);
  if (!result.ok) return [result.problem];
  const family = result.family;
  if (ig.spec.provisioner !== 'eks' || family === 'amazonlinux2') return [];
  const config = ig.spec.eks?.configuration ?? {};
  const base = 'spec.eks.configuration';
  const out: FieldProblem[] = [];
  if (config.bootstrapOptions?.containerRuntime === 'dockerd')
    out.push({
      field: `${base}.bootstrapOptions.containerRuntime`,
      message: `dockerd exists on Amazon Linux 2 nodes only; ${family} runs containerd`,
    });
  if (family === 'bottlerocket' || family === 'windows') {
    (config.volumes ?? []).forEach((v, i) => {
      if (v.mountOptions?.mount || v.mountOptions?.fileSystem)
        out.push({
          field: `${base}.volumes[${i}].mountOptions`,
          message: `${family} nodes cannot format and mount volumes from user data (Amazon Linux only)`,
        });
    });
  }
  const stages = config.userData ?? [];
  if (family === 'bottlerocket') {
    if (config.bootstrapArguments?.trim())
      out.push({
        field: `${base}.bootstrapArguments`,
        message:
          'bottlerocket has no kubelet command line; set kubelet settings as TOML in a userData stage (e.g. [settings.kubernetes.eviction-hard])',
      });
    // The rendering's order: PreBootstrap stages, the controller's settings, PostBootstrap stages.
    const firstPre = stages.findIndex((s) => s.stage === 'PreBootstrap');
    stages.forEach((s, i) => {
      const problem = bottlerocketStageProblem(decodeStageData(s.data), i === firstPre);
      if (problem) out.push({ field: `${base}.userData[${i}].data`, message: problem });
    });
    const dup = duplicateTables(stages.map((s) => decodeStageData(s.data)).join('\n'));
    if (dup.length > 0)
      out.push({
        field: `${base}.userData`,
        message: `tables declared more than once across stages: ${dup.map((t) => `[${t}]`).join(', ')}`,
      });
    // AWS runs user data when it launches an instance into the warm pool; the other families' user data
    // reads the target lifecycle state and joins only when it is InService. Bottlerocket's is settings: its
    // warming instances would register as nodes, get pods and be stopped under them.
    if (ig.spec.eks?.warmPool)
      out.push({
        field: WARM_POOL_FIELD,
        message:
          'bottlerocket user data is settings, not a script, so it cannot keep an instance launched into the warm pool from joining the cluster (it would get pods and be stopped under them); remove warmPool, or use amazonlinux2, amazonlinux2023 or windows',
      });
  }
  if (family === 'windows') {
    stages.forEach((s, i) => {
      const problem = windowsStageProblem(decodeStageData(s.data));
      if (problem) out.push({ field: `${base}.userData[${i}].data`, message: problem });
    });
    if (isArmInstanceType(config.instanceType))
      out.push({
        field: `${base}.instanceType`,
        message: `${config.instanceType} is arm64; Windows nodes need an x86_64 instance type`,
      });
    (config.mixedInstancesPolicy?.instanceTypes ?? []).forEach((t, i) => {
      if (isArmInstanceType(t.type))
        out.push({
          field: `${base}.mixedInstancesPolicy.instanceTypes[${i}].type`,
          message: `${t.type} is arm64; Windows nodes need x86_64 instance types`,
        });
    });
  }
  return out;
}
