// A scaling group's instances joined with what EC2 and Kubernetes say about them: which are drifted from
// the launch template the group launches now, which have a Ready node. Pure.
import {
  instanceDrift,
  type Ec2Instance,
  type ResolvedLaunchTemplateVersion,
  type ScalingGroup,
} from '@keiko/aws';
import { cordonedBy, isNodeReady, readDrainFailure } from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import { withEc2LaunchTemplate } from '../provisioners/eks/launch-configuration';
import type { RotationInstance } from '../strategies/rolling-update';

/**
 * Instances in a group's warm pool (`Warmed:Pending`, `Warmed:Stopped`, `Warmed:Running`...): pre-initialized
 * beside the group, not in service and not counted in its desired capacity, never nodes to wait for or
 * to rotate. (AWS lists them through DescribeWarmPool; were they in a group listing, they are skipped.)
 */
export function isWarmPoolInstance(instance: { lifecycleState: string }): boolean {
  return instance.lifecycleState.startsWith('Warmed:');
}

export function rotationInstances(input: {
  group: ScalingGroup;
  ec2: ReadonlyMap<string, Ec2Instance>;
  nodes: ReadonlyMap<string, V1Node>;
  resolved: readonly ResolvedLaunchTemplateVersion[];
  owner: string;
  /** The rotation's round (the group's generation): drain failures of earlier rounds do not count. */
  round?: string;
}): RotationInstance[] {
  return input.group.instances
    .filter((i) => !isWarmPoolInstance(i))
    .map((i) => {
      const instance = withEc2LaunchTemplate(i, input.ec2.get(i.id));
      const drifted = instanceDrift(input.group, instance, input.resolved).drifted;
      const node = input.nodes.get(i.id);
      const launchedAt = input.ec2.get(i.id)?.launchTime?.getTime();
      return {
        id: i.id,
        zone: i.availabilityZone,
        ...(launchedAt !== undefined && Number.isFinite(launchedAt) ? { launchedAt } : {}),
        lifecycleState: i.lifecycleState,
        drifted,
        ...(node
          ? {
              node: {
                name: node.metadata?.name ?? '',
                ready: isNodeReady(node),
                cordoned: node.spec?.unschedulable === true,
                cordonedByUs: node.spec?.unschedulable === true && cordonedBy(node) === input.owner,
                ...withDrainFailure(node, input.owner, input.round),
              },
            }
          : {}),
      };
    });
}

function withDrainFailure(
  node: V1Node,
  owner: string,
  round: string | undefined,
): { drainFailure?: { attempts: number; message: string } } {
  const failure = round === undefined ? undefined : readDrainFailure(node, owner, round);
  return failure ? { drainFailure: failure } : {};
}

export interface NodesReadiness {
  ready: boolean;
  reason: 'NodesReady' | 'NodesNotReady' | 'ScalingInProgress' | 'NoInstances';
  message: string;
}

/**
 * NodesReady: as many InService instances as the group wants, each with a Ready node (the original's
 * rule: while instances != desired a scaling activity is in progress).
 */
export function nodesReadiness(group: ScalingGroup, nodes: ReadonlyMap<string, V1Node>): NodesReadiness {
  const instances = group.instances.filter((i) => !isWarmPoolInstance(i));
  const inService = instances.filter((i) => i.lifecycleState === 'InService');
  if (group.desiredCapacity === 0)
    return { ready: true, reason: 'NoInstances', message: 'the group wants no instances' };
  if (inService.length !== group.desiredCapacity || instances.length !== group.desiredCapacity) {
    return {
      ready: false,
      reason: 'ScalingInProgress',
      message: `${inService.length} of ${group.desiredCapacity} instance(s) InService`,
    };
  }
  const missing = inService.filter((i) => !nodes.has(i.id)).map((i) => i.id);
  const notReady = inService.filter((i) => {
    const n = nodes.get(i.id);
    return n !== undefined && !isNodeReady(n);
  });
  if (missing.length > 0 || notReady.length > 0) {
    const parts = [
      missing.length > 0 ? `no node yet for ${missing.join(', ')}` : '',
      notReady.length > 0
        ? `not Ready: ${notReady.map((i) => nodes.get(i.id)?.metadata?.name ?? i.id).join(', ')}`
        : '',
    ].filter(Boolean);
    return { ready: false, reason: 'NodesNotReady', message: parts.join('; ') };
  }
  return { ready: true, reason: 'NodesReady', message: `${inService.length} node(s) Ready` };
}
