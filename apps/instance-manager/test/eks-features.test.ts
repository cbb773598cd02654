// The eks provisioner's warm pool, group metrics and launch configurations: the pure decisions, and how
// drift, rotation and node readiness treat warm pool instances and launch-configuration groups.
import { describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup, validateInstanceGroup, type InstanceGroup } from '@keiko/api';
import {
  instanceDrift,
  type Ec2Instance,
  type GroupInstance,
  type LaunchConfiguration,
  type ScalingGroup,
} from '@keiko/aws';
import type { V1Node } from '@kubernetes/client-node';
import { isWarmPoolInstance, nodesReadiness, rotationInstances } from '../src/instancegroup/fleet';
import {
  isOwnLaunchConfiguration,
  LAUNCH_CONFIGURATION_TAG,
  launchConfigurationFingerprint,
  launchConfigurationProblems,
  launchConfigurationSpec,
  launchConfigurationsToDelete,
  usesLaunchConfiguration,
  withEc2LaunchTemplate,
} from '../src/provisioners/eks/launch-configuration';
import { renderLaunchTemplateData } from '../src/provisioners/eks/launch-template';
import {
  ALL_GROUP_METRICS,
  desiredMetrics,
  metricsChanges,
} from '../src/provisioners/eks/metrics-collection';
import { desiredGroup, groupChanges, withOwnLaunchDefinition } from '../src/provisioners/eks/scaling-group';
import { desiredWarmPool, warmPoolAction, warmPoolConflicts } from '../src/provisioners/eks/warm-pool';
import { example } from './support/fixtures';

const resolved = {
  imageId: 'ami-1',
  securityGroupIds: ['sg-1'],
  instanceProfileArn: 'arn:aws:iam::1:instance-profile/p',
};

/** The eks example without its mixed instances policy (warm pools and launch configurations refuse one). */
function plain(mutate: (ig: InstanceGroup) => void = () => {}): InstanceGroup {
  const ig = normalizeInstanceGroup(example('instance-manager/eks-rolling-update.yaml'));
  const eks = ig.spec.eks;
  if (!eks) throw new Error('example changed');
  delete eks.configuration.mixedInstancesPolicy;
  eks.configuration.lifecycleHooks = [];
  mutate(ig);
  return ig;
}

const lcGroup = (mutate: (ig: InstanceGroup) => void = () => {}) =>
  plain((ig) => {
    if (ig.spec.eks) ig.spec.eks.type = 'LaunchConfiguration';
    mutate(ig);
  });

function scalingGroup(over: Partial<ScalingGroup> = {}): ScalingGroup {
  return {
    name: 'g',
    // The example's sizes.
    minSize: 4,
    maxSize: 9,
    desiredCapacity: 4,
    availabilityZones: [],
    subnetIds: ['subnet-a'],
    instances: [],
    tags: {},
    tagList: [],
    suspendedProcesses: [],
    ...over,
  };
}

function instance(id: string, over: Partial<GroupInstance> = {}): GroupInstance {
  return {
    id,
    availabilityZone: 'us-west-2a',
    lifecycleState: 'InService',
    healthStatus: 'Healthy',
    protectedFromScaleIn: false,
    ...over,
  };
}

function node(id: string): V1Node {
  return {
    metadata: { name: `node-${id}` },
    spec: { providerID: `aws:///us-west-2a/${id}` },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

describe('warm pool', () => {
  it('takes the spec: maxSize -1 (or unset) follows the group maximum', () => {
    expect(
      desiredWarmPool(plain((ig) => ig.spec.eks && (ig.spec.eks.warmPool = { minSize: 1, maxSize: -1 }))),
    ).toEqual({ minSize: 1, maxGroupPreparedCapacity: -1 });
    expect(desiredWarmPool(plain((ig) => ig.spec.eks && (ig.spec.eks.warmPool = { maxSize: 4 })))).toEqual({
      minSize: 0,
      maxGroupPreparedCapacity: 4,
    });
    expect(desiredWarmPool(plain((ig) => ig.spec.eks && (ig.spec.eks.warmPool = {})))).toEqual({
      minSize: 0,
      maxGroupPreparedCapacity: -1,
    });
    expect(desiredWarmPool(plain((ig) => ig.spec.eks && delete ig.spec.eks.warmPool))).toBeUndefined();
  });

  it('is not applied with a mixed instances policy or a spot price (AWS refuses), naming spec.eks.warmPool', () => {
    const mixed = normalizeInstanceGroup(example('instance-manager/eks-rolling-update.yaml'));
    if (mixed.spec.eks) mixed.spec.eks.warmPool = { minSize: 1, maxSize: -1 };
    expect(warmPoolConflicts(mixed)).toEqual([
      { field: 'spec.eks.warmPool', message: expect.stringContaining('mixedInstancesPolicy') },
    ]);
    expect(desiredWarmPool(mixed)).toBeUndefined();
    const spot = plain((ig) => {
      if (!ig.spec.eks) return;
      ig.spec.eks.warmPool = { minSize: 1 };
      ig.spec.eks.configuration.spotPrice = '0.05';
    });
    expect(warmPoolConflicts(spot)[0]?.message).toContain('spotPrice');
    expect(desiredWarmPool(spot)).toBeUndefined();
    expect(warmPoolConflicts(plain((ig) => ig.spec.eks && (ig.spec.eks.warmPool = { minSize: 1 })))).toEqual(
      [],
    );
  });

  it('puts a pool that is missing or differs, deletes one the spec dropped, waits for one being deleted', () => {
    const want = { minSize: 1, maxGroupPreparedCapacity: -1 };
    expect(warmPoolAction(undefined, want)).toEqual({ action: 'put', config: want, create: true });
    // AWS reports an unset maximum as absent and an unset minimum as 0.
    expect(warmPoolAction({ minSize: 1 }, want)).toEqual({ action: 'none' });
    expect(warmPoolAction({ minSize: 1, maxGroupPreparedCapacity: -1, poolState: 'Stopped' }, want)).toEqual({
      action: 'none',
    });
    expect(warmPoolAction({}, { minSize: 0, maxGroupPreparedCapacity: -1 })).toEqual({ action: 'none' });
    expect(warmPoolAction({ minSize: 2 }, want)).toEqual({ action: 'put', config: want, create: false });
    expect(warmPoolAction({ minSize: 1, maxGroupPreparedCapacity: 5 }, want)).toEqual({
      action: 'put',
      config: want,
      create: false,
    });
    expect(warmPoolAction({ minSize: 1 }, undefined)).toEqual({ action: 'delete' });
    expect(warmPoolAction(undefined, undefined)).toEqual({ action: 'none' });
    expect(warmPoolAction({ minSize: 1, status: 'PendingDelete' }, undefined)).toEqual({ action: 'none' });
    expect(warmPoolAction({ minSize: 1, status: 'PendingDelete' }, want)).toEqual({ action: 'wait' });
  });

  it('warm pool instances are neither nodes to wait for nor instances to rotate', () => {
    const group = scalingGroup({
      desiredCapacity: 2,
      launchTemplate: { id: 'lt-1', version: '2' },
      instances: [
        instance('i-1', { launchTemplate: { id: 'lt-1', version: '2' } }),
        instance('i-2', { launchTemplate: { id: 'lt-1', version: '2' } }),
        instance('i-w1', { lifecycleState: 'Warmed:Stopped', launchTemplate: { id: 'lt-1', version: '1' } }),
        instance('i-w2', { lifecycleState: 'Warmed:Pending', launchTemplate: { id: 'lt-1', version: '2' } }),
      ],
    });
    expect(isWarmPoolInstance({ lifecycleState: 'Warmed:Running' })).toBe(true);
    expect(isWarmPoolInstance({ lifecycleState: 'InService' })).toBe(false);
    const nodes = new Map([
      ['i-1', node('i-1')],
      ['i-2', node('i-2')],
    ]);
    expect(nodesReadiness(group, nodes)).toMatchObject({
      ready: true,
      reason: 'NodesReady',
      message: '2 node(s) Ready',
    });
    const rotation = rotationInstances({
      group,
      ec2: new Map(),
      nodes,
      resolved: [],
      owner: 'instance-manager/ns/g',
    });
    expect(rotation.map((i) => i.id)).toEqual(['i-1', 'i-2']);
    expect(rotation.some((i) => i.drifted)).toBe(false);
  });
});

describe('metrics collection', () => {
  it('expands All, takes names case-insensitively in AWS spelling, and names unknown metrics', () => {
    expect(desiredMetrics(['all'])).toEqual({ metrics: [...ALL_GROUP_METRICS], problems: [] });
    expect(desiredMetrics(['groupInServiceInstances', 'GroupMaxSize', 'GroupInServiceInstances'])).toEqual({
      metrics: ['GroupInServiceInstances', 'GroupMaxSize'],
      problems: [],
    });
    expect(desiredMetrics(undefined)).toEqual({ metrics: [], problems: [] });
    const bad = desiredMetrics(['GroupMaxSize', 'NodeCount']);
    expect(bad.metrics).toEqual(['GroupMaxSize']);
    expect(bad.problems).toEqual([
      {
        field: 'spec.eks.configuration.metricsCollection',
        message: expect.stringMatching(/^unknown group metrics NodeCount; use All or some of GroupMinSize, /),
      },
    ]);
  });

  it('enables the whole wanted list when any is missing, disables enabled ones not wanted', () => {
    expect(metricsChanges([], ['A', 'B'])).toEqual({ enable: ['A', 'B'], disable: [] });
    expect(metricsChanges(['A'], ['A', 'B'])).toEqual({ enable: ['A', 'B'], disable: [] });
    expect(metricsChanges(['A', 'B'], ['B', 'A'])).toEqual({ enable: [], disable: [] });
    expect(metricsChanges(['A', 'B', 'C'], ['A'])).toEqual({ enable: [], disable: ['B', 'C'] });
    expect(metricsChanges(['A', 'C'], ['A', 'D'])).toEqual({ enable: ['A', 'D'], disable: ['C'] });
    expect(metricsChanges(['A'], [])).toEqual({ enable: [], disable: ['A'] });
  });
});

describe('launch configurations', () => {
  it('only type LaunchConfiguration makes one: unset and LaunchTemplate mean a launch template', () => {
    expect(usesLaunchConfiguration(lcGroup())).toBe(true);
    expect(usesLaunchConfiguration(plain((ig) => ig.spec.eks && delete ig.spec.eks.type))).toBe(false);
    expect(usesLaunchConfiguration(plain())).toBe(false);
    // The API has no default: a stored group without type stays without one.
    const stored = plain((ig) => ig.spec.eks && delete ig.spec.eks.type);
    expect(normalizeInstanceGroup(stored).spec.eks?.type).toBeUndefined();
  });

  it('refuses a mixed instances policy (CEL rule, mirrored in TypeScript) naming spec.eks.type', () => {
    const ig = normalizeInstanceGroup(example('instance-manager/eks-rolling-update.yaml'));
    if (ig.spec.eks) ig.spec.eks.type = 'LaunchConfiguration';
    expect(validateInstanceGroup(ig)).toEqual([
      {
        field: 'spec.eks.type',
        message:
          'type LaunchConfiguration cannot have configuration.mixedInstancesPolicy (mixed instances need a launch template): use type LaunchTemplate',
      },
    ]);
    expect(launchConfigurationProblems(ig).map((p) => p.field)).toEqual(['spec.eks.type']);
  });

  it('names what only a launch template can express', () => {
    const ig = lcGroup((g) => {
      const c = g.spec.eks?.configuration;
      if (!c) return;
      c.placement = { tenancy: 'host' };
      c.licenseSpecifications = ['arn:aws:license-manager:us-west-2:1:license-configuration:lic-1'];
    });
    expect(launchConfigurationProblems(ig).map((p) => p.field)).toEqual([
      'spec.eks.configuration.placement',
      'spec.eks.configuration.licenseSpecifications',
    ]);
    expect(
      launchConfigurationProblems(
        lcGroup((g) => g.spec.eks && (g.spec.eks.configuration.placement = { tenancy: 'dedicated' })),
      ),
    ).toEqual([]);
    expect(
      launchConfigurationProblems(
        plain((g) => g.spec.eks && (g.spec.eks.configuration.placement = { tenancy: 'host' })),
      ),
    ).toEqual([]);
  });

  it('is rendered from the launch template data and named after its fingerprint', () => {
    const ig = lcGroup((g) => {
      const c = g.spec.eks?.configuration;
      if (!c) return;
      c.spotPrice = '0.08';
      c.metadataOptions = { httpTokens: 'required', httpPutHopLimit: 2 };
      c.placement = { tenancy: 'dedicated' };
    });
    const data = renderLaunchTemplateData(ig, resolved);
    const spec = launchConfigurationSpec('prod-ns-web', data);
    expect(spec.name).toMatch(/^prod-ns-web-[0-9a-f]{12}$/);
    expect(spec).toMatchObject({
      imageId: 'ami-1',
      instanceType: 'm5.large',
      iamInstanceProfile: 'arn:aws:iam::1:instance-profile/p',
      securityGroups: ['sg-1'],
      userData: data.UserData,
      keyName: 'my-key-pair',
      spotPrice: '0.08',
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
      placementTenancy: 'dedicated',
    });
    expect(spec.blockDeviceMappings).toEqual([
      { deviceName: '/dev/xvda', ebs: { volumeSize: 50, volumeType: 'gp3', deleteOnTermination: true } },
      { deviceName: '/dev/xvdb', ebs: { volumeSize: 100, volumeType: 'gp3', deleteOnTermination: true } },
    ]);
    // Equal renderings, equal names; a change, a new name.
    expect(launchConfigurationSpec('prod-ns-web', renderLaunchTemplateData(ig, resolved)).name).toBe(
      spec.name,
    );
    const bigger = structuredClone(ig);
    if (bigger.spec.eks) bigger.spec.eks.configuration.instanceType = 'm5.xlarge';
    const next = launchConfigurationSpec('prod-ns-web', renderLaunchTemplateData(bigger, resolved));
    expect(next.name).not.toBe(spec.name);
    expect(next.instanceType).toBe('m5.xlarge');
    expect(launchConfigurationFingerprint('prod-ns-web', next.name)).toBe(next.name.slice(-12));
  });

  it('tells the group’s own configurations from those of a group whose name extends it', () => {
    expect(isOwnLaunchConfiguration('c-ns-web', 'c-ns-web-0123456789ab')).toBe(true);
    expect(isOwnLaunchConfiguration('c-ns-web', 'c-ns-web-2-0123456789ab')).toBe(false);
    expect(isOwnLaunchConfiguration('c-ns-web', 'c-ns-web-0123456789ab-0123456789ab')).toBe(false);
    expect(isOwnLaunchConfiguration('c-ns-web', 'c-ns-web-hand-made')).toBe(false);
    expect(isOwnLaunchConfiguration('c-ns-web', 'c-ns-webx0123456789ab')).toBe(false);
  });

  it('deletes older configurations no instance uses, keeping the retention and the ones in use', () => {
    const lc = (fp: string, minute: number): LaunchConfiguration => ({
      name: `g-${fp.repeat(12)}`,
      imageId: 'ami-1',
      instanceType: 'm5.large',
      createdTime: new Date(Date.UTC(2025, 0, 1, 0, minute)),
    });
    const all = [
      lc('a', 1),
      lc('b', 2),
      lc('c', 3),
      lc('d', 4),
      lc('e', 5),
      { ...lc('f', 6), name: 'g-2-ffffffffffff' },
    ];
    const active = 'g-eeeeeeeeeeee';
    // retain 1: d is kept; c, b, a go unless used.
    expect(
      launchConfigurationsToDelete({ groupName: 'g', all, keep: [active], inUse: new Set(), retain: 1 }),
    ).toEqual(['g-aaaaaaaaaaaa', 'g-bbbbbbbbbbbb', 'g-cccccccccccc']);
    expect(
      launchConfigurationsToDelete({
        groupName: 'g',
        all,
        keep: [active],
        inUse: new Set(['g-bbbbbbbbbbbb']),
        retain: 1,
      }),
    ).toEqual(['g-aaaaaaaaaaaa', 'g-cccccccccccc']);
    expect(
      launchConfigurationsToDelete({
        groupName: 'g',
        all,
        keep: [active, 'g-aaaaaaaaaaaa'],
        inUse: new Set(),
        retain: 0,
      }),
    ).toEqual(['g-bbbbbbbbbbbb', 'g-cccccccccccc', 'g-dddddddddddd']);
    expect(
      launchConfigurationsToDelete({ groupName: 'g', all, keep: [active], inUse: new Set(), retain: 10 }),
    ).toEqual([]);
  });
});

describe('the scaling group of a launch-configuration group', () => {
  const base = { name: 'g', clusterName: 'prod', subnetIds: ['subnet-a'] };

  it('launches from the launch configuration, whose name its instances carry as a tag', () => {
    const d = desiredGroup(lcGroup(), { ...base, launchConfigurationName: 'g-0123456789ab' });
    expect(d.launchConfigurationName).toBe('g-0123456789ab');
    expect(d.launchTemplate).toBeUndefined();
    expect(d.mixedInstancesPolicy).toBeUndefined();
    expect(d.tags[LAUNCH_CONFIGURATION_TAG]).toBe('g-0123456789ab');
    expect(
      desiredGroup(plain(), { ...base, launchTemplate: { id: 'lt-1', version: '3' } }).tags[
        LAUNCH_CONFIGURATION_TAG
      ],
    ).toBeUndefined();
  });

  it('moves between kinds and configurations, and the tag follows (deleted on a move to a template)', () => {
    const toLc = desiredGroup(lcGroup(), { ...base, launchConfigurationName: 'g-0123456789ab' });
    const fromTemplate = scalingGroup({
      launchTemplate: { id: 'lt-1', version: '3' },
      tags: { ...toLc.tags },
    });
    delete fromTemplate.tags[LAUNCH_CONFIGURATION_TAG];
    const c1 = groupChanges(fromTemplate, toLc, []);
    expect(c1.update).toEqual({ launchConfigurationName: 'g-0123456789ab' });
    expect(c1.setTags).toEqual([{ key: LAUNCH_CONFIGURATION_TAG, value: 'g-0123456789ab' }]);

    const onOld = scalingGroup({
      launchConfigurationName: 'g-aaaaaaaaaaaa',
      tags: { ...toLc.tags, [LAUNCH_CONFIGURATION_TAG]: 'g-aaaaaaaaaaaa' },
    });
    expect(groupChanges(onOld, toLc, []).update).toEqual({ launchConfigurationName: 'g-0123456789ab' });
    expect(
      groupChanges({ ...onOld, launchConfigurationName: 'g-0123456789ab', tags: toLc.tags }, toLc, []).update,
    ).toBeUndefined();

    const toLt = desiredGroup(plain(), { ...base, launchTemplate: { id: 'lt-1', version: '3' } });
    const c2 = groupChanges(onOld, toLt, []);
    expect(c2.update).toEqual({ launchTemplate: { id: 'lt-1', version: '3' } });
    expect(c2.deleteTags).toContain(LAUNCH_CONFIGURATION_TAG);
  });

  it('a group reporting both kinds (the emulator after a switch) is not updated again and again', () => {
    const toLt = desiredGroup(plain(), { ...base, launchTemplate: { id: 'lt-1', version: '3' } });
    const both = scalingGroup({
      launchTemplate: { id: 'lt-1', version: '3' },
      launchConfigurationName: 'g-aaaaaaaaaaaa',
      tags: toLt.tags,
    });
    expect(groupChanges(both, toLt, []).update).toBeUndefined();
    expect(withOwnLaunchDefinition(both, false)).not.toHaveProperty('launchConfigurationName');
    expect(withOwnLaunchDefinition(both, false).launchTemplate).toEqual({ id: 'lt-1', version: '3' });
    expect(withOwnLaunchDefinition(both, true)).not.toHaveProperty('launchTemplate');
    const lcOnly = scalingGroup({ launchConfigurationName: 'g-aaaaaaaaaaaa' });
    expect(withOwnLaunchDefinition(lcOnly, false)).toBe(lcOnly);
  });
});

describe('drift of a launch-configuration group', () => {
  const ec2 = (
    id: string,
    tags: Record<string, string>,
    launchTemplate?: Ec2Instance['launchTemplate'],
  ): Ec2Instance => ({
    id,
    state: 'running',
    tags,
    ...(launchTemplate ? { launchTemplate } : {}),
  });

  it('reads the configuration an instance was launched from off its tag (the emulator reports the group’s)', () => {
    const group = scalingGroup({
      launchConfigurationName: 'g-bbbbbbbbbbbb',
      instances: [
        instance('i-old', { launchConfigurationName: 'g-bbbbbbbbbbbb' }),
        instance('i-new', { launchConfigurationName: 'g-bbbbbbbbbbbb' }),
      ],
    });
    const tagged = new Map([
      ['i-old', ec2('i-old', { [LAUNCH_CONFIGURATION_TAG]: 'g-aaaaaaaaaaaa' })],
      ['i-new', ec2('i-new', { [LAUNCH_CONFIGURATION_TAG]: 'g-bbbbbbbbbbbb' })],
    ]);
    const rotation = rotationInstances({ group, ec2: tagged, nodes: new Map(), resolved: [], owner: 'o' });
    expect(rotation.map((i) => [i.id, i.drifted])).toEqual([
      ['i-old', true],
      ['i-new', false],
    ]);
    // Without the tag (instances from before it) the group's own view decides.
    expect(
      rotationInstances({ group, ec2: new Map(), nodes: new Map(), resolved: [], owner: 'o' }).some(
        (i) => i.drifted,
      ),
    ).toBe(false);
  });

  it('after a switch, instances launched from the other kind are drifted', () => {
    // Launch template -> launch configuration: an instance from the template (EC2's template tags) has no configuration.
    const lcNow = scalingGroup({ launchConfigurationName: 'g-bbbbbbbbbbbb' });
    const fromTemplate = withEc2LaunchTemplate(
      instance('i-1', {
        launchTemplate: { id: 'lt-1', version: '3' },
        launchConfigurationName: 'g-bbbbbbbbbbbb',
      }),
      ec2('i-1', {}, { id: 'lt-1', version: '3' }),
    );
    expect(fromTemplate.launchConfigurationName).toBeUndefined();
    expect(instanceDrift(lcNow, fromTemplate)).toMatchObject({
      drifted: true,
      reason: 'launch-configuration-missing',
    });
    // Launch configuration -> launch template: an instance from a configuration has no template.
    const ltNow = scalingGroup({ launchTemplate: { id: 'lt-1', version: '3' } });
    const fromConfiguration = withEc2LaunchTemplate(
      instance('i-2', { launchTemplate: { id: 'lt-1', version: '3' } }),
      ec2('i-2', { [LAUNCH_CONFIGURATION_TAG]: 'g-bbbbbbbbbbbb' }),
    );
    expect(fromConfiguration).toMatchObject({ launchConfigurationName: 'g-bbbbbbbbbbbb' });
    expect(fromConfiguration.launchTemplate).toBeUndefined();
    expect(instanceDrift(ltNow, fromConfiguration)).toMatchObject({
      drifted: true,
      reason: 'launch-template-missing',
    });
  });
});
