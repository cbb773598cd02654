// Argo Workflows as Keiko controllers see it (addon-manager and active-monitor submit Workflows and
// watch them): the resource coordinates and the part of a Workflow they read.
import type * as k8s from '@kubernetes/client-node';
import type { ResourceType } from './client';

/** Argo Workflows' Workflow kind (argoproj.io/v1alpha1). */
export const ArgoWorkflowResource: ResourceType = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'workflows',
  kind: 'Workflow',
  namespaced: true,
};

/** The label Argo's controller selects its workflows by when it runs with an instanceID. */
export const ARGO_INSTANCE_ID_LABEL = 'workflows.argoproj.io/controller-instanceid';

/** An Argo Workflow as a controller writes and reads it; the spec is Argo's, passed through. */
export interface ArgoWorkflow extends k8s.KubernetesObject {
  spec?: Record<string, unknown>;
  status?: {
    phase?: string;
    message?: string;
    startedAt?: string | Date | null;
    finishedAt?: string | Date | null;
    nodes?: Record<string, { outputs?: { parameters?: { name: string; value?: string }[] } }>;
    [key: string]: unknown;
  };
}

/** Argo's phase folded to what a controller waits on: Error counts as Failed, '' and Pending as Running. */
export function argoOutcome(phase: string | undefined): 'Running' | 'Succeeded' | 'Failed' {
  if (phase === 'Succeeded') return 'Succeeded';
  if (phase === 'Failed' || phase === 'Error') return 'Failed';
  return 'Running';
}

/** An Argo timestamp (string or, through some clients, a Date) as ISO text. */
export function argoTime(v: unknown): string | undefined {
  return v instanceof Date ? v.toISOString() : typeof v === 'string' && v ? v : undefined;
}
