// The group-level decisions: rolling update bounds, state after a reconcile, status and conditions,
// validation, managed defaults/boundaries, the crd strategy's resource, the fleet view.
import { describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup, type InstanceGroup } from '@keiko/api';
import type { Ec2Instance, ScalingGroup } from '@keiko/aws';
import type { V1Node } from '@kubernetes/client-node';
import {
  applyManagedConfig,
  ManagedConfigError,
  mergeValues,
  parseManagedConfig,
} from '../src/config/managed-config';
import { nodesReadiness, rotationInstances } from '../src/instancegroup/fleet';
import { composeStatus, decideGroupState, isUpgradeLocked, rotationPolicy } from '../src/instancegroup/plan';
import { semanticProblems, validateGroup } from '../src/instancegroup/validation';
import type { ProvisionOutcome } from '../src/provisioners/types';
import {
  CrdTemplateError,
  renderGoTemplate,
  renderStrategyResource,
  retryDecision,
  strategyResourceOutcome,
  valueAtPath,
} from '../src/strategies/crd-template';
import { example, talkGroup } from './support/fixtures';

const provisioned: ProvisionOutcome = {
  phase: 'provisioned',
  state: 'ReconcileModified',
  message: 'stack ok',
  status: {},
};

describe('rotationPolicy', () => {
  it("follows CloudFormation's rolling update for the talk's eks-cf group", () => {
    expect(rotationPolicy(talkGroup(), 3)).toEqual({
      mode: 'minInService',
      maxUnavailable: 0,
      minInstancesInService: 1,
      maxBatchSize: 1,
      pauseMs: 300_000,
    });
  });
  it('uses maxUnavailable (a percentage of the desired capacity, rounded down) for eks', () => {
    const ig = normalizeInstanceGroup(example('instance-manager/eks-rolling-update.yaml'));
    // 30% of 9 is 2.7: the budget rule rounds a safety limit down.
    expect(rotationPolicy(ig, 9)).toMatchObject({ mode: 'maxUnavailable', maxUnavailable: 2 });
    expect(rotationPolicy(ig, 10)).toMatchObject({ mode: 'maxUnavailable', maxUnavailable: 3 });
    expect(rotationPolicy(ig, 1)).toMatchObject({ mode: 'maxUnavailable', maxUnavailable: 1 });
  });
});

describe('decideGroupState', () => {
  it('is Ready only when provisioned, not upgrading and every node is Ready', () => {
    expect(
      decideGroupState(
        provisioned,
        { phase: 'none', message: '' },
        { ready: true, reason: 'NodesReady', message: '3 node(s) Ready' },
      ),
    ).toMatchObject({ state: 'Ready', ready: true });
    expect(
      decideGroupState(
        provisioned,
        { phase: 'none', message: '' },
        { ready: false, reason: 'NodesNotReady', message: 'x' },
      ),
    ).toMatchObject({ state: 'ReconcileModified', ready: false, requeueAfterMs: 5_000 });
    expect(decideGroupState(provisioned, { phase: 'running', message: 'draining' }, undefined)).toMatchObject(
      { state: 'InitUpgrade', reason: 'Upgrading' },
    );
    expect(decideGroupState(provisioned, { phase: 'locked', message: 'locked' }, undefined)).toMatchObject({
      state: 'Locked',
    });
    expect(
      decideGroupState(provisioned, { phase: 'failed', message: 'RollingUpgrade error' }, undefined),
    ).toMatchObject({ state: 'Error', reason: 'UpgradeFailed' });
  });
  it('passes provisioning states through and retries configuration errors every minute', () => {
    expect(
      decideGroupState(
        { ...provisioned, phase: 'provisioning', state: 'InitCreate', requeueAfterMs: 5000 },
        { phase: 'none', message: '' },
        undefined,
      ),
    ).toMatchObject({ state: 'InitCreate', requeueAfterMs: 5000 });
    expect(
      decideGroupState(
        { ...provisioned, phase: 'failed', state: 'Error', failureReason: 'InvalidConfiguration' },
        { phase: 'none', message: '' },
        undefined,
      ),
    ).toMatchObject({ state: 'Error', reason: 'InvalidConfiguration', requeueAfterMs: 60_000 });
  });
});

describe('composeStatus', () => {
  it('keeps lastTransitionTime while a condition keeps its status, and records the generation', () => {
    const ig = { ...talkGroup(), metadata: { ...talkGroup().metadata, generation: 4 } };
    const t1 = new Date('2030-01-01T00:00:00Z');
    const first = composeStatus({
      previous: undefined,
      ig,
      decision: { state: 'InitCreate', ready: false, reason: 'Provisioning', message: 'a' },
      fields: { stackName: 's' },
      specValid: { ok: true, message: 'ok' },
      now: t1,
    });
    const second = composeStatus({
      previous: first,
      ig,
      decision: { state: 'ReconcileModifying', ready: false, reason: 'Provisioning', message: 'b' },
      fields: {},
      specValid: { ok: true, message: 'ok' },
      now: new Date('2030-01-01T00:05:00Z'),
    });
    const ready = second.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({
      status: 'False',
      message: 'b',
      lastTransitionTime: '2030-01-01T00:00:00Z',
      observedGeneration: 4,
    });
    expect(second).toMatchObject({
      currentState: 'ReconcileModifying',
      stackName: 's',
      provisioner: 'eks-cf',
      strategy: 'rollingUpdate',
    });
  });
});

describe('validation', () => {
  const withSpec = (patch: (ig: InstanceGroup) => void) => {
    const ig = structuredClone(example('talk/instancegroup-hello-world.yaml'));
    patch(ig);
    return ig;
  };
  it('accepts the talk example as written', () => {
    const stored = example('talk/instancegroup-hello-world.yaml');
    expect(validateGroup(stored, normalizeInstanceGroup(stored))).toEqual([]);
  });
  it('names minSize > maxSize', () => {
    const stored = withSpec((ig) => {
      if (ig.spec['eks-cf']) ig.spec['eks-cf'].minSize = 7;
    });
    expect(validateGroup(stored, normalizeInstanceGroup(stored))).toEqual([
      { field: 'spec.eks-cf.minSize', message: 'minSize must be less than or equal to maxSize' },
    ]);
  });
  it('names an unknown strategy', () => {
    const stored = withSpec((ig) => {
      ig.spec.strategy = { type: 'blueGreen' };
    });
    const problems = validateGroup(stored, normalizeInstanceGroup(stored));
    expect(problems.map((p) => p.field)).toEqual(['spec.strategy.type']);
  });
  it('refuses strategies that do not fit the provisioner, and a provisioner change', () => {
    const ig = talkGroup();
    expect(semanticProblems({ ...ig, spec: { ...ig.spec, strategy: { type: 'managed' } } })).toEqual([
      {
        field: 'spec.strategy.type',
        message:
          'managed is only for provisioner eks-managed (EKS rotates its nodes); use rollingUpdate or crd with eks-cf',
      },
    ]);
    expect(semanticProblems({ ...ig, status: { provisioner: 'eks', currentState: 'Ready' } })[0]?.field).toBe(
      'spec.provisioner',
    );
    const managed = normalizeInstanceGroup(example('instance-manager/eks-managed.yaml'));
    expect(
      semanticProblems({
        ...managed,
        spec: {
          ...managed.spec,
          strategy: {
            type: 'crd',
            crd: {
              spec: 'x',
              crdName: 'y',
              statusJSONPath: '.s',
              statusSuccessString: 'ok',
              statusFailureString: 'no',
            },
          },
        },
      })[0]?.message,
    ).toContain('crd needs a scaling group');
  });
  it('names a crd template that does not render', () => {
    const ig = normalizeInstanceGroup(example('instance-manager/eks-crd-strategy.yaml'));
    const crd = ig.spec.strategy?.crd;
    if (!crd) throw new Error('fixture');
    crd.spec = 'kind: [oops';
    expect(semanticProblems(ig)[0]).toMatchObject({ field: 'spec.strategy.crd.spec' });
  });
});

describe('lock-upgrades annotation', () => {
  it('locks only when true', () => {
    const ig = talkGroup();
    expect(isUpgradeLocked(ig)).toBe(false);
    expect(
      isUpgradeLocked({
        ...ig,
        metadata: { ...ig.metadata, annotations: { 'instancemgr.keikoproj.io/lock-upgrades': 'true' } },
      }),
    ).toBe(true);
  });
});

describe('managed defaults and boundaries', () => {
  const data = {
    defaults: [
      'spec:',
      '  eks-cf:',
      '    configuration:',
      '      clusterName: prod-1',
      '      keyPairName: platform-key',
      '      tags: [{key: billing, value: platform}, {key: my-key, value: forced}]',
      '      securityGroups: [sg-default]',
    ].join('\n'),
    boundaries: [
      'restricted: [spec.eks-cf.configuration.clusterName]',
      'shared:',
      '  replace: [spec.eks-cf.configuration.keyPairName]',
      '  merge: [spec.eks-cf.configuration.tags]',
      '  mergeOverride: [spec.eks-cf.configuration.securityGroups]',
    ].join('\n'),
  };
  it('forces restricted fields, defaults replaceable ones, merges lists by key', () => {
    const config = parseManagedConfig(data);
    if (!config) throw new Error('no config');
    const { object, overridden } = applyManagedConfig(example('talk/instancegroup-hello-world.yaml'), config);
    const c = object.spec['eks-cf']?.configuration;
    expect(c?.clusterName).toBe('prod-1');
    expect(overridden).toEqual(['spec.eks-cf.configuration.clusterName']);
    expect(c?.keyPairName).toBe('my-key-pair'); // the tenant set it: theirs
    expect(c?.tags).toEqual([
      { key: 'my-key', value: 'forced' },
      { key: 'billing', value: 'platform' },
    ]); // merge: default wins on a clash
    expect(c?.securityGroups).toEqual(['sg-a04adb633bEXAMPLE', 'sg-default']);
    expect(config.hash).toMatch(/^[0-9a-f]{32}$/);
  });
  it('merges maps and lists as the original did', () => {
    expect(mergeValues({ a: '1', b: '2' }, { b: '3', c: '4' }, 'labels', true)).toEqual({
      a: '1',
      b: '3',
      c: '4',
    });
    expect(mergeValues({ a: '1', b: '2' }, { b: '3', c: '4' }, 'labels', false)).toEqual({
      a: '1',
      b: '2',
      c: '4',
    });
    expect(mergeValues(['x', 'y'], ['y', 'z'], 'subnets', false)).toEqual(['y', 'z', 'x']);
  });
  it('reports a broken ConfigMap instead of guessing', () => {
    expect(() => parseManagedConfig({ defaults: 'spec: [' })).toThrow(ManagedConfigError);
    expect(() => parseManagedConfig({ boundaries: 'restricted: 3' })).toThrow(
      'data.boundaries.restricted must be a list of field paths',
    );
    expect(parseManagedConfig(undefined)).toBeUndefined();
  });
});

describe('crd strategy resource', () => {
  const ig = (): InstanceGroup => {
    const g = normalizeInstanceGroup(example('instance-manager/eks-crd-strategy.yaml'));
    g.status = { activeScalingGroupName: 'my-asg' };
    return g;
  };
  it('substitutes Go-template fields of the InstanceGroup', () => {
    expect(
      renderGoTemplate(
        'asg: {{ .InstanceGroup.Status.ActiveScalingGroupName }} ns: {{ .InstanceGroup.ObjectMeta.Namespace }} name: {{.InstanceGroup.Name}} type: {{ .InstanceGroup.Spec.EKSSpec.EKSConfiguration.InstanceType }}',
        ig(),
      ),
    ).toBe('asg: my-asg ns: instance-manager name: batch-workers type: c5.xlarge');
    expect(() => renderGoTemplate('{{ .Other }}', ig())).toThrow(CrdTemplateError);
    expect(() => renderGoTemplate('{{ printf "%s" .InstanceGroup.Name }}', ig())).toThrow(
      /unsupported template expression/,
    );
  });
  it('names the resource per group and launch template version, annotated with its scope', () => {
    const g = ig();
    const crd = g.spec.strategy?.crd;
    if (!crd) throw new Error('fixture');
    const r = renderStrategyResource(g, crd, { scalingGroupName: 'my-asg', launchVersion: '4' });
    expect(r.name).toMatch(/^rollup-nodes-[0-9a-f]{6}-4$/);
    expect(r.namespace).toBe('instance-manager');
    expect(r.resourceType).toEqual({
      group: 'upgrademgr.keikoproj.io',
      version: 'v1alpha1',
      plural: 'rollingupgrades',
      kind: 'RollingUpgrade',
      namespaced: true,
    });
    expect(r.object.spec).toMatchObject({
      asgName: 'my-asg',
      strategy: { type: 'randomUpdate', maxUnavailable: 1 },
    });
    expect(r.object.metadata.annotations).toEqual({
      'app.kubernetes.io/managed-by': 'instance-manager',
      'instancemgr.keikoproj.io/upgrade-scope': 'my-asg',
    });
    expect(renderStrategyResource(g, crd, { scalingGroupName: 'my-asg', launchVersion: '4' }).name).toBe(
      r.name,
    );
    expect(renderStrategyResource(g, crd, { scalingGroupName: 'my-asg', launchVersion: '5' }).name).not.toBe(
      r.name,
    );
  });
  it('reads the status path and decides retries', () => {
    const crd = ig().spec.strategy?.crd;
    if (!crd) throw new Error('fixture');
    expect(valueAtPath({ status: { currentStatus: 'completed' } }, '.status.currentStatus')).toBe(
      'completed',
    );
    expect(strategyResourceOutcome({ status: { currentStatus: 'Completed' } }, crd)).toBe('succeeded');
    expect(strategyResourceOutcome({ status: { currentStatus: 'error' } }, crd)).toBe('failed');
    expect(strategyResourceOutcome({}, crd)).toBe('running');
    expect(retryDecision(0, 2)).toEqual({ retry: true, nextCount: 1 });
    expect(retryDecision(2, 2)).toEqual({ retry: false, nextCount: 2 });
    expect(retryDecision(50, -1)).toEqual({ retry: true, nextCount: 51 });
  });
});

describe('fleet', () => {
  const group: ScalingGroup = {
    name: 'g',
    launchTemplate: { id: 'lt-1', name: 'g', version: '2' },
    minSize: 2,
    maxSize: 4,
    desiredCapacity: 2,
    availabilityZones: [],
    subnetIds: [],
    tags: {},
    tagList: [],
    suspendedProcesses: [],
    // The emulator reports every instance with the template's default version; EC2's tags are per instance.
    instances: [
      {
        id: 'i-old',
        availabilityZone: 'a',
        lifecycleState: 'InService',
        healthStatus: 'Healthy',
        protectedFromScaleIn: false,
        launchTemplate: { id: 'lt-1', version: '2' },
      },
      {
        id: 'i-new',
        availabilityZone: 'a',
        lifecycleState: 'InService',
        healthStatus: 'Healthy',
        protectedFromScaleIn: false,
        launchTemplate: { id: 'lt-1', version: '2' },
      },
    ],
  };
  const ec2 = new Map<string, Ec2Instance>([
    ['i-old', { id: 'i-old', state: 'running', tags: {}, launchTemplate: { id: 'lt-1', version: '1' } }],
    ['i-new', { id: 'i-new', state: 'running', tags: {}, launchTemplate: { id: 'lt-1', version: '2' } }],
  ]);
  const node = (name: string, instance: string, ready = true, cordonedBy?: string): V1Node => ({
    metadata: { name, ...(cordonedBy ? { annotations: { 'keiko.io/cordoned-by': cordonedBy } } : {}) },
    spec: { providerID: `aws:///a/${instance}`, ...(cordonedBy ? { unschedulable: true } : {}) },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  it("decides drift from EC2's per-instance launch template version", () => {
    const nodes = new Map([
      ['i-old', node('n-old', 'i-old', true, 'instance-manager/ns/g')],
      ['i-new', node('n-new', 'i-new')],
    ]);
    const list = rotationInstances({ group, ec2, nodes, resolved: [], owner: 'instance-manager/ns/g' });
    expect(list.map((i) => [i.id, i.drifted, i.node?.cordonedByUs])).toEqual([
      ['i-old', true, true],
      ['i-new', false, false],
    ]);
  });
  it('is NodesReady only with every desired instance InService with a Ready node', () => {
    expect(
      nodesReadiness(
        group,
        new Map([
          ['i-old', node('a', 'i-old')],
          ['i-new', node('b', 'i-new')],
        ]),
      ),
    ).toMatchObject({ ready: true });
    expect(nodesReadiness(group, new Map([['i-old', node('a', 'i-old')]]))).toMatchObject({
      ready: false,
      message: 'no node yet for i-new',
    });
    expect(
      nodesReadiness(
        group,
        new Map([
          ['i-old', node('a', 'i-old')],
          ['i-new', node('b', 'i-new', false)],
        ]),
      ),
    ).toMatchObject({ ready: false, message: 'not Ready: b' });
    expect(nodesReadiness({ ...group, desiredCapacity: 3 }, new Map())).toMatchObject({
      ready: false,
      reason: 'ScalingInProgress',
    });
  });
});
