// EKS port: cluster lookups (version, VPC, endpoint for node bootstrap), managed node groups and Fargate
// profiles, with Keiko's plain types. AwsEks is the SDK adapter.
import {
  CreateFargateProfileCommand,
  CreateNodegroupCommand,
  DeleteFargateProfileCommand,
  DeleteNodegroupCommand,
  DescribeClusterCommand,
  DescribeFargateProfileCommand,
  DescribeNodegroupCommand,
  UpdateNodegroupConfigCommand,
  UpdateNodegroupVersionCommand,
} from '@aws-sdk/client-eks';
import type {
  AMITypes,
  Cluster as SdkCluster,
  EKSClient,
  FargateProfile as SdkFargateProfile,
  Nodegroup as SdkNodegroup,
  TaintEffect,
} from '@aws-sdk/client-eks';
import { systemClock, TtlCache } from './cache';
import type { Clock } from './cache';
import { callAws, hasAwsErrorCode } from './errors';

const SERVICE = 'eks';

export interface EksCluster {
  name: string;
  arn?: string;
  /** Kubernetes minor version, e.g. `1.31`. */
  version?: string;
  status?: string;
  endpoint?: string;
  /** Base64 PEM. */
  certificateAuthorityData?: string;
  vpcId?: string;
  subnetIds: string[];
  securityGroupIds: string[];
  clusterSecurityGroupId?: string;
  serviceIpv4Cidr?: string;
}

export interface NodegroupTaint {
  key: string;
  value?: string;
  effect: 'NO_SCHEDULE' | 'NO_EXECUTE' | 'PREFER_NO_SCHEDULE';
}

export interface NodegroupScaling {
  minSize: number;
  maxSize: number;
  desiredSize: number;
}

export interface Nodegroup {
  name: string;
  clusterName: string;
  arn?: string;
  /** CREATING, ACTIVE, UPDATING, DELETING, CREATE_FAILED, DELETE_FAILED, DEGRADED. */
  status: string;
  version?: string;
  releaseVersion?: string;
  amiType?: string;
  capacityType?: string;
  instanceTypes: string[];
  diskSize?: number;
  nodeRole?: string;
  subnets: string[];
  labels: Record<string, string>;
  taints: NodegroupTaint[];
  tags: Record<string, string>;
  scaling?: NodegroupScaling;
  /** The Auto Scaling groups EKS made for the node group. */
  autoScalingGroups: string[];
  /** EKS's health issues, one line each (`code: message`). */
  issues: string[];
}

export interface CreateNodegroupSpec {
  clusterName: string;
  name: string;
  nodeRole: string;
  subnets: readonly string[];
  scaling: NodegroupScaling;
  instanceTypes?: readonly string[];
  amiType?: string;
  diskSize?: number;
  version?: string;
  releaseVersion?: string;
  capacityType?: 'ON_DEMAND' | 'SPOT';
  labels?: Readonly<Record<string, string>>;
  taints?: readonly NodegroupTaint[];
  tags?: Readonly<Record<string, string>>;
  remoteAccess?: { ec2SshKey?: string; sourceSecurityGroups?: readonly string[] };
}

export interface NodegroupConfigUpdate {
  scaling?: NodegroupScaling;
  labels?: { addOrUpdate?: Readonly<Record<string, string>>; remove?: readonly string[] };
}

export interface FargateSelector {
  namespace: string;
  labels?: Record<string, string>;
}

export interface FargateProfile {
  name: string;
  clusterName: string;
  arn?: string;
  /** CREATING, ACTIVE, DELETING, CREATE_FAILED, DELETE_FAILED. */
  status: string;
  podExecutionRoleArn?: string;
  subnets: string[];
  selectors: FargateSelector[];
  tags: Record<string, string>;
  issues: string[];
}

export interface CreateFargateProfileSpec {
  clusterName: string;
  name: string;
  podExecutionRoleArn: string;
  subnets?: readonly string[];
  selectors: readonly FargateSelector[];
  tags?: Readonly<Record<string, string>>;
}

export interface EksPort {
  /** The cluster, or undefined when there is none by that name. */
  describeCluster(name: string): Promise<EksCluster | undefined>;
  describeNodegroup(clusterName: string, name: string): Promise<Nodegroup | undefined>;
  createNodegroup(spec: CreateNodegroupSpec): Promise<Nodegroup>;
  /** Starts an update of scaling and/or labels; returns the update id. */
  updateNodegroupConfig(clusterName: string, name: string, update: NodegroupConfigUpdate): Promise<string>;
  /** Starts a version (rolling, by EKS) update; returns the update id. */
  updateNodegroupVersion(
    clusterName: string,
    name: string,
    update: { version?: string; releaseVersion?: string },
  ): Promise<string>;
  /** Starts deleting; false when there was no such node group. */
  deleteNodegroup(clusterName: string, name: string): Promise<boolean>;
  describeFargateProfile(clusterName: string, name: string): Promise<FargateProfile | undefined>;
  createFargateProfile(spec: CreateFargateProfileSpec): Promise<FargateProfile>;
  /** Starts deleting; false when there was no such profile. */
  deleteFargateProfile(clusterName: string, name: string): Promise<boolean>;
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const isNotFound = (err: unknown) => hasAwsErrorCode(err, 'ResourceNotFoundException');

export function fromSdkCluster(c: SdkCluster): EksCluster {
  return definedOnly({
    name: c.name ?? '',
    arn: c.arn,
    version: c.version,
    status: c.status,
    endpoint: c.endpoint,
    certificateAuthorityData: c.certificateAuthority?.data,
    vpcId: c.resourcesVpcConfig?.vpcId,
    subnetIds: c.resourcesVpcConfig?.subnetIds ?? [],
    securityGroupIds: c.resourcesVpcConfig?.securityGroupIds ?? [],
    clusterSecurityGroupId: c.resourcesVpcConfig?.clusterSecurityGroupId,
    serviceIpv4Cidr: c.kubernetesNetworkConfig?.serviceIpv4Cidr,
  });
}

export function fromSdkNodegroup(n: SdkNodegroup): Nodegroup {
  const scaling = n.scalingConfig;
  return definedOnly({
    name: n.nodegroupName ?? '',
    clusterName: n.clusterName ?? '',
    arn: n.nodegroupArn,
    status: n.status ?? 'UNKNOWN',
    version: n.version,
    releaseVersion: n.releaseVersion,
    amiType: n.amiType,
    capacityType: n.capacityType,
    instanceTypes: n.instanceTypes ?? [],
    diskSize: n.diskSize,
    nodeRole: n.nodeRole,
    subnets: n.subnets ?? [],
    labels: n.labels ?? {},
    taints: (n.taints ?? []).map((t) =>
      definedOnly({
        key: t.key ?? '',
        value: t.value,
        effect: (t.effect ?? 'NO_SCHEDULE') as NodegroupTaint['effect'],
      }),
    ),
    tags: n.tags ?? {},
    scaling: scaling
      ? {
          minSize: scaling.minSize ?? 0,
          maxSize: scaling.maxSize ?? 0,
          desiredSize: scaling.desiredSize ?? 0,
        }
      : undefined,
    autoScalingGroups: (n.resources?.autoScalingGroups ?? []).flatMap((g) => (g.name ? [g.name] : [])),
    issues: (n.health?.issues ?? []).map((i) => `${i.code ?? 'Issue'}: ${i.message ?? ''}`),
  });
}

export function fromSdkFargateProfile(p: SdkFargateProfile): FargateProfile {
  return definedOnly({
    name: p.fargateProfileName ?? '',
    clusterName: p.clusterName ?? '',
    arn: p.fargateProfileArn,
    status: p.status ?? 'UNKNOWN',
    podExecutionRoleArn: p.podExecutionRoleArn,
    subnets: p.subnets ?? [],
    selectors: (p.selectors ?? []).map((s) =>
      definedOnly({ namespace: s.namespace ?? '', labels: s.labels }),
    ),
    tags: p.tags ?? {},
    issues: (p.health?.issues ?? []).map((i) => `${i.code ?? 'Issue'}: ${i.message ?? ''}`),
  });
}

export class AwsEks implements EksPort {
  constructor(private readonly client: EKSClient) {}

  async describeCluster(name: string): Promise<EksCluster | undefined> {
    try {
      const out = await callAws(
        { service: SERVICE, operation: 'DescribeCluster', subject: `cluster ${name}` },
        () => this.client.send(new DescribeClusterCommand({ name })),
      );
      return out.cluster ? fromSdkCluster(out.cluster) : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async describeNodegroup(clusterName: string, name: string): Promise<Nodegroup | undefined> {
    try {
      const out = await callAws(
        {
          service: SERVICE,
          operation: 'DescribeNodegroup',
          subject: `cluster ${clusterName} node group ${name}`,
        },
        () => this.client.send(new DescribeNodegroupCommand({ clusterName, nodegroupName: name })),
      );
      return out.nodegroup ? fromSdkNodegroup(out.nodegroup) : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async createNodegroup(spec: CreateNodegroupSpec): Promise<Nodegroup> {
    const out = await callAws(
      {
        service: SERVICE,
        operation: 'CreateNodegroup',
        subject: `cluster ${spec.clusterName} node group ${spec.name}`,
      },
      () =>
        this.client.send(
          new CreateNodegroupCommand(
            definedOnly({
              clusterName: spec.clusterName,
              nodegroupName: spec.name,
              nodeRole: spec.nodeRole,
              subnets: [...spec.subnets],
              scalingConfig: spec.scaling,
              instanceTypes: spec.instanceTypes ? [...spec.instanceTypes] : undefined,
              amiType: spec.amiType as AMITypes | undefined,
              diskSize: spec.diskSize,
              version: spec.version,
              releaseVersion: spec.releaseVersion,
              capacityType: spec.capacityType,
              labels: spec.labels ? { ...spec.labels } : undefined,
              taints: spec.taints?.map((t) => ({
                key: t.key,
                value: t.value,
                effect: t.effect as TaintEffect,
              })),
              tags: spec.tags && Object.keys(spec.tags).length > 0 ? { ...spec.tags } : undefined,
              remoteAccess: spec.remoteAccess
                ? definedOnly({
                    ec2SshKey: spec.remoteAccess.ec2SshKey,
                    sourceSecurityGroups: spec.remoteAccess.sourceSecurityGroups
                      ? [...spec.remoteAccess.sourceSecurityGroups]
                      : undefined,
                  })
                : undefined,
            }),
          ),
        ),
    );
    if (!out.nodegroup) throw new Error(`eks CreateNodegroup ${spec.name}: response has no nodegroup`);
    return fromSdkNodegroup(out.nodegroup);
  }

  async updateNodegroupConfig(
    clusterName: string,
    name: string,
    update: NodegroupConfigUpdate,
  ): Promise<string> {
    const labels = update.labels;
    const out = await callAws(
      {
        service: SERVICE,
        operation: 'UpdateNodegroupConfig',
        subject: `cluster ${clusterName} node group ${name}`,
      },
      () =>
        this.client.send(
          new UpdateNodegroupConfigCommand(
            definedOnly({
              clusterName,
              nodegroupName: name,
              scalingConfig: update.scaling,
              labels: labels
                ? definedOnly({
                    addOrUpdateLabels: labels.addOrUpdate ? { ...labels.addOrUpdate } : undefined,
                    removeLabels: labels.remove ? [...labels.remove] : undefined,
                  })
                : undefined,
            }),
          ),
        ),
    );
    return out.update?.id ?? '';
  }

  async updateNodegroupVersion(
    clusterName: string,
    name: string,
    update: { version?: string; releaseVersion?: string },
  ): Promise<string> {
    const out = await callAws(
      {
        service: SERVICE,
        operation: 'UpdateNodegroupVersion',
        subject: `cluster ${clusterName} node group ${name}`,
      },
      () =>
        this.client.send(
          new UpdateNodegroupVersionCommand(
            definedOnly({
              clusterName,
              nodegroupName: name,
              version: update.version,
              releaseVersion: update.releaseVersion,
            }),
          ),
        ),
    );
    return out.update?.id ?? '';
  }

  async deleteNodegroup(clusterName: string, name: string): Promise<boolean> {
    try {
      await callAws(
        {
          service: SERVICE,
          operation: 'DeleteNodegroup',
          subject: `cluster ${clusterName} node group ${name}`,
        },
        () => this.client.send(new DeleteNodegroupCommand({ clusterName, nodegroupName: name })),
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async describeFargateProfile(clusterName: string, name: string): Promise<FargateProfile | undefined> {
    try {
      const out = await callAws(
        {
          service: SERVICE,
          operation: 'DescribeFargateProfile',
          subject: `cluster ${clusterName} fargate profile ${name}`,
        },
        () => this.client.send(new DescribeFargateProfileCommand({ clusterName, fargateProfileName: name })),
      );
      return out.fargateProfile ? fromSdkFargateProfile(out.fargateProfile) : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async createFargateProfile(spec: CreateFargateProfileSpec): Promise<FargateProfile> {
    const out = await callAws(
      {
        service: SERVICE,
        operation: 'CreateFargateProfile',
        subject: `cluster ${spec.clusterName} fargate profile ${spec.name}`,
      },
      () =>
        this.client.send(
          new CreateFargateProfileCommand(
            definedOnly({
              clusterName: spec.clusterName,
              fargateProfileName: spec.name,
              podExecutionRoleArn: spec.podExecutionRoleArn,
              subnets: spec.subnets ? [...spec.subnets] : undefined,
              selectors: spec.selectors.map((s) =>
                definedOnly({ namespace: s.namespace, labels: s.labels ? { ...s.labels } : undefined }),
              ),
              tags: spec.tags && Object.keys(spec.tags).length > 0 ? { ...spec.tags } : undefined,
            }),
          ),
        ),
    );
    if (!out.fargateProfile)
      throw new Error(`eks CreateFargateProfile ${spec.name}: response has no fargateProfile`);
    return fromSdkFargateProfile(out.fargateProfile);
  }

  async deleteFargateProfile(clusterName: string, name: string): Promise<boolean> {
    try {
      await callAws(
        {
          service: SERVICE,
          operation: 'DeleteFargateProfile',
          subject: `cluster ${clusterName} fargate profile ${name}`,
        },
        () => this.client.send(new DeleteFargateProfileCommand({ clusterName, fargateProfileName: name })),
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

/** Default freshness of cluster descriptions (version, VPC, endpoint change rarely). */
export const DEFAULT_CLUSTER_CACHE_TTL_MS = 60_000;

/**
 * describeCluster from a TTL cache (concurrent reads share one call); node group and Fargate profile
 * reads pass through, since controllers poll those for progress.
 */
export class CachedEks implements EksPort {
  private readonly clusters: TtlCache<EksCluster | undefined>;

  constructor(
    private readonly inner: EksPort,
    options: { ttlMs?: number; clock?: Clock } = {},
  ) {
    this.clusters = new TtlCache({
      ttlMs: options.ttlMs ?? DEFAULT_CLUSTER_CACHE_TTL_MS,
      clock: options.clock ?? systemClock,
    });
  }

  async describeCluster(name: string): Promise<EksCluster | undefined> {
    const cluster = await this.clusters.get(name, () => this.inner.describeCluster(name));
    // A missing cluster is not remembered: it may be being created right now.
    if (!cluster) this.clusters.invalidate(name);
    return cluster;
  }
  describeNodegroup(clusterName: string, name: string): Promise<Nodegroup | undefined> {
    return this.inner.describeNodegroup(clusterName, name);
  }
  createNodegroup(spec: CreateNodegroupSpec): Promise<Nodegroup> {
    return this.inner.createNodegroup(spec);
  }
  updateNodegroupConfig(clusterName: string, name: string, update: NodegroupConfigUpdate): Promise<string> {
    return this.inner.updateNodegroupConfig(clusterName, name, update);
  }
  updateNodegroupVersion(
    clusterName: string,
    name: string,
    update: { version?: string; releaseVersion?: string },
  ): Promise<string> {
    return this.inner.updateNodegroupVersion(clusterName, name, update);
  }
  deleteNodegroup(clusterName: string, name: string): Promise<boolean> {
    return this.inner.deleteNodegroup(clusterName, name);
  }
  describeFargateProfile(clusterName: string, name: string): Promise<FargateProfile | undefined> {
    return this.inner.describeFargateProfile(clusterName, name);
  }
  createFargateProfile(spec: CreateFargateProfileSpec): Promise<FargateProfile> {
    return this.inner.createFargateProfile(spec);
  }
  deleteFargateProfile(clusterName: string, name: string): Promise<boolean> {
    return this.inner.deleteFargateProfile(clusterName, name);
  }
}
