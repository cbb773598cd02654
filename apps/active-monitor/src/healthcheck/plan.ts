// The HealthCheck decisions, pure: record finished runs (counters, remedy), adopt unrecorded runs,
// decide the next slot and whether it is due, and whether a remedy runs. The controller reads the
// caches, calls planHealthCheck, creates what it says and writes the status.
import type { HealthCheck, HealthCheckStatus, HealthCheckWorkflow } from '@keiko/api';
import type { PlannedEvent } from '@keiko/kube-runtime';
import type { RunKind } from './constants';
import { latestDueSlot, scheduleOf, type Schedule } from './schedule';
import { runName, type CustomMetric, type ObservedRun } from './workflow';

export interface PlanInput {
  hc: HealthCheck;
  now: Date;
  timeZone: string;
  paused: boolean;
  /** The check's Workflows (cache, plus live reads of the recorded in-flight ones). */
  runs: ObservedRun[];
  /** Names of recorded in-flight Workflows the apiserver no longer has. */
  gone: string[];
  /** Why the spec cannot run (found by the controller: source, RBAC policy); Stopped with it. */
  problem?: string;
  /** A slot run later than this is reported (Event RunLate). */
  lateAfterMs: number;
}

export interface Submission {
  kind: RunKind;
  slot: Date;
  name: string;
  workflow: HealthCheckWorkflow;
}

/** A run that finished, for metrics. */
export interface Outcome {
  kind: RunKind;
  succeeded: boolean;
  startedAt?: string;
  finishedAt?: string;
  metrics: CustomMetric[];
}

export interface HealthCheckPlan {
  status: HealthCheckStatus;
  submissions: Submission[];
  events: PlannedEvent[];
  outcomes: Outcome[];
  requeueAfterMs?: number;
}

export type Status = HealthCheckStatus;

/** Decides everything for one reconcile of one HealthCheck. */
export function planHealthCheck(input: PlanInput): HealthCheckPlan {
  const plan: HealthCheckPlan = {
    status: structuredClone(input.hc.status ?? {}),
    submissions: [],
    events: [],
    outcomes: [],
  };
  const schedule = scheduleOf(input.hc.spec, input.timeZone);
  adoptRuns(input, plan);
  recordCheck(input, plan, schedule);
  recordRemedy(input, plan);
  const stopped = input.problem ?? (schedule.kind === 'none' ? schedule.reason : undefined);
  if (stopped !== undefined) return stop(plan, stopped);
  if (input.paused) {
    if (!plan.status.paused)
      plan.events.push(normal('Paused', 'paused: no new runs until the annotation is removed'));
    plan.status.paused = true;
    delete plan.status.nextRunAt;
    return plan;
  }
  if (plan.status.paused) {
    plan.events.push(normal('Resumed', 'resumed'));
    delete plan.status.paused;
  }
  if (plan.status.status === 'Stopped') {
    delete plan.status.status;
    delete plan.status.errorMessage;
  }
  if (schedule.kind !== 'none') scheduleNext(input, plan, schedule);
  return plan;
}

/**
 * A Workflow of this check not yet recorded — submitted by a process that died before writing the
 * status — becomes the run in flight (its slot is after the last recorded one).
 */
function adoptRuns(input: PlanInput, plan: HealthCheckPlan): void {
  const s = plan.status;
  const lastSlot = s.lastSlot ? Date.parse(s.lastSlot) : -Infinity;
  if (!s.currentWorkflow) {
    const unrecorded = input.runs
      .filter((r) => r.kind === 'healthCheck' && r.slot && Date.parse(r.slot) > lastSlot)
      .sort((a, b) => Date.parse(b.slot ?? '') - Date.parse(a.slot ?? ''))[0];
    if (unrecorded?.slot) {
      s.currentWorkflow = unrecorded.name;
      s.currentSlot = unrecorded.slot;
      s.lastSlot = unrecorded.slot;
      s.startedAt = unrecorded.startedAt ?? s.startedAt;
      plan.events.push(normal('Adopted', `adopted workflow ${unrecorded.name} (slot ${unrecorded.slot})`));
    }
  }
}

/** Records the check's in-flight run when it finished (or disappeared). */
function recordCheck(input: PlanInput, plan: HealthCheckPlan, schedule: Schedule): void {
  const s = plan.status;
  if (!s.currentWorkflow) return;
  const name = s.currentWorkflow;
  const run = input.runs.find((r) => r.name === name);
  const gone = input.gone.includes(name);
  if (!gone && (!run || run.phase === 'Running')) return;
  const now = input.now.toISOString();
  const finishedAt = run?.finishedAt ?? now;
  const succeeded = run?.phase === 'Succeeded';
  const message = gone
    ? `workflow ${name} was deleted before it finished`
    : run?.message || `workflow ${name} ${succeeded ? 'succeeded' : 'failed'}`;
  s.finishedAt = finishedAt;
  if (run?.startedAt) s.startedAt = run.startedAt;
  s.totalHealthCheckRuns = (s.totalHealthCheckRuns ?? 0) + 1;
  delete s.currentWorkflow;
  delete s.currentSlot;
  plan.outcomes.push({
    kind: 'healthCheck',
    succeeded,
    startedAt: run?.startedAt,
    finishedAt,
    metrics: run?.metrics ?? [],
  });
  if (schedule.kind === 'repeat')
    s.nextRunAt = new Date(Date.parse(finishedAt) + schedule.everyMs).toISOString();
  if (succeeded) return recordPass(plan, name);
  s.status = 'Failed';
  s.errorMessage = message;
  s.failedCount = (s.failedCount ?? 0) + 1;
  s.lastFailedAt = finishedAt;
  s.lastFailedWorkflow = name;
  plan.events.push(warning('WorkflowFailed', `health check ${message}`));
  decideRemedy(input, plan);
}

/** A passing check: counters, and the remedy window starts over (upstream resets remedy status). */
function recordPass(plan: HealthCheckPlan, name: string): void {
  const s = plan.status;
  s.status = 'Succeeded';
  delete s.errorMessage;
  s.successCount = (s.successCount ?? 0) + 1;
  s.lastSuccessfulWorkflow = name;
  if ((s.remedyTotalRuns ?? 0) > 0 || s.remedyStatus) {
    s.remedyTotalRuns = 0;
    delete s.remedyStatus;
    delete s.remedyErrorMessage;
  }
  plan.events.push(normal('WorkflowSucceeded', `health check workflow ${name} succeeded`));
}

/**
 * A failed check runs the remedy, within remedyRunsLimit runs (0: no limit) — the count starts over
 * once remedyResetInterval seconds passed since the last remedy finished.
 */
export function remedyAllowed(
  spec: HealthCheck['spec'],
  s: HealthCheckStatus,
  now: Date,
): { run: boolean; reset: boolean; reason?: string } {
  if (!spec.remedyworkflow?.resource) return { run: false, reset: false };
  if (s.currentRemedyWorkflow)
    return { run: false, reset: false, reason: `remedy ${s.currentRemedyWorkflow} is still running` };
  const limit = spec.remedyRunsLimit ?? 0;
  if (limit <= 0 || (s.remedyTotalRuns ?? 0) < limit) return { run: true, reset: false };
  const interval = (spec.remedyResetInterval ?? 0) * 1000;
  const since = s.remedyFinishedAt ? now.getTime() - Date.parse(s.remedyFinishedAt) : 0;
  if (interval > 0 && since >= interval) return { run: true, reset: true };
  return {
    run: false,
    reset: false,
    reason: `remedy run limit reached (${limit} runs${interval > 0 ? `; it resets ${spec.remedyResetInterval}s after the last remedy finished` : ''})`,
  };
}

function decideRemedy(input: PlanInput, plan: HealthCheckPlan): void {
  const { hc, now } = input;
  const s = plan.status;
  const decision = remedyAllowed(hc.spec, s, now);
  if (!decision.run) {
    if (decision.reason) plan.events.push(warning('RemedySkipped', decision.reason));
    return;
  }
  const slot = new Date(Date.parse(s.lastSlot ?? now.toISOString()));
  const wf = hc.spec.remedyworkflow as HealthCheckWorkflow;
  const name = runName(hc, 'remedy', wf, slot);
  if (decision.reset) s.remedyTotalRuns = 0;
  s.remedyTotalRuns = (s.remedyTotalRuns ?? 0) + 1;
  s.currentRemedyWorkflow = name;
  s.remedyTriggeredAt = now.toISOString();
  plan.submissions.push({ kind: 'remedy', slot, name, workflow: wf });
}

/** Records the remedy in flight when it finished (or disappeared). */
function recordRemedy(input: PlanInput, plan: HealthCheckPlan): void {
  const s = plan.status;
  const name = s.currentRemedyWorkflow;
  if (!name || plan.submissions.some((x) => x.name === name)) return;
  const run = input.runs.find((r) => r.name === name);
  const gone = input.gone.includes(name);
  if (!gone && (!run || run.phase === 'Running')) return;
  const finishedAt = run?.finishedAt ?? input.now.toISOString();
  const succeeded = run?.phase === 'Succeeded';
  delete s.currentRemedyWorkflow;
  s.remedyFinishedAt = finishedAt;
  s.remedyStatus = succeeded ? 'Succeeded' : 'Failed';
  plan.outcomes.push({ kind: 'remedy', succeeded, startedAt: run?.startedAt, finishedAt, metrics: [] });
  if (succeeded) {
    delete s.remedyErrorMessage;
    s.remedySuccessCount = (s.remedySuccessCount ?? 0) + 1;
    plan.events.push(normal('RemedySucceeded', `remedy workflow ${name} succeeded`));
    return;
  }
  s.remedyErrorMessage = gone
    ? `workflow ${name} was deleted before it finished`
    : run?.message || `workflow ${name} failed`;
  s.remedyFailedCount = (s.remedyFailedCount ?? 0) + 1;
  s.remedyLastFailedAt = finishedAt;
  plan.events.push(warning('RemedyFailed', `remedy ${s.remedyErrorMessage}`));
}

function stop(plan: HealthCheckPlan, reason: string): HealthCheckPlan {
  const s = plan.status;
  if (s.status !== 'Stopped' || s.errorMessage !== reason) plan.events.push(warning('Stopped', reason));
  s.status = 'Stopped';
  s.errorMessage = reason;
  delete s.nextRunAt;
  return plan;
}

/**
 * The next slot: recorded in status (nextRunAt), else now for repeatAfterSec (a new check runs at once,
 * as upstream's does) or the next cron fire time. A due slot is submitted unless a run is in flight; cron
 * fire times passed over while nothing could run are counted in missedRuns and reported.
 */
function scheduleNext(
  input: PlanInput,
  plan: HealthCheckPlan,
  schedule: Exclude<Schedule, { kind: 'none' }>,
): void {
  const { now, hc } = input;
  const s = plan.status;
  if (s.currentWorkflow) {
    if (schedule.kind === 'cron' && !s.nextRunAt) s.nextRunAt = schedule.next(now).toISOString();
    return;
  }
  if (!s.nextRunAt) s.nextRunAt = (schedule.kind === 'repeat' ? now : schedule.next(now)).toISOString();
  let slot = new Date(s.nextRunAt);
  if (slot.getTime() > now.getTime()) {
    plan.requeueAfterMs = slot.getTime() - now.getTime();
    return;
  }
  if (schedule.kind === 'cron') {
    const due = latestDueSlot(schedule.next, slot, now);
    if (due.skipped > 0) reportMissed(plan, due.skipped, slot, due.slot);
    slot = due.slot;
  }
  const late = now.getTime() - slot.getTime();
  if (late > input.lateAfterMs)
    plan.events.push(
      warning('RunLate', `the run due at ${slot.toISOString()} starts ${Math.round(late / 1000)}s late`),
    );
  const name = runName(hc, 'healthCheck', hc.spec.workflow, slot);
  plan.submissions.unshift({ kind: 'healthCheck', slot, name, workflow: hc.spec.workflow });
  s.currentWorkflow = name;
  s.currentSlot = slot.toISOString();
  s.lastSlot = slot.toISOString();
  s.startedAt = now.toISOString();
  if (schedule.kind === 'cron') {
    const next = schedule.next(slot);
    s.nextRunAt = next.toISOString();
  } else delete s.nextRunAt;
  plan.events.push(
    normal('WorkflowSubmitted', `submitted health check workflow ${name} for ${slot.toISOString()}`),
  );
}

function reportMissed(plan: HealthCheckPlan, skipped: number, first: Date, runAt: Date): void {
  const s = plan.status;
  s.missedRuns = (s.missedRuns ?? 0) + skipped;
  s.lastMissedAt = first.toISOString();
  plan.events.push(
    warning(
      'MissedRuns',
      `${skipped} scheduled run(s) from ${first.toISOString()} were missed (no controller, or a run still in flight); running the one due at ${runAt.toISOString()}`,
    ),
  );
}

/**
 * The status to write when a submission was refused (source unreadable, RBAC, Argo's validation): the
 * slot is not consumed — the check stays due and is tried again with backoff.
 */
export function submissionFailedStatus(
  planned: HealthCheckStatus,
  previous: HealthCheckStatus,
  failed: Submission,
  message: string,
): HealthCheckStatus {
  const s = structuredClone(planned);
  if (failed.kind === 'remedy') {
    delete s.currentRemedyWorkflow;
    s.remedyTotalRuns = previous.remedyTotalRuns;
    s.remedyStatus = 'Failed';
    s.remedyErrorMessage = message;
    return s;
  }
  delete s.currentWorkflow;
  delete s.currentSlot;
  s.lastSlot = previous.lastSlot;
  s.nextRunAt = failed.slot.toISOString();
  s.status = 'Failed';
  s.errorMessage = message;
  return s;
}

/** Retry delay after `attempt` refused submissions: backoffMin·(1+backoffFactor)^attempt, at most backoffMax. */
export function retryDelayMs(spec: HealthCheck['spec'], attempt: number): number {
  const min = Math.max(1, spec.backoffMin ?? 5);
  const max = Math.max(min, spec.backoffMax ?? 300);
  const factor = 1 + Math.max(0.1, Number(spec.backoffFactor ?? '1') || 1);
  return Math.round(Math.min(max, min * factor ** attempt) * 1000);
}

const normal = (reason: string, message: string): PlannedEvent => ({ type: 'Normal', reason, message });
const warning = (reason: string, message: string): PlannedEvent => ({ type: 'Warning', reason, message });
