// lifecycle-manager's flags on top of every controller's (kube-runtime's parseManagerConfig). Upstream's
// names and defaults are kept: --queue-name, --region, --polling-interval, --drain-timeout,
// --drain-timeout-unknown, --drain-retries, --max-drain-concurrency, --max-time-to-process,
// --max-termination-grace-period, --with-deregister, --deregister-target-types.
import { disruptionLockNamespaceOption } from '@keiko/node-ops';
import { flagValue, Option, parseManagerConfig, type ManagerConfig } from '@keiko/kube-runtime';

const int = flagValue.int;
const bool = (name: string) => (v: string) => {
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new Error(`${name}: expected true or false, got "${v}"`);
};

export interface LifecycleConfig {
  queueNames: string[];
  region: string;
  pollingIntervalSeconds: number;
  drainTimeoutMs: number;
  drainTimeoutUnknownMs: number;
  drainRetries: number;
  maxDrainConcurrency: number;
  maxTimeToProcessMs: number;
  maxTerminationGraceSeconds: number;
  withDeregister: boolean;
  deregisterTargetTypes: string[];
  lockWaitMs: number;
  rebalanceDraining: boolean;
  deleteIfNoNode: boolean;
  disruptionLockNamespace: string;
  dryRun: boolean;
}

export interface LifecycleManagerConfig {
  manager: ManagerConfig;
  lifecycle: LifecycleConfig;
}

function options(): Option[] {
  const n = (flag: string, env: string, help: string, def: number) =>
    new Option(`${flag} <n>`, help).env(env).argParser(int(flag)).default(def);
  return [
    new Option('--queue-name <names>', 'SQS queue(s) the lifecycle notifications arrive on (comma-separated)')
      .env('KEIKO_QUEUE_NAME')
      .default('lifecycle-manager'),
    new Option('--region <region>', 'AWS region of the queue and the groups (default AWS_REGION)').env(
      'KEIKO_REGION',
    ),
    n('--polling-interval', 'KEIKO_POLLING_INTERVAL', 'SQS long-poll wait, seconds (1..20)', 10),
    n('--drain-timeout', 'KEIKO_DRAIN_TIMEOUT', 'how long one drain attempt may take, seconds', 300),
    n(
      '--drain-timeout-unknown',
      'KEIKO_DRAIN_TIMEOUT_UNKNOWN',
      'drain timeout of a node whose Ready condition is Unknown, seconds',
      30,
    ),
    n('--drain-retries', 'KEIKO_DRAIN_RETRIES', 'drain attempts before the escalation', 3),
    n('--max-drain-concurrency', 'KEIKO_MAX_DRAIN_CONCURRENCY', 'instances handled at once', 32),
    n(
      '--max-time-to-process',
      'KEIKO_MAX_TIME_TO_PROCESS',
      'longest a message may be worked on (or wait for its node), seconds',
      3600,
    ),
    n(
      '--max-termination-grace-period',
      'KEIKO_MAX_TERMINATION_GRACE_PERIOD',
      "cap of pods' grace period in the escalation, seconds",
      900,
    ),
    n(
      '--lock-wait-timeout',
      'KEIKO_LOCK_WAIT_TIMEOUT',
      "how long to wait for another tool's disruption lock on the group before draining anyway, seconds",
      120,
    ),
    new Option(
      '--with-deregister <bool>',
      'deregister the instance from load balancers (this version: the node is labelled out of external load balancers)',
    )
      .env('KEIKO_WITH_DEREGISTER')
      .argParser(bool('--with-deregister'))
      .default(true),
    new Option('--deregister-target-types <types>', 'classic-elb,target-group')
      .env('KEIKO_DEREGISTER_TARGET_TYPES')
      .default('classic-elb,target-group'),
    new Option(
      '--enable-rebalance-draining <bool>',
      'drain the node of an instance with an EC2 rebalance recommendation (default: cordon only)',
    )
      .env('KEIKO_ENABLE_REBALANCE_DRAINING')
      .argParser(bool('--enable-rebalance-draining'))
      .default(false),
    new Option(
      '--delete-message-if-node-not-found <bool>',
      'delete an EC2 event naming no node of this cluster at once (default: put back with a growing delay until moot)',
    )
      .env('KEIKO_DELETE_MESSAGE_IF_NODE_NOT_FOUND')
      .argParser(bool('--delete-message-if-node-not-found'))
      .default(false),
    new Option('--local-mode <path>', 'upstream flag (kubeconfig path); use --kubeconfig').hideHelp(),
    new Option(
      '--refresh-expired-credentials',
      'upstream flag; the AWS SDK v3 refreshes credentials itself',
    ).hideHelp(),
    disruptionLockNamespaceOption(),
  ];
}

export function parseConfig(argv: string[] = process.argv): LifecycleManagerConfig {
  const { config, extra } = parseManagerConfig('lifecycle-manager', argv, (cmd) => {
    for (const o of options()) cmd.addOption(o);
  });
  const queueNames = String(extra.queueName ?? '')
    .split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  if (queueNames.length === 0)
    throw new Error('--queue-name is empty: name the SQS queue(s) the lifecycle hooks notify');
  const region = String(extra.region ?? '') || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || '';
  if (!region) throw new Error('--region is required (or AWS_REGION)');
  const polling = Number(extra.pollingInterval);
  if (polling < 1 || polling > 20)
    throw new Error(`--polling-interval must be 1..20 seconds (the SQS long-poll wait), got ${polling}`);
  const s = (v: unknown) => Number(v) * 1000;
  return {
    manager: config,
    lifecycle: {
      queueNames,
      region,
      pollingIntervalSeconds: polling,
      drainTimeoutMs: s(extra.drainTimeout),
      drainTimeoutUnknownMs: s(extra.drainTimeoutUnknown),
      drainRetries: Math.max(1, Number(extra.drainRetries)),
      maxDrainConcurrency: Math.max(1, Number(extra.maxDrainConcurrency)),
      maxTimeToProcessMs: s(extra.maxTimeToProcess),
      maxTerminationGraceSeconds: Number(extra.maxTerminationGracePeriod),
      withDeregister: extra.withDeregister === true,
      deregisterTargetTypes: String(extra.deregisterTargetTypes).split(',').filter(Boolean),
      lockWaitMs: s(extra.lockWaitTimeout),
      rebalanceDraining: extra.enableRebalanceDraining === true,
      deleteIfNoNode: extra.deleteMessageIfNodeNotFound === true,
      disruptionLockNamespace: String(extra.disruptionLockNamespace),
      dryRun: config.dryRun,
    },
  };
}
