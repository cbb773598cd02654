// instance-manager's own metrics, on the manager's registry next to controller_runtime_* and the AWS
// call metrics (keiko_aws_api_calls_total, keiko_aws_throttles_total).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class InstanceManagerMetrics {
  private readonly groups: Gauge<'provisioner' | 'state'>;
  private readonly cloudOperations: Counter<'provisioner' | 'operation' | 'outcome'>;
  private readonly nodesReplaced: Counter<'provisioner'>;
  private readonly drainSeconds: Histogram<'outcome'>;
  private readonly awsAuthWrites: Counter<'mapping'>;
  private readonly throttledReconciles: Counter<'provisioner'>;
  private readonly upgrades: Counter<'strategy' | 'outcome'>;
  private readonly states = new Map<string, { provisioner: string; state: string }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.groups = new Gauge({
      name: 'keiko_instance_manager_instance_groups',
      help: 'InstanceGroups by provisioner and status.currentState.',
      labelNames: ['provisioner', 'state'],
      registers,
    });
    this.cloudOperations = new Counter({
      name: 'keiko_instance_manager_cloud_operations_total',
      help: 'Mutating cloud operations (CreateStack, CreateLaunchTemplateVersion, TerminateInstanceInAutoScalingGroup...) by outcome: success, error or dry_run.',
      labelNames: ['provisioner', 'operation', 'outcome'],
      registers,
    });
    this.nodesReplaced = new Counter({
      name: 'keiko_instance_manager_nodes_replaced_total',
      help: 'Drifted instances terminated by the rollingUpdate strategy after their node was drained.',
      labelNames: ['provisioner'],
      registers,
    });
    this.drainSeconds = new Histogram({
      name: 'keiko_instance_manager_drain_duration_seconds',
      help: 'Duration of node drains before replacement, by outcome.',
      labelNames: ['outcome'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    this.awsAuthWrites = new Counter({
      name: 'keiko_instance_manager_aws_auth_writes_total',
      help: 'Writes of kube-system/aws-auth by what happened to the mapping: added, restored, removed, kept (bookkeeping only).',
      labelNames: ['mapping'],
      registers,
    });
    this.throttledReconciles = new Counter({
      name: 'keiko_instance_manager_throttled_reconciles_total',
      help: 'Reconciles that ended because AWS throttled a call after all retries (the key is requeued with backoff).',
      labelNames: ['provisioner'],
      registers,
    });
    this.upgrades = new Counter({
      name: 'keiko_instance_manager_upgrades_total',
      help: 'Upgrades (rotations of drifted instances) finished, by strategy and outcome.',
      labelNames: ['strategy', 'outcome'],
      registers,
    });
  }

  setState(key: string, provisioner: string, state: string | undefined): void {
    const prev = this.states.get(key);
    if (prev) this.groups.dec({ provisioner: prev.provisioner, state: prev.state });
    if (state === undefined) this.states.delete(key);
    else {
      this.states.set(key, { provisioner, state });
      this.groups.inc({ provisioner, state });
    }
  }

  cloudOperation(provisioner: string, operation: string, outcome: 'success' | 'error' | 'dry_run'): void {
    this.cloudOperations.inc({ provisioner, operation, outcome });
  }

  nodeReplaced(provisioner: string): void {
    this.nodesReplaced.inc({ provisioner });
  }

  drained(outcome: 'succeeded' | 'failed', seconds: number): void {
    this.drainSeconds.observe({ outcome }, seconds);
  }

  awsAuthWrite(mapping: string): void {
    this.awsAuthWrites.inc({ mapping });
  }

  throttled(provisioner: string): void {
    this.throttledReconciles.inc({ provisioner });
  }

  upgradeFinished(strategy: string, outcome: 'succeeded' | 'failed'): void {
    this.upgrades.inc({ strategy, outcome });
  }
}
