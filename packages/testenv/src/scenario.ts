// A node tool's scenario against the real test cluster and the AWS emulator: throwaway namespaces, Auto
// Scaling groups whose instances appear as nodes (the AsgNodeSimulator, the kubelet stand-in, plays their
// kubelets), a launch template change that drifts them, workloads with PodDisruptionBudgets, and the
// RollingUpgrades that act on them. Shared by the upgrade-manager tests, its e2e suite and the benchmark;
// cleanUp removes everything it made.
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  EC2Client,
  ModifyLaunchTemplateCommand,
} from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { ASG_NODE_LABEL, AsgNodeSimulator } from './asg-nodes';
import { emulatorConfig } from './aws-fixtures';
import { eventually } from './eventually';
import { kubeConfigFromEnv } from './kubeconfig';
import { createNamespace, uniqueName } from './namespaces';
import { isNodeReady } from './nodes';

/** The RollingUpgrade custom resource (charts/upgrade-manager/crds). */
export const ROLLING_UPGRADE = {
  group: 'upgrademgr.keikoproj.io',
  version: 'v1alpha1',
  plural: 'rollingupgrades',
} as const;

/** The image every scenario group launches (one of the AMIs the emulator loads at start). */
const IMAGE = 'ami-12c6146b';

export interface WorkloadOptions {
  name?: string;
  replicas: number;
  /** unhealthyPodEvictionPolicy AlwaysAllow lets pods that are not Ready go regardless of the budget. */
  pdb?: {
    minAvailable?: number;
    maxUnavailable?: number;
    unhealthyPodEvictionPolicy?: 'IfHealthyBudget' | 'AlwaysAllow';
  };
  onePerNode?: boolean;
}

export interface ScenarioGroup {
  name: string;
  templateId: string;
}

/** `RU`: the RollingUpgrade type the caller reads (the app's typed one, or any object). */
export class AsgScenario<RU extends k8s.KubernetesObject = k8s.KubernetesObject> {
  readonly kc = kubeConfigFromEnv();
  readonly simulator: AsgNodeSimulator;
  protected readonly core = this.kc.makeApiClient(k8s.CoreV1Api);
  protected readonly custom = this.kc.makeApiClient(k8s.CustomObjectsApi);
  protected readonly asg: AutoScalingClient;
  protected readonly ec2: EC2Client;
  private readonly groups: string[] = [];
  private readonly namespaces: string[] = [];

  constructor(opts: { bootDelayMs?: number; pollIntervalMs?: number; labels?: Record<string, string> } = {}) {
    const config = emulatorConfig();
    this.asg = new AutoScalingClient(config);
    this.ec2 = new EC2Client(config);
    this.simulator = new AsgNodeSimulator({
      kubeConfig: this.kc,
      bootDelayMs: opts.bootDelayMs ?? 300,
      pollIntervalMs: opts.pollIntervalMs ?? 200,
      ...(opts.labels ? { labels: opts.labels } : {}),
    });
  }

  async start(): Promise<void> {
    await this.simulator.start();
  }

  async namespace(prefix: string): Promise<string> {
    const name = await createNamespace(prefix, { kubeConfig: this.kc });
    this.namespaces.push(name);
    return name;
  }

  /** A launch template and a group of `size` instances on its version 1, with nodes registered. */
  async createGroup(prefix: string, size: number, opts: { maxSize?: number } = {}): Promise<ScenarioGroup> {
    const name = uniqueName(prefix);
    const lt = await this.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        LaunchTemplateData: { ImageId: IMAGE, InstanceType: 't3.medium' },
      }),
    );
    const templateId = lt.LaunchTemplate?.LaunchTemplateId ?? '';
    await this.asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: opts.maxSize ?? size * 2,
        DesiredCapacity: size,
        LaunchTemplate: { LaunchTemplateId: templateId, Version: '1' },
        AvailabilityZones: ['us-west-2a', 'us-west-2b', 'us-west-2c'],
      }),
    );
    this.groups.push(name);
    this.simulator.addGroup(name);
    await this.waitForNodes(name, size);
    return { name, templateId };
  }

  /**
   * The launch template change: version 2, made the default, and the group pointed at it. (Making it the
   * default matters only to the emulator: moto reports every instance's template version as the
   * template's current default and tags instances with the default version at launch, so only this
   * way do the old instances read as version 1 and the replacements as version 2 — see the docs.)
   */
  async driftGroup(group: ScenarioGroup): Promise<void> {
    await this.ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: group.templateId,
        SourceVersion: '1',
        LaunchTemplateData: { ImageId: IMAGE, InstanceType: 't3.large' },
      }),
    );
    await this.ec2.send(
      new ModifyLaunchTemplateCommand({ LaunchTemplateId: group.templateId, DefaultVersion: '2' }),
    );
    await this.asg.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: group.name,
        LaunchTemplate: { LaunchTemplateId: group.templateId, Version: '2' },
      }),
    );
  }

  /** The group's InService instances. */
  async instances(group: string): Promise<string[]> {
    const out = await this.asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }));
    return (out.AutoScalingGroups?.[0]?.Instances ?? [])
      .filter((i) => i.LifecycleState === 'InService')
      .map((i) => i.InstanceId ?? '');
  }

  /** The group's nodes (registered by the simulator). */
  async nodes(group: string): Promise<k8s.V1Node[]> {
    return (await this.core.listNode({ labelSelector: `${ASG_NODE_LABEL}=${group}` })).items;
  }

  async waitForNodes(group: string, count: number): Promise<k8s.V1Node[]> {
    return eventually(
      `${count} Ready nodes for group ${group}`,
      async () => {
        const ready = (await this.nodes(group)).filter(isNodeReady);
        return ready.length === count ? ready : undefined;
      },
      60_000,
    );
  }

  /** A Deployment whose pods run on the group's nodes, optionally guarded by a PodDisruptionBudget. */
  async workload(namespace: string, group: string, opts: WorkloadOptions): Promise<void> {
    const name = opts.name ?? 'web';
    const labels = { app: name };
    const apps = this.kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({ namespace, body: deployment(name, group, opts) });
    if (opts.pdb) {
      await this.kc.makeApiClient(k8s.PolicyV1Api).createNamespacedPodDisruptionBudget({
        namespace,
        body: { metadata: { name, namespace }, spec: { selector: { matchLabels: labels }, ...opts.pdb } },
      });
    }
    await eventually(
      `${opts.replicas} pods of ${namespace}/${name} Running`,
      async () => {
        const pods = await this.core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
        return pods.items.filter((p) => p.status?.phase === 'Running').length >= opts.replicas || undefined;
      },
      60_000,
    );
  }

  async createRollingUpgrade(
    namespace: string,
    name: string,
    spec: { asgName: string } & Record<string, unknown>,
  ): Promise<RU> {
    return (await this.custom.createNamespacedCustomObject({
      ...ROLLING_UPGRADE,
      namespace,
      body: {
        apiVersion: `${ROLLING_UPGRADE.group}/${ROLLING_UPGRADE.version}`,
        kind: 'RollingUpgrade',
        metadata: { name, namespace },
        spec: { region: 'us-west-2', ...spec },
      },
    })) as RU;
  }

  async getRollingUpgrade(namespace: string, name: string): Promise<RU | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ ...ROLLING_UPGRADE, namespace, name })) as RU;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  async events(
    namespace: string,
    name: string,
  ): Promise<{ type?: string; reason?: string; message?: string; count?: number }[]> {
    const list = await this.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items.map((e) => ({ type: e.type, reason: e.reason, message: e.message, count: e.count }));
  }

  /** Removes every group, node, RollingUpgrade finalizer and namespace this scenario made. */
  async cleanUp(): Promise<void> {
    await this.simulator.stop({ deleteNodes: true }).catch(() => undefined);
    for (const namespace of this.namespaces) {
      await this.dropRollingUpgradeFinalizers(namespace).catch(() => undefined);
      await this.core.deleteNamespace({ name: namespace }).catch(() => undefined);
    }
    for (const g of this.groups)
      await this.asg
        .send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: g, ForceDelete: true }))
        .catch(() => undefined);
    this.asg.destroy();
    this.ec2.destroy();
  }

  private async dropRollingUpgradeFinalizers(namespace: string): Promise<void> {
    const list = (await this.custom.listNamespacedCustomObject({ ...ROLLING_UPGRADE, namespace })) as {
      items: k8s.KubernetesObject[];
    };
    for (const ru of list.items)
      await this.custom
        .patchNamespacedCustomObject({
          ...ROLLING_UPGRADE,
          namespace,
          name: ru.metadata?.name ?? '',
          body: [{ op: 'remove', path: '/metadata/finalizers' }],
        })
        .catch(() => undefined);
  }
}

function deployment(name: string, group: string, opts: WorkloadOptions): k8s.V1Deployment {
  const labels = { app: name };
  const placement: k8s.V1PodSpec = opts.onePerNode
    ? {
        containers: [],
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' },
            ],
          },
        },
      }
    : {
        containers: [],
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: 'kubernetes.io/hostname',
            whenUnsatisfiable: 'ScheduleAnyway',
            labelSelector: { matchLabels: labels },
          },
        ],
      };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: opts.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          ...placement,
          nodeSelector: { [ASG_NODE_LABEL]: group },
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  };
}
