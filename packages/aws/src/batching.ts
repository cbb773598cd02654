// Pure helpers for splitting requests to fit AWS per-call limits.

/** Splits `items` into consecutive chunks of at most `size` (the last may be shorter). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`chunk size must be a positive integer, got ${size}`);
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** `items` without repeats, first occurrence order kept (AWS rejects duplicate ids in some calls). */
export function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

/** Per-call limits of the AWS APIs the ports use. */
export const AWS_LIMITS = {
  /** DescribeAutoScalingGroups: AutoScalingGroupNames per call. */
  describeGroupsNames: 50,
  /** DescribeAutoScalingGroups: MaxRecords per page. */
  describeGroupsPageSize: 100,
  /** EnterStandby / ExitStandby: instance ids per call (API limit 20; upgrade-manager uses 19). */
  standbyInstances: 19,
  /** SetInstanceProtection: instance ids per call. */
  protectionInstances: 50,
  /** Values per EC2 filter. */
  ec2FilterValues: 200,
  /** DescribeInstances: results per page. */
  describeInstancesPageSize: 1000,
  /** TerminateInstances / CreateTags / DeleteTags resources per call (kept well under the API's 1000). */
  ec2Resources: 200,
  /** DeleteLaunchTemplateVersions: versions per call. */
  deleteLaunchTemplateVersions: 200,
} as const;
