// Test scenarios against the real test cluster and the AWS emulator: an Auto Scaling group whose
// instances appear as simulated nodes (packages/testenv AsgNodeSimulator plays the kubelet), a
// launch template change that drifts them, workloads with PodDisruptionBudgets. Shared by the
// controller tests, the e2e suite and the benchmark.
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { RollingUpgradeKind, type RollingUpgrade, type RollingUpgradeSpec } from '@keiko/api';
import {
  awsClientConfig,
  createAwsClients,
  createAwsPorts,
  type AwsClients,
  type AwsPorts,
} from '@keiko/aws';
import { KubeClient, ResourceTypes, type ResourceType } from '@keiko/kube-runtime';
import {
  applyManifests,
  ASG_NODE_LABEL,
  AsgNodeSimulator,
  eventually,
  kubeConfigFromEnv,
  parseManifests,
  repoRoot,
} from '@keiko/testenv';

export const RU: ResourceType = RollingUpgradeKind;

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Installs (or updates) the RollingUpgrade CRD from the chart, as `kubectl apply` would. */
export async function installCrd(kc: k8s.KubeConfig = kubeConfigFromEnv()): Promise<void> {
  const dir = path.join(repoRoot(), 'charts/upgrade-manager/crds');
  const docs = fs.readdirSync(dir).flatMap((f) => parseManifests(fs.readFileSync(path.join(dir, f), 'utf8')));
  await applyManifests(kc, docs);
  const client = new KubeClient(kc);
  await eventually('RollingUpgrade CRD served', async () => {
    await client.list(RU, { limit: 1 });
    return true;
  });
}

export { eventually };

export class Scenario {
  readonly kc = kubeConfigFromEnv();
  readonly client = new KubeClient(this.kc);
  readonly clients: AwsClients;
  readonly aws: AwsPorts;
  readonly simulator: AsgNodeSimulator;
  private readonly groups: string[] = [];
  private readonly namespaces: string[] = [];

  constructor(opts: { bootDelayMs?: number; pollIntervalMs?: number; labels?: Record<string, string> } = {}) {
    this.clients = createAwsClients(awsClientConfig());
    this.aws = createAwsPorts(this.clients, { cacheTtlMs: 0 });
    this.simulator = new AsgNodeSimulator({
      kubeConfig: this.kc,
      bootDelayMs: opts.bootDelayMs ?? 300,
      pollIntervalMs: opts.pollIntervalMs ?? 200,
      labels: opts.labels,
    });
  }

  async start(): Promise<void> {
    await this.simulator.start();
  }

  async namespace(prefix: string): Promise<string> {
    const name = uniqueName(prefix);
    await this.client.create(ResourceTypes.Namespace, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    });
    this.namespaces.push(name);
    return name;
  }

  /** A launch template and a group of `size` instances on its version 1, with nodes registered. */
  async createGroup(
    prefix: string,
    size: number,
    opts: { maxSize?: number } = {},
  ): Promise<{ name: string; templateId: string }> {
    const name = uniqueName(prefix);
    const lt = await this.aws.ec2.createLaunchTemplate({
      name,
      data: { ImageId: 'ami-12c6146b', InstanceType: 't3.medium' },
    });
    await this.aws.autoScaling.createGroup({
      name,
      minSize: 0,
      maxSize: opts.maxSize ?? size * 2,
      desiredCapacity: size,
      launchTemplate: { id: lt.id, version: '1' },
      availabilityZones: ['us-west-2a', 'us-west-2b', 'us-west-2c'],
    });
    this.groups.push(name);
    this.simulator.addGroup(name);
    await this.waitForNodes(name, size);
    return { name, templateId: lt.id };
  }

  /**
   * The launch template change: version 2, made the default, and the group pointed at it. (Making it the
   * default matters only to the emulator: moto reports every instance's template version as the
   * template's current default and tags instances with the default version at launch, so only this
   * way do the old instances read as version 1 and the replacements as version 2 — see the docs.)
   */
  async driftGroup(group: { name: string; templateId: string }): Promise<void> {
    await this.aws.ec2.createLaunchTemplateVersion(
      { id: group.templateId },
      { data: { ImageId: 'ami-12c6146b', InstanceType: 't3.large' }, sourceVersion: 1 },
    );
    await this.aws.ec2.setDefaultLaunchTemplateVersion({ id: group.templateId }, 2);
    await this.aws.autoScaling.updateGroup(group.name, {
      launchTemplate: { id: group.templateId, version: '2' },
    });
  }

  async instances(group: string): Promise<string[]> {
    const g = await this.aws.autoScaling.describeGroup(group);
    return (g?.instances ?? []).filter((i) => i.lifecycleState === 'InService').map((i) => i.id);
  }

  /** The group's nodes (registered by the simulator). */
  async nodes(group: string): Promise<k8s.V1Node[]> {
    return (
      await this.client.list<k8s.V1Node>(ResourceTypes.Node, { labelSelector: `${ASG_NODE_LABEL}=${group}` })
    ).items;
  }

  async waitForNodes(group: string, count: number): Promise<k8s.V1Node[]> {
    return eventually(
      `${count} Ready nodes for group ${group}`,
      async () => {
        const nodes = await this.nodes(group);
        const ready = nodes.filter((n) =>
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === count ? ready : undefined;
      },
      60_000,
    );
  }

  /** A Deployment whose pods run on the group's nodes, optionally guarded by a PodDisruptionBudget. */
  async workload(
    namespace: string,
    group: string,
    opts: {
      name?: string;
      replicas: number;
      /** unhealthyPodEvictionPolicy AlwaysAllow lets pods that are not Ready go regardless of the budget. */
      pdb?: {
        minAvailable?: number;
        maxUnavailable?: number;
        unhealthyPodEvictionPolicy?: 'IfHealthyBudget' | 'AlwaysAllow';
      };
      onePerNode?: boolean;
    },
  ): Promise<void> {
    const name = opts.name ?? 'web';
    const labels = { app: name };
    await this.client.create(ResourceTypes.Deployment, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        replicas: opts.replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { [ASG_NODE_LABEL]: group },
            terminationGracePeriodSeconds: 0,
            ...(opts.onePerNode
              ? {
                  affinity: {
                    podAntiAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: [
                        { labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' },
                      ],
                    },
                  },
                }
              : {
                  topologySpreadConstraints: [
                    {
                      maxSkew: 1,
                      topologyKey: 'kubernetes.io/hostname',
                      whenUnsatisfiable: 'ScheduleAnyway',
                      labelSelector: { matchLabels: labels },
                    },
                  ],
                }),
            containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      },
    } as k8s.V1Deployment);
    if (opts.pdb) {
      await this.client.create(ResourceTypes.PodDisruptionBudget, {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name, namespace },
        spec: { selector: { matchLabels: labels }, ...opts.pdb },
      } as k8s.V1PodDisruptionBudget);
    }
    await eventually(
      `${opts.replicas} pods of ${namespace}/${name} Running`,
      async () => {
        const pods = await this.client.list<k8s.V1Pod>(ResourceTypes.Pod, {
          namespace,
          labelSelector: `app=${name}`,
        });
        return pods.items.filter((p) => p.status?.phase === 'Running').length >= opts.replicas || undefined;
      },
      60_000,
    );
  }

  async createRollingUpgrade(
    namespace: string,
    name: string,
    spec: Partial<RollingUpgradeSpec> & { asgName: string },
  ): Promise<RollingUpgrade> {
    return this.client.create<RollingUpgrade>(RU, {
      apiVersion: 'upgrademgr.keikoproj.io/v1alpha1',
      kind: 'RollingUpgrade',
      metadata: { name, namespace },
      spec: { region: 'us-west-2', ...spec },
    } as RollingUpgrade);
  }

  async getRollingUpgrade(namespace: string, name: string): Promise<RollingUpgrade | undefined> {
    return this.client.get<RollingUpgrade>(RU, namespace, name);
  }

  async events(
    namespace: string,
    name: string,
  ): Promise<{ type?: string; reason?: string; message?: string; count?: number }[]> {
    const list = await this.client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
      namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items.map((e) => ({ type: e.type, reason: e.reason, message: e.message, count: e.count }));
  }

  /** Removes every group, node, RollingUpgrade finalizer and namespace this scenario made. */
  async cleanUp(): Promise<void> {
    await this.simulator.stop({ deleteNodes: true }).catch(() => undefined);
    for (const ns of this.namespaces) {
      const rus = await this.client
        .list<RollingUpgrade>(RU, { namespace: ns })
        .catch(() => ({ items: [] as RollingUpgrade[] }));
      for (const ru of rus.items) {
        await this.client
          .patch(RU, ns, ru.metadata.name ?? '', { metadata: { finalizers: null } })
          .catch(() => undefined);
      }
      await this.client.delete(ResourceTypes.Namespace, undefined, ns).catch(() => undefined);
    }
    for (const g of this.groups)
      await this.aws.autoScaling.deleteGroup(g, { forceDelete: true }).catch(() => undefined);
    this.clients.destroy();
  }
}
