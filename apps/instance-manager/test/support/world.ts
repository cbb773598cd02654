// A controller under test: the real test cluster and AWS emulator, the InstanceGroup controller running
// in-process, scoped to a namespace of its own (so it never touches other tests' groups), and testenv's
// node simulator (the kubelet stand-in) playing kubelet for that namespace's scaling groups.
import fs from 'node:fs';
import path from 'node:path';
import { InstanceGroupKind, type InstanceGroup } from '@keiko/api';
import { awsClientConfig, AwsMetrics, createAwsClients, type AwsClients } from '@keiko/aws';
import { isNotFound, KubeClient, Manager, ResourceTypes, type Logger } from '@keiko/kube-runtime';
import {
  AsgNodeSimulator,
  createNamespace,
  eventually,
  installChartCrds,
  kubeConfigFromEnv,
  repoRoot,
  seedNodeToolFixtures,
  SIMULATOR_LABEL,
} from '@keiko/testenv';
import type * as k8s from '@kubernetes/client-node';
import { instanceManagerPorts } from '../../src/aws';
import {
  registerInstanceGroupController,
  type InstanceGroupReconciler,
} from '../../src/instancegroup/controller';
import { TAG_NAMESPACE } from '../../src/names';
import { InstanceManagerMetrics } from '../../src/metrics';
import { parseOptions } from '../../src/options';
import type { AwsPortsForGroups } from '../../src/provisioners/types';

export const runId = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`;

const quiet: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (m, meta) => console.error(m, JSON.stringify(meta ?? {})),
};

export interface World {
  namespace: string;
  kc: k8s.KubeConfig;
  client: KubeClient;
  clients: AwsClients;
  aws: AwsPortsForGroups;
  mgr: Manager;
  reconciler: InstanceGroupReconciler;
  simulator: AsgNodeSimulator;
  apply(ig: InstanceGroup): Promise<InstanceGroup>;
  get(name: string): Promise<InstanceGroup | undefined>;
  waitFor(
    name: string,
    what: string,
    ok: (ig: InstanceGroup) => boolean,
    timeoutMs?: number,
  ): Promise<InstanceGroup>;
  events(name: string): Promise<k8s.CoreV1Event[]>;
  /** The group's status and recent events, for a failing test's message. */
  explain(name: string): Promise<string>;
  remove(name: string, timeoutMs?: number): Promise<void>;
  /** The simulated nodes of a scaling group's instances (this world's simulator registered them). */
  groupNodes(groupName: string): Promise<k8s.V1Node[]>;
  stop(): Promise<void>;
}

export async function startWorld(
  opts: { dryRun?: boolean; prefix?: string; drainTimeoutMs?: number; driftCheckMs?: number } = {},
): Promise<World> {
  if (!process.env.AWS_ENDPOINT_URL)
    throw new Error('AWS_ENDPOINT_URL is not set: the jest global setup starts the emulator');
  const namespace = `${opts.prefix ?? 'im-it'}-${runId()}`;
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  // InstanceGroup, and RollingUpgrade for the crd strategy: a fresh cluster has neither.
  await installChartCrds(kc, 'instance-manager', 'upgrade-manager');
  await createNamespace(namespace, { kubeConfig: kc, exact: true });
  const clients = createAwsClients(awsClientConfig({ userAgentAppId: 'instance-manager-test' }));
  // The sandbox's emulator fixtures (idempotent): cluster my-eks-cluster, subnets/SG by Name tag, image parameter.
  await seedNodeToolFixtures(clients);

  const { config, options } = parseOptions(
    [
      'node',
      'instance-manager',
      `--namespace=${namespace}`,
      '--leader-elect=false',
      '--metrics-port=0',
      '--health-port=0',
      `--dry-run=${opts.dryRun ? 'true' : 'false'}`,
    ],
    {},
  );
  const mgr = new Manager('instance-manager', config, { kubeConfig: kc, logger: quiet });
  const metrics = new AwsMetrics({ registry: mgr.metrics.registry });
  const instrumented = createAwsClients(awsClientConfig({ userAgentAppId: 'instance-manager-test' }), {
    metrics,
  });
  const aws = instanceManagerPorts(instrumented, { cacheTtlMs: options.awsCacheTtlMs });
  const reconciler = registerInstanceGroupController(mgr, {
    aws,
    metrics: new InstanceManagerMetrics(mgr.metrics.registry),
    dryRun: config.dryRun,
    configNamespace: namespace,
    configName: 'instance-manager',
    drain: { timeoutMs: opts.drainTimeoutMs ?? 60_000 },
    disruptionLock: { region: instrumented.config.region },
    resyncMs: 10_000,
    ...(opts.driftCheckMs !== undefined ? { driftCheckMs: opts.driftCheckMs } : {}),
  });
  void mgr.start({ handleSignals: false });

  // The kubelet stand-in's log: .testenv/logs/node-simulator-<namespace>.log.
  const simulatorLog = path.join(repoRoot(), '.testenv', 'logs', `node-simulator-${namespace}.log`);
  fs.mkdirSync(path.dirname(simulatorLog), { recursive: true });
  const simulator = await new AsgNodeSimulator({
    kubeConfig: kc,
    id: namespace,
    groupTags: { [TAG_NAMESPACE]: namespace },
    nodegroups: async () =>
      (await client.list<InstanceGroup>(InstanceGroupKind, { namespace })).items
        .filter((g) => g.spec.provisioner === 'eks-managed' && g.status?.activeScalingGroupName)
        .map((g) => ({
          cluster: g.spec['eks-managed']?.configuration.clusterName ?? '',
          name: g.status?.activeScalingGroupName ?? '',
        })),
    pollIntervalMs: 700,
    log: (line) => fs.appendFileSync(simulatorLog, `${new Date().toISOString()} ${line}\n`),
  }).start();

  const get = (name: string) => client.get<InstanceGroup>(InstanceGroupKind, namespace, name);
  const world: World = {
    namespace,
    kc,
    client,
    clients,
    aws,
    mgr,
    reconciler,
    simulator,
    apply: (ig) =>
      client.create<InstanceGroup>(InstanceGroupKind, { ...ig, metadata: { ...ig.metadata, namespace } }),
    get,
    waitFor: (name, what, ok, timeoutMs = 60_000) =>
      eventually(
        `${namespace}/${name} ${what}`,
        async () => {
          const ig = await get(name);
          return ig && ok(ig) ? ig : undefined;
        },
        timeoutMs,
        300,
        () => world.explain(name),
      ),
    events: async (name) =>
      (
        await client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
          namespace,
          fieldSelector: `involvedObject.name=${name}`,
        })
      ).items,
    explain: async (name) => {
      const ig = await get(name);
      const events = (await world.events(name))
        .map((e) => `  ${e.type} ${e.reason}: ${e.message}`)
        .slice(-15);
      const refused = [...simulator.refused].map(([id, why]) => `  ${id}: ${why}`);
      return `status: ${JSON.stringify(ig?.status ?? null, null, 1)}\nevents:\n${events.join('\n')}${refused.length ? `\nkubelets that would not start:\n${refused.join('\n')}` : ''}`;
    },
    remove: async (name, timeoutMs = 60_000) => {
      await client.delete(InstanceGroupKind, namespace, name);
      await eventually(`${namespace}/${name} gone`, async () => !(await get(name)), timeoutMs, 300);
    },
    groupNodes: async (groupName) => {
      const group = await aws.autoScaling.describeGroup(groupName);
      const ids = new Set(group?.instances.map((i) => i.id));
      const nodes = (
        await client.listAll<k8s.V1Node>(ResourceTypes.Node, {
          labelSelector: `${SIMULATOR_LABEL}=${namespace}`,
        })
      ).items;
      return nodes.filter((n) => ids.has(n.spec?.providerID?.split('/').pop() ?? ''));
    },
    stop: async () => {
      // Groups go through their finalizer (cloud cleanup) while the controller still runs.
      const left = (await client.list<InstanceGroup>(InstanceGroupKind, { namespace })).items;
      await Promise.all(
        left.map((g) =>
          world.remove(g.metadata.name ?? '', 90_000).catch((err: unknown) => console.error(String(err))),
        ),
      );
      await mgr.stop();
      await simulator.stop({ deleteNodes: true });
      try {
        await client.delete(ResourceTypes.Namespace, undefined, namespace);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      clients.destroy();
      instrumented.destroy();
    },
  };
  return world;
}
