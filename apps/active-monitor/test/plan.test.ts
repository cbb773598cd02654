import { describe, expect, it } from '@jest/globals';
import type { HealthCheck } from '@keiko/api';
import {
  planHealthCheck,
  remedyAllowed,
  retryDelayMs,
  submissionFailedStatus,
  type PlanInput,
} from '../src/healthcheck/plan';
import { latestDueSlot, scheduleOf } from '../src/healthcheck/schedule';
import { runName, type ObservedRun } from '../src/healthcheck/workflow';

const T0 = new Date('2026-12-06T10:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function check(spec: Partial<HealthCheck['spec']> = {}, status?: HealthCheck['status']): HealthCheck {
  return {
    apiVersion: 'activemonitor.keikoproj.io/v1alpha1',
    kind: 'HealthCheck',
    metadata: { name: 'hello', namespace: 'health', uid: 'u1' },
    spec: {
      repeatAfterSec: 60,
      workflow: { generateName: 'hello-', resource: { namespace: 'health', source: { inline: 'x' } } },
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

function input(hc: HealthCheck, now = T0, extra: Partial<PlanInput> = {}): PlanInput {
  return { hc, now, timeZone: 'UTC', paused: false, runs: [], gone: [], lateAfterMs: 30_000, ...extra };
}

const run = (
  name: string,
  phase: ObservedRun['phase'],
  slot: Date,
  extra: Partial<ObservedRun> = {},
): ObservedRun => ({
  name,
  kind: 'healthCheck',
  slot: slot.toISOString(),
  phase,
  startedAt: slot.toISOString(),
  finishedAt: phase === 'Running' ? undefined : at(10).toISOString(),
  metrics: [],
  ...extra,
});

describe('schedule', () => {
  it('has none without repeatAfterSec > 0 or a cron (upstream pauses checks with repeatAfterSec: 0)', () => {
    expect(scheduleOf({ repeatAfterSec: 0 }, 'UTC')).toMatchObject({
      kind: 'none',
      reason: expect.stringMatching(/neither/),
    });
    expect(scheduleOf({ repeatAfterSec: 5 }, 'UTC')).toEqual({ kind: 'repeat', everyMs: 5000 });
  });

  it('reads 5-field cron, descriptors and @every, in a time zone; refuses the rest naming the field', () => {
    const five = scheduleOf({ schedule: { cron: '*/5 * * * *' } }, 'UTC');
    expect(five.kind === 'cron' && five.next(at(1)).toISOString()).toBe('2026-12-06T10:05:00.000Z');
    const daily = scheduleOf({ schedule: { cron: '0 9 * * *' } }, 'Europe/Berlin');
    expect(daily.kind === 'cron' && daily.next(T0).toISOString()).toBe('2026-12-07T08:00:00.000Z');
    const every = scheduleOf({ schedule: { cron: '@every 5m' } }, 'UTC');
    expect(every.kind === 'cron' && every.next(at(1)).toISOString()).toBe('2026-12-06T10:05:00.000Z');
    const hourly = scheduleOf({ schedule: { cron: '@hourly' } }, 'UTC');
    expect(hourly.kind === 'cron' && hourly.next(at(1)).toISOString()).toBe('2026-12-06T11:00:00.000Z');
    for (const bad of ['* * * *', '0 0 * * * *', '61 * * * *', '@sometimes', '@every soon'])
      expect(scheduleOf({ schedule: { cron: bad } }, 'UTC')).toMatchObject({
        kind: 'none',
        reason: expect.stringContaining(`spec.schedule.cron "${bad}" is invalid`),
      });
  });

  it('finds the latest due fire time and counts the ones passed over', () => {
    const s = scheduleOf({ schedule: { cron: '* * * * *' } }, 'UTC');
    if (s.kind !== 'cron') throw new Error('cron expected');
    expect(latestDueSlot(s.next, at(60), at(250))).toEqual({ slot: at(240), skipped: 3 });
    expect(latestDueSlot(s.next, at(60), at(61))).toEqual({ slot: at(60), skipped: 0 });
  });
});

describe('planHealthCheck', () => {
  it('stops a check with no schedule, with the reason, once', () => {
    const plan = planHealthCheck(input(check({ repeatAfterSec: 0 })));
    expect(plan.status).toMatchObject({
      status: 'Stopped',
      errorMessage: expect.stringMatching(/neither spec.repeatAfterSec/),
    });
    expect(plan.submissions).toEqual([]);
    expect(plan.events.map((e) => e.reason)).toEqual(['Stopped']);
    expect(planHealthCheck(input(check({ repeatAfterSec: 0 }, plan.status))).events).toEqual([]);
  });

  it('runs a new repeatAfterSec check at once, named for its slot', () => {
    const plan = planHealthCheck(input(check()));
    const name = runName(check(), 'healthCheck', check().spec.workflow, T0);
    expect(name).toMatch(/^hello-[0-9a-f]{6}-\d+$/);
    expect(plan.submissions).toEqual([expect.objectContaining({ kind: 'healthCheck', name, slot: T0 })]);
    expect(plan.status).toMatchObject({
      currentWorkflow: name,
      currentSlot: T0.toISOString(),
      lastSlot: T0.toISOString(),
    });
    expect(plan.status.nextRunAt).toBeUndefined();
  });

  it('gives two checks of one name in two namespaces different workflow names', () => {
    const other = { ...check(), metadata: { ...check().metadata, namespace: 'other' } };
    expect(runName(other, 'healthCheck', other.spec.workflow, T0)).not.toBe(
      runName(check(), 'healthCheck', check().spec.workflow, T0),
    );
  });

  it('waits for a slot not yet due, and records a pass with the next slot counted from completion', () => {
    const waiting = planHealthCheck(input(check({}, { nextRunAt: at(30).toISOString() })));
    expect(waiting.submissions).toEqual([]);
    expect(waiting.requeueAfterMs).toBe(30_000);

    const hc = check(
      {},
      { currentWorkflow: 'w1', currentSlot: T0.toISOString(), lastSlot: T0.toISOString() },
    );
    const done = planHealthCheck(input(hc, at(12), { runs: [run('w1', 'Succeeded', T0)] }));
    expect(done.status).toMatchObject({
      status: 'Succeeded',
      successCount: 1,
      totalHealthCheckRuns: 1,
      lastSuccessfulWorkflow: 'w1',
      finishedAt: at(10).toISOString(),
      nextRunAt: at(70).toISOString(),
    });
    expect(done.status.currentWorkflow).toBeUndefined();
    expect(done.outcomes).toEqual([expect.objectContaining({ kind: 'healthCheck', succeeded: true })]);
    expect(done.requeueAfterMs).toBe(58_000);
  });

  it('keeps waiting while the run is in flight (no second submission)', () => {
    const hc = check(
      {},
      { currentWorkflow: 'w1', currentSlot: T0.toISOString(), lastSlot: T0.toISOString() },
    );
    const plan = planHealthCheck(input(hc, at(500), { runs: [run('w1', 'Running', T0)] }));
    expect(plan.submissions).toEqual([]);
    expect(plan.status).toEqual(hc.status);
  });

  it('adopts a workflow submitted for an unrecorded slot instead of submitting again', () => {
    const hc = check({}, { nextRunAt: T0.toISOString(), lastSlot: at(-60).toISOString() });
    const plan = planHealthCheck(input(hc, at(1), { runs: [run('w0', 'Running', T0)] }));
    expect(plan.submissions).toEqual([]);
    expect(plan.status).toMatchObject({ currentWorkflow: 'w0', lastSlot: T0.toISOString() });
    expect(plan.events.map((e) => e.reason)).toEqual(['Adopted']);
  });

  it('records a failure, runs the remedy within remedyRunsLimit and resets on a pass', () => {
    const remedyworkflow = {
      generateName: 'fix-',
      resource: { namespace: 'health', source: { inline: 'x' } },
    };
    const spec = { remedyworkflow, remedyRunsLimit: 1, remedyResetInterval: 300 };
    const base = { currentWorkflow: 'w1', currentSlot: T0.toISOString(), lastSlot: T0.toISOString() };
    const failed = planHealthCheck(
      input(check(spec, base), at(12), { runs: [run('w1', 'Failed', T0, { message: 'boom' })] }),
    );
    expect(failed.status).toMatchObject({
      status: 'Failed',
      errorMessage: 'boom',
      failedCount: 1,
      lastFailedWorkflow: 'w1',
      remedyTotalRuns: 1,
    });
    expect(failed.submissions).toEqual([
      expect.objectContaining({ kind: 'remedy', name: failed.status.currentRemedyWorkflow }),
    ]);

    // Remedy done; the next failure is over the limit.
    const remedyRun: ObservedRun = {
      ...run(failed.status.currentRemedyWorkflow ?? '', 'Succeeded', T0),
      kind: 'remedy',
    };
    const afterRemedy = planHealthCheck(input(check(spec, failed.status), at(20), { runs: [remedyRun] }));
    expect(afterRemedy.status).toMatchObject({
      remedyStatus: 'Succeeded',
      remedySuccessCount: 1,
      remedyFinishedAt: at(10).toISOString(),
    });
    const again = {
      ...afterRemedy.status,
      currentWorkflow: 'w2',
      currentSlot: at(70).toISOString(),
      lastSlot: at(70).toISOString(),
    };
    const skipped = planHealthCheck(
      input(check(spec, again), at(90), { runs: [run('w2', 'Failed', at(70))] }),
    );
    expect(skipped.submissions.filter((s) => s.kind === 'remedy')).toEqual([]);
    expect(skipped.events.map((e) => e.reason)).toContain('RemedySkipped');

    // After remedyResetInterval the count starts over.
    expect(
      remedyAllowed(
        check(spec).spec,
        { remedyTotalRuns: 1, remedyFinishedAt: at(10).toISOString() },
        at(311),
      ),
    ).toEqual({ run: true, reset: true });
    expect(
      remedyAllowed(check(spec).spec, { remedyTotalRuns: 1, remedyFinishedAt: at(10).toISOString() }, at(300))
        .run,
    ).toBe(false);

    // A pass resets the remedy window.
    const pass = planHealthCheck(
      input(check(spec, again), at(90), { runs: [run('w2', 'Succeeded', at(70))] }),
    );
    expect(pass.status.remedyTotalRuns).toBe(0);
    expect(pass.status.remedyStatus).toBeUndefined();
  });

  it('counts a recorded run that disappeared as failed', () => {
    const hc = check(
      {},
      { currentWorkflow: 'w1', currentSlot: T0.toISOString(), lastSlot: T0.toISOString() },
    );
    const plan = planHealthCheck(input(hc, at(5), { gone: ['w1'] }));
    expect(plan.status).toMatchObject({
      status: 'Failed',
      failedCount: 1,
      errorMessage: 'workflow w1 was deleted before it finished',
    });
  });

  it('reports cron slots missed while nothing ran, and runs the latest due one', () => {
    const hc = check(
      { repeatAfterSec: undefined, schedule: { cron: '* * * * *' } },
      { nextRunAt: at(60).toISOString() },
    );
    const plan = planHealthCheck(input(hc, at(245)));
    expect(plan.status).toMatchObject({
      missedRuns: 3,
      currentSlot: at(240).toISOString(),
      nextRunAt: at(300).toISOString(),
    });
    expect(plan.events.map((e) => e.reason)).toEqual(['MissedRuns', 'WorkflowSubmitted']);
    const late = planHealthCheck(input(hc, at(290)));
    expect(late.events.map((e) => e.reason)).toEqual(['MissedRuns', 'RunLate', 'WorkflowSubmitted']);
  });

  it('schedules a new cron check at its next fire time', () => {
    const hc = check({ repeatAfterSec: undefined, schedule: { cron: '*/5 * * * *' } });
    const plan = planHealthCheck(input(hc, at(1)));
    expect(plan.submissions).toEqual([]);
    expect(plan.status.nextRunAt).toBe(at(300).toISOString());
    expect(plan.requeueAfterMs).toBe(299_000);
  });

  it('pauses and resumes', () => {
    const paused = planHealthCheck(
      input(check({}, { nextRunAt: T0.toISOString() }), at(1), { paused: true }),
    );
    expect(paused.submissions).toEqual([]);
    expect(paused.status).toMatchObject({ paused: true });
    const resumed = planHealthCheck(input(check({}, paused.status), at(5)));
    expect(resumed.status.paused).toBeUndefined();
    expect(resumed.submissions).toHaveLength(1);
    expect(resumed.events.map((e) => e.reason)).toContain('Resumed');
  });

  it('stops on a problem the controller found', () => {
    const plan = planHealthCheck(input(check(), T0, { problem: 'spec.level: cluster is not allowed' }));
    expect(plan.status).toMatchObject({
      status: 'Stopped',
      errorMessage: 'spec.level: cluster is not allowed',
    });
    expect(plan.submissions).toEqual([]);
  });

  it('keeps the slot due after a refused submission, and backs off', () => {
    const hc = check({ backoffMin: 5, backoffMax: 60, backoffFactor: '0.5' });
    const plan = planHealthCheck(input(hc));
    const sub = plan.submissions[0];
    if (!sub) throw new Error('submission expected');
    const s = submissionFailedStatus(plan.status, {}, sub, 'could not submit: 422');
    expect(s).toMatchObject({
      status: 'Failed',
      errorMessage: 'could not submit: 422',
      nextRunAt: T0.toISOString(),
    });
    expect(s.currentWorkflow).toBeUndefined();
    expect([0, 1, 2, 10].map((n) => retryDelayMs(hc.spec, n))).toEqual([5000, 7500, 11250, 60000]);
  });
});
