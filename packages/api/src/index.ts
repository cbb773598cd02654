// @keiko/api: every Keiko custom resource from one TypeBox schema per kind — the TypeScript types the
// controllers use, the CRDs in charts/*/crds, the reference pages in docs/crds, and the defaulting
// and validation the controllers run.
export * from './addon';
export * from './instancegroup';
export * from './rollingupgrade';
export * from './healthcheck';
export * from './podcheckpoint';

export { ALL_KINDS } from './kinds';
export { buildCrd, crdFileName, crdName, defineKind, KEIKO_CATEGORY, kindInfo, openApiSchema } from './crd';
export type {
  CustomResourceDefinition,
  KindDefinition,
  KindDefinitionInput,
  KindInfo,
  PrinterColumn,
} from './crd';
export {
  applyDefaults,
  formatProblems,
  isValid,
  SPEC_VALID_CONDITION,
  specValidCondition,
  validateAgainst,
  validateKind,
} from './validate';
export type { FieldProblem } from './validate';
export {
  canonicalEnumValue,
  CelCheck,
  celRule,
  ConditionSchema,
  Conditions,
  ConditionStatusValues,
  DateTime,
  GO_DURATION_PATTERN,
  GoDuration,
  Int32,
  Int64,
  IntOrString,
  LabelSelectorSchema,
  metadataTimestamp,
  ObjectMetaSchema,
  OwnerReferenceSchema,
  StringEnum,
  StringEnumIgnoreCase,
  StringMap,
} from './schema';
export type {
  CelRule,
  CheckedCelRule,
  Condition,
  IntOrStringValue,
  KubeSchemaOptions,
  LabelSelector,
  ObjectMeta,
} from './schema';
export { StructuralSchemaError, toStructuralSchema } from './structural';
export type { JSONSchemaProps, ValidationRule } from './structural';
export {
  crdPath,
  docPath,
  generatedDirectories,
  generatedFiles,
  GENERATED_YAML_NOTICE,
  renderCrdYaml,
} from './render';
export type { GeneratedFile } from './render';
export { GENERATED_MARKDOWN_NOTICE, renderKindReference, renderReferenceIndex } from './docs';
export * from './budget';
export * from './tags';
export * from './managed-config';
