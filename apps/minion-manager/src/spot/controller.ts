// The refresh loop (leader only): every --refresh-interval-seconds read the facts (facts.ts), decide per
// group (plan.ts), then act: switch the group's configuration (switch.ts), recommend to instance-manager,
// or report; replace wrong-market instances (replace.ts); publish the status ConfigMap, Events and metrics.
// --events-only and --dry-run decide and report but change nothing.
import type { AutoScalingPort, Ec2Port } from '@keiko/aws';
import {
  errorText,
  ResourceTypes,
  type EventRecorder,
  type KubeClient,
  type Logger,
  type RunContext,
  type Runnable,
} from '@keiko/kube-runtime';
import { nodesByInstanceId } from '@keiko/node-ops';
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import type { SpotConfig } from '../config';
import type { MinionMetrics } from '../metrics';
import type { ManagedGroup, MarketFacts, Snapshot } from './facts';
import {
  decideMarket,
  estimatedSavingsPerHour,
  groupAction,
  groupSpotPrice,
  planReplacements,
  RECOMMENDATION_KIND,
  RECOMMENDATION_REASON,
  recommendationMessage,
  type Decision,
  type GroupAction,
  type Market,
  type PriceFacts,
} from './plan';
import { instancesWithUnreadyNodes, type Replacer } from './replace';
import type { GroupStatus, StatusWriter } from './status';
import { mixedPolicyFor, templateDataFor } from './switch';

export interface SpotControllerDeps {
  settings: SpotConfig;
  facts: MarketFacts;
  autoScaling: AutoScalingPort;
  ec2: Ec2Port;
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  metrics: MinionMetrics;
  replacer: Replacer;
  status: StatusWriter;
  now?: () => number;
}

interface Outcome {
  status: GroupStatus;
}

export class SpotController implements Runnable {
  readonly name = 'minion-manager-refresh';
  /** What was last said about each group (Events are sent on change, not every refresh). */
  private readonly told = new Map<string, string>();

  constructor(private readonly d: SpotControllerDeps) {}

  async run({ stopping }: RunContext): Promise<void> {
    while (!stopping.aborted) {
      await this.refreshSafely();
      await sleep(this.d.settings.refreshIntervalSeconds * 1000, stopping);
    }
    await this.d.replacer.idle();
  }

  async refreshSafely(): Promise<void> {
    const timer = this.d.metrics.refreshDuration.startTimer();
    try {
      await this.refresh();
      this.d.metrics.refreshes.inc({ result: 'success' });
    } catch (err) {
      this.d.metrics.refreshes.inc({ result: 'error' });
      this.d.log.error('refresh failed; trying again at the next interval', { error: errorText(err) });
    } finally {
      timer();
    }
  }

  /** One look at prices and groups, and what follows from it. */
  async refresh(): Promise<Map<string, GroupStatus>> {
    if (!this.d.settings.clusterName) {
      this.d.log.error(
        "--cluster-name is not set: no group is managed; set it to the value of the groups' KubernetesCluster tag",
      );
      return new Map();
    }
    const snapshot = await this.d.facts.read();
    const nodes = nodesByInstanceId((await this.d.client.listAll<V1Node>(ResourceTypes.Node)).items);
    const statuses = new Map<string, GroupStatus>();
    for (const g of snapshot.groups) {
      try {
        statuses.set(g.group.name, (await this.handle(g, snapshot, nodes)).status);
      } catch (err) {
        this.d.log.error('group not handled this refresh', { group: g.group.name, error: errorText(err) });
      }
    }
    this.publishMetrics(snapshot, statuses);
    await this.d.status.write(statuses, new Date(this.now()));
    this.d.log.info('refresh done', {
      groups: snapshot.groups.length,
      spot: [...statuses.values()].filter((s) => s.decision === 'spot').length,
    });
    return statuses;
  }

  private async handle(g: ManagedGroup, snapshot: Snapshot, nodes: Map<string, V1Node>): Promise<Outcome> {
    const prices = pricesOf(g, snapshot);
    const s = this.d.settings;
    const settings = { threshold: s.threshold, hysteresis: s.hysteresis, cooldownMs: s.capacityCooldownMs };
    const decision = decideMarket(g.optIn, g.market, prices, g.capacityFailureAt, settings, this.now());
    const action = groupAction(g.mechanism, g.ownedByInstanceGroup, g.market, decision.market);
    await this.tell(g, decision, action, prices);
    let market = g.market;
    let done = describeAction(action);
    if (action.kind === 'switch' && this.d.replacer.busy(g.group.name))
      // A replacement job still runs for the old market: switch once it has ended (never replace
      // instances that have just become the right market).
      done = `switch to ${action.to} after the replacement in progress`;
    else if (action.kind === 'switch') {
      if (s.eventsOnly || s.dryRun)
        done = `would switch to ${action.to} (${s.eventsOnly ? 'events-only' : 'dry-run'})`;
      else {
        await this.switchGroup(g, action.to, decision);
        market = action.to;
      }
    }
    if (action.kind !== 'report' && !g.ownedByInstanceGroup && market === g.market)
      done = this.replaceIfDue(g, market, nodes, done);
    const spotInstances = g.instances.filter((i) => i.market === 'spot').length;
    const status: GroupStatus = {
      market,
      decision: decision.market,
      reason: decision.reason,
      action: done,
      ...(g.instanceType ? { instanceType: g.instanceType } : {}),
      ...(prices.spot !== undefined ? { spotPrice: prices.spot } : {}),
      ...(prices.onDemand !== undefined ? { onDemandPrice: prices.onDemand } : {}),
      spotInstances,
      onDemandInstances: g.instances.filter((i) => i.market === 'on-demand').length,
      estimatedSavingsPerHour: round(estimatedSavingsPerHour(prices, spotInstances)),
      ...(decision.cooldownUntil ? { cooldownUntil: new Date(decision.cooldownUntil).toISOString() } : {}),
    };
    return { status };
  }

  /** Replacement of wrong-market instances, when the group's configuration is settled; the action's words. */
  private replaceIfDue(g: ManagedGroup, market: Market, nodes: Map<string, V1Node>, done: string): string {
    const name = g.group.name;
    if (this.d.replacer.busy(name)) return `${done}; replacing instances`;
    const base = g.group.mixedInstancesPolicy?.instancesDistribution?.onDemandBaseCapacity;
    const plan = planReplacements(
      { desiredCapacity: g.group.desiredCapacity, instances: g.instances, onDemandBase: base ?? 0 },
      market,
      g.optIn.notTerminate,
    );
    if (plan.kind === 'done') return done;
    if (plan.kind === 'wait') return `${done}; ${plan.reason}`;
    const unready = instancesWithUnreadyNodes(
      g.instances.filter((i) => i.lifecycleState === 'InService').map((i) => i.id),
      nodes,
    );
    if (unready.length > 0) return `${done}; waiting for the nodes of ${unready.join(', ')} to be Ready`;
    if (this.d.settings.eventsOnly || this.d.settings.dryRun) {
      this.d.log.info('would replace wrong-market instances', { group: name, instances: plan.instanceIds });
      return `${done}; would replace ${plan.instanceIds.join(', ')}`;
    }
    this.d.replacer.start(name, plan.instanceIds, `the group buys ${market}`);
    return `${done}; replacing ${plan.instanceIds.join(', ')}`;
  }

  private async switchGroup(g: ManagedGroup, to: Market, decision: Decision): Promise<void> {
    const name = g.group.name;
    let how: string;
    if (g.mechanism === 'mixed-instances' && g.group.mixedInstancesPolicy) {
      await this.d.autoScaling.updateGroup(name, {
        mixedInstancesPolicy: mixedPolicyFor(g.group.mixedInstancesPolicy, to),
        extra: { CapacityRebalance: to === 'spot' },
      });
      how = 'mixed-instances-policy';
    } else if (g.mechanism === 'launch-template' && g.template) {
      const ref = { id: g.template.id };
      const data = templateDataFor(
        g.template.data as Record<string, unknown> & { InstanceMarketOptions?: unknown },
        to,
      );
      const version = await this.d.ec2.createLaunchTemplateVersion(ref, {
        data: data as never,
        description: `minion-manager: ${to} (from version ${g.template.version})`,
      });
      await this.d.autoScaling.updateGroup(name, {
        launchTemplate: { id: g.template.id, version: String(version.version) },
      });
      how = 'launch-template-version';
    } else {
      throw new Error(`group ${name}: no launch template to switch (${g.mechanism})`);
    }
    this.d.autoScaling.invalidate(name);
    this.d.metrics.switches.inc({ group: name, to, how });
    this.d.log.info('group switched', { group: name, to, how, reason: decision.reason });
    await this.d.events.record(
      this.infoObject(name),
      'Normal',
      'MarketSwitched',
      `group ${name} switched to ${to} (${how}): ${decision.reason}`,
    );
  }

  /** Events: the recommendation (upstream's reason) on change, warnings for bad input, once each. */
  private async tell(
    g: ManagedGroup,
    decision: Decision,
    action: GroupAction,
    prices: PriceFacts,
  ): Promise<void> {
    const name = g.group.name;
    const obj = this.infoObject(name);
    const say = async (key: string, text: string, send: () => Promise<void>) => {
      if (this.told.get(`${name}/${key}`) === text) return;
      this.told.set(`${name}/${key}`, text);
      await send();
    };
    if (g.optIn.warning) {
      const warning = g.optIn.warning;
      await say('tag', warning, () =>
        this.d.events.record(obj, 'Warning', 'UnknownTagValue', `group ${name}: ${warning}`),
      );
    }
    if (action.kind === 'report') {
      const reason = action.reason;
      await say('report', reason, () =>
        this.d.events.record(
          obj,
          'Warning',
          'LaunchConfigurationGroup',
          `group ${name}: ${reason}; left alone`,
        ),
      );
    }
    await say('recommendation', decision.market, () =>
      this.d.events.record(
        obj,
        'Normal',
        RECOMMENDATION_REASON,
        recommendationMessage(decision.market, prices.onDemand),
      ),
    );
  }

  /** The object upstream's Events are about: a SpotPriceInfo named after the group. */
  private infoObject(group: string): KubernetesObject {
    return {
      apiVersion: 'v1',
      kind: RECOMMENDATION_KIND,
      metadata: { name: group, namespace: this.d.settings.statusNamespace },
    };
  }

  private publishMetrics(snapshot: Snapshot, statuses: ReadonlyMap<string, GroupStatus>): void {
    const m = this.d.metrics;
    m.resetGroups();
    for (const g of snapshot.groups) {
      const status = statuses.get(g.group.name);
      if (!status) continue;
      const labels = { group: g.group.name, instance_type: g.instanceType ?? '' };
      if (status.spotPrice !== undefined) m.spotPrice.set(labels, status.spotPrice);
      if (status.onDemandPrice !== undefined) m.onDemandPrice.set(labels, status.onDemandPrice);
      for (const market of ['spot', 'on-demand'] as const)
        m.groupMarket.set({ group: g.group.name, market }, status.market === market ? 1 : 0);
      m.savings.set({ group: g.group.name }, status.estimatedSavingsPerHour);
    }
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }
}

function pricesOf(g: ManagedGroup, snapshot: Snapshot): PriceFacts {
  if (!g.instanceType) return {};
  const spot = groupSpotPrice(snapshot.spotPrices, g.instanceType, g.group.availabilityZones);
  const onDemand = snapshot.onDemandPrices.get(g.instanceType);
  return { ...(spot !== undefined ? { spot } : {}), ...(onDemand !== undefined ? { onDemand } : {}) };
}

function describeAction(action: GroupAction): string {
  switch (action.kind) {
    case 'none':
      return 'in the decided market';
    case 'switch':
      return `switched to ${action.to}`;
    case 'recommend':
      return `recommended ${action.to} to instance-manager (InstanceGroup-owned)`;
    case 'report':
      return `left alone: ${action.reason}`;
  }
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
