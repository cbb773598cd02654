// What the instance-manager end-to-end scenarios share: the bundled controller as a child process (as in
// its container) — optionally as the Helm chart's ServiceAccount, with exactly the chart's RBAC
// (chartIdentity) —, a namespace of their own, the AWS emulator's fixtures, and the node simulator playing
// kubelet for the namespace's scaling groups.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
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
import { freePort, installChartCrds, kubeConfigFromEnv, kubectl, parseManifests } from '@keiko/testenv';
import type * as k8s from '@kubernetes/client-node';
import { AsgNodeSimulator } from '../../apps/instance-manager/sandbox/node-simulator';
import { seedCluster, seedImage, seedNetwork } from '../../apps/instance-manager/sandbox/seed';
import { TAG_NAMESPACE } from '../../apps/instance-manager/src/instancegroup/names';
import { waitUntil } from '../../apps/instance-manager/test/support/world';
import { findObject, preparedChart, renderChart } from '../../charts/test/support/charts';
import { writeKubeConfigAs, type ServiceAccountRef } from '../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../charts/test/support/rbac';

export const root = path.resolve(import.meta.dirname, '../..');

export function build(app: string): string {
  const out = spawnSync('npm', ['run', 'build', '--silent', '-w', `apps/${app}`], {
    cwd: root,
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error(`building ${app} failed:\n${out.stdout}\n${out.stderr}`);
  return path.join(root, 'apps', app, 'dist', 'main.js');
}

/**
 * charts/instance-manager's identity, as `helm install <release> -n <namespace>` creates it: its
 * ServiceAccount, ClusterRole, leader-election Role and the Roles holding kube-system/aws-auth and the
 * managed defaults ConfigMap, applied to the test cluster — and the flags that make a controller act as the
 * chart's Deployment does: a kubeconfig impersonating the ServiceAccount, the chart's Lease, the chart's
 * --config-namespace/--config-name. A request the chart does not allow is refused (403).
 */
export interface ChartIdentity {
  serviceAccount: ServiceAccountRef;
  rbac: ChartRbac;
  kubeconfig: string;
  leaseName: string;
  /** --kubeconfig, --leader-election-id/-namespace and the chart's own --config-namespace/--config-name. */
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
    leaseName: rbac.leaseName ?? '',
    args: [`--kubeconfig=${kubeconfig}`, ...own],
    uninstall: async () => {
      await rbac.uninstall();
      fs.rmSync(kubeconfig, { force: true });
    },
  };
}

export interface RunningController {
  proc: ChildProcess;
  metricsPort: number;
  healthPort: number;
  log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts a bundled controller with plain node, as its container does, scoped to `namespace`. With
 * `identity` it acts as the chart's ServiceAccount and runs in the chart's release namespace (POD_NAMESPACE;
 * its flags come first, so `args` can still override them); without, it uses the test cluster's admin
 * kubeconfig and runs in `namespace`.
 */
export async function startController(
  bundle: string,
  namespace: string,
  args: string[] = [],
  opts: { identity?: ChartIdentity } = {},
): Promise<RunningController> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const logFile = path.join(
    root,
    '.testenv',
    'logs',
    `${path.basename(path.dirname(path.dirname(bundle)))}-e2e-${namespace}.log`,
  );
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'w');
  const proc = spawn(
    process.execPath,
    [
      bundle,
      ...(opts.identity?.args ?? []),
      `--namespace=${namespace}`,
      `--metrics-port=${metricsPort}`,
      `--health-port=${healthPort}`,
      '--bind-address=127.0.0.1',
      ...args,
    ],
    {
      env: { ...process.env, POD_NAMESPACE: opts.identity?.serviceAccount.namespace ?? namespace },
      stdio: ['ignore', out, out],
    },
  );
  return {
    proc,
    metricsPort,
    healthPort,
    log: () => fs.readFileSync(logFile, 'utf8'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 15_000).unref();
      }),
  };
}

// One wait for instance-manager's tests, in-process and end-to-end alike.
export { waitUntil };

export interface Scenario {
  namespace: string;
  kc: k8s.KubeConfig;
  client: KubeClient;
  clients: AwsClients;
  autoScaling: AwsAutoScaling;
  ec2: AwsEc2;
  cloudFormation: AwsCloudFormation;
  iam: AwsIam;
  simulator: AsgNodeSimulator;
  /** Objects from a manifest file (relative to the repo), moved into the scenario's namespace. */
  manifest(file: string): k8s.KubernetesObject[];
  /** `kubectl apply -f -` (client-side, strict validation: what a user runs). */
  apply(objects: k8s.KubernetesObject[]): Promise<string>;
  get(name: string): Promise<InstanceGroup | undefined>;
  waitFor(
    name: string,
    what: string,
    ok: (ig: InstanceGroup) => boolean,
    timeoutMs?: number,
  ): Promise<InstanceGroup>;
  explain(name: string): Promise<string>;
  events(name: string): Promise<k8s.CoreV1Event[]>;
  nodesOf(groupName: string): Promise<k8s.V1Node[]>;
  close(): Promise<void>;
}

export async function startScenario(prefix: string): Promise<Scenario> {
  const namespace = `${prefix}-${Date.now().toString(36)}`;
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  await installChartCrds(kc, 'instance-manager', 'upgrade-manager');
  await client.create(ResourceTypes.Namespace, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  });
  const clients = createAwsClients(awsClientConfig({ userAgentAppId: 'instance-manager-e2e' }));
  const net = await seedNetwork(clients);
  await seedCluster(clients, net.subnetIds, net.securityGroupId);
  await seedImage(clients);
  const autoScaling = new AwsAutoScaling(clients.autoScaling);
  const ec2 = new AwsEc2(clients.ec2);
  const simulator = new AsgNodeSimulator({
    kubeConfig: kc,
    autoScaling,
    ec2,
    id: namespace,
    groups: () => autoScaling.listGroups({ tags: { [TAG_NAMESPACE]: namespace } }),
    intervalMs: 700,
  }).start();
  const get = (name: string) => client.get<InstanceGroup>(InstanceGroupKind, namespace, name);
  const s: Scenario = {
    namespace,
    kc,
    client,
    clients,
    autoScaling,
    ec2,
    cloudFormation: new AwsCloudFormation(clients.cloudFormation),
    iam: new AwsIam(clients.iam),
    simulator,
    manifest: (file) =>
      parseManifests(fs.readFileSync(path.join(root, file), 'utf8')).map((o) => ({
        ...o,
        metadata: { ...o.metadata, namespace },
      })),
    apply: (objects) => kubectl(kc, ['apply', '-f', '-'], objects),
    get,
    waitFor: (name, what, ok, timeoutMs = 90_000) =>
      waitUntil(
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
      return `status: ${JSON.stringify(ig?.status ?? null)}\nevents:\n${events.join('\n')}`;
    },
    events: async (name) =>
      (
        await client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
          namespace,
          fieldSelector: `involvedObject.name=${name}`,
        })
      ).items,
    nodesOf: async (groupName) => {
      const group = await autoScaling.describeGroup(groupName);
      const ids = new Set(group?.instances.map((i) => i.id));
      const nodes = (
        await client.listAll<k8s.V1Node>(ResourceTypes.Node, {
          labelSelector: `keiko.io/node-simulator=${namespace}`,
        })
      ).items;
      return nodes.filter((n) => ids.has(n.spec?.providerID?.split('/').pop() ?? ''));
    },
    close: async () => {
      await simulator.stop({ deleteNodes: true });
      await client.delete(ResourceTypes.Namespace, undefined, namespace).catch(() => false);
      clients.destroy();
    },
  };
  return s;
}

/** Deletes every group in the namespace (the controller must still run to finalize them). */
export async function deleteAllGroups(s: Scenario, timeoutMs = 120_000): Promise<void> {
  const groups = (await s.client.list<InstanceGroup>(InstanceGroupKind, { namespace: s.namespace })).items;
  for (const g of groups) await s.client.delete(InstanceGroupKind, s.namespace, g.metadata.name ?? '');
  await waitUntil(
    'every group finalized',
    async () =>
      (await s.client.list<InstanceGroup>(InstanceGroupKind, { namespace: s.namespace })).items.length === 0,
    timeoutMs,
  );
}
