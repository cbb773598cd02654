// AsgNodeSimulator — TEST HARNESS, NOT PRODUCT CODE: a STAND-IN FOR THE KUBELET (and for the AWS cloud
// controller's node lifecycle). There are no real EC2 instances and no kubelets here, so something has to
// play their part: when an Auto Scaling group's instance comes up, a Node registers for it as its kubelet
// would — named after the instance's private DNS name, providerID aws:///<zone>/<instance-id>, the
// kubelet's own labels (hostname, os, arch, zone, region, instance type) and the labels and taints the
// instance's user data asks the kubelet for (kubelet-registration.ts reads them from the documented
// kubelet flags, nodeadm NodeConfig and Bottlerocket settings — never with Keiko's own code). KWOK then
// keeps the node Ready and runs its pods. The Node stays while the instance runs, including while a
// lifecycle hook holds it in Terminating:Wait, and goes once the instance is terminated or gone (the
// cloud controller's part). EKS managed node groups, which the emulator runs no instances for, can be
// given `desiredSize` nodes too.
//
// The one node simulator: the tests of every node tool, the sandbox seeds, the e2e suites and the
// benchmarks use it. Its log lines say "kubelet stand-in".
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  type AutoScalingGroup,
  type Filter,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { DescribeNodegroupCommand, EKSClient } from '@aws-sdk/client-eks';
import * as k8s from '@kubernetes/client-node';
import { kubeletRegistration, type KubeletRegistration } from './kubelet-registration';
import { emulatorConfig } from './aws-fixtures';
import { simulatedNodeManifest } from './nodes';

/**
 * Every node the simulator registers for an instance carries this annotation, and (when the name is a valid
 * label value) this label, valued with its group's name.
 */
export const ASG_NODE_LABEL = 'testenv.keiko.io/asg';
/** Every node a simulator registers carries this label, valued with the simulator's id. */
export const SIMULATOR_LABEL = 'testenv.keiko.io/simulator';
/** The instance a node stands for. */
export const INSTANCE_ANNOTATION = 'testenv.keiko.io/instance-id';

export interface AsgNodeSimulatorOptions {
  kubeConfig: k8s.KubeConfig;
  /** Auto Scaling group names to play kubelet for (more can be added with addGroup). */
  groups?: string[];
  /** Also every group carrying all of these tags (found anew on every poll). */
  groupTags?: Record<string, string>;
  /**
   * EKS managed node groups (the emulator runs no instances for them), called on every poll: each ACTIVE
   * one gets `desiredSize` nodes, labelled eks.amazonaws.com/nodegroup=<name> and with its labels.
   */
  nodegroups?: () => Promise<ManagedNodegroup[]>;
  /** The value of SIMULATOR_LABEL on its nodes: tells apart simulators sharing a cluster (default random). */
  id?: string;
  /** Default AWS_REGION, then us-west-2. */
  region?: string;
  /** The emulator; default AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** How often the groups are described (default 500 ms). */
  pollIntervalMs?: number;
  /** Time from an instance first seen InService to its node registering, as a boot would take (default 0). */
  bootDelayMs?: number;
  /** Extra labels on every node. */
  labels?: Record<string, string>;
  /** Node names: the instance's private DNS name (as on EKS; default) or the instance id. */
  nodeNames?: 'private-dns' | 'instance-id';
  log?: (line: string) => void;
}

export interface ManagedNodegroup {
  cluster: string;
  name: string;
}

interface LiveInstance {
  group: string;
  zone: string;
  instanceType?: string;
  state: string;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** Auto Scaling lifecycle states after which the instance no longer runs (its kubelet is gone). */
const ENDED_LIFECYCLE = new Set(['Terminating:Proceed', 'Terminated']);
/**
 * Auto Scaling lifecycle states of a booted instance whose kubelet registers: InService, and an instance
 * held by a LAUNCHING hook (Pending:Wait, Pending:Proceed) — its kubelet joins while the hook waits.
 */
const BOOTED_LIFECYCLE = new Set(['InService', 'Pending:Wait', 'Pending:Proceed']);
/** EC2 instance states in which the instance (and its kubelet) runs. */
const RUNNING_EC2 = new Set(['pending', 'running']);

/**
 * Whether an instance's kubelet still runs, so its Node stays: EC2 says it runs, and Auto Scaling has
 * not let it go — Terminating:Wait (a lifecycle hook holding it) keeps it, Terminating:Proceed and
 * Terminated end it. An instance in no group (detached) runs as long as EC2 says so.
 */
export function instanceRuns(lifecycleState: string | undefined, ec2State: string | undefined): boolean {
  if (lifecycleState && ENDED_LIFECYCLE.has(lifecycleState)) return false;
  return ec2State !== undefined && RUNNING_EC2.has(ec2State);
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class AsgNodeSimulator {
  private readonly groups: Set<string>;
  private readonly core: k8s.CoreV1Api;
  private readonly asg: AutoScalingClient;
  private readonly ec2: EC2Client;
  private readonly eks: EKSClient;
  readonly id: string;
  private readonly firstSeen = new Map<string, number>();
  /** instance id -> node name, for nodes this simulator registered or adopted. */
  private readonly nodesByInstance = new Map<string, string>();
  private readonly registrations = new Map<string, KubeletRegistration>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  /** Nodes registered and deleted so far. */
  readonly counts = { registered: 0, deleted: 0 };
  /** Instances whose node this simulator registered. */
  readonly registered = new Set<string>();
  /** Instances whose kubelet would refuse to start, with the kubelet's complaint. */
  readonly refused = new Map<string, string>();

  constructor(private readonly opts: AsgNodeSimulatorOptions) {
    this.groups = new Set(opts.groups ?? []);
    this.id = opts.id ?? `sim-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    this.core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const config = emulatorConfig(opts);
    this.asg = new AutoScalingClient(config);
    this.ec2 = new EC2Client(config);
    this.eks = new EKSClient(config);
  }

  addGroup(name: string): void {
    this.groups.add(name);
  }

  removeGroup(name: string): void {
    this.groups.delete(name);
  }

  /** The node registered for an instance, if any. */
  nodeFor(instanceId: string): string | undefined {
    return this.nodesByInstance.get(instanceId);
  }

  /** The label selector of this simulator's nodes. */
  get selector(): string {
    return `${SIMULATOR_LABEL}=${this.id}`;
  }

  /** Syncs once (nodes for every InService instance past its boot delay), then keeps polling. */
  async start(): Promise<this> {
    this.stopped = false;
    this.log(
      `started for groups ${[...this.groups].join(', ') || '(none yet)'}${this.opts.groupTags ? ` and groups tagged ${JSON.stringify(this.opts.groupTags)}` : ''}`,
    );
    await this.syncOnce().catch((err: unknown) => this.log(`sync failed: ${errorText(err)}`));
    this.schedule();
    return this;
  }

  /** Stops polling; with deleteNodes, also removes every node it registered. */
  async stop(opts: { deleteNodes?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (opts.deleteNodes)
      for (const n of await this.ourNodes()) await this.deleteNode(n.metadata?.name ?? '', 'stopped');
    this.asg.destroy();
    this.ec2.destroy();
    this.eks.destroy();
  }

  private log(line: string): void {
    this.opts.log?.(`kubelet stand-in (${this.id}): ${line}`);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.syncOnce()
        .catch((err: unknown) => this.log(`sync failed: ${errorText(err)}`))
        .finally(() => this.schedule());
    }, this.opts.pollIntervalMs ?? 500);
  }

  /** One pass: register nodes for new InService instances, delete nodes whose instance stopped running. */
  async syncOnce(): Promise<void> {
    const live = await this.liveInstances();
    const nodes = await this.ourNodes();
    const byInstance = new Map<string, k8s.V1Node>();
    for (const n of nodes) {
      const id = n.metadata?.annotations?.[INSTANCE_ANNOTATION];
      if (!id) continue;
      byInstance.set(id, n);
      this.nodesByInstance.set(id, n.metadata?.name ?? '');
    }
    await this.removeEnded(live, byInstance);
    await this.registerDue(live, byInstance);
    await this.syncNodegroups(nodes);
  }

  /** The instances of every watched group, by id. */
  private async liveInstances(): Promise<Map<string, LiveInstance>> {
    const live = new Map<string, LiveInstance>();
    const add = (groups: AutoScalingGroup[] | undefined) => {
      for (const g of groups ?? [])
        for (const inst of g.Instances ?? [])
          live.set(inst.InstanceId ?? '', {
            group: g.AutoScalingGroupName ?? '',
            zone: inst.AvailabilityZone ?? '',
            instanceType: inst.InstanceType,
            state: inst.LifecycleState ?? '',
          });
    };
    const names = [...this.groups];
    for (let i = 0; i < names.length; i += 50)
      add(await this.describeGroups({ AutoScalingGroupNames: names.slice(i, i + 50) }));
    if (this.opts.groupTags) {
      const filters: Filter[] = Object.entries(this.opts.groupTags).map(([k, v]) => ({
        Name: `tag:${k}`,
        Values: [v],
      }));
      add(await this.describeGroups({ Filters: filters }));
    }
    return live;
  }

  private async describeGroups(input: {
    AutoScalingGroupNames?: string[];
    Filters?: Filter[];
  }): Promise<AutoScalingGroup[]> {
    const out: AutoScalingGroup[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.asg.send(new DescribeAutoScalingGroupsCommand({ ...input, NextToken }));
      out.push(...(page.AutoScalingGroups ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
    return out;
  }

  /** Nodes whose instance stopped running go, as the cloud controller removes them. */
  private async removeEnded(
    live: Map<string, LiveInstance>,
    byInstance: Map<string, k8s.V1Node>,
  ): Promise<void> {
    const outside = [...byInstance.keys()].filter(
      (id) => !live.has(id) || live.get(id)?.state !== 'InService',
    );
    if (outside.length === 0) return;
    const ec2 = await this.describeInstances(outside);
    for (const id of outside) {
      const lifecycle = live.get(id)?.state;
      const state = ec2.get(id)?.State?.Name;
      if (instanceRuns(lifecycle, state)) continue;
      await this.deleteNode(
        byInstance.get(id)?.metadata?.name ?? '',
        `instance ${id} ${lifecycle ?? state ?? 'gone'}`,
      );
      this.nodesByInstance.delete(id);
      this.firstSeen.delete(id);
    }
  }

  /** New booted instances (BOOTED_LIFECYCLE) past their boot delay: their kubelet registers the node. */
  private async registerDue(
    live: Map<string, LiveInstance>,
    byInstance: Map<string, k8s.V1Node>,
  ): Promise<void> {
    const now = Date.now();
    const due: string[] = [];
    for (const [id, inst] of live) {
      if (!BOOTED_LIFECYCLE.has(inst.state) || byInstance.has(id) || this.refused.has(id)) continue;
      const first = this.firstSeen.get(id) ?? now;
      this.firstSeen.set(id, first);
      if (now - first >= (this.opts.bootDelayMs ?? 0)) due.push(id);
    }
    if (due.length === 0) return;
    const ec2 = await this.describeInstances(due);
    for (const id of due) {
      const instance = ec2.get(id);
      const inst = live.get(id);
      if (!inst || !instance || !RUNNING_EC2.has(instance.State?.Name ?? '')) continue;
      // One instance failing (the emulator, the apiserver) holds up no other.
      await this.registration(id)
        .then((registration) => registration && this.register(instance, inst, registration))
        .catch((err: unknown) => this.log(`instance ${id}: registering its node failed: ${errorText(err)}`));
    }
  }

  private async describeInstances(ids: string[]): Promise<Map<string, Instance>> {
    const out = new Map<string, Instance>();
    for (let i = 0; i < ids.length; i += 100) {
      const res = await this.ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids.slice(i, i + 100) }] }),
      );
      for (const r of res.Reservations ?? [])
        for (const inst of r.Instances ?? []) if (inst.InstanceId) out.set(inst.InstanceId, inst);
    }
    return out;
  }

  /**
   * What the instance's kubelet registers with, from the user data the instance was launched with (as the
   * instance reads it from its metadata service; EC2's DescribeInstanceAttribute userData returns the
   * same). Undefined, with the reason kept in `refused`, when the kubelet would refuse to start.
   */
  private async registration(instanceId: string): Promise<KubeletRegistration | undefined> {
    const cached = this.registrations.get(instanceId);
    if (cached) return cached;
    const out = await this.ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }),
    );
    const userData = Buffer.from(out.UserData?.Value ?? '', 'base64').toString('utf8');
    try {
      const registration = kubeletRegistration(userData);
      this.registrations.set(instanceId, registration);
      return registration;
    } catch (err) {
      this.refused.set(instanceId, errorText(err));
      this.log(`instance ${instanceId}: the kubelet would not start: ${errorText(err)}`);
      return undefined;
    }
  }

  private nodeManifest(
    name: string,
    instance: Instance,
    inst: LiveInstance,
    reg: KubeletRegistration,
  ): k8s.V1Node {
    const id = instance.InstanceId ?? '';
    const zone = instance.Placement?.AvailabilityZone ?? inst.zone;
    const type = instance.InstanceType ?? inst.instanceType;
    const manifest = simulatedNodeManifest({
      name,
      providerID: `aws:///${zone}/${id}`,
      zone,
      ...(type ? { instanceType: type } : {}),
      labels: {
        // The kubelet's own: the OS its user data bootstraps (the emulator's AMIs say nothing true of it)
        // and the CPU architecture of the image the instance runs.
        'kubernetes.io/os': reg.os,
        'kubernetes.io/arch': instance.Architecture?.startsWith('arm64') ? 'arm64' : 'amd64',
        ...(zone ? { 'topology.kubernetes.io/region': zone.replace(/[a-z]$/, '') } : {}),
        ...reg.labels,
        ...this.opts.labels,
        // Group names longer than a label value allows (CloudFormation's) are in the annotation only.
        ...(LABEL_VALUE.test(inst.group) ? { [ASG_NODE_LABEL]: inst.group } : {}),
        [SIMULATOR_LABEL]: this.id,
      },
      ...(reg.taints.length > 0 ? { taints: reg.taints } : {}),
    });
    manifest.metadata = {
      ...manifest.metadata,
      annotations: {
        ...manifest.metadata?.annotations,
        [INSTANCE_ANNOTATION]: id,
        [ASG_NODE_LABEL]: inst.group,
      },
    };
    return manifest;
  }

  private async register(instance: Instance, inst: LiveInstance, reg: KubeletRegistration): Promise<void> {
    const id = instance.InstanceId ?? '';
    const dns = this.opts.nodeNames === 'instance-id' ? undefined : instance.PrivateDnsName?.toLowerCase();
    for (const name of dns ? [dns, id] : [id]) {
      try {
        await this.core.createNode({ body: this.nodeManifest(name, instance, inst, reg) });
        this.nodesByInstance.set(id, name);
        this.registered.add(id);
        this.counts.registered++;
        this.log(
          `instance ${id} (${inst.group}, ${inst.zone}) joined as node ${name} (${reg.bootstrap} user data)`,
        );
        return;
      } catch (err) {
        // A private IP the emulator handed out twice: fall back to the instance id.
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
  }

  /** Managed node groups: `desiredSize` nodes labelled with the group's name and labels while ACTIVE. */
  private async syncNodegroups(nodes: k8s.V1Node[]): Promise<void> {
    if (!this.opts.nodegroups) return;
    for (const { cluster, name } of await this.opts.nodegroups()) {
      const ng = (
        await this.eks
          .send(new DescribeNodegroupCommand({ clusterName: cluster, nodegroupName: name }))
          .catch(() => undefined)
      )?.nodegroup;
      const want = ng?.status === 'ACTIVE' ? (ng.scalingConfig?.desiredSize ?? 0) : 0;
      const ngLabels = ng?.labels;
      const have = nodes.filter((n) => n.metadata?.labels?.['eks.amazonaws.com/nodegroup'] === name);
      for (let i = have.length; i < want; i++) {
        const nodeName = `${name}-${i}`.toLowerCase().slice(0, 63);
        const labels = { ...ngLabels, 'eks.amazonaws.com/nodegroup': name, [SIMULATOR_LABEL]: this.id };
        try {
          await this.core.createNode({ body: simulatedNodeManifest({ name: nodeName, labels }) });
          this.counts.registered++;
          this.log(`managed node group ${name}: node ${nodeName} joined`);
        } catch (err) {
          if ((err as { code?: number }).code !== 409) throw err;
        }
      }
      for (const extra of have.slice(want))
        await this.deleteNode(extra.metadata?.name ?? '', `managed node group ${name} scaled in`);
    }
  }

  private async deleteNode(name: string, why: string): Promise<void> {
    if (!name) return;
    try {
      await this.core.deleteNode({ name, gracePeriodSeconds: 0 });
      this.counts.deleted++;
      this.log(`node ${name} removed (${why})`);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  private async ourNodes(): Promise<k8s.V1Node[]> {
    return (await this.core.listNode({ labelSelector: this.selector })).items;
  }
}
