// upgrade-manager's flags on top of every controller's (kube-runtime's parseManagerConfig).
import { disruptionLockNamespaceOption } from '@keiko/node-ops';
import { flagValue, Option, parseManagerConfig, type ManagerConfig } from '@keiko/kube-runtime';
import type { RollingUpgradeControllerOptions } from './rollingupgrade/controller';
import type { ScriptsOptions } from './rollingupgrade/scripts';

const seconds = (name: string) => flagValue.seconds(name, { allowZero: true });
const bool = (v: string) => {
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new Error(`--scripts-enabled: expected true or false, got "${v}"`);
};

/** Running RollingUpgrade scripts as Jobs: off unless asked for, and then with an image and a ServiceAccount. */
function scriptOptions(): Option[] {
  return [
    new Option(
      '--scripts-enabled <bool>',
      "run RollingUpgrades' preDrain/postDrain/postTerminate scripts as Jobs (off: upgrades that set scripts wait, unless spec.ignoreScripts)",
    )
      .env('KEIKO_SCRIPTS_ENABLED')
      .argParser(bool)
      .default(false),
    new Option('--scripts-image <image>', 'image of the script Jobs (needs /bin/sh)').env(
      'KEIKO_SCRIPTS_IMAGE',
    ),
    new Option(
      '--scripts-service-account <name>',
      "ServiceAccount of the script Jobs' pods, in each RollingUpgrade's namespace",
    ).env('KEIKO_SCRIPTS_SERVICE_ACCOUNT'),
    new Option('--scripts-timeout <s>', "a script Job's activeDeadlineSeconds: past it the script fails")
      .env('KEIKO_SCRIPTS_TIMEOUT')
      .argParser(flagValue.int('--scripts-timeout'))
      .default(600),
    new Option(
      '--scripts-ttl <s>',
      'how long a finished script Job (and its logs) is kept: its ttlSecondsAfterFinished',
    )
      .env('KEIKO_SCRIPTS_TTL')
      .argParser(flagValue.int('--scripts-ttl'))
      .default(7 * 24 * 3600, '604800 (7 days)'),
  ];
}

function scriptsConfig(extra: Record<string, unknown>): ScriptsOptions | undefined {
  if (extra.scriptsEnabled !== true) return undefined;
  const image = String(extra.scriptsImage ?? '');
  const serviceAccountName = String(extra.scriptsServiceAccount ?? '');
  if (!image || !serviceAccountName)
    throw new Error('--scripts-enabled needs --scripts-image and --scripts-service-account');
  return {
    image,
    serviceAccountName,
    timeoutSeconds: Math.max(1, Number(extra.scriptsTimeout)),
    ttlSecondsAfterFinished: Number(extra.scriptsTtl),
  };
}

export interface UpgradeManagerConfig {
  manager: ManagerConfig;
  controller: RollingUpgradeControllerOptions;
}

export function parseConfig(argv: string[] = process.argv): UpgradeManagerConfig {
  const { config, extra } = parseManagerConfig('upgrade-manager', argv, (cmd) => {
    cmd
      .addOption(
        new Option('--poll-interval <s>', 'how often to look at AWS and nodes while waiting on them, seconds')
          .env('KEIKO_POLL_INTERVAL')
          .argParser(seconds('--poll-interval'))
          .default(5_000, '5'),
      )
      .addOption(
        new Option(
          '--aws-cache-ttl <s>',
          'how long a DescribeAutoScalingGroups answer is reused, seconds (0: never)',
        )
          .env('KEIKO_AWS_CACHE_TTL')
          .argParser(seconds('--aws-cache-ttl'))
          .default(5_000, '5'),
      )
      .addOption(
        new Option(
          '--lock-requeue <s>',
          'how often an upgrade waiting for another one on its group looks again, seconds',
        )
          .env('KEIKO_LOCK_REQUEUE')
          .argParser(seconds('--lock-requeue'))
          .default(30_000, '30'),
      )
      .addOption(disruptionLockNamespaceOption());
    for (const o of scriptOptions()) cmd.addOption(o);
  });
  const pollIntervalMs = Math.max(100, Number(extra.pollInterval));
  return {
    manager: config,
    controller: {
      pollIntervalMs,
      awsCacheTtlMs: Number(extra.awsCacheTtl),
      lockRequeueMs: Math.max(1000, Number(extra.lockRequeue)),
      disruptionLockNamespace: String(extra.disruptionLockNamespace),
      dryRun: config.dryRun,
      scripts: scriptsConfig(extra),
    },
  };
}
