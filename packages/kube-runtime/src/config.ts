import { Command, CommanderError, InvalidArgumentError, Option, type OptionValues } from 'commander';

/** Re-exported so tools add their own flags (with env twins) in `extend` without their own commander. */
export { Command, CommanderError, InvalidArgumentError, Option };
import type { LogFormat, LogLevel } from './logger';

/** What every Keiko controller process is configured with; each field is a flag and an env var. */
export interface ManagerConfig {
  /** Watch one namespace only ('' = all namespaces). */
  namespace: string;
  leaderElect: boolean;
  leaderElectionId: string;
  /** Where the Lease lives; defaults to the pod's namespace. */
  leaderElectionNamespace: string;
  /** Identity in the Lease; defaults to the pod name (hostname) plus a random suffix. */
  leaderElectionIdentity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** 0 disables the endpoint. */
  metricsPort: number;
  healthPort: number;
  bindAddress: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Workers per controller (max concurrent reconciles). */
  concurrency: number;
  /** Grace period for in-flight reconciles on SIGTERM. */
  shutdownGraceMs: number;
  /** Path to a kubeconfig; empty: $KUBECONFIG, else in-cluster. */
  kubeconfig: string;
  /** Report what would be done without changing anything, where the controller supports it. */
  dryRun: boolean;
  /** Client-side rate limit towards the apiserver (controller-runtime's defaults: 20 / 30). */
  kubeApiQps: number;
  kubeApiBurst: number;
  /** How long the caches may take to sync before the process gives up and exits non-zero. */
  cacheSyncTimeoutMs: number;
  /** After losing the lease, exit within this long even if work does not stop. */
  leaderLostExitMs: number;
  /** Non-leader replicas sync their caches too, so a failover starts with a hot cache. */
  warmStandby: boolean;
  /** Every cached object is reconciled again this often (controller-runtime's SyncPeriod). */
  resyncPeriodMs: number;
}

/**
 * Flag value parsers every tool shares (for commander's argParser), so a bad value reads the same
 * everywhere and names its flag.
 */
export const flagValue = {
  /** A non-negative integer. */
  int: (name: string) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${v}"`);
    return n;
  },
  /** A non-negative number, as given. */
  number: (name: string) => (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative number, got "${v}"`);
    return n;
  },
  /** Seconds, returned in milliseconds: positive, or non-negative with allowZero. */
  seconds:
    (name: string, opts: { allowZero?: boolean } = {}) =>
    (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || (n === 0 && !opts.allowZero))
        throw new InvalidArgumentError(
          `${name} must be a ${opts.allowZero ? 'non-negative' : 'positive'} number of seconds, got "${v}"`,
        );
      return Math.round(n * 1000);
    },
};
const int = flagValue.int;
const seconds = (name: string) => flagValue.seconds(name);
const bool = (v: string) => {
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new InvalidArgumentError(`expected true or false, got "${v}"`);
};

/** Leader election, and what a replica does before and after it leads. */
function leaderElectionOptions(component: string): Option[] {
  return new Command()
    .addOption(
      new Option('--leader-elect <bool>', 'run leader election so that only one replica acts')
        .env('KEIKO_LEADER_ELECT')
        .argParser(bool)
        .default(true),
    )
    .addOption(
      new Option('--leader-election-id <name>', 'name of the Lease')
        .env('KEIKO_LEADER_ELECTION_ID')
        .default(`${component}-leader`),
    )
    .addOption(
      new Option('--leader-election-namespace <ns>', 'namespace of the Lease (default: the pod namespace)')
        .env('KEIKO_LEADER_ELECTION_NAMESPACE')
        .default(process.env.POD_NAMESPACE ?? 'default'),
    )
    .addOption(
      new Option(
        '--leader-election-identity <id>',
        'identity in the Lease (default: pod name + random suffix)',
      ).env('KEIKO_LEADER_ELECTION_IDENTITY'),
    )
    .addOption(
      new Option('--lease-duration <s>', 'lease duration, seconds')
        .env('KEIKO_LEASE_DURATION')
        .argParser(seconds('--lease-duration'))
        .default(15_000),
    )
    .addOption(
      new Option('--renew-deadline <s>', 'renew deadline, seconds')
        .env('KEIKO_RENEW_DEADLINE')
        .argParser(seconds('--renew-deadline'))
        .default(10_000),
    )
    .addOption(
      new Option('--retry-period <s>', 'retry period, seconds')
        .env('KEIKO_RETRY_PERIOD')
        .argParser(seconds('--retry-period'))
        .default(2_000),
    )
    .addOption(
      new Option('--leader-lost-exit-timeout <s>', 'after losing the lease, exit within this long, seconds')
        .env('KEIKO_LEADER_LOST_EXIT_TIMEOUT')
        .argParser(seconds('--leader-lost-exit-timeout'))
        .default(5_000),
    )
    .addOption(
      new Option('--warm-standby <bool>', 'non-leader replicas keep their caches synced, for a fast failover')
        .env('KEIKO_WARM_STANDBY')
        .argParser(bool)
        .default(true),
    ).options as Option[];
}

/** Metrics, health and logs. */
function endpointOptions(): Option[] {
  return new Command()
    .addOption(
      new Option('--metrics-port <port>', 'Prometheus /metrics port (0: off)')
        .env('KEIKO_METRICS_PORT')
        .argParser(int('--metrics-port'))
        .default(8080),
    )
    .addOption(
      new Option('--health-port <port>', '/healthz and /readyz port (0: off)')
        .env('KEIKO_HEALTH_PORT')
        .argParser(int('--health-port'))
        .default(8081),
    )
    .addOption(
      new Option('--bind-address <addr>', 'address the endpoints listen on')
        .env('KEIKO_BIND_ADDRESS')
        .default('0.0.0.0'),
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .env('KEIKO_LOG_LEVEL')
        .choices(['error', 'warn', 'info', 'debug'])
        .default('info'),
    )
    .addOption(
      new Option('--log-format <format>', 'log format')
        .env('KEIKO_LOG_FORMAT')
        .choices(['json', 'text'])
        .default('json'),
    ).options as Option[];
}

/** How the process talks to the apiserver and keeps its caches. */
function apiOptions(): Option[] {
  return new Command()
    .addOption(
      new Option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, else in-cluster)').default(''),
    )
    .addOption(
      new Option('--kube-api-qps <n>', 'requests per second to the apiserver, sustained (0: no limit)')
        .env('KEIKO_KUBE_API_QPS')
        .argParser(int('--kube-api-qps'))
        .default(20),
    )
    .addOption(
      new Option('--kube-api-burst <n>', 'requests to the apiserver allowed at once above the rate')
        .env('KEIKO_KUBE_API_BURST')
        .argParser(int('--kube-api-burst'))
        .default(30),
    )
    .addOption(
      new Option('--cache-sync-timeout <s>', 'how long the caches may take to sync before exiting, seconds')
        .env('KEIKO_CACHE_SYNC_TIMEOUT')
        .argParser(seconds('--cache-sync-timeout'))
        .default(120_000),
    )
    .addOption(
      new Option('--resync-period <s>', 'reconcile every cached object again this often, seconds')
        .env('KEIKO_RESYNC_PERIOD')
        .argParser(seconds('--resync-period'))
        .default(36_000_000),
    ).options as Option[];
}

/** What the controllers work on, and how. */
function workOptions(): Option[] {
  return new Command()
    .addOption(
      new Option('--namespace <ns>', 'watch only this namespace (default: all)')
        .env('KEIKO_NAMESPACE')
        .default(''),
    )
    .addOption(
      new Option('--concurrency <n>', 'workers per controller')
        .env('KEIKO_CONCURRENCY')
        .argParser(int('--concurrency'))
        .default(1),
    )
    .addOption(
      new Option('--shutdown-grace <s>', 'how long in-flight reconciles may finish on SIGTERM, seconds')
        .env('KEIKO_SHUTDOWN_GRACE')
        .argParser(seconds('--shutdown-grace'))
        .default(30_000),
    )
    .addOption(
      new Option('--dry-run <bool>', 'report planned actions without performing them')
        .env('KEIKO_DRY_RUN')
        .argParser(bool)
        .default(false),
    ).options as Option[];
}

/** Every controller's flags, each with a KEIKO_* environment twin (flags win). */
function runtimeOptions(component: string): Option[] {
  return [...workOptions(), ...leaderElectionOptions(component), ...endpointOptions(), ...apiOptions()];
}

/** The parsed runtime flags as a ManagerConfig (the identity defaults to the pod name + a random suffix). */
function toManagerConfig(o: OptionValues, component: string): ManagerConfig {
  return {
    namespace: o.namespace,
    leaderElect: o.leaderElect,
    leaderElectionId: o.leaderElectionId,
    leaderElectionNamespace: o.leaderElectionNamespace,
    leaderElectionIdentity:
      o.leaderElectionIdentity ??
      `${process.env.POD_NAME ?? process.env.HOSTNAME ?? component}_${Math.random().toString(36).slice(2, 10)}`,
    leaseDurationMs: o.leaseDuration,
    renewDeadlineMs: o.renewDeadline,
    retryPeriodMs: o.retryPeriod,
    metricsPort: o.metricsPort,
    healthPort: o.healthPort,
    bindAddress: o.bindAddress,
    logLevel: o.logLevel,
    logFormat: o.logFormat,
    concurrency: o.concurrency,
    shutdownGraceMs: o.shutdownGrace,
    kubeconfig: o.kubeconfig,
    dryRun: o.dryRun,
    kubeApiQps: o.kubeApiQps,
    kubeApiBurst: Math.max(o.kubeApiBurst, 1),
    cacheSyncTimeoutMs: o.cacheSyncTimeout,
    leaderLostExitMs: o.leaderLostExitTimeout,
    warmStandby: o.warmStandby,
    resyncPeriodMs: o.resyncPeriod,
  };
}

/**
 * Parses flags (and their KEIKO_* environment twins; flags win) for controller `component`. Extra
 * options a tool needs are added with `extend`, and come back in `extra`.
 */
export function parseManagerConfig(
  component: string,
  argv: string[] = process.argv,
  extend?: (cmd: Command) => void,
): { config: ManagerConfig; extra: Record<string, unknown> } {
  const cmd = new Command(component).allowExcessArguments(false).exitOverride();
  const runtime = runtimeOptions(component);
  for (const option of runtime) cmd.addOption(option);
  extend?.(cmd);
  // A process started with bad flags says what is wrong (commander already printed it) and exits 2;
  // --help exits 0. Callers passing their own argv (tests) get the error thrown instead.
  const exitOnError = argv === process.argv;
  try {
    cmd.parse(argv);
  } catch (err) {
    if (!exitOnError || !(err instanceof CommanderError)) throw err;
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const o = cmd.opts();
  const problem =
    o.concurrency < 1
      ? '--concurrency must be at least 1'
      : !(o.leaseDuration > o.renewDeadline && o.renewDeadline > o.retryPeriod)
        ? 'leader election needs --lease-duration > --renew-deadline > --retry-period'
        : undefined;
  if (problem) {
    if (!exitOnError) throw new InvalidArgumentError(problem);
    console.error(`error: ${problem}`);
    process.exit(2);
  }
  const config = toManagerConfig(o, component);
  const known = new Set(runtime.map((option) => option.attributeName()));
  const extra = Object.fromEntries(Object.entries(o).filter(([k]) => !known.has(k)));
  return { config, extra };
}
