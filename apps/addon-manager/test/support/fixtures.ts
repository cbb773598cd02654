// Addons and workflows for the plan tests: small builders over plain JSON, as the apiserver returns it.
import type { Addon, AddonStatus } from '@keiko/api';
import type { ObservedWorkflow } from '../../src/addon/workflow';

/** An Argo Workflow template as an Addon carries it (YAML text); `extra` goes under spec. */
export function workflowTemplate(entry = 'entry', extra = ''): string {
  return [
    'apiVersion: argoproj.io/v1alpha1',
    'kind: Workflow',
    'spec:',
    `  entrypoint: ${entry}`,
    '  templates:',
    `    - name: ${entry}`,
    '      resource:',
    '        action: apply',
    '        manifest: |',
    '          apiVersion: v1',
    '          kind: ConfigMap',
    '          metadata:',
    '            name: settings',
    '            namespace: "{{workflow.parameters.namespace}}"',
    ...(extra ? [extra] : []),
    '',
  ].join('\n');
}

export interface AddonOptions {
  namespace?: string;
  pkgName?: string;
  pkgVersion?: string;
  deps?: Record<string, string>;
  steps?: ('prereqs' | 'install' | 'validate' | 'delete')[];
  status?: AddonStatus;
  finalizers?: string[];
  deleting?: boolean;
  uid?: string;
  installTimeout?: string;
  secrets?: string[];
  data?: Record<string, string | number>;
}

export function addon(name: string, o: AddonOptions = {}): Addon {
  const steps = o.steps ?? ['prereqs', 'install', 'validate', 'delete'];
  const a: Addon = {
    apiVersion: 'addonmgr.keikoproj.io/v1alpha1',
    kind: 'Addon',
    metadata: {
      name,
      namespace: o.namespace ?? 'addons',
      uid: o.uid ?? `uid-${name}`,
      generation: 1,
      resourceVersion: '1',
      ...(o.finalizers ? { finalizers: o.finalizers } : {}),
      ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: {
      pkgName: o.pkgName ?? `${name}-pkg`,
      pkgVersion: o.pkgVersion ?? 'v1',
      pkgType: 'composite',
      pkgDescription: name,
      ...(o.deps ? { pkgDeps: o.deps } : {}),
      ...(o.installTimeout ? { installTimeout: o.installTimeout } : {}),
      ...(o.secrets ? { secrets: o.secrets.map((s) => ({ name: s })) } : {}),
      params: {
        namespace: `${name}-ns`,
        context: { clusterName: 'c1', clusterRegion: 'us-west-2' },
        ...(o.data ? { data: o.data } : {}),
      },
      lifecycle: Object.fromEntries(steps.map((s) => [s, { template: workflowTemplate(s) }])),
    },
    ...(o.status ? { status: o.status } : {}),
  };
  return a;
}

export function workflow(
  name: string,
  step: ObservedWorkflow['step'],
  checksum: string,
  phase: string,
  extra: Partial<ObservedWorkflow> = {},
): ObservedWorkflow {
  const folded =
    phase === 'Succeeded' ? 'Succeeded' : phase === 'Failed' || phase === 'Error' ? 'Failed' : 'Running';
  return {
    name,
    step,
    checksum,
    addonUid: undefined,
    phase: folded,
    argoPhase: phase,
    deleting: false,
    startedAt: '2026-01-01T00:00:00Z',
    ...(folded !== 'Running' ? { finishedAt: '2026-01-01T00:00:30Z' } : {}),
    ...extra,
  };
}
