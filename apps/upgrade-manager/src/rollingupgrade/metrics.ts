// upgrade-manager's own metrics, on the manager's registry next to controller-runtime's and the AWS
// call metrics. (prom-client comes with @keiko/kube-runtime; see the report on package.json.)
import type { RuntimeMetrics } from '@keiko/kube-runtime';
import { RollingUpgradeStatusValues, type RollingUpgrade } from '@keiko/api';
import { Counter, Gauge, Histogram } from 'prom-client';

export const UPGRADE_METRIC_NAMES = {
  nodesProcessed: 'keiko_upgrade_manager_nodes_processed_total',
  stepDuration: 'keiko_upgrade_manager_node_step_duration_seconds',
  drainFailures: 'keiko_upgrade_manager_drain_failures_total',
  rollingUpgrades: 'keiko_upgrade_manager_rollingupgrades',
} as const;

/** Seconds: steps take from milliseconds (kickoff) to an hour (a drain waiting on a PDB). */
const STEP_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export class UpgradeMetrics {
  private readonly nodesProcessed: Counter;
  private readonly stepDuration: Histogram<'step'>;
  private readonly drainFailures: Counter;

  constructor(registry: RuntimeMetrics['registry'], rollingUpgrades: () => readonly RollingUpgrade[]) {
    const registers = [registry];
    this.nodesProcessed = new Counter({
      name: UPGRADE_METRIC_NAMES.nodesProcessed,
      help: 'Nodes replaced (drained, terminated, replacement Ready) by RollingUpgrades.',
      registers,
    });
    this.stepDuration = new Histogram({
      name: UPGRADE_METRIC_NAMES.stepDuration,
      help: 'Time a node spent in one step of its rotation (kickoff, desired_node_ready, drain, post_wait, terminate, post_terminate).',
      labelNames: ['step'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.drainFailures = new Counter({
      name: UPGRADE_METRIC_NAMES.drainFailures,
      help: 'Node drains that failed (a PodDisruptionBudget past drainTimeout, a refused pod, an eviction error).',
      registers,
    });
    new Gauge({
      name: UPGRADE_METRIC_NAMES.rollingUpgrades,
      help: 'RollingUpgrades by status.currentStatus (init, running, completed, error).',
      labelNames: ['status'],
      registers,
      collect() {
        const counts = new Map<string, number>(RollingUpgradeStatusValues.map((s) => [s, 0]));
        for (const ru of rollingUpgrades()) {
          const s = ru.status?.currentStatus ?? 'init';
          counts.set(s, (counts.get(s) ?? 0) + 1);
        }
        for (const [status, n] of counts) this.set({ status }, n);
      },
    });
  }

  nodesCompleted(n: number): void {
    if (n > 0) this.nodesProcessed.inc(n);
  }

  stepFinished(step: string, seconds: number): void {
    this.stepDuration.observe({ step }, seconds);
  }

  drainFailed(n: number): void {
    if (n > 0) this.drainFailures.inc(n);
  }
}
