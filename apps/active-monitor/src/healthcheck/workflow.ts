// The Workflow a HealthCheck submits for one slot (pure), and what the controller reads back from a
// Workflow. The source document is the user's; the controller adds its name, labels, owner, service
// account, deadline and pod GC.
import { createHash } from 'node:crypto';
import { load } from 'js-yaml';
import type { V1OwnerReference } from '@kubernetes/client-node';
import { HealthCheckKind, type HealthCheck, type HealthCheckWorkflow } from '@keiko/api';
import { ARGO_INSTANCE_ID_LABEL, argoOutcome, argoTime, type ArgoWorkflow } from '@keiko/kube-runtime';
import { SLOT_ANNOTATION, WorkflowLabels, type RunKind } from './constants';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One metric a workflow reports through its `metrics` output parameter (upstream's documented shape). */
export interface CustomMetric {
  name: string;
  value: number;
  help?: string;
  metrictype?: string;
}

/** A Workflow of one HealthCheck as the plan reads it. */
export interface ObservedRun {
  name: string;
  kind: RunKind;
  slot?: string;
  phase: 'Running' | 'Succeeded' | 'Failed';
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  metrics: CustomMetric[];
}

/**
 * The deterministic name of a check's run for one slot: `<generateName><hash>-<slot epoch s>`. The hash of
 * the check's namespace/name keeps two checks with one generateName apart; a restarted controller derives
 * the same name for the same slot, so a second submission is refused by the apiserver (AlreadyExists).
 */
export function runName(
  hc: HealthCheck,
  kind: RunKind,
  wf: HealthCheckWorkflow | undefined,
  slot: Date,
): string {
  const ns = hc.metadata.namespace ?? '';
  const name = hc.metadata.name ?? '';
  const hash = createHash('sha256').update(`${ns}/${name}/${kind}`).digest('hex').slice(0, 6);
  const suffix = `${hash}-${Math.floor(slot.getTime() / 1000)}`;
  const prefix = (wf?.generateName || `${name}-${kind === 'remedy' ? 'remedy-' : ''}`).toLowerCase();
  const room = 63 - suffix.length;
  return `${prefix.slice(0, room).replace(/[^a-z0-9-]/g, '-')}${suffix}`.replace(/^-+/, '');
}

/** Parses a source document: it must be an Argo Workflow. */
export function parseWorkflowDocument(text: string, field: string): { doc?: Obj; problem?: string } {
  let doc: unknown;
  try {
    doc = load(text);
  } catch (err) {
    return {
      problem: `${field}: not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    };
  }
  if (!isObj(doc) || doc.apiVersion !== 'argoproj.io/v1alpha1' || doc.kind !== 'Workflow')
    return {
      problem: `${field}: must be an Argo Workflow (apiVersion: argoproj.io/v1alpha1, kind: Workflow)`,
    };
  if (!isObj(doc.spec)) return { problem: `${field}: the Workflow has no spec` };
  return { doc };
}

export interface RenderInput {
  hc: HealthCheck;
  kind: RunKind;
  wf: HealthCheckWorkflow;
  doc: Obj;
  name: string;
  slot: Date;
  instanceId: string;
}

/**
 * The Workflow to create: named for its slot in `resource.namespace`; labelled with the check, the kind
 * of run and Argo's controller-instanceid (unless the source sets that label itself); owned by the
 * HealthCheck when in its namespace (an owner in another namespace would make the garbage collector delete
 * it); `resource.serviceAccount` as its service account; `workflowtimeout` (else repeatAfterSec) as
 * activeDeadlineSeconds; pod GC OnPodCompletion unless the source sets one.
 */
export function renderWorkflow(input: RenderInput): ArgoWorkflow {
  const { hc, kind, wf, doc, name, slot } = input;
  const namespace = wf.resource?.namespace ?? hc.metadata.namespace ?? '';
  const metadata = isObj(doc.metadata) ? doc.metadata : {};
  const spec = structuredClone(doc.spec) as Obj;
  if (wf.resource?.serviceAccount) spec.serviceAccountName = wf.resource.serviceAccount;
  const deadline = (wf.workflowtimeout ?? 0) > 0 ? wf.workflowtimeout : hc.spec.repeatAfterSec;
  if ((deadline ?? 0) > 0) spec.activeDeadlineSeconds = deadline;
  if (spec.podGC === undefined) spec.podGC = { strategy: 'OnPodCompletion' };
  const labels: Record<string, string> = {
    ...stringMap(metadata.labels),
    [WorkflowLabels.healthCheck]: hc.metadata.name ?? '',
    [WorkflowLabels.healthCheckNamespace]: hc.metadata.namespace ?? '',
    [WorkflowLabels.workflow]: kind,
  };
  if (!labels[ARGO_INSTANCE_ID_LABEL]) labels[ARGO_INSTANCE_ID_LABEL] = input.instanceId;
  const owner: V1OwnerReference = {
    apiVersion: HealthCheckKind.apiVersion,
    kind: HealthCheckKind.kind,
    name: hc.metadata.name ?? '',
    uid: hc.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: false,
  };
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: {
      name,
      namespace,
      labels,
      annotations: { ...stringMap(metadata.annotations), [SLOT_ANNOTATION]: slot.toISOString() },
      ...(namespace === hc.metadata.namespace && hc.metadata.uid ? { ownerReferences: [owner] } : {}),
    },
    spec,
  };
}

function stringMap(v: unknown): Record<string, string> {
  if (!isObj(v)) return {};
  return Object.fromEntries(Object.entries(v).map(([k, val]) => [k, String(val)]));
}

/** What the plan needs of a Workflow. */
export function observeRun(wf: ArgoWorkflow): ObservedRun {
  const kind = wf.metadata?.labels?.[WorkflowLabels.workflow] === 'remedy' ? 'remedy' : 'healthCheck';
  return {
    name: wf.metadata?.name ?? '',
    kind,
    slot: wf.metadata?.annotations?.[SLOT_ANNOTATION],
    phase: argoOutcome(wf.status?.phase),
    message: wf.status?.message || undefined,
    startedAt: argoTime(wf.status?.startedAt),
    finishedAt: argoTime(wf.status?.finishedAt),
    metrics: customMetrics(wf),
  };
}

/**
 * Custom metrics from any node's output parameter holding `{"metrics":[{name,value,metrictype,help}]}`
 * (upstream documents this shape). Malformed entries are skipped.
 */
export function customMetrics(wf: ArgoWorkflow): CustomMetric[] {
  const out: CustomMetric[] = [];
  for (const node of Object.values(wf.status?.nodes ?? {})) {
    for (const p of node.outputs?.parameters ?? []) {
      if (!p.value || !p.value.includes('"metrics"')) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(p.value);
      } catch {
        continue;
      }
      const list = isObj(parsed) && Array.isArray(parsed.metrics) ? parsed.metrics : [];
      for (const m of list) {
        if (!isObj(m) || typeof m.name !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name)) continue;
        const value = Number(m.value);
        if (!Number.isFinite(value)) continue;
        out.push({
          name: m.name,
          value,
          ...(typeof m.help === 'string' ? { help: m.help } : {}),
          ...(typeof m.metrictype === 'string' ? { metrictype: m.metrictype } : {}),
        });
      }
    }
  }
  return out;
}
