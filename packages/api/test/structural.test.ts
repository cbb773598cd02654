import { describe, expect, it } from '@jest/globals';
import { Type } from '@sinclair/typebox';
import { buildCrd } from '../src/crd';
import { ALL_KINDS } from '../src/kinds';
import { celRule, IntOrString, StringEnum, StringEnumIgnoreCase } from '../src/schema';
import { StructuralSchemaError, toStructuralSchema } from '../src/structural';
import type { JSONSchemaProps } from '../src/structural';

describe('toStructuralSchema', () => {
  it('turns an integer|string union into x-kubernetes-int-or-string', () => {
    expect(toStructuralSchema(IntOrString({ default: 1, description: 'n' }))).toEqual({
      description: 'n',
      default: 1,
      'x-kubernetes-int-or-string': true,
    });
  });

  it('turns a union of string literals into an enum', () => {
    expect(toStructuralSchema(StringEnum(['a', 'b'] as const, { default: 'a' }))).toEqual({
      type: 'string',
      enum: ['a', 'b'],
      default: 'a',
    });
  });

  it('turns a record into additionalProperties and keeps required, sorted', () => {
    const schema = Type.Object({
      z: Type.String(),
      a: Type.Optional(Type.Record(Type.String(), Type.Integer())),
      m: Type.Boolean(),
    });
    expect(toStructuralSchema(schema)).toEqual({
      type: 'object',
      properties: {
        a: { type: 'object', additionalProperties: { type: 'integer' } },
        m: { type: 'boolean' },
        z: { type: 'string' },
      },
      required: ['m', 'z'],
    });
  });

  it('maps numeric exclusive bounds to OpenAPI v3.0 booleans', () => {
    expect(toStructuralSchema(Type.Integer({ exclusiveMinimum: 0 }))).toEqual({
      type: 'integer',
      minimum: 0,
      exclusiveMinimum: true,
    });
  });

  it('copies CEL rules without their TypeScript twin', () => {
    const rule = celRule<number>({ rule: 'self > 1', message: 'too small' }, (n) => n > 1);
    const out = toStructuralSchema(Type.Integer({ 'x-kubernetes-validations': [rule] }));
    expect(out['x-kubernetes-validations']).toEqual([{ rule: 'self > 1', message: 'too small' }]);
    expect(Object.getOwnPropertySymbols(out['x-kubernetes-validations']?.[0] ?? {})).toHaveLength(0);
  });

  it('expresses a case-insensitive enum as a CEL rule, not an enum', () => {
    const out = toStructuralSchema(StringEnumIgnoreCase(['rollingUpdate', 'crd'] as const));
    expect(out.enum).toBeUndefined();
    expect(out['x-kubernetes-validations']?.[0]?.rule).toBe("self.lowerAscii() in ['rollingupdate', 'crd']");
  });

  it('drops TypeBox bookkeeping and documentation-only keywords', () => {
    const out = toStructuralSchema(Type.String({ $id: 'X', title: 't', 'x-keiko-legacy': 'spec.x' }));
    expect(out).toEqual({ type: 'string' });
  });

  it('refuses what the apiserver would refuse', () => {
    expect(() => toStructuralSchema(Type.Union([Type.String(), Type.Boolean()]))).toThrow(
      StructuralSchemaError,
    );
    expect(() => toStructuralSchema(Type.Unknown())).toThrow(/x-kubernetes-preserve-unknown-fields/);
    expect(() =>
      toStructuralSchema(Type.Object({ a: Type.String() }, { additionalProperties: Type.String() })),
    ).toThrow(/mutually exclusive/);
    expect(() => toStructuralSchema(Type.String({ contentEncoding: 'base64' }))).toThrow(
      /unsupported keyword "contentEncoding"/,
    );
    expect(() => toStructuralSchema(Type.Object({ a: Type.Union([Type.Integer(), Type.Null()]) }))).toThrow(
      /^a: /,
    );
  });

  it('keeps free-form content only where it is marked', () => {
    expect(toStructuralSchema(Type.Unknown({ 'x-kubernetes-preserve-unknown-fields': true }))).toEqual({
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });
});

/** The apiserver's structural rules, checked locally so a bad schema fails before any cluster is involved. */
function structuralProblems(schema: JSONSchemaProps, path = ''): string[] {
  const problems: string[] = [];
  const untypedOk =
    schema['x-kubernetes-int-or-string'] === true || schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (!schema.type && !untypedOk) problems.push(`${path}: no type`);
  if (schema.properties && schema.additionalProperties)
    problems.push(`${path}: properties and additionalProperties`);
  for (const [name, child] of Object.entries(schema.properties ?? {}))
    problems.push(...structuralProblems(child, `${path}.${name}`));
  if (schema.items) problems.push(...structuralProblems(schema.items, `${path}[]`));
  if (schema.additionalProperties)
    problems.push(...structuralProblems(schema.additionalProperties, `${path}{}`));
  for (const key of Object.keys(schema))
    if (['anyOf', 'oneOf', 'allOf', 'not', '$ref'].includes(key)) problems.push(`${path}: ${key}`);
  for (const name of schema.required ?? [])
    if (!schema.properties?.[name]) problems.push(`${path}: required ${name} is not a property`);
  return problems;
}

describe.each(ALL_KINDS.map((d) => [d.kind, d] as const))('%s CRD', (_kind, def) => {
  const crd = buildCrd(def);
  const version = crd.spec.versions[0];

  it('is a structural v1 CRD with the status subresource, the keiko category and short names', () => {
    expect(crd.metadata.name).toBe(`${def.plural}.${def.group}`);
    expect(version?.subresources).toEqual({ status: {} });
    expect(crd.spec.names.categories).toEqual(['keiko']);
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    expect(structuralProblems(version?.schema.openAPIV3Schema ?? {})).toEqual([]);
  });

  it('keeps metadata free of a schema of its own and requires spec', () => {
    const root = version?.schema.openAPIV3Schema;
    expect(root?.properties?.metadata).toEqual({ type: 'object' });
    expect(root?.required).toEqual(['spec']);
  });

  it('prints columns that point at fields of the schema', () => {
    const root = version?.schema.openAPIV3Schema;
    for (const column of version?.additionalPrinterColumns ?? []) {
      const parts = column.jsonPath
        .replace(/\[\?.*?\]/g, '')
        .split('.')
        .filter(Boolean);
      if (parts[0] === 'metadata') continue;
      let node: JSONSchemaProps | undefined = root;
      for (const part of parts) node = node?.properties?.[part] ?? node?.items?.properties?.[part];
      expect([column.jsonPath, node !== undefined]).toEqual([column.jsonPath, true]);
    }
  });
});
