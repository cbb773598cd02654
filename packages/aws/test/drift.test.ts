import { describe, expect, it } from '@jest/globals';
import {
  driftedInstances,
  instanceDrift,
  instanceIsDrifted,
  launchTemplatesToResolve,
  type GroupInstance,
  type ResolvedLaunchTemplateVersion,
  type ScalingGroup,
} from '../src/index';

function group(overrides: Partial<ScalingGroup> = {}): ScalingGroup {
  return {
    name: 'web',
    minSize: 0,
    maxSize: 3,
    desiredCapacity: 1,
    availabilityZones: ['us-west-2a'],
    subnetIds: [],
    instances: [],
    tags: {},
    tagList: [],
    suspendedProcesses: [],
    ...overrides,
  };
}

function instance(overrides: Partial<GroupInstance> = {}): GroupInstance {
  return {
    id: 'i-1',
    availabilityZone: 'us-west-2a',
    lifecycleState: 'InService',
    healthStatus: 'Healthy',
    protectedFromScaleIn: false,
    ...overrides,
  };
}

const tplV3 = { id: 'lt-1', name: 'web-tpl', version: '3' };
const resolved = (version: number, id = 'lt-1', name = 'web-tpl'): ResolvedLaunchTemplateVersion => ({
  id,
  name,
  version,
});

describe('instanceDrift with a launch template', () => {
  it('is up to date when template and pinned version match', () => {
    const v = instanceDrift(group({ launchTemplate: tplV3 }), instance({ launchTemplate: tplV3 }));
    expect(v).toEqual({
      drifted: false,
      reason: 'up-to-date',
      detail: 'instance i-1 runs web-tpl version 3',
    });
  });

  it('is drifted when the pinned version differs', () => {
    const v = instanceDrift(
      group({ launchTemplate: tplV3 }),
      instance({ launchTemplate: { ...tplV3, version: '2' } }),
    );
    expect(v.drifted).toBe(true);
    expect(v.reason).toBe('launch-template-version-changed');
    expect(v.detail).toBe('instance i-1 runs web-tpl version 2; group web wants version 3');
  });

  it('resolves $Latest before comparing', () => {
    const g = group({ launchTemplate: { ...tplV3, version: '$Latest' } });
    expect(instanceIsDrifted(g, instance({ launchTemplate: tplV3 }), resolved(3))).toBe(false);
    expect(instanceIsDrifted(g, instance({ launchTemplate: tplV3 }), resolved(4))).toBe(true);
  });

  it('resolves $Default (any case), and an absent version as $Default', () => {
    for (const version of ['$Default', '$default', undefined]) {
      const g = group({ launchTemplate: { id: 'lt-1', name: 'web-tpl', ...(version ? { version } : {}) } });
      expect(instanceIsDrifted(g, instance({ launchTemplate: tplV3 }), resolved(3))).toBe(false);
      expect(
        instanceIsDrifted(g, instance({ launchTemplate: tplV3 }), [
          resolved(7, 'lt-other', 'other'),
          resolved(2),
        ]),
      ).toBe(true);
    }
  });

  it('refuses to guess when a symbolic version was not resolved', () => {
    const g = group({ launchTemplate: { ...tplV3, version: '$Latest' } });
    expect(() => instanceDrift(g, instance({ launchTemplate: tplV3 }))).toThrow(
      'group web: launch template web-tpl version $Latest must be resolved before checking drift',
    );
    // A resolution for another template does not count.
    expect(() => instanceDrift(g, instance({ launchTemplate: tplV3 }), resolved(3, 'lt-9', 'nine'))).toThrow(
      /must be resolved/,
    );
  });

  it('is drifted when the template differs by id, even under the same name (deleted and re-created)', () => {
    const v = instanceDrift(
      group({ launchTemplate: tplV3 }),
      instance({ launchTemplate: { ...tplV3, id: 'lt-old' } }),
    );
    expect(v.reason).toBe('launch-template-changed');
  });

  it('compares names case-insensitively when ids are not on both sides (as upgrade-manager does)', () => {
    const g = group({ launchTemplate: { name: 'Web-Tpl', version: '3' } });
    expect(instanceIsDrifted(g, instance({ launchTemplate: tplV3 }))).toBe(false);
    expect(
      instanceDrift(g, instance({ launchTemplate: { id: 'lt-1', name: 'api-tpl', version: '3' } })).reason,
    ).toBe('launch-template-changed');
  });

  it('bridges a group naming its template by id and an instance reporting only the name via the resolution', () => {
    const g = group({ launchTemplate: { id: 'lt-1', version: '$Latest' } });
    expect(
      instanceIsDrifted(g, instance({ launchTemplate: { name: 'web-tpl', version: '3' } }), resolved(3)),
    ).toBe(false);
  });

  it('is drifted when the instance has no launch template (e.g. launched from a launch configuration)', () => {
    const v = instanceDrift(
      group({ launchTemplate: tplV3 }),
      instance({ launchConfigurationName: 'old-lc' }),
    );
    expect(v).toMatchObject({ drifted: true, reason: 'launch-template-missing' });
  });

  it('is drifted when the instance reports a template without a version', () => {
    const v = instanceDrift(
      group({ launchTemplate: tplV3 }),
      instance({ launchTemplate: { id: 'lt-1', name: 'web-tpl' } }),
    );
    expect(v).toMatchObject({ drifted: true, reason: 'launch-template-version-changed' });
  });
});

describe('instanceDrift with a launch configuration', () => {
  it('compares launch configuration names, case-insensitively', () => {
    const g = group({ launchConfigurationName: 'web-lc-2' });
    expect(instanceIsDrifted(g, instance({ launchConfigurationName: 'WEB-LC-2' }))).toBe(false);
    expect(instanceDrift(g, instance({ launchConfigurationName: 'web-lc-1' })).reason).toBe(
      'launch-configuration-changed',
    );
  });

  it('is drifted when the instance has no launch configuration (moved from a template back to a configuration)', () => {
    const v = instanceDrift(
      group({ launchConfigurationName: 'web-lc-2' }),
      instance({ launchTemplate: tplV3 }),
    );
    expect(v).toMatchObject({ drifted: true, reason: 'launch-configuration-missing' });
  });

  it('checks the launch configuration before a template (upgrade-manager order)', () => {
    const g = group({ launchConfigurationName: 'web-lc', launchTemplate: tplV3 });
    expect(instanceIsDrifted(g, instance({ launchConfigurationName: 'web-lc' }))).toBe(false);
  });
});

describe('instanceDrift with a mixed instances policy', () => {
  const policyGroup = (version: string) =>
    group({
      mixedInstancesPolicy: {
        launchTemplate: { id: 'lt-1', name: 'web-tpl', version },
        overrides: [
          { instanceType: 'm5.large' },
          {
            instanceType: 'm6g.large',
            launchTemplate: { id: 'lt-arm', name: 'web-arm', version: '$Latest' },
          },
        ],
      },
    });

  it('uses the policy template and resolves its version', () => {
    expect(
      instanceIsDrifted(policyGroup('$Default'), instance({ launchTemplate: tplV3 }), [
        resolved(3),
        resolved(9, 'lt-arm', 'web-arm'),
      ]),
    ).toBe(false);
    expect(instanceIsDrifted(policyGroup('4'), instance({ launchTemplate: tplV3 }))).toBe(true);
  });

  it('compares an instance launched from an override template with that override', () => {
    const arm = instance({
      instanceType: 'm6g.large',
      launchTemplate: { id: 'lt-arm', name: 'web-arm', version: '9' },
    });
    expect(instanceIsDrifted(policyGroup('3'), arm, [resolved(9, 'lt-arm', 'web-arm')])).toBe(false);
    expect(instanceIsDrifted(policyGroup('3'), arm, [resolved(10, 'lt-arm', 'web-arm')])).toBe(true);
  });

  it('is drifted when the instance has no template', () => {
    expect(instanceDrift(policyGroup('3'), instance()).reason).toBe('launch-template-missing');
  });

  it('lists the references that need resolving', () => {
    expect(launchTemplatesToResolve(policyGroup('$Latest'))).toEqual([
      { id: 'lt-1', name: 'web-tpl', version: '$Latest' },
      { id: 'lt-arm', name: 'web-arm', version: '$Latest' },
    ]);
    expect(launchTemplatesToResolve(policyGroup('3'))).toEqual([
      { id: 'lt-arm', name: 'web-arm', version: '$Latest' },
    ]);
    expect(launchTemplatesToResolve(group({ launchTemplate: tplV3 }))).toEqual([]);
    expect(launchTemplatesToResolve(group({ launchTemplate: { name: 'x' } }))).toEqual([{ name: 'x' }]);
    expect(launchTemplatesToResolve(group({ launchConfigurationName: 'lc' }))).toEqual([]);
  });
});

describe('instanceDrift edge cases', () => {
  it.each(['Terminating', 'Terminating:Wait', 'Terminating:Proceed', 'Terminating:Retained', 'Terminated'])(
    'never counts a %s instance as drifted',
    (lifecycleState) => {
      const v = instanceDrift(group({ launchTemplate: tplV3 }), instance({ lifecycleState }));
      expect(v).toMatchObject({ drifted: false, reason: 'terminating' });
    },
  );

  it('counts Standby and Pending instances like any other', () => {
    for (const lifecycleState of ['Standby', 'Pending', 'Pending:Wait']) {
      expect(instanceIsDrifted(group({ launchTemplate: tplV3 }), instance({ lifecycleState }))).toBe(true);
    }
  });

  it('has nothing to compare when the group has no launch definition', () => {
    expect(instanceDrift(group(), instance({ launchTemplate: tplV3 })).reason).toBe('no-launch-definition');
  });

  it('picks the drifted instances of a group', () => {
    const g = group({
      launchTemplate: { id: 'lt-1', name: 'web-tpl', version: '$Latest' },
      instances: [
        instance({ id: 'i-old', launchTemplate: { ...tplV3, version: '2' } }),
        instance({ id: 'i-new', launchTemplate: tplV3 }),
        instance({
          id: 'i-going',
          lifecycleState: 'Terminating',
          launchTemplate: { ...tplV3, version: '1' },
        }),
      ],
    });
    expect(driftedInstances(g, resolved(3)).map((i) => i.id)).toEqual(['i-old']);
  });
});
