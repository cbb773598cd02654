// Defaulting, cross-field validation and the helpers controllers call, without a cluster.
import { DEFAULT_DRAIN_TIMEOUT_SECONDS } from '../src/budget';
import { describe, expect, it } from '@jest/globals';
import { Value } from '@sinclair/typebox/value';
import {
  addonInstallTimeoutMs,
  addonParameters,
  AddonSchema,
  normalizeAddon,
  parseGoDuration,
  validateAddon,
  withAddonDefaults,
} from '../src/addon';
import type { Addon } from '../src/addon';
import { validateHealthCheck } from '../src/healthcheck';
import {
  instanceGroupSize,
  instanceGroupStrategyType,
  normalizeInstanceGroup,
  validateInstanceGroup,
  withInstanceGroupDefaults,
} from '../src/instancegroup';
import type { InstanceGroup } from '../src/instancegroup';
import { ALL_KINDS } from '../src/kinds';
import { validatePodCheckpoint } from '../src/podcheckpoint';
import {
  configuredScripts,
  nodesInProcessing,
  resolveRollingUpgrade,
  resolveUpdateStrategy,
  validateRollingUpgrade,
  withRollingUpgradeDefaults,
} from '../src/rollingupgrade';
import type { RollingUpgrade } from '../src/rollingupgrade';
import type { KubernetesObject } from '@kubernetes/client-node';
import { CelCheck, metadataTimestamp } from '../src/schema';
import type { CheckedCelRule } from '../src/schema';
import { formatProblems, specValidCondition, validateKind } from '../src/validate';
import { example, exampleFiles } from './fixtures';

const fields = (problems: { field: string }[]) => problems.map((p) => p.field);

describe('examples', () => {
  const all = exampleFiles().flatMap((f) =>
    f.objects.map((o) => [`${f.file} ${o.kind}/${o.metadata.name}`, o] as const),
  );

  it('cover every kind at least twice', () => {
    for (const def of ALL_KINDS)
      expect([def.kind, all.filter(([, o]) => o.kind === def.kind).length >= 2]).toEqual([def.kind, true]);
  });

  it.each(all)('%s passes local validation', (_name, object) => {
    const def = ALL_KINDS.find((d) => d.kind === object.kind);
    expect(def).toBeDefined();
    if (def) expect(validateKind(def, object)).toEqual([]);
  });
});

describe('RollingUpgrade', () => {
  const talk = () => example('talk/rollingupgrade-my-rolling-upgrade.yaml') as unknown as RollingUpgrade;

  it('defaults the strategy the way the original controller did', () => {
    const ru = withRollingUpgradeDefaults(talk());
    expect(ru.spec.strategy).toEqual({ type: 'randomUpdate', mode: 'lazy', maxUnavailable: 1 });
    expect(ru.spec.dryRun).toBe(false);
  });

  it('does not modify its input', () => {
    const input = talk();
    withRollingUpgradeDefaults(input);
    expect(input.spec.strategy).toBeUndefined();
  });

  it('keeps explicit strategy values', () => {
    const ru = talk();
    ru.spec.strategy = {
      type: 'uniformAcrossAzUpdate',
      mode: 'eager',
      maxUnavailable: '25%',
      drainTimeout: 30,
    };
    expect(withRollingUpgradeDefaults(ru).spec.strategy).toEqual(ru.spec.strategy);
  });

  it('resolves case-insensitive spellings and the original zero values', () => {
    const ru = talk();
    ru.spec.strategy = { type: 'UniformAcrossAZUpdate', mode: 'EAGER', maxUnavailable: 0, drainTimeout: 0 };
    expect(resolveUpdateStrategy(ru.spec)).toEqual({
      type: 'uniformAcrossAzUpdate',
      mode: 'eager',
      maxUnavailable: { nodes: 1 },
      drainTimeoutSeconds: DEFAULT_DRAIN_TIMEOUT_SECONDS,
    });
    expect(validateRollingUpgrade(ru)).toEqual([]);
  });

  it('resolves the whole spec once: waits summed, defaults for what is absent', () => {
    const ru = talk();
    ru.spec = {
      asgName: 'g',
      postDrainDelaySeconds: 30,
      postDrain: { waitSeconds: 15 },
      ignoreDrainFailures: true,
    };
    expect(resolveRollingUpgrade(ru.spec)).toEqual({
      strategy: resolveUpdateStrategy(ru.spec),
      postDrainWaitSeconds: 45,
      nodeIntervalSeconds: 0,
      readinessGates: [],
      ignoreDrainFailures: true,
      dryRun: false,
      scripts: {},
    });
  });

  it('resolves the scripts by phase; blank ones are none; ignoreScripts drops them all', () => {
    const spec = {
      asgName: 'g',
      preDrain: { script: 'echo pre' },
      postDrain: { script: '  ', waitSeconds: 5, postWaitScript: 'echo waited' },
      postTerminate: { script: 'echo gone' },
    };
    expect(resolveRollingUpgrade(spec).scripts).toEqual({
      preDrain: 'echo pre',
      postWait: 'echo waited',
      postTerminate: 'echo gone',
    });
    expect(configuredScripts({ ...spec, ignoreScripts: true })).toEqual(resolveRollingUpgrade(spec).scripts);
    expect(resolveRollingUpgrade({ ...spec, ignoreScripts: true }).scripts).toEqual({});
    expect(validateRollingUpgrade({ ...talk(), spec: { ...spec, ignoreScripts: true } })).toEqual([]);
  });

  it.each([
    [{}, { nodes: 1 }, DEFAULT_DRAIN_TIMEOUT_SECONDS],
    [{ maxUnavailable: 3, drainTimeout: 60 }, { nodes: 3 }, 60],
    [{ maxUnavailable: '25%', drainTimeout: -1 }, { percent: 25 }, undefined],
    [{ maxUnavailable: '30' }, { percent: 30 }, DEFAULT_DRAIN_TIMEOUT_SECONDS], // the original's bare percentage
  ])('resolves strategy %p to budget %p and drain timeout %p', (strategy, budget, timeout) => {
    const ru = talk();
    ru.spec.strategy = strategy;
    expect(resolveUpdateStrategy(ru.spec)).toMatchObject({
      maxUnavailable: budget,
      drainTimeoutSeconds: timeout,
    });
  });

  it.each([
    [{ maxUnavailable: -1 }, 'spec.strategy.maxUnavailable'],
    [{ maxUnavailable: '0%' }, 'spec.strategy.maxUnavailable'],
    [{ maxUnavailable: '101%' }, 'spec.strategy.maxUnavailable'],
    [{ type: 'blueGreen' }, 'spec.strategy.type'],
    [{ mode: 'hasty' }, 'spec.strategy.mode'],
    [{ drainTimeout: -2 }, 'spec.strategy.drainTimeout'],
  ])('refuses strategy %j at %s', (strategy, field) => {
    const ru = talk();
    ru.spec.strategy = strategy as RollingUpgrade['spec']['strategy'];
    expect(fields(validateRollingUpgrade(ru))).toEqual([field]);
  });

  it('names missing and negative fields', () => {
    const ru = talk() as unknown as { spec: Record<string, unknown> };
    delete ru.spec.asgName;
    ru.spec.nodeIntervalSeconds = -300;
    expect(validateRollingUpgrade(ru)).toEqual([
      { field: 'spec.asgName', message: 'Required value' },
      {
        field: 'spec.nodeIntervalSeconds',
        message: 'Invalid value: -300: must be greater than or equal to 0',
      },
    ]);
  });

  it('reads per-node progress under either name', () => {
    expect(nodesInProcessing(undefined)).toEqual({});
    expect(nodesInProcessing({ nodeInProcessing: { a: { nodeName: 'a' } } })).toEqual({
      a: { nodeName: 'a' },
    });
    expect(
      nodesInProcessing({ inProcessingNodes: { b: { nodeName: 'b' } }, nodeInProcessing: { a: {} } }),
    ).toEqual({ b: { nodeName: 'b' } });
  });
});

describe('InstanceGroup', () => {
  const talk = () => example('talk/instancegroup-hello-world.yaml') as unknown as InstanceGroup;
  const eks = () => example('instance-manager/eks-rolling-update.yaml') as unknown as InstanceGroup;

  it('defaults the strategy to rollingUpdate and crd settings to Forbid / 3 retries', () => {
    const ig = eks();
    delete ig.spec.strategy;
    expect(withInstanceGroupDefaults(ig).spec.strategy).toEqual({ type: 'rollingUpdate' });
    const crd = example('instance-manager/eks-crd-strategy.yaml') as unknown as InstanceGroup;
    delete crd.spec.strategy?.crd?.concurrencyPolicy;
    delete crd.spec.strategy?.crd?.maxRetries;
    expect(withInstanceGroupDefaults(crd).spec.strategy?.crd).toMatchObject({
      concurrencyPolicy: 'Forbid',
      maxRetries: 3,
    });
  });

  it('moves the talk spec.rollingUpdate under strategy', () => {
    const ig = normalizeInstanceGroup(talk());
    expect(ig.spec.rollingUpdate).toBeUndefined();
    expect(ig.spec.strategy).toEqual({
      type: 'rollingUpdate',
      rollingUpdate: { minInstancesInService: 1, maxBatchSize: 1, pauseTime: 'PT5M' },
    });
  });

  it('prefers strategy.rollingUpdate over the legacy place and canonicalizes spellings', () => {
    const ig = talk();
    ig.spec.strategy = { type: 'ROLLINGUPDATE', rollingUpdate: { maxUnavailable: 2 } };
    const out = normalizeInstanceGroup(ig);
    expect(out.spec.strategy).toEqual({ type: 'rollingUpdate', rollingUpdate: { maxUnavailable: 2 } });
    expect(instanceGroupStrategyType(ig)).toBe('rollingUpdate');
  });

  it('reports minSize greater than maxSize on minSize, for every provisioner with sizes', () => {
    const a = talk();
    a.spec['eks-cf'] = { ...a.spec['eks-cf'], minSize: 7, maxSize: 6 };
    expect(validateInstanceGroup(a)).toEqual([
      { field: 'spec.eks-cf.minSize', message: 'minSize must be less than or equal to maxSize' },
    ]);
    const b = eks();
    if (b.spec.eks) b.spec.eks.minSize = 10;
    expect(fields(validateInstanceGroup(b))).toEqual(['spec.eks.minSize']);
    const c = example('instance-manager/eks-managed.yaml') as unknown as InstanceGroup;
    if (c.spec['eks-managed']) c.spec['eks-managed'].maxSize = 1;
    expect(fields(validateInstanceGroup(c))).toEqual(['spec.eks-managed.minSize']);
  });

  it('requires the block of the chosen provisioner', () => {
    const ig = talk();
    ig.spec.provisioner = 'eks';
    expect(validateInstanceGroup(ig)).toEqual([
      { field: 'spec.eks', message: 'spec.eks is required when provisioner is eks' },
    ]);
    ig.spec.provisioner = 'eks-fargate';
    expect(fields(validateInstanceGroup(ig))).toEqual(['spec.eks-fargate']);
  });

  it('requires strategy.crd for the crd strategy, and its fields', () => {
    const ig = eks();
    ig.spec.strategy = { type: 'CRD' };
    expect(fields(validateInstanceGroup(ig))).toEqual(['spec.strategy.crd']);
    ig.spec.strategy = { type: 'crd', crd: { crdName: 'x' } } as unknown as InstanceGroup['spec']['strategy'];
    expect(fields(validateInstanceGroup(ig))).toEqual([
      'spec.strategy.crd.spec',
      'spec.strategy.crd.statusJSONPath',
      'spec.strategy.crd.statusSuccessString',
      'spec.strategy.crd.statusFailureString',
    ]);
  });

  it('refuses unknown enum values with the supported ones in the message', () => {
    const ig = talk() as unknown as { spec: Record<string, unknown> };
    ig.spec.provisioner = 'eks-spot';
    const [problem] = validateInstanceGroup(ig);
    expect(problem?.field).toBe('spec.provisioner');
    expect(problem?.message).toContain('"eks-cf", "eks", "eks-managed", "eks-fargate"');
  });

  it('checks percentages and mixed instance policies', () => {
    const ig = eks();
    const conf = ig.spec.eks?.configuration;
    if (!conf?.mixedInstancesPolicy || !ig.spec.strategy?.rollingUpdate) throw new Error('example changed');
    ig.spec.strategy.rollingUpdate.maxUnavailable = '30';
    conf.mixedInstancesPolicy = { strategy: 'LowestPrice' };
    expect(fields(validateInstanceGroup(ig))).toEqual([
      'spec.eks.configuration.mixedInstancesPolicy',
      'spec.strategy.rollingUpdate.maxUnavailable',
    ]);
  });

  it('reads sizes from the active provisioner block', () => {
    expect(instanceGroupSize(talk())).toEqual({ minSize: 3, maxSize: 6 });
    expect(
      instanceGroupSize(example('instance-manager/eks-fargate.yaml') as unknown as InstanceGroup),
    ).toEqual({ minSize: undefined, maxSize: undefined });
  });
});

describe('Addon', () => {
  const talk = () => example('talk/addon-cluster-autoscaler.yaml') as unknown as Addon;

  it('defaults installTimeout to 1h', () => {
    expect(withAddonDefaults(talk()).spec.installTimeout).toBe('1h');
    expect(addonInstallTimeoutMs(withAddonDefaults(talk()).spec)).toBe(3_600_000);
  });

  it('folds the talk top-level params and workflows into spec', () => {
    const addon = normalizeAddon(talk());
    expect(addon.params).toBeUndefined();
    expect(addon.install).toBeUndefined();
    expect(addon.spec.params?.namespace).toBe('addon-cluster-autoscaler-ns');
    expect(Object.keys(addon.spec.lifecycle ?? {}).sort()).toEqual(['delete', 'install', 'prereqs']);
    expect(addon.spec.lifecycle?.install?.template).toContain('kind: Workflow');
    expect(Value.Check(AddonSchema, addon)).toBe(true);
  });

  it('lets spec win over the top-level fields', () => {
    const addon = talk();
    addon.spec.params = { namespace: 'from-spec' };
    addon.spec.lifecycle = { install: { template: 'spec-install' } };
    const out = normalizeAddon(addon);
    expect(out.spec.params).toEqual({ namespace: 'from-spec' });
    expect(out.spec.lifecycle?.install?.template).toBe('spec-install');
    expect(out.spec.lifecycle?.delete?.template).toContain('Workflow');
  });

  it('builds workflow parameters with integer values as strings', () => {
    const addon = example('addon-manager/event-router.yaml') as unknown as Addon;
    expect(addonParameters(addon.spec)).toEqual({
      namespace: 'addon-event-router-ns',
      clusterName: 'my-example.cluster.k8s.local',
      clusterRegion: 'us-west-2',
      logLevel: 'info',
      replicas: '2',
      sink: 'stdout',
    });
  });

  it.each([
    [(a: Addon) => Object.assign(a.spec, { pkgType: 'zip' }), 'spec.pkgType'],
    [(a: Addon) => Object.assign(a.spec, { installTimeout: 'forever' }), 'spec.installTimeout'],
    [
      (a: Addon) => Object.assign(a, { install: { namePrefix: 'much-too-long', template: 'x' } }),
      'install.namePrefix',
    ],
    [(a: Addon) => Object.assign(a, { params: { data: { enabled: true } } }), 'params.data.enabled'],
    [(a: Addon) => delete (a.spec as Partial<Addon['spec']>).pkgName, 'spec.pkgName'],
  ])('refuses a mistake at %#', (mutate, field) => {
    const addon = talk();
    mutate(addon);
    expect(fields(validateAddon(addon))).toEqual([field]);
  });

  it('parses Go durations', () => {
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(() => parseGoDuration('1d')).toThrow(/invalid duration/);
    expect(() => parseGoDuration('')).toThrow(/invalid duration/);
  });
});

describe('HealthCheck', () => {
  const hc = () =>
    example('active-monitor/inline-hello.yaml') as unknown as {
      spec: Record<string, unknown> & { workflow: { resource: { source: Record<string, unknown> } } };
    };

  it('accepts upstream manifests with neither schedule (repeatAfterSec: 0 pauses a check upstream)', () => {
    const h = hc();
    h.spec.repeatAfterSec = 0;
    expect(validateHealthCheck(h)).toEqual([]);
    delete h.spec.repeatAfterSec;
    expect(validateHealthCheck(h)).toEqual([]);
    h.spec.repeatAfterSec = -1;
    expect(fields(validateHealthCheck(h))).toEqual(['spec.repeatAfterSec']);
  });

  it('checks the level at apply time; backoff bounds and an empty source are left to the controller (upstream accepts them)', () => {
    const h = hc();
    Object.assign(h.spec, { backoffMin: 10, backoffMax: 5, level: 'galaxy' });
    h.spec.workflow.resource.source = {};
    expect(fields(validateHealthCheck(h))).toEqual(['spec.level']);
  });
});

describe('PodCheckpoint', () => {
  it('requires the pod and an s3 destination', () => {
    const p = example('kube-forensics/podcheckpoint.yaml') as unknown as { spec: Record<string, unknown> };
    delete p.spec.pod;
    p.spec.destination = 'gs://bucket';
    expect(fields(validatePodCheckpoint(p))).toEqual(['spec.pod', 'spec.destination']);
  });
});

describe('validation helpers', () => {
  it('turns problems into a SpecValid condition', () => {
    expect(specValidCondition([], 3)).toEqual({
      type: 'SpecValid',
      status: 'True',
      reason: 'Valid',
      message: 'spec passed validation',
      observedGeneration: 3,
    });
    const problems = [
      { field: 'spec.eks.minSize', message: 'minSize must be less than or equal to maxSize' },
    ];
    expect(specValidCondition(problems, 4)).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: formatProblems(problems),
    });
    expect(formatProblems(problems)).toBe('spec.eks.minSize: minSize must be less than or equal to maxSize');
  });

  it('gives every CEL rule of every kind a TypeScript twin', () => {
    const missing: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const rules = (node as Record<string, unknown>)['x-kubernetes-validations'];
      if (Array.isArray(rules))
        for (const r of rules as CheckedCelRule[])
          if (typeof r[CelCheck] !== 'function') missing.push(`${path}: ${r.rule}`);
      for (const [k, v] of Object.entries(node))
        if (k !== 'x-kubernetes-validations') visit(v, `${path}/${k}`);
    };
    for (const def of ALL_KINDS) visit(def.schema, def.kind);
    expect(missing).toEqual([]);
  });
});

describe('types', () => {
  it('fit the object type of @kubernetes/client-node and kube-runtime', () => {
    // Compile-time check: these assignments fail typecheck if a Keiko type drifts from KubernetesObject.
    const objects: KubernetesObject[] = [
      withRollingUpgradeDefaults(example('talk/rollingupgrade-my-rolling-upgrade.yaml')),
      withInstanceGroupDefaults(example('talk/instancegroup-hello-world.yaml')),
      withAddonDefaults(example('talk/addon-cluster-autoscaler.yaml')),
    ];
    expect(objects).toHaveLength(3);
  });

  it('read metadata timestamps as strings', () => {
    const object = {
      metadata: {
        creationTimestamp: '2024-05-01T10:00:00Z',
        deletionTimestamp: new Date('2024-05-02T00:00:00Z'),
      },
    };
    expect(metadataTimestamp(object, 'creationTimestamp')).toBe('2024-05-01T10:00:00Z');
    expect(metadataTimestamp(object, 'deletionTimestamp')).toBe('2024-05-02T00:00:00.000Z');
    expect(metadataTimestamp({}, 'creationTimestamp')).toBeUndefined();
  });
});
