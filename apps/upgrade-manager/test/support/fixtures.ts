// Builders for the plan tests: groups, instances, nodes and RollingUpgrades as plain data.
import {
  withRollingUpgradeDefaults,
  type RollingUpgrade,
  type RollingUpgradeSpec,
  type RollingUpgradeStatus,
} from '@keiko/api';
import type { GroupInstance, ScalingGroup } from '@keiko/aws';
import type { V1Node } from '@kubernetes/client-node';
import type { InstanceLaunch, PlanInput, ScalingGroupSnapshot } from '../../src/rollingupgrade/plan';

export const TEMPLATE = { id: 'lt-0abc', name: 'nodes' };

export function instance(
  id: string,
  opts: Partial<GroupInstance> & { version?: string } = {},
): GroupInstance {
  const { version, ...rest } = opts;
  return {
    id,
    availabilityZone: 'us-west-2a',
    lifecycleState: 'InService',
    healthStatus: 'Healthy',
    launchTemplate: { ...TEMPLATE, version: version ?? '1' },
    protectedFromScaleIn: false,
    ...rest,
  };
}

export function group(instances: GroupInstance[], opts: Partial<ScalingGroup> = {}): ScalingGroup {
  return {
    name: 'asg-1',
    launchTemplate: { ...TEMPLATE, version: '2' },
    minSize: 0,
    maxSize: 20,
    desiredCapacity: instances.filter((i) => !i.lifecycleState.startsWith('Terminat')).length,
    availabilityZones: ['us-west-2a', 'us-west-2b', 'us-west-2c'],
    subnetIds: [],
    instances,
    tags: {},
    tagList: [],
    suspendedProcesses: [],
    ...opts,
  };
}

export function snapshot(
  g: ScalingGroup,
  launches: Record<string, InstanceLaunch> = {},
): ScalingGroupSnapshot {
  return { group: g, resolved: [{ ...TEMPLATE, version: 2 }], launches: new Map(Object.entries(launches)) };
}

export function node(
  name: string,
  instanceId: string,
  opts: {
    zone?: string;
    ready?: boolean;
    unschedulable?: boolean;
    cordonedBy?: string;
    labels?: Record<string, string>;
  } = {},
): V1Node {
  const zone = opts.zone ?? 'us-west-2a';
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'topology.kubernetes.io/zone': zone, ...opts.labels },
      annotations: opts.cordonedBy ? { 'keiko.io/cordoned-by': opts.cordonedBy } : {},
    },
    spec: {
      providerID: `aws:///${zone}/${instanceId}`,
      ...(opts.unschedulable ? { unschedulable: true } : {}),
    },
    status: { conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

export function rollingUpgrade(
  spec: Partial<RollingUpgradeSpec> = {},
  status?: RollingUpgradeStatus,
  meta: Partial<RollingUpgrade['metadata']> & { creationTimestamp?: string; deletionTimestamp?: string } = {},
): RollingUpgrade {
  return withRollingUpgradeDefaults({
    apiVersion: 'upgrademgr.keikoproj.io/v1alpha1',
    kind: 'RollingUpgrade',
    metadata: {
      name: 'ru',
      namespace: 'ns',
      uid: 'uid-1',
      generation: 1,
      creationTimestamp: '2026-01-01T00:00:00Z',
      ...meta,
    },
    spec: { asgName: 'asg-1', ...spec },
    ...(status ? { status } : {}),
  });
}

export const OWNER = 'upgrade-manager/ns/ru';

export function planInput(
  ru: RollingUpgrade,
  snap: ScalingGroupSnapshot,
  nodes: V1Node[],
  extra: Partial<PlanInput> = {},
): PlanInput {
  return {
    ru,
    snapshot: snap,
    nodes,
    drains: new Map(),
    scripts: new Map(),
    now: new Date('2026-01-01T01:00:00Z'),
    owner: OWNER,
    dryRunFlag: false,
    pollIntervalMs: 5000,
    ...extra,
  };
}
