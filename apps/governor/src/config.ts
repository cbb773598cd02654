// governor's flags: upstream's names and defaults for each command, on top of every controller's
// (kube-runtime's parseManagerConfig), plus Keiko's own (--once, the breaker, conditions, state).
// Bad values fail at start naming the flag (exit 2).
import { disruptionLockNamespaceOption } from '@keiko/node-ops';
import {
  InvalidArgumentError,
  Option,
  parseManagerConfig,
  type Command,
  type ManagerConfig,
} from '@keiko/kube-runtime';
import {
  NODE_REAPER_DEFAULTS,
  parseConditionRule,
  parseTaintMatcher,
  type NodeReaperSettings,
} from './node/settings';
import type { AzNatConfig } from './aznat/command';
import type { PdbReaperConfig } from './pdb/command';
import type { PodReaperConfig } from './pod/command';

/** Settings every governor command shares. */
export interface CommonConfig {
  manager: ManagerConfig;
  /** One pass, then exit (the CronJob form); otherwise a long-running controller. */
  once: boolean;
  pushgateway: string;
  region: string;
  sweepIntervalMs: number;
  stateNamespace: string;
  stateConfigMap: string;
  disruptionLockNamespace: string;
}

export const bool = (name: string) => (v: string | boolean) => {
  if (typeof v === 'boolean') return v;
  if (['true', '1', 'yes', 't'].includes(v.toLowerCase())) return true;
  if (['false', '0', 'no', 'f'].includes(v.toLowerCase())) return false;
  throw new InvalidArgumentError(`${name}: expected true or false, got "${v}"`);
};

/** A number at least `min` (upstream's minimums), as given. */
export const atLeast = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
  if (n < min) throw new InvalidArgumentError(`${name} must be at least ${min}, got ${v}`);
  return n;
};

/** A boolean flag as upstream's (cobra) take it: `--flag`, `--flag=false`, `--flag false`. */
export function boolOption(flags: string, help: string, dflt: boolean): Option {
  const name = flags.split(' ')[0] ?? flags;
  return new Option(`${flags} [bool]`, help).argParser(bool(name)).preset(true).default(dflt);
}

/** Upstream's `--dry-run` takes no value; kube-runtime's wants one: a bare `--dry-run` means true. */
export function normalizeArgv(argv: readonly string[]): string[] {
  return argv.map((a, i) => {
    if (a !== '--dry-run') return a;
    const next = argv[i + 1];
    return next === undefined || next.startsWith('-') ? '--dry-run=true' : a;
  });
}

function commonOptions(command: string): Option[] {
  return [
    boolOption(
      '--once',
      'one pass, then exit (as upstream CronJobs run); default: a long-running controller',
      false,
    ),
    new Option(
      '--prometheus-pushgateway <url>',
      'with --once: push the metrics here at the end of the run',
    ).default(''),
    new Option('--region <region>', 'AWS region (default: $AWS_REGION)').default(''),
    boolOption(
      '--local-mode',
      'accepted for upstream compatibility: use --kubeconfig (or $KUBECONFIG)',
      false,
    ),
    new Option('--sweep-interval <s>', 'controller mode: sweep at least this often, seconds')
      .argParser(atLeast('--sweep-interval', 1))
      .default(60),
    new Option(
      '--state-namespace <ns>',
      "namespace of governor's state ConfigMap (default: the pod's namespace)",
    ).default(process.env.POD_NAMESPACE ?? 'default'),
    new Option('--state-configmap <name>', 'name of the state ConfigMap (kills, throttles, breaker)').default(
      `governor-${command.replace(' ', '-')}-state`,
    ),
    disruptionLockNamespaceOption(),
  ];
}

function nodeReaperOptions(): Option[] {
  const d = NODE_REAPER_DEFAULTS;
  const minutes = (flag: string, min: number, dflt: number, help: string) =>
    new Option(`${flag} <minutes>`, help).argParser(atLeast(flag, min)).default(dflt);
  const seconds = (flag: string, dflt: number, help: string) =>
    new Option(`${flag} <seconds>`, help).argParser(atLeast(flag, 0)).default(dflt);
  const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(',').filter(Boolean)];
  return [
    minutes('--reap-after', 1, 10, 'reap a node NotReady/Unknown this long (float)'),
    boolOption('--soft-reap', 'spare unready/unknown nodes while a pod on them is Ready', d.softReap),
    boolOption('--reap-unknown', 'reap nodes whose Ready is Unknown', d.reapUnknown),
    boolOption('--reap-unready', 'reap nodes whose Ready is False', d.reapUnready),
    boolOption(
      '--reap-ghost',
      'reap nodes whose instance is gone while another runs with their name',
      d.reapGhost,
    ),
    boolOption('--reap-flappy', 'reap nodes whose Ready flaps', d.reapFlappy),
    new Option('--flap-count <n>', 'Ready transitions within --flap-window that make a node flappy')
      .argParser(atLeast('--flap-count', 1))
      .default(d.flapCount),
    minutes('--flap-window', 1, 60, 'the window --flap-count counts in'),
    boolOption('--reap-unjoined', 'terminate tagged instances that never joined as nodes', d.reapUnjoined),
    minutes('--reap-unjoined-threshold-minutes', 10, 15, 'an instance unjoined this long is reaped'),
    new Option(
      '--reap-unjoined-tag-key <key>',
      'tag key of instances expected to join (required with --reap-unjoined)',
    ),
    new Option(
      '--reap-unjoined-tag-value <value>',
      'tag value of instances expected to join (required with --reap-unjoined)',
    ),
    boolOption('--reap-old', 'reap nodes older than --reap-old-threshold-minutes, oldest first', d.reapOld),
    minutes('--reap-old-threshold-minutes', 1, 43_200, 'age that makes a node old'),
    new Option(
      '--reap-tainted <taints>',
      'reap nodes with a taint: key=value:effect, key:effect or key (repeatable, comma list)',
    )
      .argParser(collect)
      .default([]),
    new Option(
      '--reap-conditions <rules>',
      'also reap on node conditions, Type=Status:duration, e.g. KernelDeadlock=True:5m (repeatable)',
    )
      .argParser(collect)
      .default([]),
    boolOption(
      '--asg-validation',
      'only reap in a group whose desired capacity equals its healthy InService count',
      d.asgValidation,
    ),
    new Option('--max-kill-nodes <n>', 'nodes reaped at most per --kill-window (--once: per run)')
      .argParser(atLeast('--max-kill-nodes', 0))
      .default(d.maxKillNodes),
    minutes('--kill-window', 1, 10, 'controller mode: the window --max-kill-nodes counts in'),
    seconds('--reap-throttle', 300, 'after reaping an unhealthy node, reap nothing for this long'),
    seconds('--reap-old-throttle', 1800, 'after reaping an old node, reap nothing for this long'),
    minutes('--reconsider-unreapable-after', 10, 45, 'a node whose drain failed is retried after this long'),
    seconds('--drain-timeout', 600, 'a drain taking longer fails'),
    boolOption('--ignore-failure', 'leave a node whose drain failed cordoned', d.ignoreFailure),
    new Option(
      '--breaker-threshold <percent>',
      'circuit breaker: no reaping while more than this % of nodes (cluster or group) is unhealthy',
    )
      .argParser(atLeast('--breaker-threshold', 0))
      .default(d.breakerThresholdPercent),
    new Option('--node-selector <selector>', 'only look at nodes matching this label selector')
      .env('GOVERNOR_NODE_SELECTOR')
      .default(''),
    new Option('--node-name <name>', 'the node governor runs on: never reaped (default: $NODE_NAME)').default(
      process.env.NODE_NAME ?? '',
    ),
  ];
}

function nodeSettings(x: Record<string, unknown>, dryRun: boolean): NodeReaperSettings {
  const min = (k: string) => Number(x[k]) * 60_000;
  const sec = (k: string) => Number(x[k]) * 1000;
  const tagKey = String(x.reapUnjoinedTagKey ?? '');
  const tagValue = String(x.reapUnjoinedTagValue ?? '');
  if (x.reapUnjoined === true && (!tagKey || !tagValue))
    throw new Error('--reap-unjoined needs --reap-unjoined-tag-key and --reap-unjoined-tag-value');
  return {
    ...NODE_REAPER_DEFAULTS,
    dryRun,
    reapAfterMs: min('reapAfter'),
    softReap: x.softReap === true,
    reapUnknown: x.reapUnknown === true,
    reapUnready: x.reapUnready === true,
    reapGhost: x.reapGhost === true,
    reapFlappy: x.reapFlappy === true,
    flapCount: Number(x.flapCount),
    flapWindowMs: min('flapWindow'),
    reapUnjoined: x.reapUnjoined === true,
    unjoinedThresholdMs: min('reapUnjoinedThresholdMinutes'),
    ...(tagKey && tagValue ? { unjoinedTag: { key: tagKey, value: tagValue } } : {}),
    reapOld: x.reapOld === true,
    oldThresholdMs: min('reapOldThresholdMinutes'),
    reapTainted: (x.reapTainted as string[]).map(parseTaintMatcher),
    reapConditions: (x.reapConditions as string[]).map(parseConditionRule),
    asgValidation: x.asgValidation === true,
    maxKillNodes: Math.floor(Number(x.maxKillNodes)),
    killWindowMs: min('killWindow'),
    reapThrottleMs: sec('reapThrottle'),
    reapOldThrottleMs: sec('reapOldThrottle'),
    reconsiderUnreapableAfterMs: min('reconsiderUnreapableAfter'),
    drainTimeoutMs: sec('drainTimeout'),
    ignoreFailure: x.ignoreFailure === true,
    breakerThresholdPercent: Number(x.breakerThreshold),
    ...(x.nodeName ? { selfNode: String(x.nodeName) } : {}),
    nodeSelector: String(x.nodeSelector ?? ''),
  };
}

function common(config: ManagerConfig, x: Record<string, unknown>): CommonConfig {
  return {
    manager: config,
    once: x.once === true,
    pushgateway: String(x.prometheusPushgateway ?? ''),
    region: String(x.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || ''),
    sweepIntervalMs: Number(x.sweepInterval) * 1000,
    stateNamespace: String(x.stateNamespace),
    stateConfigMap: String(x.stateConfigmap),
    disruptionLockNamespace: String(x.disruptionLockNamespace ?? ''),
  };
}

/** Parses a command's flags with kube-runtime's (argv: [node, script, ...flags]). */
export function parseCommand(
  command: string,
  argv: string[],
  options: Option[],
): { common: CommonConfig; extra: Record<string, unknown> } {
  const { config, extra } = parseManagerConfig(
    `governor-${command.replace(' ', '-')}`,
    normalizeArgv(argv),
    (cmd: Command) => {
      cmd.name(`governor ${command}`);
      for (const o of [...commonOptions(command), ...options]) cmd.addOption(o);
    },
  );
  // GOVERNOR_DRY_RUN=true forces a dry run whatever the flags say (the sandbox sets it: governor must not
  // reap the nodes other tools' examples make NotReady on purpose).
  if (process.env.GOVERNOR_DRY_RUN === 'true') config.dryRun = true;
  return { common: common(config, extra), extra };
}

export interface NodeReaperConfig extends CommonConfig {
  node: NodeReaperSettings;
}

export function parseNodeReaperConfig(argv: string[]): NodeReaperConfig {
  const { common: c, extra } = parseCommand('reap node', argv, nodeReaperOptions());
  return { ...c, node: nodeSettings(extra, c.manager.dryRun) };
}

function podReaperOptions(): Option[] {
  const minutes = (flag: string, dflt: number, help: string) =>
    new Option(`${flag} <minutes>`, help).argParser(atLeast(flag, 0)).default(dflt);
  return [
    minutes('--reap-after', 10, 'force-delete a pod Terminating this long past its grace period (float)'),
    boolOption('--soft-reap', 'spare Terminating pods whose containers still run', true),
    boolOption('--reap-completed', 'delete Succeeded pods past --reap-completed-after', false),
    minutes(
      '--reap-completed-after',
      240,
      'age (since its last container ended) of a completed pod to delete',
    ),
    boolOption('--reap-failed', 'delete Failed pods past --reap-failed-after', false),
    minutes('--reap-failed-after', 240, 'age (since its last container ended) of a failed pod to delete'),
  ];
}

export function parsePodReaperConfig(argv: string[]): PodReaperConfig {
  const { common: c, extra: x } = parseCommand('reap pod', argv, podReaperOptions());
  return {
    ...c,
    pod: {
      dryRun: c.manager.dryRun,
      reapAfterMs: Number(x.reapAfter) * 60_000,
      softReap: x.softReap === true,
      reapCompleted: x.reapCompleted === true,
      reapCompletedAfterMs: Number(x.reapCompletedAfter) * 60_000,
      reapFailed: x.reapFailed === true,
      reapFailedAfterMs: Number(x.reapFailedAfter) * 60_000,
    },
  };
}

function pdbReaperOptions(): Option[] {
  const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').filter(Boolean)];
  return [
    boolOption(
      '--reap',
      'delete blocking budgets (saved first, restored when their cause clears); default: report only',
      false,
    ),
    boolOption(
      '--reap-misconfigured',
      'budgets whose maxUnavailable is 0 or minAvailable equals the expected pods',
      true,
    ),
    boolOption('--reap-multiple', 'budgets selecting pods another budget of the namespace selects', true),
    boolOption('--reap-crashloop', 'budgets whose pods crashloop', false),
    boolOption('--all-crashloop', 'with --reap-crashloop: only when every selected pod crashloops', true),
    new Option('--crashloop-restart-count <n>', 'restarts that make a CrashLoopBackOff container count')
      .argParser(atLeast('--crashloop-restart-count', 1))
      .default(5),
    boolOption(
      '--reap-not-ready',
      'budgets whose pods are not ready for --not-ready-threshold-seconds',
      true,
    ),
    new Option('--not-ready-threshold-seconds <s>', 'how long a pod is not ready before it counts')
      .argParser(atLeast('--not-ready-threshold-seconds', 0))
      .default(1800),
    boolOption('--all-not-ready', 'with --reap-not-ready: only when every selected pod is not ready', false),
    new Option('--excluded-namespaces <ns>', 'namespaces left alone (repeatable, comma list)')
      .argParser(list)
      .default([]),
  ];
}

export function parsePdbReaperConfig(argv: string[]): PdbReaperConfig {
  const { common: c, extra: x } = parseCommand('reap pdb', argv, pdbReaperOptions());
  return {
    ...c,
    pdb: {
      dryRun: c.manager.dryRun,
      reap: x.reap === true,
      reapMisconfigured: x.reapMisconfigured === true,
      reapMultiple: x.reapMultiple === true,
      reapCrashloop: x.reapCrashloop === true,
      allCrashloop: x.allCrashloop === true,
      crashloopRestartCount: Number(x.crashloopRestartCount),
      reapNotReady: x.reapNotReady === true,
      notReadyThresholdMs: Number(x.notReadyThresholdSeconds) * 1000,
      allNotReady: x.allNotReady === true,
      excludedNamespaces: x.excludedNamespaces as string[],
    },
  };
}

export function parseAzNatConfig(argv: string[]): AzNatConfig {
  const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').filter(Boolean)];
  const { common: c, extra: x } = parseCommand('cordon az-nat', argv, [
    new Option(
      '--target-az-ids <zones>',
      'impaired zones, by id (usw2-az1) or name (us-west-2a); repeatable, comma list',
    )
      .argParser(list)
      .default([]),
    new Option('--target-vpc-id <vpc>', 'the VPC whose route tables to change').default(''),
    boolOption('--restore', 'put cordoned route tables back on their original NAT gateway', false),
  ]);
  const zones = x.targetAzIds as string[];
  const vpcId = String(x.targetVpcId ?? '');
  if (!vpcId) throw new Error('cordon az-nat needs --target-vpc-id');
  if (zones.length === 0 && x.restore !== true)
    throw new Error('cordon az-nat needs --target-az-ids (or --restore)');
  return { ...c, azNat: { vpcId, zones, restore: x.restore === true, dryRun: c.manager.dryRun } };
}
