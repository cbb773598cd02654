// Upstream's metrics (names and labels kept; `namespace` added so two checks of one name stay apart),
// plus the custom gauges a workflow reports through its `metrics` output parameter.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Outcome } from './plan';

type Labels = 'healthcheck_name' | 'namespace' | 'workflow';
const LABELS: Labels[] = ['healthcheck_name', 'namespace', 'workflow'];

export class HealthCheckMetrics {
  readonly success: Counter<Labels>;
  readonly error: Counter<Labels>;
  readonly runtime: Gauge<Labels>;
  readonly started: Gauge<Labels>;
  readonly finished: Gauge<Labels>;
  readonly submissions: Counter<'workflow'>;
  private readonly custom = new Map<string, Gauge<'healthcheck_name' | 'namespace'>>();

  constructor(private readonly registry: Registry) {
    const c = (name: string, help: string) =>
      new Counter({ name, help, labelNames: LABELS, registers: [registry] });
    const g = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: LABELS, registers: [registry] });
    this.success = c(
      'healthcheck_success_count',
      'Workflows of a health check that succeeded (workflow: healthCheck or remedy)',
    );
    this.error = c(
      'healthcheck_error_count',
      'Workflows of a health check that failed (workflow: healthCheck or remedy)',
    );
    this.runtime = g('healthcheck_runtime_seconds', 'How long the latest workflow ran, seconds');
    this.started = g('healthcheck_starttime', 'When the latest workflow started, unix seconds');
    this.finished = g('healthcheck_finishedtime', 'When the latest workflow finished, unix seconds');
    this.submissions = new Counter({
      name: 'keiko_active_monitor_workflow_submissions_total',
      help: 'Workflows submitted, by workflow (healthCheck, remedy)',
      labelNames: ['workflow'],
      registers: [registry],
    });
  }

  record(name: string, namespace: string, o: Outcome): void {
    const labels = { healthcheck_name: name, namespace, workflow: o.kind };
    (o.succeeded ? this.success : this.error).inc(labels);
    const start = o.startedAt ? Date.parse(o.startedAt) : NaN;
    const end = o.finishedAt ? Date.parse(o.finishedAt) : NaN;
    if (Number.isFinite(start)) this.started.set(labels, start / 1000);
    if (Number.isFinite(end)) this.finished.set(labels, end / 1000);
    if (Number.isFinite(start) && Number.isFinite(end))
      this.runtime.set(labels, Math.max(0, (end - start) / 1000));
    for (const m of o.metrics)
      this.customGauge(m.name, m.help)?.set({ healthcheck_name: name, namespace }, m.value);
  }

  /** A gauge per custom metric name; a name clashing with another metric is skipped. */
  private customGauge(name: string, help?: string): Gauge<'healthcheck_name' | 'namespace'> | undefined {
    const existing = this.custom.get(name);
    if (existing) return existing;
    if (this.registry.getSingleMetric(name)) return undefined;
    const gauge = new Gauge({
      name,
      help: help || `custom metric reported by a health-check workflow`,
      labelNames: ['healthcheck_name', 'namespace'],
      registers: [this.registry],
    });
    this.custom.set(name, gauge);
    return gauge;
  }

  /** A deleted check's series go away. */
  forget(name: string, namespace: string): void {
    for (const m of [this.success, this.error, this.runtime, this.started, this.finished])
      for (const workflow of ['healthCheck', 'remedy'])
        m.remove({ healthcheck_name: name, namespace, workflow });
    for (const g of this.custom.values()) g.remove({ healthcheck_name: name, namespace });
  }
}
