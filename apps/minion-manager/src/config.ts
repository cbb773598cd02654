// minion-manager's flags on top of every controller's (kube-runtime's parseManagerConfig). Upstream's names
// and defaults are kept: --region, --cluster-name, --refresh-interval-seconds (300), --events-only.
import { disruptionLockNamespaceOption } from '@keiko/node-ops';
import { flagValue, Option, parseManagerConfig, type ManagerConfig } from '@keiko/kube-runtime';

export interface SpotConfig {
  region: string;
  clusterName: string;
  refreshIntervalSeconds: number;
  eventsOnly: boolean;
  dryRun: boolean;
  threshold: number;
  hysteresis: number;
  capacityCooldownMs: number;
  onDemandPriceTtlMs: number;
  drainTimeoutMs: number;
  statusNamespace: string;
  statusConfigMap: string;
  disruptionLockNamespace: string;
}

export interface MinionManagerConfig {
  manager: ManagerConfig;
  spot: SpotConfig;
}

const ratio = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new Error(`${flag}: expected a number from 0 to 1, got "${v}"`);
  return n;
};

function options(): Option[] {
  const n = (flag: string, env: string, help: string, def: number) =>
    new Option(`${flag} <n>`, help).env(env).argParser(flagValue.int(flag)).default(def);
  return [
    new Option('--region <region>', 'AWS region of the groups (default AWS_REGION)').env(
      'MINION_MANAGER_REGION',
    ),
    new Option('--cluster-name <name>', 'manage groups tagged KubernetesCluster=<name>').env(
      'MINION_MANAGER_CLUSTER_NAME',
    ),
    n(
      '--refresh-interval-seconds',
      'MINION_MANAGER_REFRESH_INTERVAL_SECONDS',
      'seconds between two looks at prices and groups',
      300,
    ),
    new Option(
      '--events-only',
      'decide and report (Events, status, metrics); change no group and no instance',
    )
      .env('MINION_MANAGER_EVENTS_ONLY')
      .default(false),
    new Option('--spot-price-threshold <ratio>', 'use spot when spot <= ratio x on-demand')
      .env('MINION_MANAGER_SPOT_PRICE_THRESHOLD')
      .argParser(ratio('--spot-price-threshold'))
      .default(0.8),
    new Option(
      '--hysteresis <ratio>',
      'a group on spot stays there until spot > (threshold + this) x on-demand',
    )
      .env('MINION_MANAGER_HYSTERESIS')
      .argParser(ratio('--hysteresis'))
      .default(0.05),
    n(
      '--capacity-cooldown-seconds',
      'MINION_MANAGER_CAPACITY_COOLDOWN_SECONDS',
      'on-demand for this long after a spot capacity failure',
      3600,
    ),
    n(
      '--on-demand-price-ttl-seconds',
      'MINION_MANAGER_ON_DEMAND_PRICE_TTL_SECONDS',
      'how long an on-demand list price is reused',
      14400,
    ),
    n(
      '--drain-timeout',
      'MINION_MANAGER_DRAIN_TIMEOUT',
      'how long draining one node may take before its replacement is given up, seconds',
      600,
    ),
    new Option('--status-namespace <ns>', 'namespace of the status ConfigMap and the Events')
      .env('MINION_MANAGER_STATUS_NAMESPACE')
      .default(process.env.POD_NAMESPACE ?? 'kube-system'),
    new Option('--status-configmap <name>', 'ConfigMap holding one status entry per group')
      .env('MINION_MANAGER_STATUS_CONFIGMAP')
      .default('minion-manager-status'),
    disruptionLockNamespaceOption(),
  ];
}

export function parseConfig(argv: string[] = process.argv): MinionManagerConfig {
  const { config, extra } = parseManagerConfig('minion-manager', argv, (cmd) => {
    for (const o of options()) cmd.addOption(o);
  });
  const region = String(extra.region ?? '') || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || '';
  if (!region) throw new Error('--region is required (or AWS_REGION)');
  // Without it no group is managed (the controller says so and waits): a chart installed with its defaults
  // starts, serves its metrics and names what is missing.
  const clusterName = String(extra.clusterName ?? '');
  const refresh = Number(extra.refreshIntervalSeconds);
  if (refresh < 1) throw new Error(`--refresh-interval-seconds must be at least 1, got ${refresh}`);
  return {
    manager: config,
    spot: {
      region,
      clusterName,
      refreshIntervalSeconds: refresh,
      eventsOnly: extra.eventsOnly === true || extra.eventsOnly === 'true',
      dryRun: config.dryRun,
      threshold: Number(extra.spotPriceThreshold),
      hysteresis: Number(extra.hysteresis),
      capacityCooldownMs: Number(extra.capacityCooldownSeconds) * 1000,
      onDemandPriceTtlMs: Number(extra.onDemandPriceTtlSeconds) * 1000,
      drainTimeoutMs: Number(extra.drainTimeout) * 1000,
      statusNamespace: String(extra.statusNamespace),
      statusConfigMap: String(extra.statusConfigmap ?? extra.statusConfigMap),
      disruptionLockNamespace: String(extra.disruptionLockNamespace),
    },
  };
}
