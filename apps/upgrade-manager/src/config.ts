// upgrade-manager's flags on top of every controller's (kube-runtime's parseManagerConfig).
import { disruptionLockNamespaceOption } from '@keiko/node-ops';
import { flagValue, Option, parseManagerConfig, type ManagerConfig } from '@keiko/kube-runtime';
import type { RollingUpgradeControllerOptions } from './rollingupgrade/controller';

const seconds = (name: string) => flagValue.seconds(name, { allowZero: true });

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
    },
  };
}
