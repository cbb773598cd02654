// lifecycle-manager's metrics: upstream's lifecycle_manager_* names (dashboards and alerts written for
// upstream keep working), plus per-kind message counters and a histogram of termination handling time.
import type { RuntimeMetrics } from '@keiko/kube-runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

export const LIFECYCLE_METRIC_NAMES = {
  terminating: 'lifecycle_manager_terminating_instances_count',
  draining: 'lifecycle_manager_draining_instances_count',
  deregistering: 'lifecycle_manager_deregistering_instances_count',
  averageDuration: 'lifecycle_manager_average_duration_seconds',
  rejected: 'lifecycle_manager_rejected_events_total',
  messages: 'lifecycle_manager_messages_total',
  duration: 'lifecycle_manager_termination_duration_seconds',
} as const;

const OUTCOME_COUNTERS = ['events', 'lb_deregister', 'node_drain', 'node_delete'] as const;
export type OutcomeCounter = (typeof OUTCOME_COUNTERS)[number];

export class LifecycleMetrics {
  readonly terminating: Gauge;
  readonly draining: Gauge;
  readonly deregistering: Gauge;
  private readonly average: Gauge;
  private readonly rejected: Counter;
  private readonly messages: Counter<'kind'>;
  private readonly duration: Histogram;
  private readonly outcomes = new Map<string, Counter>();
  private finished = 0;
  private totalSeconds = 0;

  constructor(registry: RuntimeMetrics['registry']) {
    const registers = [registry];
    const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
    this.terminating = gauge(
      LIFECYCLE_METRIC_NAMES.terminating,
      'Instances whose termination is being handled now.',
    );
    this.draining = gauge(LIFECYCLE_METRIC_NAMES.draining, 'Nodes being drained now.');
    this.deregistering = gauge(
      LIFECYCLE_METRIC_NAMES.deregistering,
      'Instances being deregistered from load balancers now.',
    );
    this.average = gauge(
      LIFECYCLE_METRIC_NAMES.averageDuration,
      'Average time to handle a termination, seconds.',
    );
    this.rejected = new Counter({
      name: LIFECYCLE_METRIC_NAMES.rejected,
      help: 'Messages not acted on (malformed, unsupported kind): left for the queue redrive policy.',
      registers,
    });
    this.messages = new Counter({
      name: LIFECYCLE_METRIC_NAMES.messages,
      help: 'Messages received, by kind (terminate, test, unsupported, invalid).',
      labelNames: ['kind'],
      registers,
    });
    this.duration = new Histogram({
      name: LIFECYCLE_METRIC_NAMES.duration,
      help: 'Time from the lifecycle notification to the completed action, seconds.',
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers,
    });
    for (const what of OUTCOME_COUNTERS)
      for (const outcome of ['successful', 'failed'])
        this.outcomes.set(
          `${outcome}_${what}`,
          new Counter({
            name: `lifecycle_manager_${outcome}_${what}_total`,
            help: `${outcome} ${what.replace('_', ' ')}s.`,
            registers,
          }),
        );
  }

  count(what: OutcomeCounter, ok: boolean): void {
    this.outcomes.get(`${ok ? 'successful' : 'failed'}_${what}`)?.inc();
  }

  received(kind: string): void {
    this.messages.inc({ kind });
  }

  reject(): void {
    this.rejected.inc();
  }

  handled(seconds: number): void {
    this.duration.observe(seconds);
    this.finished++;
    this.totalSeconds += seconds;
    this.average.set(this.totalSeconds / this.finished);
  }
}
