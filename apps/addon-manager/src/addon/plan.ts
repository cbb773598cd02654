// The addon lifecycle as pure decisions: given an Addon, its workflows, the other Addons and what the
// cluster offers, what the status is now and what to do next. No I/O; the controller acts.
//
//   validate spec -> dependencies -> remove workflows of an older spec -> wait for dependencies
//   -> prereqs -> (secrets) -> install -> validate -> Succeeded
//   deletion: stop running workflows -> delete workflow -> remove the finalizer (retried on failure)
import type { PlannedEvent } from '@keiko/kube-runtime';
import {
  addonInstallTimeoutMs,
  metadataTimestamp,
  addonParameters,
  AddonConditionTypes,
  formatProblems,
  normalizeAddon,
  specValidCondition,
  validateAddon,
  type Addon,
  type AddonSpec,
  type AddonStatus,
  type Condition as ApiCondition,
  type FieldProblem,
  type LifecycleStep,
  type WorkflowType,
} from '@keiko/api';
import { setCondition, type Condition } from '@keiko/kube-runtime';
import { addonChecksum, workflowName } from './checksum';
import { ADDON_FINALIZER } from './constants';
import {
  addonNode,
  checkDependencies,
  describeWaits,
  type AddonNode,
  type DependencyCheck,
} from './dependencies';
import type { ObjectStatus } from './resources';
import {
  parseWorkflowTemplate,
  renderWorkflow,
  type ObservedWorkflow,
  type Workflow,
  type WorkflowTemplate,
} from './workflow';

export const AddonConditions = {
  ...AddonConditionTypes,
  /** The validate workflow (or none) succeeded for the current spec. */
  Validated: 'Validated',
  /** The Argo Workflow CRD is installed. */
  WorkflowsAvailable: 'WorkflowsAvailable',
} as const;

/** The steps that install an addon, in order. */
export const INSTALL_STEPS = ['prereqs', 'install', 'validate'] as const satisfies readonly LifecycleStep[];
export type InstallStep = (typeof INSTALL_STEPS)[number];

/** Addon names are at most 31 characters: workflow names are built from them (the original's limit). */
export const MAX_ADDON_NAME_LENGTH = 31;

export type WorkflowApiState = 'unknown' | 'available' | 'absent';

export interface PlanInput {
  addon: Addon;
  /** Every Addon the controller knows (the addon itself may be among them), for dependencies. */
  all: readonly AddonNode[];
  /** The Workflows labelled with this addon in its namespace, whatever their spec checksum. */
  workflows: readonly ObservedWorkflow[];
  workflowApi: WorkflowApiState;
  /** status.resources as observed now; undefined leaves them as they are. */
  resources?: ObjectStatus[];
  /** spec.secrets found in params.namespace, by name; needed only when secretsToCheck() says so. */
  secrets?: Record<string, boolean>;
  now: Date;
  dryRun: boolean;
  /** How long a failed delete workflow stays failed before it is run again. */
  deleteRetryMs: number;
  /** How often to look again for a missing Workflow CRD. */
  crdPollMs: number;
}

export type AddonAction =
  | { type: 'addFinalizer' }
  | { type: 'removeFinalizer'; confirmWorkflow: string }
  | { type: 'deleteWorkflows'; names: string[] }
  | { type: 'submitWorkflow'; step: LifecycleStep; workflow: Workflow };

export type { PlannedEvent };

/** A workflow that finished, seen for the first time: for the step metrics. */
export interface StepOutcome {
  step: LifecycleStep;
  outcome: 'Succeeded' | 'Failed';
  durationSeconds?: number;
}

export interface AddonPlan {
  checksum: string;
  status: AddonStatus;
  /** false: leave status alone (the object is going away, or nothing is known yet). */
  writeStatus: boolean;
  actions: AddonAction[];
  events: PlannedEvent[];
  outcomes: StepOutcome[];
  requeueAfterMs?: number;
}

/** Phases that stay put for a spec: only a spec change (or deletion) moves an addon out of them. */
const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

const SPEC_CHANGE_POLL_MS = 2_000;

/** The spec problems the schema cannot express, plus the schema's own, plus every template's. */
export function specProblems(
  addon: Addon,
  spec: AddonSpec,
): {
  problems: FieldProblem[];
  templates: Partial<Record<LifecycleStep, { wt: WorkflowType; template: WorkflowTemplate }>>;
} {
  const problems = [...validateAddon(addon)];
  const name = addon.metadata.name ?? '';
  if (name.length > MAX_ADDON_NAME_LENGTH) {
    problems.push({
      field: 'metadata.name',
      message: `must be at most ${MAX_ADDON_NAME_LENGTH} characters (workflow names are built from it), got ${name.length}`,
    });
  }
  if (!spec.params?.namespace) {
    problems.push({
      field: 'spec.params.namespace',
      message: 'Required value: the namespace the addon is installed into',
    });
  }
  const params = addonParameters(spec);
  const templates: Partial<Record<LifecycleStep, { wt: WorkflowType; template: WorkflowTemplate }>> = {};
  for (const step of [...INSTALL_STEPS, 'delete'] as const) {
    const wt = spec.lifecycle?.[step];
    if (!wt?.template) continue;
    const parsed = parseWorkflowTemplate(wt, `spec.lifecycle.${step}`, params);
    problems.push(...parsed.problems);
    if (parsed.template) templates[step] = { wt, template: parsed.template };
  }
  return { problems, templates };
}

/** The spec.secrets to look up before install, or none when the plan will not need them now. */
export function secretsToCheck(addon: Addon): string[] {
  if (metadataTimestamp(addon, 'deletionTimestamp')) return [];
  const spec = normalizeAddon(addon).spec;
  const names = (spec.secrets ?? []).map((s) => s.name);
  if (names.length === 0) return [];
  const status = addon.status;
  if (status?.checksum === addonChecksum(spec) && TERMINAL_PHASES.has(status.lifecycle?.installed ?? ''))
    return [];
  return names;
}

/** Keeps the previous status's conditions and edits them with the runtime's setCondition rules. */
class StatusDraft {
  readonly status: AddonStatus;
  readonly events: PlannedEvent[] = [];
  readonly outcomes: StepOutcome[] = [];
  private conditions: Condition[];

  constructor(
    readonly prev: AddonStatus,
    private readonly now: Date,
    private readonly generation: number | undefined,
    fresh: { checksum: string } | undefined,
  ) {
    this.conditions = (prev.conditions ?? []).map((c) => ({
      ...c,
      reason: c.reason ?? '',
      message: c.message ?? '',
      lastTransitionTime: c.lastTransitionTime ?? now.toISOString(),
    }));
    if (fresh) {
      // A new spec starts its lifecycle over: nothing recorded for the old spec applies to it.
      this.status = {
        ...structuredClone(prev),
        checksum: fresh.checksum,
        lifecycle: { prereqs: 'Pending', installed: 'Pending' },
      };
      delete this.status.starttime;
      delete this.status.reason;
      this.condition(
        AddonConditions.Installed,
        'Unknown',
        'SpecChanged',
        `lifecycle starts over for spec ${fresh.checksum}`,
      );
      this.condition(
        AddonConditions.Validated,
        'Unknown',
        'SpecChanged',
        `lifecycle starts over for spec ${fresh.checksum}`,
      );
    } else {
      this.status = structuredClone(prev);
      this.status.lifecycle = { ...prev.lifecycle };
    }
  }

  condition(type: string, status: Condition['status'], reason: string, message: string): void {
    this.conditions = setCondition(
      this.conditions,
      {
        type,
        status,
        reason,
        message,
        ...(this.generation !== undefined ? { observedGeneration: this.generation } : {}),
      },
      this.now,
    );
  }

  conditionStatus(type: string): string | undefined {
    return this.conditions.find((c) => c.type === type)?.status;
  }

  setApiCondition(c: ApiCondition): void {
    this.condition(c.type, c.status, c.reason ?? '', c.message ?? '');
  }

  /** Sets installed + reason; an event goes out only when one of them changed. */
  phase(installed: string, reason: string | undefined, event?: PlannedEvent): void {
    const changed =
      this.prev.lifecycle?.installed !== installed || (this.prev.reason ?? '') !== (reason ?? '');
    this.status.lifecycle = {
      ...this.status.lifecycle,
      installed: installed as NonNullable<AddonStatus['lifecycle']>['installed'],
    };
    if (reason) this.status.reason = reason;
    else delete this.status.reason;
    if (event && changed) this.events.push(event);
  }

  finish(): AddonStatus {
    if (this.conditions.length > 0) this.status.conditions = this.conditions as ApiCondition[];
    return this.status;
  }
}

const title = (step: string) => step.charAt(0).toUpperCase() + step.slice(1);

function durationSeconds(wf: ObservedWorkflow): number | undefined {
  const start = Date.parse(wf.startedAt ?? wf.createdAt ?? '');
  const end = Date.parse(wf.finishedAt ?? '');
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? (end - start) / 1000 : undefined;
}

const failureText = (wf: ObservedWorkflow) =>
  `${wf.argoPhase || 'Failed'}${wf.message ? `: ${wf.message}` : ''}`;

/** Decides the status and next actions of one Addon. */
export function planAddon(input: PlanInput): AddonPlan {
  const { addon, now } = input;
  const prev = addon.status ?? {};
  const spec = normalizeAddon(addon).spec;
  const checksum = addonChecksum(spec);
  const sameSpec = prev.checksum === checksum;
  const deleting = !!metadataTimestamp(addon, 'deletionTimestamp');
  const draft = new StatusDraft(
    prev,
    now,
    addon.metadata.generation,
    sameSpec || deleting ? undefined : { checksum },
  );
  const { problems, templates } = specProblems(addon, spec);

  const done = (p: Partial<AddonPlan> = {}): AddonPlan => ({
    checksum,
    status: draft.finish(),
    writeStatus: p.writeStatus ?? true,
    actions: p.actions ?? [],
    events: draft.events,
    outcomes: draft.outcomes,
    ...(p.requeueAfterMs !== undefined ? { requeueAfterMs: Math.max(1, Math.round(p.requeueAfterMs)) } : {}),
  });

  if (deleting) return planDeletion(input, draft, spec, checksum, templates.delete, problems, done);

  if (input.resources) draft.status.resources = input.resources;
  draft.setApiCondition(specValidCondition(problems, addon.metadata.generation));
  const node = addonNode(addon);
  const deps = checkDependencies(node, input.all);
  setDependencyCondition(draft, deps, node);

  // Succeeded and Failed hold for their spec: a stale read, a workflow garbage-collected by its TTL
  // or a dependency that changed later never moves the addon back to Pending (upstream #285/#439).
  if (sameSpec && TERMINAL_PHASES.has(prev.lifecycle?.installed ?? '')) return done();

  if (problems.length > 0) {
    const reason = formatProblems(problems);
    draft.phase('Validation Failed', reason, { type: 'Warning', reason: 'InvalidSpec', message: reason });
    return done();
  }
  if (deps.problems.length > 0) {
    const reason = formatProblems(deps.problems);
    draft.phase('Validation Failed', reason, {
      type: 'Warning',
      reason: 'InvalidDependencies',
      message: reason,
    });
    return done();
  }

  if (input.workflowApi === 'unknown') return done({ writeStatus: false, requeueAfterMs: 2_000 });
  if (input.workflowApi === 'absent') {
    const reason = workflowsMissingReason(input.crdPollMs);
    draft.condition(AddonConditions.WorkflowsAvailable, 'False', 'WorkflowCRDNotFound', reason);
    draft.phase('Pending', reason, { type: 'Warning', reason: 'WorkflowCRDNotFound', message: reason });
    return done({ requeueAfterMs: input.crdPollMs });
  }
  draft.condition(
    AddonConditions.WorkflowsAvailable,
    'True',
    'WorkflowCRDFound',
    'the Argo Workflow CRD is installed',
  );

  // A changed spec runs the lifecycle again, but only once the old spec's workflows are gone.
  const old = input.workflows.filter((w) => w.step !== 'delete' && w.checksum !== checksum);
  if (old.length > 0) {
    const previous = [...new Set(old.map((w) => w.checksum ?? '?'))].join(', ');
    const reason = `spec changed (checksum ${previous} -> ${checksum}): removing ${old.length} workflow(s) of the previous spec before running the lifecycle again`;
    draft.phase('Pending', reason, { type: 'Normal', reason: 'SpecChanged', message: reason });
    const names = old.filter((w) => !w.deleting).map((w) => w.name);
    return done({
      actions: names.length ? [{ type: 'deleteWorkflows', names }] : [],
      requeueAfterMs: SPEC_CHANGE_POLL_MS,
    });
  }

  if (deps.waiting.length > 0) {
    const reason = `waiting for dependencies: ${describeWaits(deps.waiting)}`;
    draft.phase('Pending', reason, { type: 'Normal', reason: 'WaitingForDependencies', message: reason });
    return done();
  }

  const deadlineSeconds = Math.ceil(addonInstallTimeoutMs(spec) / 1000);
  const render = (step: LifecycleStep) => {
    const entry = templates[step];
    return entry
      ? renderWorkflow({
          addon,
          spec,
          step,
          checksum,
          wt: entry.wt,
          template: entry.template,
          deadlineSeconds,
        })
      : undefined;
  };

  if (input.dryRun) {
    const planned = INSTALL_STEPS.map((step) => ({ step, rendered: render(step) })).filter((p) => p.rendered);
    const names = planned.map((p) => `${p.step} workflow ${p.rendered?.workflow.metadata?.name}`);
    const reason = names.length
      ? `dry run: would submit ${names.join(', then ')}`
      : 'dry run: no lifecycle workflows to submit';
    const changed = prev.reason !== reason;
    draft.phase('Pending', reason);
    if (changed) {
      for (const p of planned) {
        const params = addonParameters(spec);
        draft.events.push({
          type: 'Normal',
          reason: 'DryRun',
          message: `would submit ${p.step} workflow ${p.rendered?.workflow.metadata?.name} with parameters ${Object.entries(
            params,
          )
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}${p.rendered?.notes.length ? ` (${p.rendered.notes.join('; ')})` : ''}`,
        });
      }
    }
    return done();
  }

  const timeoutMs = addonInstallTimeoutMs(spec);
  const started = draft.status.starttime;
  /** Failed once the lifecycle has run longer than installTimeout; undefined while there is time left. */
  const timedOut = (running?: ObservedWorkflow): AddonPlan | undefined => {
    if (started === undefined || now.getTime() - started <= timeoutMs) return undefined;
    const reason = `the lifecycle did not finish within installTimeout ${spec.installTimeout ?? '1h'} (started ${new Date(started).toISOString()})${running ? `; ${running.step} workflow ${running.name} is still ${running.argoPhase || 'Pending'}` : ''}`;
    if (running?.step && running.step !== 'delete')
      draft.outcomes.push({ step: running.step, outcome: 'Failed' });
    draft.phase('Failed', reason, { type: 'Warning', reason: 'InstallTimeout', message: reason });
    draft.condition(AddonConditions.Installed, 'False', 'InstallTimeout', reason);
    return done();
  };

  const current = input.workflows.filter((w) => w.checksum === checksum && w.step !== 'delete');
  const workflowOf = (step: InstallStep) => current.find((w) => w.step === step);
  const actions: AddonAction[] = [];
  const submit = (step: InstallStep): AddonPlan => {
    const rendered = render(step);
    if (!rendered) throw new Error(`no ${step} template`); // unreachable: only steps with templates are submitted
    if (!addon.metadata.finalizers?.includes(ADDON_FINALIZER)) actions.push({ type: 'addFinalizer' });
    actions.push({ type: 'submitWorkflow', step, workflow: rendered.workflow });
    draft.status.starttime ??= now.getTime();
    const name = rendered.workflow.metadata?.name ?? '';
    const reason = `${step} workflow ${name} submitted`;
    draft.phase('Pending', reason, {
      type: 'Normal',
      reason: 'WorkflowSubmitted',
      message: `Submitted ${step} workflow ${name}`,
    });
    if (rendered.notes.length)
      draft.events.push({
        type: 'Warning',
        reason: 'WorkflowRendered',
        message: `${step} workflow ${name}: ${rendered.notes.join('; ')}`,
      });
    return done({ actions, requeueAfterMs: timeoutMs });
  };

  for (const [i, step] of INSTALL_STEPS.entries()) {
    const wf = workflowOf(step);
    const laterStarted = INSTALL_STEPS.slice(i + 1).some((s) => workflowOf(s));
    const recorded =
      step === 'prereqs'
        ? draft.status.lifecycle?.prereqs === 'Succeeded'
        : draft.conditionStatus(
            step === 'install' ? AddonConditions.Installed : AddonConditions.Validated,
          ) === 'True';
    const state: 'Succeeded' | 'Failed' | 'Running' | 'NotSubmitted' = !templates[step]
      ? 'Succeeded'
      : wf
        ? wf.phase
        : recorded || laterStarted
          ? 'Succeeded'
          : 'NotSubmitted';
    recordStep(draft, step, state, wf, !templates[step]);

    if (state === 'Succeeded') continue;
    if (state === 'Failed' && wf) {
      const reason = `${step} workflow ${wf.name} failed: ${failureText(wf)}`;
      draft.phase('Failed', reason, { type: 'Warning', reason: `${title(step)}Failed`, message: reason });
      if (step === 'prereqs') draft.condition(AddonConditions.Installed, 'False', 'PrereqsFailed', reason);
      return done();
    }
    if (state === 'Running' && wf) {
      const expired = timedOut(wf);
      if (expired) return expired;
      const reason = wf.deleting
        ? `${step} workflow ${wf.name} is being deleted; it will be submitted again`
        : `${step} workflow ${wf.name} is ${wf.argoPhase || 'Pending'}`;
      draft.phase('Pending', reason);
      const remaining = started !== undefined ? started + timeoutMs - now.getTime() : timeoutMs;
      return done({ requeueAfterMs: wf.deleting ? SPEC_CHANGE_POLL_MS : Math.max(1_000, remaining) });
    }
    // Not submitted yet. Install waits for the secrets the addon needs in its namespace.
    const expired = timedOut();
    if (expired) return expired;
    if (step === 'install') {
      const missing = (spec.secrets ?? []).map((s) => s.name).filter((n) => input.secrets?.[n] !== true);
      if (missing.length > 0) {
        const reason = `waiting for secrets ${missing.join(', ')} in namespace ${spec.params?.namespace ?? ''} (spec.secrets)`;
        draft.phase('Pending', reason, { type: 'Warning', reason: 'SecretsMissing', message: reason });
        return done({ requeueAfterMs: 15_000 });
      }
    }
    return submit(step);
  }

  const installedNow = prev.lifecycle?.installed !== 'Succeeded' || !sameSpec;
  draft.phase('Succeeded', undefined);
  if (installedNow) {
    draft.events.push({
      type: 'Normal',
      reason: 'Installed',
      message: `addon ${spec.pkgName} ${spec.pkgVersion} installed (spec ${checksum})`,
    });
  }
  return done();
}

/** Records one step's state in lifecycle.prereqs or the Installed/Validated condition, with its outcome. */
function recordStep(
  draft: StatusDraft,
  step: InstallStep,
  state: 'Succeeded' | 'Failed' | 'Running' | 'NotSubmitted',
  wf: ObservedWorkflow | undefined,
  skipped: boolean,
): void {
  let before: string | undefined;
  if (step === 'prereqs') {
    before = draft.status.lifecycle?.prereqs;
    draft.status.lifecycle = {
      ...draft.status.lifecycle,
      prereqs: state === 'Succeeded' ? 'Succeeded' : state === 'Failed' ? 'Failed' : 'Pending',
    };
  } else {
    const type = step === 'install' ? AddonConditions.Installed : AddonConditions.Validated;
    const s = draft.conditionStatus(type);
    before = s === 'True' ? 'Succeeded' : s === 'False' ? 'Failed' : undefined;
    const reasonBase = title(step);
    if (state === 'Succeeded') {
      draft.condition(
        type,
        'True',
        skipped ? `No${reasonBase}Workflow` : `${reasonBase}Succeeded`,
        skipped ? `no ${step} workflow in the spec` : `${step} workflow ${wf?.name ?? ''} succeeded`,
      );
    } else if (state === 'Failed') {
      draft.condition(
        type,
        'False',
        `${reasonBase}Failed`,
        `${step} workflow ${wf?.name ?? ''} failed: ${wf ? failureText(wf) : ''}`,
      );
    } else {
      draft.condition(
        type,
        'Unknown',
        `${reasonBase}Pending`,
        wf
          ? `${step} workflow ${wf.name} is ${wf.argoPhase || 'Pending'}`
          : `${step} workflow not submitted yet`,
      );
    }
  }
  const finished = state === 'Succeeded' || state === 'Failed';
  if (finished && wf && before !== state) {
    draft.outcomes.push({
      step,
      outcome: state,
      ...(durationSeconds(wf) !== undefined ? { durationSeconds: durationSeconds(wf) } : {}),
    });
    if (state === 'Succeeded')
      draft.events.push({
        type: 'Normal',
        reason: `${title(step)}Succeeded`,
        message: `${step} workflow ${wf.name} succeeded`,
      });
  }
}

function setDependencyCondition(draft: StatusDraft, deps: DependencyCheck, node: AddonNode): void {
  const count = Object.keys(node.deps).length;
  if (deps.problems.length > 0) {
    draft.condition(
      AddonConditions.DependenciesReady,
      'False',
      'DependencyInvalid',
      formatProblems(deps.problems),
    );
  } else if (deps.waiting.length > 0) {
    draft.condition(
      AddonConditions.DependenciesReady,
      'False',
      'DependencyNotReady',
      `waiting for ${describeWaits(deps.waiting)}`,
    );
  } else {
    draft.condition(
      AddonConditions.DependenciesReady,
      'True',
      count ? 'DependenciesSucceeded' : 'NoDependencies',
      count
        ? `all ${count} dependencies succeeded: ${deps.satisfied.map((s) => s.key).join(', ')}`
        : 'the addon has no dependencies',
    );
  }
}

export function workflowsMissingReason(pollMs: number): string {
  return `Argo Workflows is not installed: the cluster has no Workflow CRD (workflows.argoproj.io/v1alpha1); install Argo Workflows and the addon proceeds (checked every ${Math.round(pollMs / 1000)}s)`;
}

function planDeletion(
  input: PlanInput,
  draft: StatusDraft,
  spec: AddonSpec,
  checksum: string,
  entry: { wt: WorkflowType; template: WorkflowTemplate } | undefined,
  problems: FieldProblem[],
  done: (p?: Partial<AddonPlan>) => AddonPlan,
): AddonPlan {
  const { addon, now } = input;
  if (!addon.metadata.finalizers?.includes(ADDON_FINALIZER)) return done({ writeStatus: false });
  const name = addon.metadata.name ?? '';
  const wt = spec.lifecycle?.delete;

  // Workflows of the install still running would race the delete workflow: stop them first.
  const running = input.workflows.filter((w) => w.step !== 'delete' && w.phase === 'Running');
  if (running.length > 0) {
    const reason = `stopping ${running.map((w) => w.name).join(', ')} before the delete workflow`;
    draft.phase('Deleting', reason, { type: 'Normal', reason: 'Deleting', message: reason });
    const names = running.filter((w) => !w.deleting).map((w) => w.name);
    return done({
      actions: names.length ? [{ type: 'deleteWorkflows', names }] : [],
      requeueAfterMs: SPEC_CHANGE_POLL_MS,
    });
  }
  if (!wt?.template) {
    draft.events.push({
      type: 'Normal',
      reason: 'Deleted',
      message: 'no delete workflow in the spec; finalizer removed',
    });
    return done({ writeStatus: false, actions: [{ type: 'removeFinalizer', confirmWorkflow: '' }] });
  }
  const deleteProblems = problems.filter((p) => p.field.startsWith('spec.lifecycle.delete'));
  if (!entry || deleteProblems.length > 0) {
    const reason = `cannot run the delete workflow: ${formatProblems(deleteProblems)}; fix spec.lifecycle.delete, or remove the finalizer ${ADDON_FINALIZER} to skip it`;
    draft.phase('Delete Failed', reason, { type: 'Warning', reason: 'DeleteFailed', message: reason });
    return done({ requeueAfterMs: input.deleteRetryMs });
  }
  if (input.workflowApi === 'unknown') return done({ writeStatus: false, requeueAfterMs: 2_000 });
  if (input.workflowApi === 'absent') {
    const reason = `cannot run the delete workflow: ${workflowsMissingReason(input.crdPollMs)}; or remove the finalizer ${ADDON_FINALIZER} to skip it`;
    draft.phase('Delete Failed', reason, { type: 'Warning', reason: 'DeleteFailed', message: reason });
    return done({ requeueAfterMs: input.crdPollMs });
  }

  const wfName = workflowName(name, 'delete', checksum, wt.namePrefix);
  if (input.dryRun) {
    draft.phase('Deleting', `dry run: would submit delete workflow ${wfName}, then remove the finalizer`);
    return done();
  }
  const uid = addon.metadata.uid;
  const wf = input.workflows.find((w) => w.name === wfName);
  if (wf && uid && wf.addonUid && wf.addonUid !== uid) {
    const reason = `removing delete workflow ${wfName} left by an earlier Addon named ${name}`;
    draft.phase('Deleting', reason);
    return done({
      actions: wf.deleting ? [] : [{ type: 'deleteWorkflows', names: [wfName] }],
      requeueAfterMs: SPEC_CHANGE_POLL_MS,
    });
  }
  if (!wf) {
    const rendered = renderWorkflow({
      addon,
      spec,
      step: 'delete',
      checksum,
      wt,
      template: entry.template,
      deadlineSeconds: Math.ceil(addonInstallTimeoutMs(spec) / 1000),
    });
    const reason = `delete workflow ${wfName} submitted`;
    draft.phase('Deleting', reason, {
      type: 'Normal',
      reason: 'WorkflowSubmitted',
      message: `Submitted delete workflow ${wfName}`,
    });
    return done({ actions: [{ type: 'submitWorkflow', step: 'delete', workflow: rendered.workflow }] });
  }
  if (wf.deleting) {
    draft.phase(
      'Deleting',
      `waiting for the failed delete workflow ${wfName} to be removed before running it again`,
    );
    return done({ requeueAfterMs: SPEC_CHANGE_POLL_MS });
  }
  if (wf.phase === 'Running') {
    draft.phase('Deleting', `delete workflow ${wfName} is ${wf.argoPhase || 'Pending'}`);
    return done();
  }
  if (wf.phase === 'Succeeded') {
    draft.outcomes.push({
      step: 'delete',
      outcome: 'Succeeded',
      ...(durationSeconds(wf) !== undefined ? { durationSeconds: durationSeconds(wf) } : {}),
    });
    draft.events.push({
      type: 'Normal',
      reason: 'Deleted',
      message: `delete workflow ${wfName} succeeded; finalizer removed`,
    });
    return done({ writeStatus: false, actions: [{ type: 'removeFinalizer', confirmWorkflow: wfName }] });
  }
  // Failed: show it, then run it again — a failed delete is never dropped silently.
  const finished = Date.parse(wf.finishedAt ?? wf.startedAt ?? wf.createdAt ?? '') || now.getTime();
  const retryAt = finished + input.deleteRetryMs;
  if (now.getTime() >= retryAt && draft.prev.lifecycle?.installed === 'Delete Failed') {
    draft.phase('Deleting', `running delete workflow ${wfName} again (it failed: ${failureText(wf)})`, {
      type: 'Normal',
      reason: 'RetryingDelete',
      message: `running delete workflow ${wfName} again after: ${failureText(wf)}`,
    });
    return done({
      actions: [{ type: 'deleteWorkflows', names: [wfName] }],
      requeueAfterMs: SPEC_CHANGE_POLL_MS,
    });
  }
  if (draft.prev.lifecycle?.installed !== 'Delete Failed') {
    draft.outcomes.push({
      step: 'delete',
      outcome: 'Failed',
      ...(durationSeconds(wf) !== undefined ? { durationSeconds: durationSeconds(wf) } : {}),
    });
  }
  const reason = `delete workflow ${wfName} failed: ${failureText(wf)}; it runs again at ${new Date(retryAt).toISOString().replace(/\.\d+Z$/, 'Z')}`;
  const changedPhase = draft.prev.lifecycle?.installed !== 'Delete Failed';
  draft.phase('Delete Failed', reason);
  if (changedPhase)
    draft.events.push({
      type: 'Warning',
      reason: 'DeleteFailed',
      message: `delete workflow ${wfName} failed: ${failureText(wf)}`,
    });
  return done({ requeueAfterMs: Math.max(1_000, retryAt - now.getTime()) });
}
