// governor's metrics: upstream's names (governor_node_reaper_result, governor_pod_reaper_result,
// governor_pdb_reaper_result) plus the breaker, sweeps and kills, on one registry that /metrics serves
// and that --once runs push to a Pushgateway.
import { Counter, Gauge, Histogram, Pushgateway, type Registry } from 'prom-client';

export const GOVERNOR_METRIC_NAMES = {
  nodeResult: 'governor_node_reaper_result',
  podResult: 'governor_pod_reaper_result',
  pdbResult: 'governor_pdb_reaper_result',
  nodes: 'governor_node_reaper_nodes',
  candidates: 'governor_node_reaper_candidates',
  kills: 'governor_node_reaper_kills_total',
  breakerOpen: 'governor_circuit_breaker_open',
  sweeps: 'governor_sweeps_total',
  sweepDuration: 'governor_sweep_duration_seconds',
  podsReaped: 'governor_pod_reaper_reaped_total',
} as const;

export class GovernorMetrics {
  readonly nodeResult: Gauge<'node' | 'instanceId' | 'reason'>;
  readonly podResult: Gauge<'namespace' | 'pod' | 'reason'>;
  readonly pdbResult: Gauge<'namespace' | 'pdb' | 'reason'>;
  readonly nodes: Gauge<'state'>;
  readonly candidates: Gauge<'kind'>;
  readonly kills: Counter<'kind'>;
  readonly breakerOpen: Gauge<'scope'>;
  readonly sweeps: Counter<'reaper' | 'result'>;
  readonly sweepDuration: Histogram<'reaper'>;
  readonly podsReaped: Counter<'reason'>;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    this.nodeResult = new Gauge({
      name: GOVERNOR_METRIC_NAMES.nodeResult,
      help: 'A node the node reaper acted on (1), by reason: TerminateUnhealthyNode, TerminateAgeExpiredNode, DrainFailedAgeExpiredNode, TerminateUnjoinedInstance, DeleteGhostNode.',
      labelNames: ['node', 'instanceId', 'reason'],
      registers,
    });
    this.podResult = new Gauge({
      name: GOVERNOR_METRIC_NAMES.podResult,
      help: 'A pod the pod reaper deleted (1), by reason: ReapStuckTerminating, ReapCompleted, ReapFailed.',
      labelNames: ['namespace', 'pod', 'reason'],
      registers,
    });
    this.pdbResult = new Gauge({
      name: GOVERNOR_METRIC_NAMES.pdbResult,
      help: 'A blocking PodDisruptionBudget the PDB reaper found (1), by reason.',
      labelNames: ['namespace', 'pdb', 'reason'],
      registers,
    });
    this.nodes = new Gauge({
      name: GOVERNOR_METRIC_NAMES.nodes,
      help: 'Nodes the node reaper saw in its last sweep, by state (total, unhealthy).',
      labelNames: ['state'],
      registers,
    });
    this.candidates = new Gauge({
      name: GOVERNOR_METRIC_NAMES.candidates,
      help: 'Reapable nodes found in the last sweep, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.kills = new Counter({
      name: GOVERNOR_METRIC_NAMES.kills,
      help: 'Nodes reaped (terminated or deleted), by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.breakerOpen = new Gauge({
      name: GOVERNOR_METRIC_NAMES.breakerOpen,
      help: 'The circuit breaker: 1 while more nodes are unhealthy than allowed (cluster, or group/<name>).',
      labelNames: ['scope'],
      registers,
    });
    this.sweeps = new Counter({
      name: GOVERNOR_METRIC_NAMES.sweeps,
      help: 'Reaper sweeps, by reaper and result (success, error).',
      labelNames: ['reaper', 'result'],
      registers,
    });
    this.sweepDuration = new Histogram({
      name: GOVERNOR_METRIC_NAMES.sweepDuration,
      help: 'How long one sweep took.',
      labelNames: ['reaper'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers,
    });
    this.podsReaped = new Counter({
      name: GOVERNOR_METRIC_NAMES.podsReaped,
      help: 'Pods deleted by the pod reaper, by reason.',
      labelNames: ['reason'],
      registers,
    });
  }

  /** Pushes every metric to a Pushgateway (--prometheus-pushgateway, --once runs), grouped by job. */
  async push(url: string, job: string): Promise<void> {
    await new Pushgateway(url, {}, this.registry).pushAdd({ jobName: job });
  }
}
