// From a kind's TypeBox schema to its CustomResourceDefinition (apiextensions.k8s.io/v1).
import { Type } from '@sinclair/typebox';
import type { TObject, TProperties } from '@sinclair/typebox';
import { toStructuralSchema } from './structural';
import type { JSONSchemaProps } from './structural';

/** Every Keiko kind is in this category: `kubectl get keiko` lists them all. */
export const KEIKO_CATEGORY = 'keiko';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  /** 0 shows in the default view; higher only with `-o wide`. */
  priority?: number;
}

/** Where a kind lives in the API: what informers, clients and RBAC rules need to address it. */
export interface KindInfo {
  group: string;
  version: string;
  /** `${group}/${version}` */
  apiVersion: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
}

export interface KindDefinitionInput<S extends TObject> extends Omit<KindInfo, 'apiVersion' | 'listKind'> {
  /** The Helm chart whose crds/ directory receives the generated CRD. */
  chart: string;
  description: string;
  /** The whole object: apiVersion, kind, metadata, spec, status and any legacy top-level fields. */
  schema: S;
  printerColumns: PrinterColumn[];
}

export interface KindDefinition<S extends TObject = TObject> extends KindInfo {
  chart: string;
  description: string;
  schema: S;
  printerColumns: PrinterColumn[];
}

export function defineKind<S extends TObject>(input: KindDefinitionInput<S>): KindDefinition<S> {
  const apiVersion = `${input.group}/${input.version}`;
  const props = input.schema.properties as TProperties;
  // The TypeScript type narrows apiVersion and kind to literals; they must agree with the registration.
  if (props.apiVersion?.const !== apiVersion)
    throw new Error(`${input.kind}: schema apiVersion must be the literal ${apiVersion}`);
  if (props.kind?.const !== input.kind)
    throw new Error(`${input.kind}: schema kind must be the literal ${input.kind}`);
  if (!props.metadata || !props.spec) throw new Error(`${input.kind}: schema needs metadata and spec`);
  return { ...input, apiVersion, listKind: `${input.kind}List` };
}

export function kindInfo(def: KindDefinition): KindInfo {
  const { group, version, apiVersion, kind, listKind, plural, singular, shortNames, namespaced } = def;
  return {
    group,
    version,
    apiVersion,
    kind,
    listKind,
    plural,
    singular,
    shortNames: [...shortNames],
    namespaced,
  };
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced' | 'Cluster';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

export function crdName(def: KindInfo): string {
  return `${def.plural}.${def.group}`;
}

/** The file name controller-gen would use, so the charts look like the original ones. */
export function crdFileName(def: KindInfo): string {
  return `${def.group}_${def.plural}.yaml`;
}

const API_VERSION_DESCRIPTION =
  'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.';
const KIND_DESCRIPTION =
  'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.';

/** The openAPIV3Schema of a kind: its TypeBox schema with the standard fields in their CRD form. */
export function openApiSchema(def: KindDefinition): JSONSchemaProps {
  const props = def.schema.properties as TProperties;
  const root = Type.Object(
    {
      ...props,
      // Literal apiVersion/kind help TypeScript; the apiserver wants plain strings here, and
      // metadata is validated by the apiserver itself, so its schema must stay `type: object`.
      apiVersion: Type.Optional(Type.String({ description: API_VERSION_DESCRIPTION })),
      kind: Type.Optional(Type.String({ description: KIND_DESCRIPTION })),
      metadata: Type.Optional(Type.Object({})),
    },
    { description: def.description },
  );
  // spec is the only required top-level field; TypeBox's own required list also names the three above.
  const schema = toStructuralSchema(root);
  const required = (def.schema.required ?? []).filter(
    (name) => !['apiVersion', 'kind', 'metadata'].includes(name),
  );
  if (required.length > 0) schema.required = required.sort();
  else delete schema.required;
  return schema;
}

export function buildCrd(def: KindDefinition): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(def),
      labels: { 'app.kubernetes.io/part-of': 'keiko', 'app.kubernetes.io/component': def.chart },
    },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: def.listKind,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [KEIKO_CATEGORY],
      },
      scope: def.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApiSchema(def) },
        },
      ],
    },
  };
}
