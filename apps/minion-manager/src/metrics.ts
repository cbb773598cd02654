// minion-manager's metrics: prices, each group's market and the estimated savings, plus the refresh loop
// and the replacements. Names follow the issue (minion_manager_*).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const MINION_METRIC_NAMES = {
  spotPrice: 'minion_manager_spot_price',
  onDemandPrice: 'minion_manager_on_demand_price',
  groupMarket: 'minion_manager_group_market',
  savings: 'minion_manager_estimated_savings_per_hour',
  refreshes: 'minion_manager_refreshes_total',
  refreshDuration: 'minion_manager_refresh_duration_seconds',
  switches: 'minion_manager_switches_total',
  replacements: 'minion_manager_replacements_total',
} as const;

export class MinionMetrics {
  readonly spotPrice: Gauge<'group' | 'instance_type'>;
  readonly onDemandPrice: Gauge<'group' | 'instance_type'>;
  readonly groupMarket: Gauge<'group' | 'market'>;
  readonly savings: Gauge<'group'>;
  readonly refreshes: Counter<'result'>;
  readonly refreshDuration: Histogram;
  readonly switches: Counter<'group' | 'to' | 'how'>;
  readonly replacements: Counter<'group' | 'result'>;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    const g = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    this.spotPrice = g(
      MINION_METRIC_NAMES.spotPrice,
      'Highest current spot price across the group AZs, USD/hour.',
      ['group', 'instance_type'],
    );
    this.onDemandPrice = g(
      MINION_METRIC_NAMES.onDemandPrice,
      'On-demand list price of the group instance type, USD/hour.',
      ['group', 'instance_type'],
    );
    this.groupMarket = g(
      MINION_METRIC_NAMES.groupMarket,
      'The market the group is configured for (1 on the market label in force).',
      ['group', 'market'],
    );
    this.savings = g(MINION_METRIC_NAMES.savings, 'Estimated USD/hour saved by the group spot instances.', [
      'group',
    ]);
    this.refreshes = new Counter({
      name: MINION_METRIC_NAMES.refreshes,
      help: 'Refreshes of prices and groups, by result.',
      labelNames: ['result'],
      registers,
    });
    this.refreshDuration = new Histogram({
      name: MINION_METRIC_NAMES.refreshDuration,
      help: 'Duration of one refresh.',
      registers,
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60],
    });
    this.switches = new Counter({
      name: MINION_METRIC_NAMES.switches,
      help: 'Group market switches, by target market and mechanism.',
      labelNames: ['group', 'to', 'how'],
      registers,
    });
    this.replacements = new Counter({
      name: MINION_METRIC_NAMES.replacements,
      help: 'Wrong-market instances replaced (drained and terminated), by result.',
      labelNames: ['group', 'result'],
      registers,
    });
  }

  /** Clears the per-group series before a refresh republishes them (groups gone drop out). */
  resetGroups(): void {
    for (const m of [this.spotPrice, this.onDemandPrice, this.groupMarket, this.savings]) m.reset();
  }
}
