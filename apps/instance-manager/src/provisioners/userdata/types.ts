// What the per-family user data renderers are given: everything already decided (the node's labels, the
// kubelet flags, stage data decoded), so each renderer only formats. Pure.
import type { Taint } from '@keiko/api';

/** A user data stage, its data already decoded (plain text). */
export interface RenderedStage {
  name: string;
  data: string;
}

/** How the node reaches its cluster (DescribeCluster). */
export interface ClusterAccess {
  clusterName: string;
  apiServerEndpoint?: string;
  /** Base64 PEM, as DescribeCluster returns it. */
  certificateAuthorityData?: string;
  /** The cluster's service CIDR (kubernetesNetworkConfig.serviceIpv4Cidr). */
  serviceIpv4Cidr?: string;
}

/** What a kubelet started from some user data registers its node with. */
export interface KubeletRegistration {
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
}

export type NodeTaint = Pick<Taint, 'key' | 'value' | 'effect'>;
