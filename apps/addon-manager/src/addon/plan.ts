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

/** Each lifecycle step's template as the spec gives it, parsed; a step without one is absent. */
type StepTemplates = Partial<Record<LifecycleStep, { wt: WorkflowType; template: WorkflowTemplate }>>;

/** The spec problems the schema cannot express, plus the schema's own, plus every template's. */
export function specProblems(
  addon: Addon,
  spec: AddonSpec,
): {
  problems: FieldProblem[];
  templates: StepTemplates;
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
  const templates: StepTemplates = {};
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

/** One step's outcome for the metrics, with the workflow's duration when it is known. */
function stepOutcome(
  step: LifecycleStep,
  outcome: StepOutcome['outcome'],
  wf: ObservedWorkflow,
): StepOutcome {
  const seconds = durationSeconds(wf);
  return { step, outcome, ...(seconds !== undefined ? { durationSeconds: seconds } : {}) };
}

/** One plan in the making: what every step reads, and the status it drafts. */
interface Planning {
  readonly input: PlanInput;
  readonly spec: AddonSpec;
  readonly checksum: string;
  /** The status was written for this very spec. */
  readonly sameSpec: boolean;
  readonly draft: StatusDraft;
  readonly problems: FieldProblem[];
  readonly templates: StepTemplates;
}

type StepState = 'Succeeded' | 'Failed' | 'Running' | 'NotSubmitted';

/** Decides the status and next actions of one Addon: the first step below with something to say decides. */
export function planAddon(input: PlanInput): AddonPlan {
  const deleting = !!metadataTimestamp(input.addon, 'deletionTimestamp');
  const p = startPlanning(input, deleting);
  if (deleting) return planDeletion(p);
  const deps = recordObservations(p);
  return (
    holdTerminalPhase(p) ??
    refuseInvalidSpec(p, deps) ??
    requireWorkflowApi(p) ??
    removeOldSpecWorkflows(p) ??
    waitForDependencies(p, deps) ??
    (input.dryRun ? planDryRun(p) : undefined) ??
    runInstallSteps(p) ??
    markInstalled(p)
  );
}

/** The spec as normalized, its checksum and problems, and a status draft (started over for a new spec). */
function startPlanning(input: PlanInput, deleting: boolean): Planning {
  const { addon, now } = input;
  const prev = addon.status ?? {};
  const spec = normalizeAddon(addon).spec;
  const checksum = addonChecksum(spec);
  const sameSpec = prev.checksum === checksum;
  const draft = new StatusDraft(
    prev,
    now,
    addon.metadata.generation,
    sameSpec || deleting ? undefined : { checksum },
  );
  const { problems, templates } = specProblems(addon, spec);
  return { input, spec, checksum, sameSpec, draft, problems, templates };
}

/** The plan as it stands: the drafted status, its events and outcomes, and what to do. */
function conclude(p: Planning, opts: Partial<AddonPlan> = {}): AddonPlan {
  return {
    checksum: p.checksum,
    status: p.draft.finish(),
    writeStatus: opts.writeStatus ?? true,
    actions: opts.actions ?? [],
    events: p.draft.events,
    outcomes: p.draft.outcomes,
    ...(opts.requeueAfterMs !== undefined
      ? { requeueAfterMs: Math.max(1, Math.round(opts.requeueAfterMs)) }
      : {}),
  };
}

/** Records what holds in every phase: the resources, whether the spec is valid, the dependencies' readiness. */
function recordObservations(p: Planning): DependencyCheck {
  const { addon } = p.input;
  if (p.input.resources) p.draft.status.resources = p.input.resources;
  p.draft.setApiCondition(specValidCondition(p.problems, addon.metadata.generation));
  const node = addonNode(addon);
  const deps = checkDependencies(node, p.input.all);
  setDependencyCondition(p.draft, deps, node);
  return deps;
}

/**
 * Succeeded and Failed hold for their spec: a stale read, a workflow garbage-collected by its TTL or a
 * dependency that changed later never moves the addon back to Pending (upstream #285/#439).
 */
function holdTerminalPhase(p: Planning): AddonPlan | undefined {
  if (p.sameSpec && TERMINAL_PHASES.has(p.draft.prev.lifecycle?.installed ?? '')) return conclude(p);
  return undefined;
}

/** A spec or a dependency list with problems fails validation; nothing runs until the spec changes. */
function refuseInvalidSpec(p: Planning, deps: DependencyCheck): AddonPlan | undefined {
  if (p.problems.length > 0) {
    const reason = formatProblems(p.problems);
    p.draft.phase('Validation Failed', reason, { type: 'Warning', reason: 'InvalidSpec', message: reason });
    return conclude(p);
  }
  if (deps.problems.length > 0) {
    const reason = formatProblems(deps.problems);
    p.draft.phase('Validation Failed', reason, {
      type: 'Warning',
      reason: 'InvalidDependencies',
      message: reason,
    });
    return conclude(p);
  }
  return undefined;
}

/**
 * The lifecycle needs the Workflow CRD: not known yet, look again soon without writing status; absent,
 * Pending until it is installed; present, the WorkflowsAvailable condition says so and the plan goes on.
 */
function requireWorkflowApi(p: Planning): AddonPlan | undefined {
  const { input, draft } = p;
  if (input.workflowApi === 'unknown') return conclude(p, { writeStatus: false, requeueAfterMs: 2_000 });
  if (input.workflowApi === 'absent') {
    const reason = workflowsMissingReason(input.crdPollMs);
    draft.condition(AddonConditions.WorkflowsAvailable, 'False', 'WorkflowCRDNotFound', reason);
    draft.phase('Pending', reason, { type: 'Warning', reason: 'WorkflowCRDNotFound', message: reason });
    return conclude(p, { requeueAfterMs: input.crdPollMs });
  }
  draft.condition(
    AddonConditions.WorkflowsAvailable,
    'True',
    'WorkflowCRDFound',
    'the Argo Workflow CRD is installed',
  );
  return undefined;
}

/** A changed spec runs the lifecycle again, but only once the old spec's workflows are gone. */
function removeOldSpecWorkflows(p: Planning): AddonPlan | undefined {
  const { checksum } = p;
  const old = p.input.workflows.filter((w) => w.step !== 'delete' && w.checksum !== checksum);
  if (old.length === 0) return undefined;
  const previous = [...new Set(old.map((w) => w.checksum ?? '?'))].join(', ');
  const reason = `spec changed (checksum ${previous} -> ${checksum}): removing ${old.length} workflow(s) of the previous spec before running the lifecycle again`;
  p.draft.phase('Pending', reason, { type: 'Normal', reason: 'SpecChanged', message: reason });
  const names = old.filter((w) => !w.deleting).map((w) => w.name);
  return conclude(p, {
    actions: names.length ? [{ type: 'deleteWorkflows', names }] : [],
    requeueAfterMs: SPEC_CHANGE_POLL_MS,
  });
}

/** Pending while a dependency has not succeeded yet (its change requeues this addon). */
function waitForDependencies(p: Planning, deps: DependencyCheck): AddonPlan | undefined {
  if (deps.waiting.length === 0) return undefined;
  const reason = `waiting for dependencies: ${describeWaits(deps.waiting)}`;
  p.draft.phase('Pending', reason, { type: 'Normal', reason: 'WaitingForDependencies', message: reason });
  return conclude(p);
}

/** The workflow of one step for this spec, or undefined when the spec has no template for it. */
function renderStep(p: Planning, step: LifecycleStep): ReturnType<typeof renderWorkflow> | undefined {
  const entry = p.templates[step];
  if (!entry) return undefined;
  return renderWorkflow({
    addon: p.input.addon,
    spec: p.spec,
    step,
    checksum: p.checksum,
    wt: entry.wt,
    template: entry.template,
    deadlineSeconds: Math.ceil(addonInstallTimeoutMs(p.spec) / 1000),
  });
}

/** A dry run stays Pending and says what it would submit: an Event per workflow when that changed. */
function planDryRun(p: Planning): AddonPlan {
  const { draft, spec } = p;
  const planned = INSTALL_STEPS.map((step) => ({ step, rendered: renderStep(p, step) })).filter(
    (s) => s.rendered,
  );
  const names = planned.map((s) => `${s.step} workflow ${s.rendered?.workflow.metadata?.name}`);
  const reason = names.length
    ? `dry run: would submit ${names.join(', then ')}`
    : 'dry run: no lifecycle workflows to submit';
  const changed = draft.prev.reason !== reason;
  draft.phase('Pending', reason);
  if (changed) {
    const params = Object.entries(addonParameters(spec))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    for (const s of planned) {
      draft.events.push({
        type: 'Normal',
        reason: 'DryRun',
        message: `would submit ${s.step} workflow ${s.rendered?.workflow.metadata?.name} with parameters ${params}${s.rendered?.notes.length ? ` (${s.rendered.notes.join('; ')})` : ''}`,
      });
    }
  }
  return conclude(p);
}

/** Prereqs, install and validate in order, each recorded: the first step that has not succeeded decides. */
function runInstallSteps(p: Planning): AddonPlan | undefined {
  const current = p.input.workflows.filter((w) => w.checksum === p.checksum && w.step !== 'delete');
  const workflowOf = (step: InstallStep) => current.find((w) => w.step === step);
  for (const [i, step] of INSTALL_STEPS.entries()) {
    const wf = workflowOf(step);
    const laterStarted = INSTALL_STEPS.slice(i + 1).some((s) => workflowOf(s));
    const state = stepState(p, step, wf, laterStarted);
    recordStep(p.draft, step, state, wf, !p.templates[step]);
    if (state === 'Succeeded') continue;
    if (state === 'Failed' && wf) return failStep(p, step, wf);
    if (state === 'Running' && wf) return installTimedOut(p, wf) ?? followRunningStep(p, step, wf);
    return installTimedOut(p) ?? (step === 'install' ? waitForSecrets(p) : undefined) ?? submitStep(p, step);
  }
  return undefined;
}

/**
 * Where a step stands: Succeeded when the spec has no template for it; else its workflow's phase; else
 * Succeeded when it is recorded as such or a later step has started (its workflow may be gone by now);
 * else NotSubmitted.
 */
function stepState(
  p: Planning,
  step: InstallStep,
  wf: ObservedWorkflow | undefined,
  laterStarted: boolean,
): StepState {
  if (!p.templates[step]) return 'Succeeded';
  if (wf) return wf.phase;
  const recorded =
    step === 'prereqs'
      ? p.draft.status.lifecycle?.prereqs === 'Succeeded'
      : p.draft.conditionStatus(
          step === 'install' ? AddonConditions.Installed : AddonConditions.Validated,
        ) === 'True';
  return recorded || laterStarted ? 'Succeeded' : 'NotSubmitted';
}

/** A failed step fails the addon for this spec (a failed prereqs step also means not Installed). */
function failStep(p: Planning, step: InstallStep, wf: ObservedWorkflow): AddonPlan {
  const reason = `${step} workflow ${wf.name} failed: ${failureText(wf)}`;
  p.draft.phase('Failed', reason, { type: 'Warning', reason: `${title(step)}Failed`, message: reason });
  if (step === 'prereqs') p.draft.condition(AddonConditions.Installed, 'False', 'PrereqsFailed', reason);
  return conclude(p);
}

/** Failed once the lifecycle has run longer than installTimeout; undefined while there is time left. */
function installTimedOut(p: Planning, running?: ObservedWorkflow): AddonPlan | undefined {
  const { draft, spec } = p;
  const started = draft.status.starttime;
  if (started === undefined || p.input.now.getTime() - started <= addonInstallTimeoutMs(spec))
    return undefined;
  const reason = `the lifecycle did not finish within installTimeout ${spec.installTimeout ?? '1h'} (started ${new Date(started).toISOString()})${running ? `; ${running.step} workflow ${running.name} is still ${running.argoPhase || 'Pending'}` : ''}`;
  if (running?.step && running.step !== 'delete')
    draft.outcomes.push({ step: running.step, outcome: 'Failed' });
  draft.phase('Failed', reason, { type: 'Warning', reason: 'InstallTimeout', message: reason });
  draft.condition(AddonConditions.Installed, 'False', 'InstallTimeout', reason);
  return conclude(p);
}

/**
 * A step's workflow runs (or is being deleted, to be submitted again): Pending, looked at again when the
 * install timeout would strike (a finished workflow requeues the addon before that).
 */
function followRunningStep(p: Planning, step: InstallStep, wf: ObservedWorkflow): AddonPlan {
  const reason = wf.deleting
    ? `${step} workflow ${wf.name} is being deleted; it will be submitted again`
    : `${step} workflow ${wf.name} is ${wf.argoPhase || 'Pending'}`;
  p.draft.phase('Pending', reason);
  const timeoutMs = addonInstallTimeoutMs(p.spec);
  const started = p.draft.status.starttime;
  const remaining = started !== undefined ? started + timeoutMs - p.input.now.getTime() : timeoutMs;
  return conclude(p, { requeueAfterMs: wf.deleting ? SPEC_CHANGE_POLL_MS : Math.max(1_000, remaining) });
}

/** Install waits for the secrets the addon needs in its namespace (spec.secrets). */
function waitForSecrets(p: Planning): AddonPlan | undefined {
  const { spec } = p;
  const missing = (spec.secrets ?? []).map((s) => s.name).filter((n) => p.input.secrets?.[n] !== true);
  if (missing.length === 0) return undefined;
  const reason = `waiting for secrets ${missing.join(', ')} in namespace ${spec.params?.namespace ?? ''} (spec.secrets)`;
  p.draft.phase('Pending', reason, { type: 'Warning', reason: 'SecretsMissing', message: reason });
  return conclude(p, { requeueAfterMs: 15_000 });
}

/**
 * Submits a step's workflow (the finalizer first, before the first side effect) and starts the install
 * clock; looks again when the install timeout would strike.
 */
function submitStep(p: Planning, step: InstallStep): AddonPlan {
  const { draft, input } = p;
  const rendered = renderStep(p, step);
  if (!rendered) throw new Error(`no ${step} template`); // unreachable: only steps with templates are submitted
  const actions: AddonAction[] = [];
  if (!input.addon.metadata.finalizers?.includes(ADDON_FINALIZER)) actions.push({ type: 'addFinalizer' });
  actions.push({ type: 'submitWorkflow', step, workflow: rendered.workflow });
  draft.status.starttime ??= input.now.getTime();
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
  return conclude(p, { actions, requeueAfterMs: addonInstallTimeoutMs(p.spec) });
}

/** Every step succeeded: Succeeded, with an Installed event the first time for this spec. */
function markInstalled(p: Planning): AddonPlan {
  const { draft, spec } = p;
  const installedNow = draft.prev.lifecycle?.installed !== 'Succeeded' || !p.sameSpec;
  draft.phase('Succeeded', undefined);
  if (installedNow) {
    draft.events.push({
      type: 'Normal',
      reason: 'Installed',
      message: `addon ${spec.pkgName} ${spec.pkgVersion} installed (spec ${p.checksum})`,
    });
  }
  return conclude(p);
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
    draft.outcomes.push(stepOutcome(step, state, wf));
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

/**
 * Deletion, in order: stop the install workflows still running, run the delete workflow (if the spec has
 * one), then remove the finalizer. A failed delete workflow is shown and run again, never dropped.
 */
function planDeletion(p: Planning): AddonPlan {
  const { addon } = p.input;
  if (!addon.metadata.finalizers?.includes(ADDON_FINALIZER)) return conclude(p, { writeStatus: false });
  const stopping = stopInstallWorkflows(p);
  if (stopping) return stopping;
  const wt = p.spec.lifecycle?.delete;
  if (!wt?.template) return finalizeWithoutDeleteWorkflow(p);
  const blocked = refuseUnrunnableDelete(p);
  if (blocked) return blocked;

  const wfName = workflowName(addon.metadata.name ?? '', 'delete', p.checksum, wt.namePrefix);
  if (p.input.dryRun) {
    p.draft.phase('Deleting', `dry run: would submit delete workflow ${wfName}, then remove the finalizer`);
    return conclude(p);
  }
  const wf = p.input.workflows.find((w) => w.name === wfName);
  if (!wf) return submitDeleteWorkflow(p, wfName);
  return removeForeignDeleteWorkflow(p, wf) ?? followDeleteWorkflow(p, wf);
}

/** Workflows of the install still running would race the delete workflow: they are stopped first. */
function stopInstallWorkflows(p: Planning): AddonPlan | undefined {
  const running = p.input.workflows.filter((w) => w.step !== 'delete' && w.phase === 'Running');
  if (running.length === 0) return undefined;
  const reason = `stopping ${running.map((w) => w.name).join(', ')} before the delete workflow`;
  p.draft.phase('Deleting', reason, { type: 'Normal', reason: 'Deleting', message: reason });
  const names = running.filter((w) => !w.deleting).map((w) => w.name);
  return conclude(p, {
    actions: names.length ? [{ type: 'deleteWorkflows', names }] : [],
    requeueAfterMs: SPEC_CHANGE_POLL_MS,
  });
}

/** A spec without a delete workflow has nothing to undo: the finalizer goes at once. */
function finalizeWithoutDeleteWorkflow(p: Planning): AddonPlan {
  p.draft.events.push({
    type: 'Normal',
    reason: 'Deleted',
    message: 'no delete workflow in the spec; finalizer removed',
  });
  return conclude(p, { writeStatus: false, actions: [{ type: 'removeFinalizer', confirmWorkflow: '' }] });
}

/**
 * The delete workflow cannot run while its template has problems or the Workflow CRD is missing: Delete
 * Failed, saying how to skip it (remove the finalizer); undefined when it can run.
 */
function refuseUnrunnableDelete(p: Planning): AddonPlan | undefined {
  const { input, draft } = p;
  const deleteProblems = p.problems.filter((problem) => problem.field.startsWith('spec.lifecycle.delete'));
  if (!p.templates.delete || deleteProblems.length > 0) {
    const reason = `cannot run the delete workflow: ${formatProblems(deleteProblems)}; fix spec.lifecycle.delete, or remove the finalizer ${ADDON_FINALIZER} to skip it`;
    draft.phase('Delete Failed', reason, { type: 'Warning', reason: 'DeleteFailed', message: reason });
    return conclude(p, { requeueAfterMs: input.deleteRetryMs });
  }
  if (input.workflowApi === 'unknown') return conclude(p, { writeStatus: false, requeueAfterMs: 2_000 });
  if (input.workflowApi === 'absent') {
    const reason = `cannot run the delete workflow: ${workflowsMissingReason(input.crdPollMs)}; or remove the finalizer ${ADDON_FINALIZER} to skip it`;
    draft.phase('Delete Failed', reason, { type: 'Warning', reason: 'DeleteFailed', message: reason });
    return conclude(p, { requeueAfterMs: input.crdPollMs });
  }
  return undefined;
}

/** A delete workflow of the same name left by an earlier Addon (another uid) is removed before ours runs. */
function removeForeignDeleteWorkflow(p: Planning, wf: ObservedWorkflow): AddonPlan | undefined {
  const { addon } = p.input;
  const uid = addon.metadata.uid;
  if (!uid || !wf.addonUid || wf.addonUid === uid) return undefined;
  const reason = `removing delete workflow ${wf.name} left by an earlier Addon named ${addon.metadata.name ?? ''}`;
  p.draft.phase('Deleting', reason);
  return conclude(p, {
    actions: wf.deleting ? [] : [{ type: 'deleteWorkflows', names: [wf.name] }],
    requeueAfterMs: SPEC_CHANGE_POLL_MS,
  });
}

/** Submits the delete workflow; its end requeues the addon. */
function submitDeleteWorkflow(p: Planning, wfName: string): AddonPlan {
  const rendered = renderStep(p, 'delete');
  if (!rendered) throw new Error('no delete template'); // unreachable: refuseUnrunnableDelete checked it
  const reason = `delete workflow ${wfName} submitted`;
  p.draft.phase('Deleting', reason, {
    type: 'Normal',
    reason: 'WorkflowSubmitted',
    message: `Submitted delete workflow ${wfName}`,
  });
  return conclude(p, { actions: [{ type: 'submitWorkflow', step: 'delete', workflow: rendered.workflow }] });
}

/**
 * Follows our delete workflow: wait while it is being removed or runs; once it succeeded, the finalizer
 * goes; once it failed, see planFailedDelete.
 */
function followDeleteWorkflow(p: Planning, wf: ObservedWorkflow): AddonPlan {
  const { draft } = p;
  if (wf.deleting) {
    draft.phase(
      'Deleting',
      `waiting for the failed delete workflow ${wf.name} to be removed before running it again`,
    );
    return conclude(p, { requeueAfterMs: SPEC_CHANGE_POLL_MS });
  }
  if (wf.phase === 'Running') {
    draft.phase('Deleting', `delete workflow ${wf.name} is ${wf.argoPhase || 'Pending'}`);
    return conclude(p);
  }
  if (wf.phase === 'Succeeded') {
    draft.outcomes.push(stepOutcome('delete', 'Succeeded', wf));
    draft.events.push({
      type: 'Normal',
      reason: 'Deleted',
      message: `delete workflow ${wf.name} succeeded; finalizer removed`,
    });
    return conclude(p, {
      writeStatus: false,
      actions: [{ type: 'removeFinalizer', confirmWorkflow: wf.name }],
    });
  }
  return planFailedDelete(p, wf);
}

/**
 * A failed delete workflow is shown (Delete Failed, an outcome and a Warning the first time), then, once
 * deleteRetryMs have passed since it finished, deleted so that it is submitted again.
 */
function planFailedDelete(p: Planning, wf: ObservedWorkflow): AddonPlan {
  const { draft, input } = p;
  const now = input.now.getTime();
  const finished = Date.parse(wf.finishedAt ?? wf.startedAt ?? wf.createdAt ?? '') || now;
  const retryAt = finished + input.deleteRetryMs;
  const shownAlready = draft.prev.lifecycle?.installed === 'Delete Failed';
  if (now >= retryAt && shownAlready) {
    draft.phase('Deleting', `running delete workflow ${wf.name} again (it failed: ${failureText(wf)})`, {
      type: 'Normal',
      reason: 'RetryingDelete',
      message: `running delete workflow ${wf.name} again after: ${failureText(wf)}`,
    });
    return conclude(p, {
      actions: [{ type: 'deleteWorkflows', names: [wf.name] }],
      requeueAfterMs: SPEC_CHANGE_POLL_MS,
    });
  }
  if (!shownAlready) draft.outcomes.push(stepOutcome('delete', 'Failed', wf));
  const reason = `delete workflow ${wf.name} failed: ${failureText(wf)}; it runs again at ${new Date(retryAt).toISOString().replace(/\.\d+Z$/, 'Z')}`;
  draft.phase('Delete Failed', reason);
  if (!shownAlready)
    draft.events.push({
      type: 'Warning',
      reason: 'DeleteFailed',
      message: `delete workflow ${wf.name} failed: ${failureText(wf)}`,
    });
  return conclude(p, { requeueAfterMs: Math.max(1_000, retryAt - now) });
}
