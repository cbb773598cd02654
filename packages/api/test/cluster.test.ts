// Against the real test cluster: the generated CRDs install with kubectl, the examples apply with
// kubectl's strict field validation, mistakes are refused naming the field, and what the controllers'
// types read back is everything that was written.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { Value } from '@sinclair/typebox/value';
import { kubeConfigFromEnv, kubectl as runKubectl, waitForCrdEstablished } from '@keiko/testenv';
import { crdName } from '../src/crd';
import type { KindDefinition } from '../src/crd';
import { ALL_KINDS } from '../src/kinds';
import { crdPath } from '../src/render';
import { applyDefaults, validateKind } from '../src/validate';
import { example, exampleFiles, fullStatus, repoRoot } from './fixtures';
import type { Manifest } from './fixtures';

const namespace = `keiko-api-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const kc = kubeConfigFromEnv();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);
const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
const kubectl = (args: string[], stdin?: Manifest[]) => runKubectl(kc, args, stdin);

function definitionOf(object: { kind: string }): KindDefinition {
  const def = ALL_KINDS.find((d) => d.kind === object.kind);
  if (!def) throw new Error(`no kind ${object.kind}`);
  return def;
}

function inNamespace<T extends Manifest>(object: T): T {
  return { ...object, metadata: { ...object.metadata, namespace } };
}

/** POST as `kubectl create/apply` does: unknown fields are errors, not silently dropped. */
async function create(object: Manifest, dryRun = false): Promise<Manifest> {
  const def = definitionOf(object);
  return (await custom.createNamespacedCustomObject({
    group: def.group,
    version: def.version,
    plural: def.plural,
    namespace,
    body: inNamespace(object),
    fieldValidation: 'Strict',
    ...(dryRun ? { dryRun: 'All' } : {}),
  })) as Manifest;
}

async function read(def: KindDefinition, name: string): Promise<Manifest> {
  return (await custom.getNamespacedCustomObject({
    group: def.group,
    version: def.version,
    plural: def.plural,
    namespace,
    name,
  })) as Manifest;
}

/** The apiserver's message for a refused request, or undefined when it was accepted. */
async function refusal(object: Manifest): Promise<string | undefined> {
  try {
    await create(object, true);
    return undefined;
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return `${err.code} ${(body as { message?: string }).message ?? String(err.body)}`;
  }
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  // The way users install them: kubectl apply -f on the chart's file.
  for (const def of ALL_KINDS) {
    await kubectl(['apply', '-f', path.join(repoRoot, crdPath(def))]);
    await waitForCrdEstablished(kc, crdName(def));
  }
}, 120_000);

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe('CRDs', () => {
  it.each(ALL_KINDS.map((d) => [d.kind, d] as const))(
    '%s is Established and served with its names',
    async (_kind, def) => {
      const crd = await ext.readCustomResourceDefinition({ name: crdName(def) });
      expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
      expect(crd.status?.conditions?.find((c) => c.type === 'NamesAccepted')?.status).toBe('True');
      const resources = await custom.getAPIResources({ group: def.group, version: def.version });
      const resource = resources.resources.find((r) => r.name === def.plural);
      expect(resource).toMatchObject({
        kind: def.kind,
        namespaced: true,
        shortNames: def.shortNames,
        categories: ['keiko'],
      });
      expect(resources.resources.find((r) => r.name === `${def.plural}/status`)).toBeDefined();
    },
  );

  it('applies again unchanged (kubectl apply is idempotent on the generated files)', async () => {
    for (const def of ALL_KINDS) {
      expect(await kubectl(['apply', '-f', path.join(repoRoot, crdPath(def))])).toMatch(/unchanged/);
    }
  });
});

describe('examples', () => {
  const all = exampleFiles().flatMap((f) =>
    f.objects.map((o) => [`${f.file} ${o.kind}/${o.metadata.name}`, o] as const),
  );

  it.each(all)(
    '%s applies with kubectl, strict, and is stored as the controllers default it',
    async (_name, object) => {
      const out = await kubectl(['apply', '--validate=strict', '-f', '-'], [inNamespace(object)]);
      expect(out).toMatch(/created|configured|unchanged/);
      const def = definitionOf(object);
      const stored = await read(def, object.metadata.name);
      // Nothing pruned and the apiserver's defaults are exactly the TypeScript defaults.
      const expected = applyDefaults(def.schema, inNamespace(object)) as Manifest;
      const { metadata: _m1, ...storedBody } = stored;
      const { metadata: _m2, ...expectedBody } = expected;
      expect(storedBody).toEqual(expectedBody);
    },
  );

  it('are all listed by `kubectl get keiko`', async () => {
    const names = (await kubectl(['get', 'keiko', '-n', namespace, '-o', 'name'])).trim().split('\n').sort();
    const expected = all
      .map(([, o]) => `${definitionOf(o).singular}.${definitionOf(o).group}/${o.metadata.name}`)
      .sort();
    expect(names).toEqual(expected);
  });

  it('print the printer columns', async () => {
    const table = await kubectl(['get', 'addons', '-n', namespace]);
    expect(table.split('\n')[0]?.split(/\s{2,}/)).toEqual([
      'NAME',
      'PACKAGE',
      'VERSION',
      'STATUS',
      'REASON',
      'AGE',
    ]);
    expect((await kubectl(['get', 'ru', '-n', namespace])).split('\n')[0]).toMatch(
      /^NAME\s+STATUS\s+TOTALNODES\s+NODESPROCESSED\s+COMPLETE\s+AGE/,
    );
    expect((await kubectl(['get', 'ig', '-n', namespace])).split('\n')[0]).toMatch(
      /^NAME\s+STATE\s+MIN\s+MAX\s+GROUP NAME\s+PROVISIONER\s+STRATEGY\s+LIFECYCLE\s+AGE/,
    );
  });
});

// Mutations reach deep into untyped YAML; typing each path would only restate the manifests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Mutation = (o: Record<string, any>) => void;

/** One per rule kind: missing required, wrong enum, negative number, wrong type, pattern, CEL. */
const invalid: [string, string, Mutation, string, RegExp][] = [
  [
    'missing required asgName',
    'talk/rollingupgrade-my-rolling-upgrade.yaml',
    (o) => delete o.spec.asgName,
    'spec.asgName',
    /Required value/,
  ],
  [
    'wrong enum pkgType',
    'talk/addon-cluster-autoscaler.yaml',
    (o) => (o.spec.pkgType = 'zip'),
    'spec.pkgType',
    /Unsupported value: "zip"/,
  ],
  [
    'negative postDrainDelaySeconds',
    'talk/rollingupgrade-my-rolling-upgrade.yaml',
    (o) => (o.spec.postDrainDelaySeconds = -30),
    'spec.postDrainDelaySeconds',
    /greater than or equal to 0/,
  ],
  [
    'string minSize',
    'talk/instancegroup-hello-world.yaml',
    (o) => (o.spec['eks-cf'].minSize = 'three'),
    'spec.eks-cf.minSize',
    /must be of type integer/,
  ],
  [
    'wrong enum provisioner',
    'talk/instancegroup-hello-world.yaml',
    (o) => (o.spec.provisioner = 'ec2'),
    'spec.provisioner',
    /Unsupported value: "ec2"/,
  ],
  [
    'missing required eks-managed sizes',
    'instance-manager/eks-managed.yaml',
    (o) => delete o.spec['eks-managed'].maxSize,
    'spec.eks-managed.maxSize',
    /Required value/,
  ],
  [
    'negative volume size',
    'instance-manager/eks-rolling-update.yaml',
    (o) => (o.spec.eks.configuration.volumes[0].size = -1),
    'spec.eks.configuration.volumes[0].size',
    /greater than or equal to 0/,
  ],
  [
    'node label value that would add a kubelet flag',
    'instance-manager/eks-rolling-update.yaml',
    (o) => (o.spec.eks.configuration.labels = { team: 'platform --max-pods=500' }),
    'spec.eks.configuration.labels.team',
    /should match/,
  ],
  [
    'node label key that is not a label key',
    'instance-manager/eks-rolling-update.yaml',
    (o) => (o.spec.eks.configuration.labels = { 'team,evil': 'x' }),
    'spec.eks.configuration.labels',
    /label keys must be Kubernetes label keys/,
  ],
  [
    'taint value with a comma',
    'instance-manager/eks-rolling-update.yaml',
    (o) =>
      (o.spec.eks.configuration.taints = [
        { key: 'dedicated', value: 'a,b=c:NoSchedule', effect: 'NoSchedule' },
      ]),
    'spec.eks.configuration.taints[0].value',
    /should match/,
  ],
  [
    'wrong enum volume type',
    'instance-manager/eks-rolling-update.yaml',
    (o) => (o.spec.eks.configuration.volumes[0].type = 'nvme'),
    'spec.eks.configuration.volumes[0].type',
    /Unsupported value: "nvme"/,
  ],
  [
    'minSize above maxSize (CEL)',
    'talk/instancegroup-hello-world.yaml',
    (o) => (o.spec['eks-cf'].minSize = 9),
    'spec.eks-cf.minSize',
    /minSize must be less than or equal to maxSize/,
  ],
  [
    'provisioner without its block (CEL)',
    'instance-manager/eks-rolling-update.yaml',
    (o) => (o.spec.provisioner = 'eks-managed'),
    'spec.eks-managed',
    /spec.eks-managed is required when provisioner is eks-managed/,
  ],
  [
    'unknown strategy type (CEL)',
    'talk/instancegroup-hello-world.yaml',
    (o) => (o.spec.strategy.type = 'blueGreen'),
    'spec.strategy.type',
    /must be one of rollingUpdate, crd, managed/,
  ],
  [
    'crd strategy without crd (CEL)',
    'talk/instancegroup-hello-world.yaml',
    (o) => (o.spec.strategy.type = 'crd'),
    'spec.strategy.crd',
    /strategy.crd is required when strategy.type is crd/,
  ],
  [
    'maxUnavailable 150% (CEL)',
    'upgrade-manager/uniform-across-az.yaml',
    (o) => (o.spec.strategy.maxUnavailable = '150%'),
    'spec.strategy.maxUnavailable',
    /percentage from 1% to 100%/,
  ],
  [
    'unknown strategy mode (CEL)',
    'upgrade-manager/uniform-across-az.yaml',
    (o) => (o.spec.strategy.mode = 'hasty'),
    'spec.strategy.mode',
    /must be one of lazy, eager/,
  ],
  [
    'boolean where integer or string',
    'addon-manager/event-router.yaml',
    (o) => (o.spec.params.data.replicas = true),
    'spec.params.data.replicas',
    /integer|string/,
  ],
  [
    'bad installTimeout pattern',
    'addon-manager/event-router.yaml',
    (o) => (o.spec.installTimeout = '1 hour'),
    'spec.installTimeout',
    /should match/,
  ],
  [
    'namePrefix too long',
    'talk/addon-cluster-autoscaler.yaml',
    (o) => (o.install.namePrefix = 'far-too-long'),
    'install.namePrefix',
    /Too long/,
  ],
  [
    'negative repeatAfterSec',
    'active-monitor/inline-hello.yaml',
    (o) => (o.spec.repeatAfterSec = -5),
    'spec.repeatAfterSec',
    /greater than or equal to 0/,
  ],
  [
    'wrong enum level',
    'active-monitor/inline-hello.yaml',
    (o) => (o.spec.level = 'galaxy'),
    'spec.level',
    /Unsupported value: "galaxy"/,
  ],
  [
    'missing required pod',
    'kube-forensics/podcheckpoint.yaml',
    (o) => delete o.spec.pod,
    'spec.pod',
    /Required value/,
  ],
  [
    'non-s3 destination',
    'kube-forensics/podcheckpoint.yaml',
    (o) => (o.spec.destination = 'gs://bucket'),
    'spec.destination',
    /should match/,
  ],
];

describe('mistakes', () => {
  it.each(invalid)(
    '%s is refused naming the field, by the apiserver and by validate()',
    async (_name, file, mutate, field, message) => {
      const object = example(file);
      mutate(object);
      const refused = await refusal(object);
      expect(refused).toBeDefined();
      expect(refused).toMatch(/^422 /);
      expect(refused).toContain(`${field}:`);
      expect(refused).toMatch(message);
      // The controllers' twin names the same field.
      expect(validateKind(definitionOf(object), object).map((p) => p.field)).toContain(field);
    },
  );

  it('accepts upstream HealthChecks with repeatAfterSec: 0 and no cron (upstream pauses checks this way)', async () => {
    const object = example('active-monitor/inline-hello.yaml');
    object.metadata.name = 'upstream-paused';
    (object.spec as Record<string, unknown>).repeatAfterSec = 0;
    expect(await refusal(object)).toBeUndefined();
    delete (object.spec as Record<string, unknown>).repeatAfterSec;
    (object.spec as { workflow: { resource: { source: unknown } } }).workflow.resource.source = {};
    expect(await refusal(object)).toBeUndefined();
  });

  it('refuses unknown fields under strict validation (which is why the talk fields are declared)', async () => {
    const object = example('talk/rollingupgrade-my-rolling-upgrade.yaml');
    (object.spec as Record<string, unknown>).notAField = true;
    expect(await refusal(object)).toMatch(/unknown field "spec.notAField"/);
  });
});

describe('round trip', () => {
  const cases: [string, string][] = [
    ['Addon', 'talk/addon-cluster-autoscaler.yaml'],
    ['InstanceGroup', 'talk/instancegroup-hello-world.yaml'],
    ['RollingUpgrade', 'upgrade-manager/uniform-across-az.yaml'],
    ['HealthCheck', 'active-monitor/inline-hello.yaml'],
    ['PodCheckpoint', 'kube-forensics/podcheckpoint.yaml'],
  ];

  it.each(cases)(
    '%s: spec, legacy fields and a full status read back typed with nothing lost',
    async (kind, file) => {
      const object = example(file);
      object.metadata.name = `roundtrip-${kind.toLowerCase()}`;
      const def = definitionOf(object);
      const created = await create(object);
      const status = fullStatus[kind as keyof typeof fullStatus];
      await custom.replaceNamespacedCustomObjectStatus({
        group: def.group,
        version: def.version,
        plural: def.plural,
        namespace,
        name: object.metadata.name,
        body: { ...created, status },
        fieldValidation: 'Strict',
      });
      const back = await read(def, object.metadata.name);

      // Typed by the controllers' schema, and nothing the server returned falls outside it.
      expect([...Value.Errors(def.schema, back)].map((e) => `${e.path}: ${e.message}`)).toEqual([]);
      expect(Value.Clean(def.schema, structuredClone(back))).toEqual(back);
      expect(back.status).toEqual(status);
      const { metadata: _m, status: _s, ...body } = back;
      const { metadata: _m2, ...sent } = applyDefaults(def.schema, inNamespace(object)) as Manifest;
      expect(body).toEqual(sent);
      expect(validateKind(def, back)).toEqual([]);
    },
  );
});

describe('files', () => {
  it('stay small enough for client-side kubectl apply (last-applied annotation limit)', () => {
    for (const def of ALL_KINDS)
      expect(fs.statSync(path.join(repoRoot, crdPath(def))).size).toBeLessThan(200_000);
  });
});
