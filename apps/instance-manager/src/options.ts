// instance-manager's own flags, on top of every controller's (see packages/kube-runtime README). Each
// has a KEIKO_* environment twin; flags win.
import { flagValue, parseManagerConfig, type ManagerConfig } from '@keiko/kube-runtime';
import { DEFAULT_DISRUPTION_LOCK_NAMESPACE, disruptionLockNamespaceOption } from '@keiko/node-ops';

export interface InstanceManagerOptions {
  /** Namespace and name of the ConfigMap with managed defaults and boundaries. */
  configNamespace: string;
  configName: string;
  /** How long a node drain may take before it fails (the node is given back, retried once after the others). */
  drainTimeoutMs: number;
  /** Launch template versions kept besides the one in use (eks provisioner). */
  templateRetention: number;
  /** Freshness of cached AWS describes (Auto Scaling groups, launch templates, stacks); 0 disables. */
  awsCacheTtlMs: number;
  /** Wake-up of every group (a settled group's is cheap: see driftCheckMs). */
  resyncMs: number;
  /** Longest time between full passes (AWS describes) of a settled Ready group: drift made in AWS alone is found within it. */
  driftCheckMs: number;
  /** Where the per-group disruption locks every node tool shares live. */
  disruptionLockNamespace: string;
}

const positiveNumber = flagValue.number;

export function parseOptions(
  argv: string[] = process.argv,
  env: NodeJS.ProcessEnv = process.env,
): { config: ManagerConfig; options: InstanceManagerOptions } {
  const { config, extra } = parseManagerConfig('instance-manager', argv, (cmd) => {
    cmd
      .option(
        '--config-namespace <ns>',
        'namespace of the managed defaults/boundaries ConfigMap',
        env.KEIKO_CONFIG_NAMESPACE ?? 'instance-manager',
      )
      .option(
        '--config-name <name>',
        'name of the managed defaults/boundaries ConfigMap',
        env.KEIKO_CONFIG_NAME ?? 'instance-manager',
      )
      .option(
        '--drain-timeout <s>',
        'seconds a node drain may take before it fails (the node is given back and retried once after the others)',
        positiveNumber('--drain-timeout'),
        Number(env.KEIKO_DRAIN_TIMEOUT ?? 900),
      )
      .option(
        '--template-retention <n>',
        'launch template versions kept besides the one in use',
        positiveNumber('--template-retention'),
        Number(env.KEIKO_TEMPLATE_RETENTION ?? 2),
      )
      .option(
        '--aws-cache-ttl <s>',
        'seconds AWS describes are served from cache (0: no cache)',
        positiveNumber('--aws-cache-ttl'),
        Number(env.KEIKO_AWS_CACHE_TTL ?? 5),
      )
      .option(
        '--resync <s>',
        'seconds between periodic re-checks of every group',
        positiveNumber('--resync'),
        Number(env.KEIKO_RESYNC ?? 60),
      )
      .option(
        '--drift-check-interval <s>',
        'seconds between full passes (AWS describes) of a settled Ready group whose spec and nodes did not change: how long drift made in AWS alone can go unseen (0: every resync is a full pass)',
        flagValue.number('--drift-check-interval'),
        Number(env.KEIKO_DRIFT_CHECK_INTERVAL ?? 3600),
      )
      .addOption(disruptionLockNamespaceOption());
  });
  const num = (k: string, d: number) => (typeof extra[k] === 'number' ? (extra[k] as number) : d);
  const str = (k: string, d: string) => (typeof extra[k] === 'string' ? (extra[k] as string) : d);
  return {
    config,
    options: {
      configNamespace: str('configNamespace', 'instance-manager'),
      configName: str('configName', 'instance-manager'),
      drainTimeoutMs: num('drainTimeout', 900) * 1000,
      templateRetention: Math.floor(num('templateRetention', 2)),
      awsCacheTtlMs: num('awsCacheTtl', 5) * 1000,
      resyncMs: Math.max(1, num('resync', 60)) * 1000,
      driftCheckMs: Math.max(0, num('driftCheckInterval', 3600)) * 1000,
      disruptionLockNamespace: str('disruptionLockNamespace', DEFAULT_DISRUPTION_LOCK_NAMESPACE),
    },
  };
}
