// Addon (addonmgr.keikoproj.io/v1alpha1): a cluster addon installed, validated and deleted through
// Argo workflow templates. Field-compatible with keikoproj/addon-manager.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { defineKind, kindInfo } from './crd';
import {
  Conditions,
  GoDuration,
  Int64,
  IntOrString,
  LabelSelectorSchema,
  ObjectMetaSchema,
  StringEnum,
  StringMap,
} from './schema';
import { applyDefaults, validateKind } from './validate';
import type { FieldProblem } from './validate';

export const PACKAGE_TYPES = ['helm', 'ship', 'kustomize', 'cnab', 'composite'] as const;
export type PackageType = (typeof PACKAGE_TYPES)[number];

/** Phases of status.lifecycle.prereqs/installed, spelled as the original controller wrote them. */
export const AddonPhases = [
  'Pending',
  'Running',
  'Succeeded',
  'Failed',
  'DepPending',
  'Validation Failed',
  'Deleting',
  'Delete Failed',
  'error',
] as const;
export type AddonPhase = (typeof AddonPhases)[number];

export const LIFECYCLE_STEPS = ['prereqs', 'install', 'delete', 'validate'] as const;
export type LifecycleStep = (typeof LIFECYCLE_STEPS)[number];

export const AddonConditionTypes = {
  Installed: 'Installed',
  SpecValid: 'SpecValid',
  DependenciesReady: 'DependenciesReady',
} as const;

export const DEFAULT_INSTALL_TIMEOUT = '1h';

/**
 * FlexString: the original Go type reads a string, an integer or a boolean as a string
 * (`replicas: 2`). A structural schema cannot type "string, integer or boolean", and CEL cannot check
 * an untyped node, so the CRD accepts integers and strings (int-or-string) and booleans must be
 * quoted. That is still wider than the original v1 CRD, which typed these values as plain strings.
 */
export const FlexStringSchema = IntOrString({
  description: 'A string; integers are accepted and read as their decimal form.',
});
export type FlexString = Static<typeof FlexStringSchema>;

const FlexStringMap = (description: string) => Type.Record(Type.String(), FlexStringSchema, { description });

export const AddonParamsSchema = Type.Object(
  {
    namespace: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Namespace the addon is installed into; passed to workflows as namespace.',
      }),
    ),
    context: Type.Optional(
      Type.Object(
        {
          clusterName: Type.Optional(
            Type.String({ description: 'Name of the cluster; passed to workflows as clusterName.' }),
          ),
          clusterRegion: Type.Optional(
            Type.String({ description: 'Region of the cluster; passed to workflows as clusterRegion.' }),
          ),
          additionalConfigs: Type.Optional(
            FlexStringMap('More context values passed to workflows under their own names.'),
          ),
        },
        { description: 'ClusterContext: a minimal description of the cluster given to the addon.' },
      ),
    ),
    data: Type.Optional(FlexStringMap('Values injected into workflows as parameters.')),
  },
  { description: 'AddonParams: the parameters available to the workflow templates.' },
);

export const WorkflowTypeSchema = Type.Object(
  {
    namePrefix: Type.Optional(Type.String({ maxLength: 10, description: 'Prefix of the workflow name.' })),
    role: Type.Optional(
      Type.String({ description: 'IAM role annotation for resources the workflow deploys.' }),
    ),
    workflowRole: Type.Optional(Type.String({ description: 'IAM role annotation for the workflow itself.' })),
    template: Type.String({ minLength: 1, description: 'The Argo Workflow, as a YAML document.' }),
  },
  { description: 'WorkflowType: one lifecycle workflow.' },
);

export const LifecycleWorkflowSpecSchema = Type.Object(
  {
    prereqs: Type.Optional({
      ...WorkflowTypeSchema,
      description: 'Creates what the addon needs first: namespaces, RBAC, cloud resources.',
    }),
    install: Type.Optional({ ...WorkflowTypeSchema, description: 'Installs or updates the addon.' }),
    delete: Type.Optional({ ...WorkflowTypeSchema, description: 'Deletes the addon and its prerequisites.' }),
    validate: Type.Optional({ ...WorkflowTypeSchema, description: 'Checks the addon components.' }),
  },
  { description: 'LifecycleWorkflowSpec: the workflow for each lifecycle step.' },
);

export const AddonSpecSchema = Type.Object(
  {
    pkgChannel: Type.Optional(Type.String({ description: 'Channel the package comes from.' })),
    pkgName: Type.String({ minLength: 1, description: 'Name of the package.' }),
    pkgVersion: Type.String({ minLength: 1, description: 'Version of the package.' }),
    pkgType: StringEnum(PACKAGE_TYPES, {
      description: 'Deployer package type: helm, ship, kustomize, cnab or composite (plain YAML).',
    }),
    pkgDescription: Type.String({ description: 'What the package is.' }),
    pkgDeps: Type.Optional(
      StringMap({ description: 'Addons this one depends on: package name to version.' }),
    ),
    params: Type.Optional(AddonParamsSchema),
    selector: Type.Optional({
      ...LabelSelectorSchema,
      description: 'Selects the resources that make up the addon, for status.resources.',
    }),
    overrides: Type.Optional(
      Type.Object(
        {
          kustomize: Type.Optional(
            Type.Object({
              labels: Type.Optional(StringMap({ description: 'Common labels.' })),
              annotations: Type.Optional(StringMap({ description: 'Common annotations.' })),
              resources: Type.Optional(Type.Array(Type.String(), { description: 'Resource kinds.' })),
              overlay: Type.Optional(
                Type.Object({
                  template: Type.Optional(StringMap({ description: 'Kustomize patch documents by name.' })),
                }),
              ),
            }),
          ),
          template: Type.Optional(StringMap({ description: 'Resource templates by name.' })),
        },
        { description: 'AddonOverridesSpec: templates deployed or patched alongside the main deployment.' },
      ),
    ),
    secrets: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({ minLength: 1, description: 'Name of the secret.' }),
          cmd: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1, description: 'Generator: 0 cert, 1 random.' }),
          ),
          args: Type.Optional(Type.Array(Type.String(), { description: 'Arguments of the generator.' })),
        }),
        { description: 'Secrets expected in the addon namespace.' },
      ),
    ),
    lifecycle: Type.Optional(LifecycleWorkflowSpecSchema),
    installTimeout: Type.Optional(
      GoDuration({
        default: DEFAULT_INSTALL_TIMEOUT,
        description:
          'How long an install may run before the addon is marked Failed, as a Go duration (1h, 30m, 90s).',
      }),
    ),
  },
  { description: 'AddonSpec defines the desired state of Addon.' },
);

export const AddonStatusSchema = Type.Object(
  {
    checksum: Type.Optional(
      Type.String({ description: 'Checksum of the spec the status was computed for.' }),
    ),
    lifecycle: Type.Optional(
      Type.Object({
        prereqs: Type.Optional(StringEnum(AddonPhases, { description: 'Phase of the prereqs workflow.' })),
        installed: Type.Optional(StringEnum(AddonPhases, { description: 'Phase of the install.' })),
      }),
    ),
    resources: Type.Optional(
      Type.Array(
        Type.Object({
          link: Type.Optional(Type.String({ description: 'Link to the object.' })),
          name: Type.Optional(Type.String({ description: 'Name of the object.' })),
          kind: Type.Optional(Type.String({ description: 'Kind of the object.' })),
          group: Type.Optional(Type.String({ description: 'API group of the object.' })),
          status: Type.Optional(Type.String({ description: 'InProgress, Ready or Unknown.' })),
        }),
        { description: 'Objects deployed by the addon and their readiness.' },
      ),
    ),
    reason: Type.Optional(Type.String({ description: 'Why the addon is in its phase.' })),
    starttime: Type.Optional(
      Int64({ description: 'When the current install started, in Unix milliseconds.' }),
    ),
    conditions: Type.Optional(Conditions()),
  },
  { description: 'AddonStatus defines the observed state of Addon.' },
);

const legacy = (where: string) =>
  `Accepted at the top level, as in the Keiko talk's example, so such manifests apply unchanged; read as ${where} when that is not set.`;

export const AddonSchema = Type.Object(
  {
    apiVersion: Type.Literal('addonmgr.keikoproj.io/v1alpha1'),
    kind: Type.Literal('Addon'),
    metadata: ObjectMetaSchema,
    spec: AddonSpecSchema,
    status: Type.Optional(AddonStatusSchema),
    params: Type.Optional({
      ...AddonParamsSchema,
      description: legacy('spec.params'),
      'x-keiko-legacy': 'spec.params',
    }),
    lifecycle: Type.Optional({
      ...LifecycleWorkflowSpecSchema,
      description: legacy('spec.lifecycle'),
      'x-keiko-legacy': 'spec.lifecycle',
    }),
    install: Type.Optional({
      ...WorkflowTypeSchema,
      description: legacy('spec.lifecycle.install'),
      'x-keiko-legacy': 'spec.lifecycle.install',
    }),
    delete: Type.Optional({
      ...WorkflowTypeSchema,
      description: legacy('spec.lifecycle.delete'),
      'x-keiko-legacy': 'spec.lifecycle.delete',
    }),
  },
  {
    description:
      'Addon is a cluster addon whose prerequisites, install, validation and deletion run as Argo workflows.',
  },
);

export type Addon = Static<typeof AddonSchema>;
export type AddonSpec = Static<typeof AddonSpecSchema>;
export type AddonStatus = Static<typeof AddonStatusSchema>;
export type AddonParams = Static<typeof AddonParamsSchema>;
export type WorkflowType = Static<typeof WorkflowTypeSchema>;
export type LifecycleWorkflowSpec = Static<typeof LifecycleWorkflowSpecSchema>;

export const AddonDefinition = defineKind({
  group: 'addonmgr.keikoproj.io',
  version: 'v1alpha1',
  kind: 'Addon',
  plural: 'addons',
  singular: 'addon',
  shortNames: ['ad'],
  namespaced: true,
  chart: 'addon-manager',
  description: AddonSchema.description ?? '',
  schema: AddonSchema,
  printerColumns: [
    { name: 'PACKAGE', type: 'string', jsonPath: '.spec.pkgName' },
    { name: 'VERSION', type: 'string', jsonPath: '.spec.pkgVersion' },
    { name: 'STATUS', type: 'string', jsonPath: '.status.lifecycle.installed' },
    { name: 'REASON', type: 'string', jsonPath: '.status.reason' },
    { name: 'AGE', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
});
export const AddonKind = kindInfo(AddonDefinition);

/** The Addon with every schema default applied (installTimeout 1h). */
export function withAddonDefaults(addon: unknown): Addon {
  return applyDefaults(AddonSchema, addon);
}

export function validateAddon(addon: unknown): FieldProblem[] {
  return validateKind(AddonDefinition, addon);
}

/**
 * The Addon as controllers should read it: defaults applied and the talk's top-level params,
 * lifecycle, install and delete folded into spec. What is in spec wins, step by step. The input is
 * not modified.
 */
export function normalizeAddon(addon: Addon): Addon {
  const out = withAddonDefaults(addon);
  const { params, lifecycle, install, delete: del } = out;
  if (params !== undefined && out.spec.params === undefined) out.spec.params = params;
  const merged: LifecycleWorkflowSpec = {
    ...lifecycle,
    ...(install ? { install } : {}),
    ...(del ? { delete: del } : {}),
    ...out.spec.lifecycle,
  };
  if (Object.keys(merged).length > 0) out.spec.lifecycle = merged;
  delete out.params;
  delete out.lifecycle;
  delete out.install;
  delete out.delete;
  return out;
}

/** Every workflow parameter, as the original's GetAllAddonParameters builds them: flex values as strings. */
export function addonParameters(spec: AddonSpec): Record<string, string> {
  const p = spec.params;
  const out: Record<string, string> = {
    namespace: p?.namespace ?? '',
    clusterName: p?.context?.clusterName ?? '',
    clusterRegion: p?.context?.clusterRegion ?? '',
  };
  for (const [k, v] of Object.entries(p?.context?.additionalConfigs ?? {})) out[k] = String(v);
  for (const [k, v] of Object.entries(p?.data ?? {})) out[k] = String(v);
  return out;
}

/** The install timeout in milliseconds. */
export function addonInstallTimeoutMs(spec: AddonSpec): number {
  return parseGoDuration(spec.installTimeout ?? DEFAULT_INSTALL_TIMEOUT);
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration string (1h30m, 90s, 1.5h) into milliseconds. */
export function parseGoDuration(text: string): number {
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    consumed = re.lastIndex;
  }
  if (text.length === 0 || consumed !== text.length || Number.isNaN(total))
    throw new Error(`invalid duration "${text}"`);
  return total;
}
