// Building blocks shared by every kind. Each helper yields a TypeBox schema that is at the same time
// a runtime validator (Value.Check), a TypeScript type (Static<>) and, through toStructuralSchema,
// a piece of a Kubernetes structural schema.
import { FormatRegistry, Type } from '@sinclair/typebox';
import type { SchemaOptions, Static, TLiteral, TString, TUnion } from '@sinclair/typebox';

// TypeBox refuses strings with a format it does not know; the apiserver knows these two.
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (value) => RFC3339.test(value) && !Number.isNaN(Date.parse(value)));
}
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A CEL rule as the apiserver wants it in x-kubernetes-validations. */
export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath-like path, relative to the node carrying the rule, of the field the error names. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/**
 * The same rule for code that has no CEL interpreter: controllers and unit tests run `check` on the
 * node the rule is attached to. Kept on a symbol so it never reaches the generated YAML.
 */
export const CelCheck: unique symbol = Symbol.for('keiko.api.celCheck');

export interface CheckedCelRule extends CelRule {
  [CelCheck]: (self: never) => boolean;
}

/**
 * A validation rule written twice on purpose, side by side: once in CEL for the apiserver (refused at
 * apply time) and once in TypeScript for the controllers (reported as a condition on objects that
 * predate the rule, or when the cluster runs without CEL). Keeping both in one declaration is what
 * stops them drifting; test/rules.test.ts applies the same manifests to both.
 */
export function celRule<T>(rule: CelRule, check: (self: T) => boolean): CheckedCelRule {
  const out = { ...rule } as CheckedCelRule;
  Object.defineProperty(out, CelCheck, { value: check, enumerable: false });
  return out;
}

/** Options that become Kubernetes schema extensions; TypeBox passes unknown keys through unchanged. */
export interface KubeSchemaOptions extends SchemaOptions {
  'x-kubernetes-validations'?: CheckedCelRule[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  /** Documentation only: the values a case-insensitive string accepts, shown in docs/crds. */
  'x-keiko-enum-ignore-case'?: string[];
  /** Documentation only: a field kept so old manifests apply, and where its value is read from now. */
  'x-keiko-legacy'?: string;
}

/** A string restricted to `values`; becomes `enum` in the CRD and a literal union in TypeScript. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: KubeSchemaOptions = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as TUnion<TLiteral<T[number]>[]>;
}

/**
 * A string matched against `values` without regard to case, because the original Go controllers
 * compare with strings.EqualFold / ToLower and manifests in the wild use both spellings
 * (`rollingUpdate`, `rollingupdate`). The CRD carries a CEL rule instead of `enum`.
 */
export function StringEnumIgnoreCase<const T extends readonly string[]>(
  values: T,
  options: KubeSchemaOptions = {},
): TString {
  const lower = values.map((v) => v.toLowerCase());
  const rule = celRule<string>(
    {
      rule: `self.lowerAscii() in [${lower.map((v) => `'${v}'`).join(', ')}]`,
      message: `must be one of ${values.join(', ')} (case-insensitive)`,
    },
    (self) => lower.includes(self.toLowerCase()),
  );
  return Type.String({
    // Bounded so the CEL cost estimate stays small even inside unbounded lists.
    maxLength: 64,
    ...options,
    'x-keiko-enum-ignore-case': [...values],
    'x-kubernetes-validations': [rule, ...(options['x-kubernetes-validations'] ?? [])],
  });
}

/** Canonical spelling of a case-insensitive enum value, or undefined when it is not one of `values`. */
export function canonicalEnumValue<const T extends readonly string[]>(
  values: T,
  value: string | undefined,
): T[number] | undefined {
  if (value === undefined) return undefined;
  return values.find((v) => v.toLowerCase() === value.toLowerCase());
}

/**
 * intstr.IntOrString: the original Go types use it for maxUnavailable-like fields. Becomes
 * `x-kubernetes-int-or-string: true` in the CRD.
 */
export function IntOrString(options: KubeSchemaOptions = {}) {
  return Type.Union([Type.Integer(), Type.String()], { ...options, 'x-kubernetes-int-or-string': true });
}
export type IntOrStringValue = number | string;

/** metav1.Time: RFC 3339 in UTC. */
export function DateTime(options: KubeSchemaOptions = {}) {
  return Type.String({ ...options, format: 'date-time' });
}

/** A Go time.Duration string such as `1h`, `90s` or `1h30m`. */
export const GO_DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';
export function GoDuration(options: KubeSchemaOptions = {}) {
  return Type.String({ ...options, pattern: GO_DURATION_PATTERN });
}

/** map[string]string */
export function StringMap(options: KubeSchemaOptions = {}) {
  return Type.Record(Type.String(), Type.String(), options);
}

/** int32/int64 with the format the original CRDs carried. */
export function Int64(options: KubeSchemaOptions = {}) {
  return Type.Integer({ format: 'int64', ...options });
}
export function Int32(options: KubeSchemaOptions = {}) {
  return Type.Integer({ format: 'int32', ...options });
}

// ---------------------------------------------------------------------------------------------------
// metav1.Condition
// ---------------------------------------------------------------------------------------------------

export const ConditionStatusValues = ['True', 'False', 'Unknown'] as const;

/**
 * metav1.Condition. Only type and status are required: objects written by the original controllers
 * carry conditions with just those two fields, and they must stay readable and writable.
 */
export const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description: 'Type of condition in CamelCase, e.g. Ready or Complete.',
      minLength: 1,
      maxLength: 316,
    }),
    status: StringEnum(ConditionStatusValues, {
      description: 'Status of the condition: True, False or Unknown.',
    }),
    observedGeneration: Type.Optional(
      Int64({
        minimum: 0,
        description:
          'The .metadata.generation the condition was set for; older means the condition is stale.',
      }),
    ),
    lastTransitionTime: Type.Optional(
      DateTime({ description: 'When the condition last changed from one status to another.' }),
    ),
    reason: Type.Optional(
      Type.String({
        maxLength: 1024,
        description: 'Programmatic identifier, in CamelCase, of the reason for the last transition.',
      }),
    ),
    message: Type.Optional(
      Type.String({ maxLength: 32768, description: 'Human-readable details about the last transition.' }),
    ),
  },
  { description: 'A metav1.Condition-shaped observation of one aspect of the resource.' },
);
export type Condition = Static<typeof ConditionSchema>;

export function Conditions(description = 'Current state of the resource as conditions, one per type.') {
  return Type.Array(ConditionSchema, {
    description,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  } satisfies KubeSchemaOptions);
}

// ---------------------------------------------------------------------------------------------------
// metav1.ObjectMeta, for the TypeScript types only: the CRD schema of metadata is always `type: object`
// ---------------------------------------------------------------------------------------------------

export const OwnerReferenceSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  uid: Type.String(),
  controller: Type.Optional(Type.Boolean()),
  blockOwnerDeletion: Type.Optional(Type.Boolean()),
});

/**
 * The metadata fields controllers read, typed. creationTimestamp, deletionTimestamp and managedFields
 * arrive too (additionalProperties keeps them through Value.Check and Value.Clean) but are left out of
 * the static type: @kubernetes/client-node types them as Date, while the JSON holds strings, and
 * leaving them out keeps every Keiko object assignable to client-node's KubernetesObject. Read them
 * with metadataTimestamp().
 */
export const ObjectMetaSchema = Type.Object(
  {
    name: Type.Optional(Type.String()),
    generateName: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
    labels: Type.Optional(StringMap()),
    annotations: Type.Optional(StringMap()),
    finalizers: Type.Optional(Type.Array(Type.String())),
    ownerReferences: Type.Optional(Type.Array(OwnerReferenceSchema)),
    selfLink: Type.Optional(Type.String()),
  },
  { description: 'Standard object metadata.', additionalProperties: Type.Unknown() },
);
export type ObjectMeta = Static<typeof ObjectMetaSchema>;

/**
 * metadata.creationTimestamp or metadata.deletionTimestamp as the RFC 3339 string the apiserver sent
 * (a Date when the object went through a client that converts them), or undefined.
 */
export function metadataTimestamp(
  object: { metadata?: object },
  field: 'creationTimestamp' | 'deletionTimestamp',
): string | undefined {
  const value: unknown = (object.metadata as Record<string, unknown> | undefined)?.[field];
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? value : undefined;
}

// ---------------------------------------------------------------------------------------------------
// metav1.LabelSelector
// ---------------------------------------------------------------------------------------------------

export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(StringMap({ description: 'Labels the object must carry, all of them.' })),
    matchExpressions: Type.Optional(
      Type.Array(
        Type.Object({
          key: Type.String({ description: 'The label key the selector applies to.' }),
          operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, {
            description: 'How key relates to values.',
          }),
          values: Type.Optional(
            Type.Array(Type.String(), {
              description: 'Values for In and NotIn; empty for Exists and DoesNotExist.',
            }),
          ),
        }),
        { description: 'Label selector requirements, ANDed.' },
      ),
    ),
  },
  { description: 'A metav1.LabelSelector.', 'x-kubernetes-map-type': 'atomic' } satisfies KubeSchemaOptions,
);
export type LabelSelector = Static<typeof LabelSelectorSchema>;
