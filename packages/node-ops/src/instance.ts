import type { V1Node } from '@kubernetes/client-node';

/** Where an EC2-backed node runs, read from its `spec.providerID`. */
export interface ProviderId {
  /** The availability zone, when the providerID names one (`aws:///us-west-2a/i-...`). */
  zone?: string;
  /** The EC2 instance ID, e.g. `i-0123456789abcdef0`. */
  instanceId: string;
}

export class InvalidProviderIdError extends Error {
  constructor(
    readonly providerId: string,
    reason: string,
  ) {
    super(`invalid AWS providerID ${JSON.stringify(providerId)}: ${reason}`);
    this.name = 'InvalidProviderIdError';
  }
}

const AWS_SCHEME = 'aws://';
// The AWS cloud provider's own check is `^i-[^/]*$`; we also refuse whitespace and an empty suffix.
const INSTANCE_ID = /^i-[^/\s]+$/;
const ZONE = /^[a-z0-9-]+$/;

/**
 * Parses the providerID the AWS cloud provider (and EKS) writes on a Node: `aws:///<zone>/<instance-id>`
 * or `aws:///<instance-id>`. Anything else throws an InvalidProviderIdError saying what is wrong —
 * a guessed mapping could drain the wrong node.
 */
export function parseProviderId(providerId: string): ProviderId {
  if (typeof providerId !== 'string' || providerId === '')
    throw new InvalidProviderIdError(String(providerId), 'empty');
  if (!providerId.startsWith(AWS_SCHEME)) {
    throw new InvalidProviderIdError(providerId, `expected it to start with ${AWS_SCHEME}`);
  }
  const rest = providerId.slice(AWS_SCHEME.length);
  // The host part (between aws:// and the next slash) is always empty on AWS nodes.
  if (!rest.startsWith('/')) {
    throw new InvalidProviderIdError(providerId, 'expected aws:///<zone>/<instance-id> (three slashes)');
  }
  const segments = rest.slice(1).split('/');
  let zone: string | undefined;
  let instanceId: string;
  if (segments.length === 1) {
    instanceId = segments[0] as string;
  } else if (segments.length === 2) {
    zone = segments[0] as string;
    instanceId = segments[1] as string;
    if (!ZONE.test(zone))
      throw new InvalidProviderIdError(providerId, `${JSON.stringify(zone)} is not an availability zone`);
  } else {
    throw new InvalidProviderIdError(
      providerId,
      'expected aws:///<zone>/<instance-id> or aws:///<instance-id>',
    );
  }
  if (!INSTANCE_ID.test(instanceId)) {
    throw new InvalidProviderIdError(
      providerId,
      `${JSON.stringify(instanceId)} is not an EC2 instance ID (i-...)`,
    );
  }
  return zone === undefined ? { instanceId } : { zone, instanceId };
}

/** The providerID a node for this instance carries. */
export function formatProviderId(id: ProviderId): string {
  return id.zone ? `${AWS_SCHEME}/${id.zone}/${id.instanceId}` : `${AWS_SCHEME}/${id.instanceId}`;
}

/**
 * The EC2 instance behind a node, or undefined when the node has none to offer: no providerID yet
 * (the cloud provider sets it shortly after the node registers), or one that is not an EC2 instance
 * (Fargate, another cloud). Such nodes are simply not matched to any instance.
 */
export function instanceIdOfNode(node: V1Node): string | undefined {
  const providerId = node.spec?.providerID;
  if (!providerId) return undefined;
  try {
    return parseProviderId(providerId).instanceId;
  } catch {
    return undefined;
  }
}

/**
 * Nodes indexed by EC2 instance ID; nodes without one are left out. Two nodes claiming one instance
 * is an inconsistency we refuse to resolve by guessing: it throws, naming both.
 */
export function nodesByInstanceId(nodes: Iterable<V1Node>): Map<string, V1Node> {
  const byInstance = new Map<string, V1Node>();
  for (const node of nodes) {
    const instanceId = instanceIdOfNode(node);
    if (!instanceId) continue;
    const other = byInstance.get(instanceId);
    if (other) {
      throw new Error(
        `nodes ${other.metadata?.name} and ${node.metadata?.name} both have providerID for instance ${instanceId}; refusing to map it`,
      );
    }
    byInstance.set(instanceId, node);
  }
  return byInstance;
}
