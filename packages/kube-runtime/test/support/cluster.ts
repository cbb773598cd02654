// Helpers for tests against the real test cluster (started by packages/testenv's jest global setup).
import type * as k8s from '@kubernetes/client-node';
import { applyManifests, kubeConfigFromEnv } from '@keiko/testenv';
import { KubeClient, type ResourceType } from '../../src/client';

export const kc = kubeConfigFromEnv();
export const client = new KubeClient(kc);

// Throwaway namespaces and the one wait, from packages/testenv.
export { createNamespace, deleteNamespace, eventually } from '@keiko/testenv';

/** A test-only custom resource with a spec, a status subresource and a generation. */
export const Widget: ResourceType = {
  group: 'test.keiko.io',
  version: 'v1',
  plural: 'widgets',
  kind: 'Widget',
  namespaced: true,
};

export interface WidgetObject extends k8s.KubernetesObject {
  spec: { size: number; color?: string };
  status?: { observedSize?: number; phase?: string; conditions?: unknown[] };
}

export async function installWidgetCrd(): Promise<void> {
  await applyManifests(kc, [
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.test.keiko.io' },
      spec: {
        group: 'test.keiko.io',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    required: ['size'],
                    properties: { size: { type: 'integer', minimum: 0 }, color: { type: 'string' } },
                  },
                  status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
            },
          },
        ],
      },
    } as k8s.KubernetesObject,
  ]);
}

export function widget(namespace: string, name: string, size: number): WidgetObject {
  return { apiVersion: 'test.keiko.io/v1', kind: 'Widget', metadata: { name, namespace }, spec: { size } };
}
