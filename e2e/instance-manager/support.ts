// What the instance-manager end-to-end scenarios share: the bundled controller as a child process (as in
// its container) — optionally as the Helm chart's ServiceAccount, with exactly the chart's RBAC
// (chartIdentity) —, a namespace of their own, the AWS emulator's fixtures, and the node simulator playing
// kubelet for the namespace's scaling groups.
import fs from 'node:fs';
import path from 'node:path';
import { InstanceGroupKind, TAG_NAMESPACE, type InstanceGroup } from '@keiko/api';
import {
  AwsAutoScaling,
  awsClientConfig,
  AwsCloudFormation,
  AwsEc2,
  AwsIam,
  createAwsClients,
  type AwsClients,
} from '@keiko/aws';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import {
  buildApp,
  ControllerProcess,
  eventually,
  freePort,
  repoRoot,
  startToolScenario,
  type ToolScenario,
  type ControllerIdentity,
} from '@keiko/testenv';
import type * as k8s from '@kubernetes/client-node';
import { findObject, preparedChart, renderChart } from '../../charts/test/support/charts';
import { writeKubeConfigAs, type ServiceAccountRef } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';

export const root = repoRoot();

/** The app bundled by its tsup build, as in its image (testenv's launcher). */
export const build = buildApp;

/**
 * charts/instance-manager's identity, as `helm install <release> -n <namespace>` creates it: its
 * ServiceAccount, ClusterRole, leader-election Role and the Roles holding kube-system/aws-auth and the
 * managed defaults ConfigMap, applied to the test cluster — and the flags that make a controller act as the
 * chart's Deployment does: a kubeconfig impersonating the ServiceAccount, the chart's Lease, the chart's
 * --config-namespace/--config-name. A request the chart does not allow is refused (403).
 */
export interface ChartIdentity extends ControllerIdentity {
  serviceAccount: ServiceAccountRef;
  rbac: ChartRbac;
  leaseName: string;
  /** --leader-election-id/-namespace and the chart's own --config-namespace/--config-name. */
  args: string[];
  /** Deletes the ServiceAccount and RBAC (stop the controller first). */
  uninstall(): Promise<void>;
}

export async function chartIdentity(
  namespace: string,
  opts: { set?: Record<string, string> } = {},
): Promise<ChartIdentity> {
  const release = `im-${Math.random().toString(36).slice(2, 8)}`;
  const rbac = await installChartRbac('instance-manager', {
    namespace,
    release,
    ...(opts.set ? { set: opts.set } : {}),
  });
  const rendered = await renderChart(await preparedChart('instance-manager'), {
    namespace,
    release,
    ...(opts.set ? { set: opts.set } : {}),
  });
  const chartArgs =
    findObject<k8s.V1Deployment>(rendered, 'Deployment').spec?.template.spec?.containers[0]?.args ?? [];
  const own = chartArgs.filter((a) =>
    /^--(config-namespace|config-name|leader-election-id|leader-election-namespace)=/.test(a),
  );
  const kubeconfig = writeKubeConfigAs(
    rbac.serviceAccount,
    path.join(root, '.testenv', `instance-manager-e2e-${namespace}.kubeconfig`),
  );
  return {
    serviceAccount: rbac.serviceAccount,
    rbac,
    kubeconfig,
    namespace: rbac.serviceAccount.namespace,
    leaseName: rbac.leaseName ?? '',
    args: own,
    uninstall: async () => {
      await rbac.uninstall();
      fs.rmSync(kubeconfig, { force: true });
    },
  };
}

export interface RunningController {
  proc: ControllerProcess['proc'];
  metricsPort: number;
  healthPort: number;
  log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts a bundled controller with testenv's launcher, scoped to `namespace`. With `identity` it acts as
 * the chart's ServiceAccount and runs in the chart's release namespace (its flags come first, so `args`
 * can still override them); without, it uses the test cluster's admin kubeconfig and runs in `namespace`.
 */
export async function startController(
  bundle: string,
  namespace: string,
  args: string[] = [],
  opts: { identity?: ChartIdentity } = {},
): Promise<RunningController> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const app = path.basename(path.dirname(path.dirname(bundle)));
  const logFile = path.join(root, '.testenv', 'logs', `${app}-e2e-${namespace}.log`);
  const controller = new ControllerProcess({
    bundle,
    args: [
      `--namespace=${namespace}`,
      `--metrics-port=${metricsPort}`,
      `--health-port=${healthPort}`,
      '--bind-address=127.0.0.1',
      ...args,
    ],
    ...(opts.identity ? { identity: opts.identity } : { env: { POD_NAMESPACE: namespace } }),
    logFile,
  }).start();
  return {
    proc: controller.proc,
    metricsPort,
    healthPort,
    log: () => controller.log.join('\n'),
    stop: async () => {
      await controller.stop();
    },
  };
}

export interface Scenario extends ToolScenario {
  client: KubeClient;
  clients: AwsClients;
  autoScaling: AwsAutoScaling;
  ec2: AwsEc2;
  cloudFormation: AwsCloudFormation;
  iam: AwsIam;
  get(name: string): Promise<InstanceGroup | undefined>;
  waitFor(
    name: string,
    what: string,
    ok: (ig: InstanceGroup) => boolean,
    timeoutMs?: number,
  ): Promise<InstanceGroup>;
  explain(name: string): Promise<string>;
  events(name: string): Promise<k8s.CoreV1Event[]>;
}

export async function startScenario(prefix: string): Promise<Scenario> {
  const base = await startToolScenario(prefix, {
    crds: ['instance-manager', 'upgrade-manager'],
    groupTags: (namespace) => ({ [TAG_NAMESPACE]: namespace }),
  });
  const { namespace, kc } = base;
  const client = new KubeClient(kc);
  const clients = createAwsClients(awsClientConfig({ userAgentAppId: 'instance-manager-e2e' }));
  const get = (name: string) => client.get<InstanceGroup>(InstanceGroupKind, namespace, name);
  const s: Scenario = {
    ...base,
    client,
    clients,
    autoScaling: new AwsAutoScaling(clients.autoScaling),
    ec2: new AwsEc2(clients.ec2),
    cloudFormation: new AwsCloudFormation(clients.cloudFormation),
    iam: new AwsIam(clients.iam),
    get,
    waitFor: (name, what, ok, timeoutMs = 90_000) =>
      eventually(
        `${namespace}/${name} ${what}`,
        async () => {
          const ig = await get(name);
          return ig && ok(ig) ? ig : undefined;
        },
        timeoutMs,
        500,
        () => s.explain(name),
      ),
    explain: async (name) => {
      const ig = await get(name);
      const events = (await s.events(name)).map((e) => `  ${e.type} ${e.reason}: ${e.message}`).slice(-15);
      const refused = [...base.simulator.refused].map(([id, why]) => `  ${id}: ${why}`);
      return `status: ${JSON.stringify(ig?.status ?? null)}\nevents:\n${events.join('\n')}${refused.length ? `\nkubelets that would not start:\n${refused.join('\n')}` : ''}`;
    },
    events: async (name) =>
      (
        await client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
          namespace,
          fieldSelector: `involvedObject.name=${name}`,
        })
      ).items,
    close: async () => {
      await base.close();
      clients.destroy();
    },
  };
  return s;
}

/** Deletes every group in the namespace (the controller must still run to finalize them). */
export async function deleteAllGroups(s: Scenario, timeoutMs = 120_000): Promise<void> {
  await s.deleteAll(InstanceGroupKind, timeoutMs);
}
