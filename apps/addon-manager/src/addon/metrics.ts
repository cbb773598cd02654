// The addon-manager's own metrics, on the manager's registry (one /metrics with the runtime's).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Addon, LifecycleStep } from '@keiko/api';

export const STEP_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

export class AddonMetrics {
  readonly addons: Gauge<'phase'>;
  readonly submissions: Counter<'step'>;
  readonly failures: Counter<'step'>;
  readonly stepDuration: Histogram<'step'>;

  /** `addons` lists the Addons now (the controller's cache): the gauge is computed at scrape time. */
  constructor(registry: Registry, addons: () => readonly Addon[]) {
    this.addons = new Gauge({
      name: 'keiko_addon_manager_addons',
      help: 'Addons by status.lifecycle.installed (Pending, Succeeded, Failed, Validation Failed, Deleting, Delete Failed; "" before the first reconcile)',
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const a of addons()) {
          const phase = a.status?.lifecycle?.installed ?? '';
          counts.set(phase, (counts.get(phase) ?? 0) + 1);
        }
        for (const [phase, n] of counts) this.set({ phase }, n);
      },
    });
    this.submissions = new Counter({
      name: 'keiko_addon_manager_workflow_submissions_total',
      help: 'Lifecycle workflows submitted, by step (prereqs, install, validate, delete)',
      labelNames: ['step'],
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'keiko_addon_manager_workflow_failures_total',
      help: 'Lifecycle workflows that failed (or ran past the install timeout), by step',
      labelNames: ['step'],
      registers: [registry],
    });
    this.stepDuration = new Histogram({
      name: 'keiko_addon_manager_lifecycle_step_duration_seconds',
      help: 'How long lifecycle workflows ran, from start to finish, by step',
      labelNames: ['step'],
      buckets: STEP_DURATION_BUCKETS,
      registers: [registry],
    });
  }

  submitted(step: LifecycleStep): void {
    this.submissions.inc({ step });
  }

  finished(step: LifecycleStep, outcome: 'Succeeded' | 'Failed', durationSeconds?: number): void {
    if (outcome === 'Failed') this.failures.inc({ step });
    if (durationSeconds !== undefined) this.stepDuration.observe({ step }, durationSeconds);
  }
}
