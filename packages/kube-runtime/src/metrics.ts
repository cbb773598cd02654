// Prometheus metrics for the runtime. Names, labels, help texts and buckets match controller-runtime
// (pkg/internal/controller/metrics, pkg/metrics/workqueue.go, leaderelection.go, client_go_adapter.go) so
// dashboards and alerts written for Go controllers work on Keiko's unchanged.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TimeSource, WorkQueueMetrics } from './workqueue';

export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after';

const RECONCILE_RESULTS: readonly ReconcileOutcome[] = ['success', 'error', 'requeue', 'requeue_after'];

export interface ReconcileErrorDetail {
  /** The reconciler said retrying cannot help, so the key was not requeued. */
  terminal?: boolean;
  /** The runtime's per-reconcile timeout cut it short. */
  timedOut?: boolean;
}

export const RECONCILE_TIME_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** Go's prometheus.ExponentialBuckets(10e-9, 10, 12): 10ns up to 1000s, written out to avoid float drift. */
export const WORKQUEUE_DURATION_BUCKETS: readonly number[] = [
  1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000,
];

export interface RuntimeMetricsOptions {
  /** Source of queue timings, in ms; tests pass the same manual clock they give the queue. */
  clock?: TimeSource;
  /** Export process_* and nodejs_* metrics (CPU, memory, fds, event loop). Default true. */
  processMetrics?: boolean;
}

type QueueLabel = 'name' | 'controller';
type QueueLabels = Record<QueueLabel, string>;

interface QueueInstruments {
  depth: Gauge<QueueLabel | 'priority'>;
  adds: Counter<QueueLabel>;
  queueDuration: Histogram<QueueLabel>;
  workDuration: Histogram<QueueLabel>;
  retries: Counter<QueueLabel>;
}

/** One queue's view: remembers when items were added and picked up to time them. */
class QueueMetricsRecorder implements WorkQueueMetrics {
  private readonly addedAt = new Map<string, number>();
  private readonly processingSince = new Map<string, number>();
  private readonly depthLabels: Record<QueueLabel | 'priority', string>;

  constructor(
    readonly labels: QueueLabels,
    private readonly instruments: QueueInstruments,
    private readonly clock: TimeSource,
  ) {
    // controller-runtime's plain (non-priority) queues report priority="".
    this.depthLabels = { ...labels, priority: '' };
  }

  add(item: string): void {
    this.instruments.adds.inc(this.labels);
    this.instruments.depth.inc(this.depthLabels);
    if (!this.addedAt.has(item)) this.addedAt.set(item, this.clock.now());
  }

  get(item: string): void {
    const now = this.clock.now();
    this.instruments.depth.dec(this.depthLabels);
    this.processingSince.set(item, now);
    const addedAt = this.addedAt.get(item);
    if (addedAt !== undefined) {
      this.instruments.queueDuration.observe(this.labels, secondsBetween(addedAt, now));
      this.addedAt.delete(item);
    }
  }

  done(item: string): void {
    const since = this.processingSince.get(item);
    if (since === undefined) return;
    this.instruments.workDuration.observe(this.labels, secondsBetween(since, this.clock.now()));
    this.processingSince.delete(item);
  }

  discard(item: string): void {
    this.instruments.depth.dec(this.depthLabels);
    this.addedAt.delete(item);
  }

  retry(): void {
    this.instruments.retries.inc(this.labels);
  }

  inFlight(now: number): { totalSeconds: number; longestSeconds: number } {
    let totalSeconds = 0;
    let longestSeconds = 0;
    for (const since of this.processingSince.values()) {
      const age = secondsBetween(since, now);
      totalSeconds += age;
      longestSeconds = Math.max(longestSeconds, age);
    }
    return { totalSeconds, longestSeconds };
  }
}

function secondsBetween(startMs: number, endMs: number): number {
  return Math.max(0, endMs - startMs) / 1000;
}

function labelKey(labels: QueueLabels): string {
  return JSON.stringify([labels.name, labels.controller]);
}

/**
 * Every metric one manager exports, on its own registry so several managers (or tests) in one
 * process never collide. `registry.metrics()` is the /metrics response body.
 */
export class RuntimeMetrics {
  readonly registry = new Registry();
  private readonly clock: TimeSource;

  private readonly reconcileTotal: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly terminalReconcileErrors: Counter<'controller'>;
  private readonly reconcilePanics: Counter<'controller'>;
  private readonly reconcileTimeouts: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly maxConcurrentReconciles: Gauge<'controller'>;
  private readonly activeWorkersGauge: Gauge<'controller'>;
  private readonly restClientRequests: Counter<'code' | 'method' | 'host'>;
  private readonly restClientLatency: Histogram<'verb' | 'host'>;
  private readonly leaderStatus: Gauge<'name'>;

  private readonly queue: QueueInstruments;
  private readonly unfinishedWork: Gauge<QueueLabel>;
  private readonly longestRunningProcessor: Gauge<QueueLabel>;
  private readonly queueRecorders: QueueMetricsRecorder[] = [];

  constructor(options: RuntimeMetricsOptions = {}) {
    this.clock = options.clock ?? { now: () => performance.now() };
    const registers = [this.registry];

    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'] as const,
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'] as const,
      registers,
    });
    this.terminalReconcileErrors = new Counter({
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Total number of terminal reconciliation errors per controller',
      labelNames: ['controller'] as const,
      registers,
    });
    this.reconcilePanics = new Counter({
      name: 'controller_runtime_reconcile_panics_total',
      help: 'Total number of reconciliation panics per controller',
      labelNames: ['controller'] as const,
      registers,
    });
    this.reconcileTimeouts = new Counter({
      name: 'controller_runtime_reconcile_timeouts_total',
      help: 'Total number of reconciliation timeouts per controller',
      labelNames: ['controller'] as const,
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'] as const,
      buckets: [...RECONCILE_TIME_BUCKETS],
      registers,
    });
    this.maxConcurrentReconciles = new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'] as const,
      registers,
    });
    this.activeWorkersGauge = new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'] as const,
      registers,
    });

    this.restClientRequests = new Counter({
      name: 'rest_client_requests_total',
      help: 'Number of HTTP requests, partitioned by status code, method, and host.',
      labelNames: ['code', 'method', 'host'] as const,
      registers,
    });
    // client-go's request latency histogram (its buckets); watches count the time to their headers.
    this.restClientLatency = new Histogram({
      name: 'rest_client_request_duration_seconds',
      help: 'Request latency in seconds. Broken down by verb, and host.',
      labelNames: ['verb', 'host'] as const,
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0],
      registers,
    });

    const queueLabelNames = ['name', 'controller'] as const;
    this.queue = {
      depth: new Gauge({
        name: 'workqueue_depth',
        help: 'Current depth of workqueue by workqueue and priority',
        labelNames: ['name', 'controller', 'priority'] as const,
        registers,
      }),
      adds: new Counter({
        name: 'workqueue_adds_total',
        help: 'Total number of adds handled by workqueue',
        labelNames: queueLabelNames,
        registers,
      }),
      queueDuration: new Histogram({
        name: 'workqueue_queue_duration_seconds',
        help: 'How long in seconds an item stays in workqueue before being requested',
        labelNames: queueLabelNames,
        buckets: [...WORKQUEUE_DURATION_BUCKETS],
        registers,
      }),
      workDuration: new Histogram({
        name: 'workqueue_work_duration_seconds',
        help: 'How long in seconds processing an item from workqueue takes.',
        labelNames: queueLabelNames,
        buckets: [...WORKQUEUE_DURATION_BUCKETS],
        registers,
      }),
      retries: new Counter({
        name: 'workqueue_retries_total',
        help: 'Total number of retries handled by workqueue',
        labelNames: queueLabelNames,
        registers,
      }),
    };
    // Ages of in-flight items grow without any queue event, so they are computed at scrape time
    // instead of on a timer that would have to be stopped.
    this.unfinishedWork = new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help:
        "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. " +
        'Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at ' +
        'which this increases.',
      labelNames: queueLabelNames,
      registers,
      collect: () => this.refreshInFlightGauges(),
    });
    this.longestRunningProcessor = new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames: queueLabelNames,
      registers,
      collect: () => this.refreshInFlightGauges(),
    });

    this.leaderStatus = new Gauge({
      name: 'leader_election_master_status',
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
      labelNames: ['name'] as const,
      registers,
    });

    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The Content-Type header for `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The /metrics response body. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Records the controller's worker count when it starts, and shows its reconcile series at zero
   * before the first reconcile, as controller-runtime does, so rate() and absent() alerts work at once.
   */
  setMaxConcurrentReconciles(controller: string, workers: number): void {
    for (const result of RECONCILE_RESULTS) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
    this.terminalReconcileErrors.inc({ controller }, 0);
    this.reconcilePanics.inc({ controller }, 0);
    this.reconcileTimeouts.inc({ controller }, 0);
    this.activeWorkersGauge.inc({ controller }, 0);
    this.maxConcurrentReconciles.set({ controller }, workers);
  }

  /** +1 when a worker picks up a key, -1 when it is done with it. */
  activeWorkers(controller: string, delta: number): void {
    this.activeWorkersGauge.inc({ controller }, delta);
  }

  /**
   * Counts one finished reconcile. An `error` also counts in controller_runtime_reconcile_errors_total,
   * and `detail` says whether it was terminal (not retried) or cut short by the reconcile timeout.
   */
  reconcileResult(controller: string, result: ReconcileOutcome, detail: ReconcileErrorDetail = {}): void {
    this.reconcileTotal.inc({ controller, result });
    if (result !== 'error') return;
    this.reconcileErrors.inc({ controller });
    if (detail.terminal) this.terminalReconcileErrors.inc({ controller });
    if (detail.timedOut) this.reconcileTimeouts.inc({ controller });
  }

  /** Time one reconcile took, whatever its result. */
  observeReconcileTime(controller: string, seconds: number): void {
    this.reconcileTime.observe({ controller }, seconds);
  }

  /** The reconciler crashed rather than returning an error; it is also recorded as an `error` result. */
  reconcilePanic(controller: string): void {
    this.reconcilePanics.inc({ controller });
  }

  /**
   * One API server response. `host` is the API server's host[:port], as client-go reports it;
   * a request that got no response has code `<error>`.
   */
  observeRequest(method: string, code: number | string, host: string, seconds?: number): void {
    this.restClientRequests.inc({ code: String(code), method: method.toUpperCase(), host });
    if (seconds !== undefined) this.restClientLatency.observe({ verb: method.toUpperCase(), host }, seconds);
  }

  /** `leaseName` is the Lease's name, as client-go reports it. */
  setLeader(leaseName: string, isLeader: boolean): void {
    this.leaderStatus.set({ name: leaseName }, isLeader ? 1 : 0);
  }

  /**
   * The hooks a WorkQueue reports to. controller-runtime labels its queues with the controller
   * name in both `name` and `controller`; pass the same value twice to match it.
   */
  workQueueMetrics(queueName: string, controllerName: string): WorkQueueMetrics {
    const labels: QueueLabels = { name: queueName, controller: controllerName };
    const isNewSeries = !this.queueRecorders.some(
      (recorder) => labelKey(recorder.labels) === labelKey(labels),
    );
    const recorder = new QueueMetricsRecorder(labels, this.queue, this.clock);
    this.queueRecorders.push(recorder);
    if (isNewSeries) {
      // Go creates each series when the queue is built; a queue nobody has used yet still shows 0.
      this.queue.depth.inc({ ...labels, priority: '' }, 0);
      this.queue.adds.inc(labels, 0);
      this.queue.retries.inc(labels, 0);
      this.queue.queueDuration.zero(labels);
      this.queue.workDuration.zero(labels);
      this.unfinishedWork.set(labels, 0);
      this.longestRunningProcessor.set(labels, 0);
    }
    return recorder;
  }

  private refreshInFlightGauges(): void {
    const now = this.clock.now();
    const byQueue = new Map<string, { labels: QueueLabels; totalSeconds: number; longestSeconds: number }>();
    for (const recorder of this.queueRecorders) {
      const key = labelKey(recorder.labels);
      const { totalSeconds, longestSeconds } = recorder.inFlight(now);
      const sum = byQueue.get(key);
      if (sum) {
        sum.totalSeconds += totalSeconds;
        sum.longestSeconds = Math.max(sum.longestSeconds, longestSeconds);
      } else {
        byQueue.set(key, { labels: recorder.labels, totalSeconds, longestSeconds });
      }
    }
    for (const { labels, totalSeconds, longestSeconds } of byQueue.values()) {
      this.unfinishedWork.set(labels, totalSeconds);
      this.longestRunningProcessor.set(labels, longestSeconds);
    }
  }
}
