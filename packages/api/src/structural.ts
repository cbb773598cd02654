// TypeBox schema -> Kubernetes structural schema (apiextensions.k8s.io/v1 JSONSchemaProps).
//
// TypeBox writes JSON Schema draft 2019 with its own idioms (unions as anyOf, records as
// patternProperties, numeric exclusiveMinimum, $id, symbol keys). The apiserver accepts OpenAPI v3.0
// with Kubernetes extensions and insists on a structural schema: every node typed, no anyOf carrying
// types, no additionalProperties beside properties. The converter maps one to the other and refuses
// anything it cannot map, so a schema that would be rejected by the apiserver fails at generation.
import type { TSchema } from '@sinclair/typebox';

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
  optionalOldSelf?: boolean;
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps the generated CRDs use. */
export interface JSONSchemaProps {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  items?: JSONSchemaProps;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps;
  required?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  'x-kubernetes-validations'?: ValidationRule[];
}

/** Keywords copied as they are. */
const PASS_THROUGH = [
  'description',
  'format',
  'minimum',
  'maximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
] as const;

/** Keywords handled by dedicated code below. */
const HANDLED = new Set<string>([
  ...PASS_THROUGH,
  'type',
  'properties',
  'required',
  'items',
  'anyOf',
  'const',
  'enum',
  'default',
  'patternProperties',
  'additionalProperties',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'x-kubernetes-int-or-string',
  'x-kubernetes-validations',
]);

/** Keywords dropped on purpose: TypeBox bookkeeping and Keiko's documentation-only annotations. */
const DROPPED = new Set<string>([
  '$id',
  '$schema',
  'title',
  'examples',
  'x-keiko-enum-ignore-case',
  'x-keiko-legacy',
]);

const CATCH_ALL_KEY = '^(.*)$';

export class StructuralSchemaError extends Error {
  constructor(path: string, problem: string) {
    super(`${path || '<root>'}: ${problem}`);
    this.name = 'StructuralSchemaError';
  }
}

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Converts a TypeBox schema to a structural JSONSchemaProps; throws StructuralSchemaError when it cannot. */
export function toStructuralSchema(schema: TSchema, path = ''): JSONSchemaProps {
  const node = schema as unknown as Node;
  for (const key of Object.keys(node)) {
    if (!HANDLED.has(key) && !DROPPED.has(key))
      throw new StructuralSchemaError(path, `unsupported keyword "${key}"`);
  }
  const out: JSONSchemaProps = {};
  for (const key of PASS_THROUGH) {
    if (node[key] !== undefined) (out as Node)[key] = copyJson(node[key]);
  }
  if (typeof node.exclusiveMinimum === 'number') {
    out.minimum = node.exclusiveMinimum;
    out.exclusiveMinimum = true;
  }
  if (typeof node.exclusiveMaximum === 'number') {
    out.maximum = node.exclusiveMaximum;
    out.exclusiveMaximum = true;
  }
  if (node.default !== undefined) out.default = copyJson(node.default);
  const rules = node['x-kubernetes-validations'];
  if (Array.isArray(rules) && rules.length > 0) {
    // Spreading copies only enumerable string keys: the TypeScript twin of each rule stays behind.
    out['x-kubernetes-validations'] = rules.map((r: ValidationRule) => ({ ...r }));
  }

  if (node['x-kubernetes-int-or-string'] === true) {
    if (!Array.isArray(node.anyOf))
      throw new StructuralSchemaError(path, 'x-kubernetes-int-or-string needs an integer|string union');
    const types = (node.anyOf as Node[]).map((s) => s.type).sort();
    if (types.length !== 2 || types[0] !== 'integer' || types[1] !== 'string') {
      throw new StructuralSchemaError(path, 'x-kubernetes-int-or-string needs exactly integer|string');
    }
    out['x-kubernetes-int-or-string'] = true;
    return order(out);
  }

  if (Array.isArray(node.anyOf)) {
    const members = node.anyOf as Node[];
    if (members.length > 0 && members.every((m) => typeof m.const === 'string')) {
      out.type = 'string';
      out.enum = members.map((m) => m.const);
      return order(out);
    }
    throw new StructuralSchemaError(
      path,
      'unions other than string literals and integer|string are not structural',
    );
  }

  if (node.const !== undefined) {
    out.type = jsonType(node.const, path);
    out.enum = [node.const];
    return order(out);
  }
  if (Array.isArray(node.enum)) out.enum = copyJson(node.enum) as unknown[];

  switch (node.type) {
    case 'object':
      convertObject(node, out, path);
      break;
    case 'array':
      out.type = 'array';
      if (!isNode(node.items)) throw new StructuralSchemaError(path, 'arrays need a single items schema');
      out.items = toStructuralSchema(node.items as unknown as TSchema, `${path}[]`);
      break;
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      out.type = node.type;
      break;
    case undefined:
      if (out['x-kubernetes-preserve-unknown-fields'] !== true) {
        throw new StructuralSchemaError(
          path,
          'untyped schema; free-form content needs x-kubernetes-preserve-unknown-fields',
        );
      }
      break;
    default:
      throw new StructuralSchemaError(path, `unsupported type "${String(node.type)}"`);
  }
  return order(out);
}

function convertObject(node: Node, out: JSONSchemaProps, path: string): void {
  out.type = 'object';
  const properties = node.properties;
  const patternProperties = node.patternProperties;
  const additional = node.additionalProperties;
  if (isNode(properties) && Object.keys(properties).length > 0) {
    // Alphabetical, like controller-gen, so a generated CRD diffs cleanly against the original one.
    const names = Object.keys(properties).sort();
    out.properties = Object.fromEntries(
      names.map((name) => [
        name,
        toStructuralSchema(properties[name] as TSchema, path ? `${path}.${name}` : name),
      ]),
    );
    if (Array.isArray(node.required) && node.required.length > 0)
      out.required = [...(node.required as string[])].sort();
    if (isNode(additional))
      throw new StructuralSchemaError(path, 'properties and additionalProperties are mutually exclusive');
    if (additional === true) out['x-kubernetes-preserve-unknown-fields'] = true;
    return;
  }
  if (isNode(patternProperties)) {
    const keys = Object.keys(patternProperties);
    if (keys.length !== 1 || keys[0] !== CATCH_ALL_KEY) {
      throw new StructuralSchemaError(path, 'only Type.Record(Type.String(), ...) maps are supported');
    }
    out.additionalProperties = toStructuralSchema(patternProperties[CATCH_ALL_KEY] as TSchema, `${path}[*]`);
    return;
  }
  if (isNode(additional)) {
    out.additionalProperties = toStructuralSchema(additional as unknown as TSchema, `${path}[*]`);
    return;
  }
  if (additional === true) out['x-kubernetes-preserve-unknown-fields'] = true;
}

/**
 * A deep copy built from plain literals of this realm. structuredClone would do, except that under
 * jest's VM modules it returns objects whose prototype js-yaml does not accept as plain objects.
 */
function copyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyJson);
  if (isNode(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copyJson(v)]));
  return value;
}

function jsonType(value: unknown, path: string): JSONSchemaProps['type'] {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  throw new StructuralSchemaError(path, `unsupported const ${JSON.stringify(value)}`);
}

const KEY_ORDER: (keyof JSONSchemaProps)[] = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'nullable',
  'items',
  'properties',
  'additionalProperties',
  'required',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
];

/** Fixed key order: the generated YAML must be byte-for-byte reproducible. */
function order(schema: JSONSchemaProps): JSONSchemaProps {
  const out: Node = {};
  for (const key of KEY_ORDER) if (schema[key] !== undefined) out[key] = schema[key];
  return out as JSONSchemaProps;
}
