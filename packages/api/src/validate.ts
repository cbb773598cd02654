// Runtime defaulting and validation for controllers: the same schema and rules the apiserver applies,
// with problems named by field path the way the apiserver names them (spec.eks.minSize).
import { ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { Static, TSchema } from '@sinclair/typebox';
import type { KindDefinition } from './crd';
import { CelCheck } from './schema';
import type { CheckedCelRule, Condition } from './schema';

/** One thing wrong with an object, named by the field it concerns. */
export interface FieldProblem {
  /** Dotted path as the apiserver prints it: spec.strategy.type, spec.tags[0].key */
  field: string;
  message: string;
}

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The object with every schema default filled in, as the apiserver would store it. The input is not
 * modified. Controllers call this on objects that may predate a default (created before the CRD was
 * upgraded) so they never have to repeat a default in code.
 */
export function applyDefaults<S extends TSchema>(schema: S, value: unknown): Static<S> {
  return Value.Default(schema, structuredClone(value)) as Static<S>;
}

/**
 * Everything the apiserver would refuse in `value` — types, enums, minimums, required fields — plus
 * the cross-field rules the CRD carries as CEL, evaluated by their TypeScript twins. Defaults are
 * applied first, as the apiserver does, so a field with a default is never reported missing.
 */
export function validateAgainst(schema: TSchema, value: unknown): FieldProblem[] {
  const defaulted = applyDefaults(schema, value);
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, defaulted)) {
    const field = pointerToField(error.path);
    if (seen.has(field)) continue; // one message per field, the first is the most specific
    seen.add(field);
    problems.push({ field, message: describeError(error.type, error.schema, error.value) });
  }
  collectRuleProblems(schema, defaulted, '', problems);
  return problems;
}

export function validateKind(def: KindDefinition, value: unknown): FieldProblem[] {
  return validateAgainst(def.schema, value);
}

/** True when `value` is a well-formed object of the kind (after defaults). */
export function isValid(def: KindDefinition, value: unknown): boolean {
  return validateKind(def, value).length === 0;
}

/** One line per problem, apiserver style: `spec.eks.minSize: minSize must be <= maxSize`. */
export function formatProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join('; ');
}

export const SPEC_VALID_CONDITION = 'SpecValid';

/**
 * The condition a controller records after validating a spec: True with reason Valid, or False with
 * reason InvalidSpec and every problem in the message. lastTransitionTime is the caller's to manage
 * (it changes only when status flips).
 */
export function specValidCondition(
  problems: FieldProblem[],
  observedGeneration: number | undefined,
): Condition {
  const condition: Condition =
    problems.length === 0
      ? { type: SPEC_VALID_CONDITION, status: 'True', reason: 'Valid', message: 'spec passed validation' }
      : {
          type: SPEC_VALID_CONDITION,
          status: 'False',
          reason: 'InvalidSpec',
          message: formatProblems(problems),
        };
  if (observedGeneration !== undefined) condition.observedGeneration = observedGeneration;
  return condition;
}

// ---------------------------------------------------------------------------------------------------

function pointerToField(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(segment) ? `[${segment}]` : out === '' ? segment : `.${segment}`;
  }
  return out;
}

function describeError(type: ValueErrorType, schema: TSchema, value: unknown): string {
  const s = schema as unknown as Node;
  switch (type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'Required value';
    case ValueErrorType.Union: {
      const literals = Array.isArray(s.anyOf)
        ? (s.anyOf as Node[]).map((m) => m.const).filter((c) => c !== undefined)
        : [];
      if (literals.length > 0) {
        return `Unsupported value: ${JSON.stringify(value)}: supported values: ${literals.map((l) => JSON.stringify(l)).join(', ')}`;
      }
      if (s['x-kubernetes-int-or-string'] === true) return 'must be an integer or a string';
      return 'does not match any allowed form';
    }
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `Invalid value: ${JSON.stringify(value)}: must be greater than or equal to ${String(s.minimum)}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `Invalid value: ${JSON.stringify(value)}: must be less than or equal to ${String(s.maximum)}`;
    case ValueErrorType.StringMinLength:
      return `Invalid value: ${JSON.stringify(value)}: should be at least ${String(s.minLength)} chars long`;
    case ValueErrorType.StringMaxLength:
      return `Too long: may not be more than ${String(s.maxLength)} characters`;
    case ValueErrorType.StringPattern:
      return `Invalid value: ${JSON.stringify(value)}: should match '${String(s.pattern)}'`;
    case ValueErrorType.StringFormat:
      return `Invalid value: ${JSON.stringify(value)}: must be a ${String(s.format)}`;
    case ValueErrorType.Integer:
      return `Invalid value: ${JSON.stringify(value)}: must be of type integer`;
    case ValueErrorType.Number:
      return `Invalid value: ${JSON.stringify(value)}: must be of type number`;
    case ValueErrorType.String:
      return `Invalid value: ${JSON.stringify(value)}: must be of type string`;
    case ValueErrorType.Boolean:
      return `Invalid value: ${JSON.stringify(value)}: must be of type boolean`;
    case ValueErrorType.Object:
      return 'must be of type object';
    case ValueErrorType.Array:
      return 'must be of type array';
    case ValueErrorType.Literal:
      return `Unsupported value: ${JSON.stringify(value)}: supported values: ${JSON.stringify(s.const)}`;
    default:
      return `Invalid value: ${JSON.stringify(value)}`;
  }
}

/** Walks schema and value together and runs the TypeScript twin of every CEL rule on its node. */
function collectRuleProblems(schema: TSchema, value: unknown, path: string, problems: FieldProblem[]): void {
  if (value === undefined || value === null) return; // CEL rules never run on absent fields
  const s = schema as unknown as Node;
  const rules = s['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const rule of rules as CheckedCelRule[]) {
      const check = rule[CelCheck] as ((self: unknown) => boolean) | undefined;
      if (!check) continue;
      let ok: boolean;
      try {
        ok = check(value);
      } catch {
        continue; // the value is malformed; the schema error for it is already reported
      }
      if (!ok) problems.push({ field: joinFieldPath(path, rule.fieldPath), message: rule.message });
    }
  }
  if (isNode(s.properties) && isNode(value)) {
    for (const [name, child] of Object.entries(s.properties)) {
      collectRuleProblems(child as TSchema, value[name], path ? `${path}.${name}` : name, problems);
    }
  }
  if (isNode(s.patternProperties) && isNode(value)) {
    const child = Object.values(s.patternProperties)[0] as TSchema;
    for (const [key, v] of Object.entries(value)) collectRuleProblems(child, v, `${path}[${key}]`, problems);
  }
  if (isNode(s.items) && Array.isArray(value)) {
    value.forEach((v, i) => collectRuleProblems(s.items as TSchema, v, `${path}[${i}]`, problems));
  }
}

/** A node path joined with a rule's fieldPath, printed the way the apiserver prints it. */
export function joinFieldPath(path: string, fieldPath: string | undefined): string {
  if (!fieldPath) return path;
  // fieldPath is JSONPath-like: .minSize or ['eks-cf']; the apiserver prints both as dotted names.
  const rest = fieldPath.replace(/\['([^']*)'\]/g, '.$1').replace(/^\./, '');
  return path ? `${path}.${rest}` : rest;
}
