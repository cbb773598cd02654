// active-monitor: the HealthCheck controller (activemonitor.keikoproj.io/v1alpha1) — each check runs as
// an Argo Workflow on its schedule, and its remedy workflow when it fails.
import { Manager, Option, parseManagerConfig } from '@keiko/kube-runtime';
import { registerHealthCheckController } from './healthcheck/controller';
import { DEFAULT_INSTANCE_ID } from './healthcheck/constants';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const { config, extra } = parseManagerConfig('active-monitor', process.argv, (cmd) => {
  cmd
    .addOption(
      new Option(
        '--instance-id <id>',
        'Argo controller instanceID label put on every workflow (workflows.argoproj.io/controller-instanceid)',
      )
        .env('KEIKO_INSTANCE_ID')
        .default(DEFAULT_INSTANCE_ID),
    )
    .addOption(
      new Option('--timezone <tz>', 'time zone of cron schedules (IANA name)')
        .env('KEIKO_TIMEZONE')
        .default('UTC'),
    )
    .addOption(
      new Option(
        '--workflow-dir <path>',
        'directory source.file.path values resolve against and must stay inside (mount a ConfigMap of workflows there); unset: file sources fail',
      ).env('KEIKO_WORKFLOW_DIR'),
    )
    .addOption(
      new Option(
        '--privileged-namespaces <list>',
        "namespaces whose checks may use rbacRules, level cluster or another namespace's workflows ('*': all); empty: cluster level with read-only rules everywhere, custom rules nowhere",
      )
        .env('KEIKO_PRIVILEGED_NAMESPACES')
        .argParser(list)
        .default([] as string[]),
    );
});
try {
  new Intl.DateTimeFormat('en', { timeZone: extra.timezone as string });
} catch {
  console.error(`active-monitor: --timezone ${String(extra.timezone)} is not a known IANA time zone`);
  process.exit(2);
}
const mgr = new Manager('active-monitor', config);
registerHealthCheckController(mgr, {
  instanceId: extra.instanceId as string,
  timeZone: extra.timezone as string,
  privilegedNamespaces: extra.privilegedNamespaces as string[],
  ...(extra.workflowDir ? { workflowDir: extra.workflowDir as string } : {}),
});
await mgr.start();
