// Plays the part of the kubelets that EC2 instances would run: for every InService instance of the
// watched Auto Scaling groups it registers a simulated node (KWOK keeps it Ready) with the instance's
// providerID and the labels and taints the instance's bootstrap user data asks kubelet for (Amazon Linux 2
// or 2023, Bottlerocket or Windows user data; Windows user data makes a kubernetes.io/os=windows node); when an
// instance is terminated or leaves its group, its node goes — as the AWS cloud provider does. Managed node
// groups (which the emulator runs no instances for) get `desiredSize` nodes labelled with their name.
//
// Used by the sandbox (apps/instance-manager/sandbox/seed.ts) and the tests, which say so when they rely
// on it. No controller code depends on it.
import type { AutoScalingPort, Ec2Port, EksPort, ScalingGroup } from '@keiko/aws';
import { isNotFound, KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { simulatedNodeManifest } from '@keiko/testenv';
import type * as k8s from '@kubernetes/client-node';
import { kubeletRegistrationFromUserData, userDataFamily } from '../src/provisioners/bootstrap';
import { isArmInstanceType } from '../src/provisioners/common';
import { LAUNCH_CONFIGURATION_TAG } from '../src/provisioners/eks/launch-configuration';

export const SIMULATED_FOR_ANNOTATION = 'keiko.io/simulated-instance';
export const SIMULATOR_LABEL = 'keiko.io/node-simulator';

export interface NodeSimulatorOptions {
  kubeConfig: k8s.KubeConfig;
  autoScaling: AutoScalingPort;
  ec2: Ec2Port;
  eks?: EksPort;
  /** Which groups to play kubelet for; called every tick. */
  groups: () => Promise<ScalingGroup[]>;
  /** Managed node groups to give nodes to: [cluster, nodegroup] pairs, called every tick. */
  nodegroups?: () => Promise<Array<{ cluster: string; name: string }>>;
  /** Distinguishes simulators sharing a cluster (tests running side by side). */
  id: string;
  intervalMs?: number;
  log?: (line: string) => void;
}

export class AsgNodeSimulator {
  private readonly client: KubeClient;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private readonly userData = new Map<string, string>();
  /** Instances whose node this simulator registered (tests assert on it). */
  readonly registered = new Set<string>();

  constructor(private readonly opts: NodeSimulatorOptions) {
    this.client = new KubeClient(opts.kubeConfig);
  }

  start(): this {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tick()
        .catch((err: unknown) =>
          this.opts.log?.(`node simulator: ${err instanceof Error ? err.message : String(err)}`),
        )
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.opts.intervalMs ?? 1000);
        });
    };
    loop();
    return this;
  }

  async stop(opts: { deleteNodes?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (opts.deleteNodes)
      for (const n of await this.ownNodes())
        await this.client.delete(ResourceTypes.Node, undefined, n.metadata?.name ?? '');
  }

  private async ownNodes(): Promise<k8s.V1Node[]> {
    return (
      await this.client.listAll<k8s.V1Node>(ResourceTypes.Node, {
        labelSelector: `${SIMULATOR_LABEL}=${this.opts.id}`,
      })
    ).items;
  }

  /** One pass: register missing nodes, remove nodes whose instance is gone. Exposed for tests. */
  async tick(): Promise<void> {
    const groups = await this.opts.groups();
    const inService = new Map<string, ScalingGroup>();
    for (const g of groups)
      for (const i of g.instances) if (i.lifecycleState === 'InService') inService.set(i.id, g);
    const nodes = await this.ownNodes();
    const byInstance = new Map(
      nodes.map((n) => [n.metadata?.annotations?.[SIMULATED_FOR_ANNOTATION] ?? '', n]),
    );

    const missing = [...inService.keys()].filter((id) => !byInstance.has(id));
    const ec2 = missing.length > 0 ? await this.opts.ec2.describeInstances(missing) : [];
    for (const instance of ec2) {
      if (instance.state !== 'running' && instance.state !== 'pending') continue;
      const group = inService.get(instance.id);
      const configuration =
        instance.tags[LAUNCH_CONFIGURATION_TAG] ??
        group?.instances.find((i) => i.id === instance.id)?.launchConfigurationName;
      const registration = instance.launchTemplate
        ? await this.registration(instance.launchTemplate)
        : await this.registrationFromConfiguration(configuration);
      const zone = instance.availabilityZone ?? 'us-west-2a';
      const name = instance.privateDnsName ?? `ip-${instance.id.slice(2)}.${zone}.compute.internal`;
      const manifest = simulatedNodeManifest({
        name,
        providerID: `aws:///${zone}/${instance.id}`,
        zone,
        ...(instance.instanceType ? { instanceType: instance.instanceType } : {}),
        // kubelet's own labels: the OS its image runs (Windows user data, Windows node) and the CPU's.
        labels: {
          'kubernetes.io/os': registration.os,
          'kubernetes.io/arch': isArmInstanceType(instance.instanceType) ? 'arm64' : 'amd64',
          ...registration.labels,
          [SIMULATOR_LABEL]: this.opts.id,
        },
        ...(registration.taints.length > 0
          ? {
              taints: registration.taints.map((t) => ({
                key: t.key,
                ...(t.value ? { value: t.value } : {}),
                effect: t.effect,
              })),
            }
          : {}),
      });
      manifest.metadata = {
        ...manifest.metadata,
        annotations: { ...manifest.metadata?.annotations, [SIMULATED_FOR_ANNOTATION]: instance.id },
      };
      try {
        await this.client.create(ResourceTypes.Node, manifest);
        this.registered.add(instance.id);
        this.opts.log?.(
          `registered simulated node ${name} for instance ${instance.id} (${inService.get(instance.id)?.name ?? ''})`,
        );
      } catch (err) {
        if (!String(err).includes('AlreadyExists')) throw err;
      }
    }

    // Instances that left: their nodes go (the cloud provider's node lifecycle controller on AWS).
    for (const [instanceId, node] of byInstance) {
      if (!instanceId || inService.has(instanceId)) continue;
      const [live] = await this.opts.ec2.describeInstances([instanceId]);
      if (
        live &&
        (live.state === 'running' || live.state === 'pending') &&
        groups.some((g) => g.instances.some((i) => i.id === instanceId))
      )
        continue;
      try {
        await this.client.delete(ResourceTypes.Node, undefined, node.metadata?.name ?? '', {
          gracePeriodSeconds: 0,
        });
        this.opts.log?.(
          `removed simulated node ${node.metadata?.name} (instance ${instanceId} ${live?.state ?? 'gone'})`,
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    await this.simulateNodegroups(nodes);
  }

  private async simulateNodegroups(nodes: k8s.V1Node[]): Promise<void> {
    if (!this.opts.nodegroups || !this.opts.eks) return;
    for (const { cluster, name } of await this.opts.nodegroups()) {
      const ng = await this.opts.eks.describeNodegroup(cluster, name);
      const want = ng?.status === 'ACTIVE' ? (ng.scaling?.desiredSize ?? 0) : 0;
      const have = nodes.filter((n) => n.metadata?.labels?.['eks.amazonaws.com/nodegroup'] === name);
      for (let i = have.length; i < want; i++) {
        const nodeName = `${name}-${i}`.toLowerCase().slice(0, 63);
        const manifest = simulatedNodeManifest({
          name: nodeName,
          labels: {
            ...(ng?.labels ?? {}),
            'eks.amazonaws.com/nodegroup': name,
            [SIMULATOR_LABEL]: this.opts.id,
          },
        });
        try {
          await this.client.create(ResourceTypes.Node, manifest);
          this.opts.log?.(`registered simulated node ${nodeName} for managed node group ${name}`);
        } catch (err) {
          if (!String(err).includes('AlreadyExists')) throw err;
        }
      }
      for (const extra of have.slice(want))
        await this.client.delete(ResourceTypes.Node, undefined, extra.metadata?.name ?? '');
    }
  }

  /** The same, for an instance launched from a launch configuration (spec.eks.type LaunchConfiguration). */
  private async registrationFromConfiguration(name: string | undefined) {
    if (!name) return { labels: {}, taints: [], os: 'linux' };
    const key = `lc:${name}`;
    let data = this.userData.get(key);
    if (data === undefined) {
      const [lc] = await this.opts.autoScaling.describeLaunchConfigurations([name]);
      data = Buffer.from(lc?.userData ?? '', 'base64').toString('utf8');
      // moto answers DescribeLaunchConfigurations with the user data base64-encoded twice.
      if (/^[A-Za-z0-9+/]+={0,2}$/.test(data.trim()) && !data.includes('\n'))
        data = Buffer.from(data.trim(), 'base64').toString('utf8');
      this.userData.set(key, data);
    }
    return {
      ...kubeletRegistrationFromUserData(data),
      os: userDataFamily(data) === 'windows' ? 'windows' : 'linux',
    };
  }

  /** What kubelet would register with, from the user data (any OS family's) of the instance's launch template version. */
  private async registration(lt: { id: string; version?: string } | undefined) {
    if (!lt) return { labels: {}, taints: [], os: 'linux' };
    const key = `${lt.id}:${lt.version ?? '$Default'}`;
    let data = this.userData.get(key);
    if (data === undefined) {
      const [v] = await this.opts.ec2.describeLaunchTemplateVersions({ id: lt.id }, [
        lt.version ?? '$Default',
      ]);
      const b64 = v?.data.UserData ?? '';
      data = Buffer.from(b64, 'base64').toString('utf8');
      this.userData.set(key, data);
    }
    return {
      ...kubeletRegistrationFromUserData(data),
      os: userDataFamily(data) === 'windows' ? 'windows' : 'linux',
    };
  }
}
