// Lifecycle workflows: reading an Addon's workflow templates, rendering the Workflow to submit for a
// step (name, labels, owner, parameters, TTL, deadline, labelled manifests) and reading a Workflow's
// outcome. Pure functions; the controller submits and watches.
import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { load } from 'js-yaml';
import {
  addonParameters,
  AddonKind,
  type Addon,
  type FieldProblem,
  type LifecycleStep,
  type WorkflowType,
} from '@keiko/api';
import { workflowName } from './checksum';
import {
  ADDON_GROUP,
  ArgoWorkflowResource,
  ROLE_ANNOTATION,
  WORKFLOW_TTL_SECONDS,
  WorkflowLabels,
} from './constants';
import { labelManifests, type ManifestLabels } from './manifests';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An Argo Workflow as the controller writes and reads it; the spec is Argo's, passed through. */
export interface Workflow extends KubernetesObject {
  spec?: Obj;
  status?: {
    phase?: string;
    message?: string;
    startedAt?: string | null;
    finishedAt?: string | null;
    [key: string]: unknown;
  };
}

/** A workflow template from the Addon, parsed. */
export interface WorkflowTemplate {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Obj;
  /**
   * The template's spec was not a mapping — the Keiko talk's slide elides it as `spec: ...`. Such a
   * workflow is submitted as a documented no-op (one suspend step of 0s) with the injected parameters,
   * and a Warning event says so.
   */
  elided: boolean;
}

const NAME_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Parses one lifecycle template, with problems named by field (`spec.lifecycle.install.template: ...`).
 * The checks are the original's: YAML, apiVersion argoproj.io/v1alpha1 and kind Workflow, a spec, no
 * workflow parameter that an addon parameter would shadow.
 */
export function parseWorkflowTemplate(
  wt: WorkflowType,
  field: string,
  addonParams: Record<string, string>,
): { template?: WorkflowTemplate; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const at = `${field}.template`;
  if (wt.namePrefix !== undefined && wt.namePrefix !== '' && !NAME_PREFIX.test(wt.namePrefix)) {
    problems.push({
      field: `${field}.namePrefix`,
      message: `"${wt.namePrefix}" must be lower-case letters, digits and '-' (it becomes part of the workflow name)`,
    });
  }
  let doc: unknown;
  try {
    doc = load(wt.template);
  } catch (err) {
    problems.push({
      field: at,
      message: `not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    });
    return { problems };
  }
  if (!isObj(doc)) {
    problems.push({
      field: at,
      message: 'must be a Workflow object (apiVersion: argoproj.io/v1alpha1, kind: Workflow)',
    });
    return { problems };
  }
  const apiVersion = `${ArgoWorkflowResource.group}/${ArgoWorkflowResource.version}`;
  if (doc.apiVersion !== apiVersion || doc.kind !== ArgoWorkflowResource.kind) {
    problems.push({
      field: at,
      message: `must be an Argo Workflow (apiVersion: ${apiVersion}, kind: Workflow), got apiVersion: ${String(doc.apiVersion)}, kind: ${String(doc.kind)}`,
    });
  }
  if (!('spec' in doc) || doc.spec === undefined) {
    problems.push({ field: at, message: 'the Workflow has no spec' });
    return { problems };
  }
  const elided = !isObj(doc.spec);
  const spec = isObj(doc.spec) ? doc.spec : {};
  const args = isObj(spec.arguments) ? spec.arguments : {};
  const params = Array.isArray(args.parameters) ? args.parameters : [];
  for (const p of params) {
    const name = isObj(p) ? p.name : undefined;
    if (typeof name === 'string' && name in addonParams) {
      problems.push({
        field: at,
        message: `workflow parameter "${name}" is also an addon parameter (spec.params); rename one of them`,
      });
    }
  }
  const metadata = isObj(doc.metadata) ? doc.metadata : {};
  return {
    template: {
      labels: stringMap(metadata.labels),
      annotations: stringMap(metadata.annotations),
      spec,
      elided,
    },
    problems,
  };
}

function stringMap(v: unknown): Record<string, string> {
  if (!isObj(v)) return {};
  return Object.fromEntries(Object.entries(v).map(([k, val]) => [k, String(val)]));
}

export interface RenderInput {
  addon: Addon;
  /** normalizeAddon(addon).spec */
  spec: Addon['spec'];
  step: LifecycleStep;
  checksum: string;
  wt: WorkflowType;
  template: WorkflowTemplate;
  /** activeDeadlineSeconds when the template sets none: the install timeout. */
  deadlineSeconds: number;
}

export interface RenderedWorkflow {
  workflow: Workflow;
  /** Things worth telling the user: manifests that could not be labelled, an elided spec. */
  notes: string[];
}

/**
 * The Workflow to submit for one step. Named `<addon>[-<prefix>]-<step>-<checksum>-wf` in the Addon's
 * namespace; labelled with addon, step, checksum and uid; owned by the Addon (not controller=true, as
 * in the original) except the delete workflow, which must outlive it; every addon parameter appended
 * to spec.arguments.parameters; a TTL (3 days) and a deadline (the install timeout) unless the
 * template sets its own; the default labels on every manifest it applies; the IAM roles as
 * annotations.
 */
export function renderWorkflow(input: RenderInput): RenderedWorkflow {
  const { addon, spec: addonSpec, step, checksum, wt, template } = input;
  const name = addon.metadata.name ?? '';
  const notes: string[] = [];
  const spec = template.elided ? elidedNoop() : structuredClone(template.spec);
  if (template.elided)
    notes.push(
      `the ${step} template's spec is not a mapping (elided?); submitted as a no-op (one suspend step of 0s) with the addon parameters`,
    );

  const params = addonParameters(addonSpec);
  const args = isObj(spec.arguments) ? spec.arguments : (spec.arguments = {});
  const existing = Array.isArray(args.parameters) ? args.parameters : [];
  args.parameters = [...existing, ...Object.entries(params).map(([n, value]) => ({ name: n, value }))];

  if (spec.ttlStrategy === undefined && spec.ttlSecondsAfterFinished === undefined) {
    spec.ttlStrategy = { secondsAfterCompletion: WORKFLOW_TTL_SECONDS };
  }
  if (spec.activeDeadlineSeconds === undefined) spec.activeDeadlineSeconds = input.deadlineSeconds;
  if (wt.workflowRole) {
    const podMetadata = isObj(spec.podMetadata) ? spec.podMetadata : (spec.podMetadata = {});
    const annotations = isObj(podMetadata.annotations)
      ? podMetadata.annotations
      : (podMetadata.annotations = {});
    annotations[ROLE_ANNOTATION] = wt.workflowRole;
  }

  const labels: ManifestLabels = {
    partOf: name,
    managedBy: ADDON_GROUP,
    name,
    version: addonSpec.pkgVersion,
  };
  forEachManifest(spec, (text, where) => {
    const labelled = labelManifests(text, labels, wt.role || undefined);
    if (labelled.error) notes.push(`could not add the default labels to ${where}: ${labelled.error}`);
    return labelled.text;
  });

  const ownerReferences: V1OwnerReference[] | undefined =
    step === 'delete'
      ? undefined
      : [
          {
            apiVersion: AddonKind.apiVersion,
            kind: AddonKind.kind,
            name,
            uid: addon.metadata.uid ?? '',
            controller: false,
            blockOwnerDeletion: true,
          },
        ];
  const workflow: Workflow = {
    apiVersion: `${ArgoWorkflowResource.group}/${ArgoWorkflowResource.version}`,
    kind: ArgoWorkflowResource.kind,
    metadata: {
      name: workflowName(name, step, checksum, wt.namePrefix),
      namespace: addon.metadata.namespace,
      labels: {
        ...template.labels,
        [WorkflowLabels.addon]: name,
        [WorkflowLabels.step]: step,
        [WorkflowLabels.checksum]: checksum,
        ...(addon.metadata.uid ? { [WorkflowLabels.addonUid]: addon.metadata.uid } : {}),
        'app.kubernetes.io/part-of': name,
        'app.kubernetes.io/managed-by': ADDON_GROUP,
      },
      ...(Object.keys(template.annotations).length ? { annotations: { ...template.annotations } } : {}),
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    spec,
  };
  return { workflow, notes };
}

/** The entry template of the no-op that stands for an elided spec. */
export const ELIDED_NOOP_TEMPLATE = 'elided-spec-noop';

/**
 * What an elided `spec: ...` (the Keiko talk's slides) is submitted as: a valid Argo workflow doing
 * nothing — one suspend step of 0 seconds, which Argo completes at once without a pod.
 */
function elidedNoop(): Obj {
  return {
    entrypoint: ELIDED_NOOP_TEMPLATE,
    templates: [{ name: ELIDED_NOOP_TEMPLATE, suspend: { duration: '0' } }],
  };
}

/**
 * Calls `edit` on every manifest text in a workflow spec and stores what it returns: resource
 * templates that create or apply, and raw artifacts (spec.arguments, template inputs, steps, DAG tasks).
 */
export function forEachManifest(spec: Obj, edit: (text: string, where: string) => string): void {
  const rawArtifacts = (holder: unknown, where: string) => {
    const artifacts = isObj(holder) && Array.isArray(holder.artifacts) ? holder.artifacts : [];
    artifacts.forEach((a, i) => {
      if (isObj(a) && isObj(a.raw) && typeof a.raw.data === 'string')
        a.raw.data = edit(a.raw.data, `${where}.artifacts[${i}].raw.data`);
    });
  };
  rawArtifacts(spec.arguments, 'spec.arguments');
  const templates = Array.isArray(spec.templates) ? spec.templates : [];
  templates.forEach((t, ti) => {
    if (!isObj(t)) return;
    const where = `spec.templates[${ti}]`;
    if (isObj(t.resource) && typeof t.resource.manifest === 'string') {
      const action = String(t.resource.action ?? 'apply');
      if (['apply', 'create', 'replace'].includes(action))
        t.resource.manifest = edit(t.resource.manifest, `${where}.resource.manifest`);
    }
    rawArtifacts(t.inputs, `${where}.inputs`);
    const steps = Array.isArray(t.steps) ? t.steps : [];
    steps.forEach((group, gi) => {
      const parallel = Array.isArray(group) ? group : [group];
      parallel.forEach((s, si) => {
        if (isObj(s)) rawArtifacts(s.arguments, `${where}.steps[${gi}][${si}].arguments`);
      });
    });
    const tasks = isObj(t.dag) && Array.isArray(t.dag.tasks) ? t.dag.tasks : [];
    tasks.forEach((task, i) => {
      if (isObj(task)) rawArtifacts(task.arguments, `${where}.dag.tasks[${i}].arguments`);
    });
  });
}

/** A Workflow of one addon as the plan reads it. */
export interface ObservedWorkflow {
  name: string;
  step: LifecycleStep | undefined;
  checksum: string | undefined;
  addonUid: string | undefined;
  /** Argo's phase folded to what the lifecycle needs. */
  phase: 'Running' | 'Succeeded' | 'Failed';
  /** Argo's own phase ('' before the workflow controller has seen it). */
  argoPhase: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  createdAt?: string;
  deleting: boolean;
}

export function observeWorkflow(wf: Workflow): ObservedWorkflow {
  const labels = wf.metadata?.labels ?? {};
  const argoPhase = wf.status?.phase ?? '';
  const phase =
    argoPhase === 'Succeeded'
      ? 'Succeeded'
      : argoPhase === 'Failed' || argoPhase === 'Error'
        ? 'Failed'
        : 'Running';
  const ts = (v: unknown) =>
    v instanceof Date ? v.toISOString() : typeof v === 'string' && v ? v : undefined;
  return {
    name: wf.metadata?.name ?? '',
    step: labels[WorkflowLabels.step] as LifecycleStep | undefined,
    checksum: labels[WorkflowLabels.checksum],
    addonUid: labels[WorkflowLabels.addonUid],
    phase,
    argoPhase,
    message: wf.status?.message || undefined,
    startedAt: ts(wf.status?.startedAt),
    finishedAt: ts(wf.status?.finishedAt),
    createdAt: ts(wf.metadata?.creationTimestamp),
    deleting: !!wf.metadata?.deletionTimestamp,
  };
}
