// AsgNodeSimulator — TEST HARNESS, NOT PRODUCT CODE. There are no real EC2 instances and no kubelets
// here, so something has to play the part a kubelet plays on AWS: when an Auto Scaling group's
// instance comes up, a Node registers for it (providerID aws:///<zone>/<instance-id>, zone and
// instance-type labels); when the instance leaves the group, its Node goes (the cloud controller's
// part). This class does exactly that against the AWS emulator, polling the named groups. KWOK then
// keeps the nodes Ready and runs their pods. Shared by the tests of upgrade-manager,
// instance-manager and lifecycle-manager, the sandbox seeds, and the benchmarks.
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { simulatedNodeManifest } from './nodes';

/** Every node the simulator registers carries this label, valued with its group's name. */
export const ASG_NODE_LABEL = 'testenv.keiko.io/asg';

export interface AsgNodeSimulatorOptions {
  kubeConfig: k8s.KubeConfig;
  /** Auto Scaling group names to play kubelet for (more can be added with addGroup). */
  groups?: string[];
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

interface Seen {
  group: string;
  zone: string;
  instanceType?: string;
  firstSeen: number;
}

const TERMINATING = /^Terminat/;

export class AsgNodeSimulator {
  private readonly groups: Set<string>;
  private readonly core: k8s.CoreV1Api;
  private readonly asg: AutoScalingClient;
  private readonly ec2: EC2Client;
  private readonly seen = new Map<string, Seen>();
  /** instance id -> node name, for nodes this simulator registered or adopted. */
  private readonly nodesByInstance = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  /** Nodes registered and deleted so far. */
  readonly counts = { registered: 0, deleted: 0 };

  constructor(private readonly opts: AsgNodeSimulatorOptions) {
    this.groups = new Set(opts.groups ?? []);
    this.core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const region = opts.region ?? process.env.AWS_REGION ?? 'us-west-2';
    const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL;
    const config = {
      region,
      ...(endpoint ? { endpoint } : {}),
      credentials: {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'testing',
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'testing',
      },
    };
    this.asg = new AutoScalingClient(config);
    this.ec2 = new EC2Client(config);
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

  /** Syncs once (nodes for every InService instance past its boot delay), then keeps polling. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.syncOnce();
    this.schedule();
  }

  /** Stops polling; with deleteNodes, also removes every node it registered for its groups. */
  async stop(opts: { deleteNodes?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (opts.deleteNodes) {
      for (const name of await this.ourNodes().then((ns) => ns.map((n) => n.metadata?.name ?? '')))
        await this.deleteNode(name);
    }
    this.asg.destroy();
    this.ec2.destroy();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.syncOnce()
        .catch((err: unknown) =>
          this.opts.log?.(`asg-nodes: sync failed: ${err instanceof Error ? err.message : String(err)}`),
        )
        .finally(() => this.schedule());
    }, this.opts.pollIntervalMs ?? 500);
  }

  /** One pass: register nodes for new InService instances, delete nodes of instances that left. */
  async syncOnce(): Promise<void> {
    const names = [...this.groups];
    const live = new Map<string, { group: string; zone: string; instanceType?: string; state: string }>();
    const described = new Set<string>();
    for (let i = 0; i < names.length; i += 50) {
      const out = await this.asg.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names.slice(i, i + 50) }),
      );
      for (const g of out.AutoScalingGroups ?? []) {
        described.add(g.AutoScalingGroupName ?? '');
        for (const inst of g.Instances ?? []) {
          live.set(inst.InstanceId ?? '', {
            group: g.AutoScalingGroupName ?? '',
            zone: inst.AvailabilityZone ?? '',
            instanceType: inst.InstanceType,
            state: inst.LifecycleState ?? '',
          });
        }
      }
    }

    const existing = await this.ourNodes();
    const byInstance = new Map<string, k8s.V1Node>();
    for (const n of existing) {
      const id = n.spec?.providerID?.split('/').pop();
      if (id) {
        byInstance.set(id, n);
        this.nodesByInstance.set(id, n.metadata?.name ?? '');
      }
    }

    // Instances gone (or going): their nodes go too, as the cloud controller would remove them.
    for (const [id, n] of byInstance) {
      const inst = live.get(id);
      const group = n.metadata?.labels?.[ASG_NODE_LABEL] ?? '';
      if (!this.groups.has(group) && described.has(group)) continue;
      if (!inst || TERMINATING.test(inst.state)) {
        await this.deleteNode(n.metadata?.name ?? '');
        this.nodesByInstance.delete(id);
        this.seen.delete(id);
      }
    }

    // New InService instances: after the boot delay, their node joins.
    const now = Date.now();
    const due: string[] = [];
    for (const [id, inst] of live) {
      if (inst.state !== 'InService' || byInstance.has(id)) continue;
      const seen = this.seen.get(id) ?? {
        group: inst.group,
        zone: inst.zone,
        instanceType: inst.instanceType,
        firstSeen: now,
      };
      this.seen.set(id, seen);
      if (now - seen.firstSeen >= (this.opts.bootDelayMs ?? 0)) due.push(id);
    }
    if (due.length === 0) return;
    const dns = await this.privateDnsNames(due);
    for (const id of due) {
      const seen = this.seen.get(id) as Seen;
      await this.register(id, seen, dns.get(id));
    }
  }

  private async privateDnsNames(ids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (this.opts.nodeNames === 'instance-id') return out;
    const res = await this.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }),
    );
    for (const r of res.Reservations ?? [])
      for (const i of r.Instances ?? [])
        if (i.InstanceId && i.PrivateDnsName) out.set(i.InstanceId, i.PrivateDnsName);
    return out;
  }

  private async register(instanceId: string, seen: Seen, privateDns: string | undefined): Promise<void> {
    const manifest = (name: string) =>
      simulatedNodeManifest({
        name,
        providerID: `aws:///${seen.zone}/${instanceId}`,
        zone: seen.zone,
        instanceType: seen.instanceType,
        labels: { ...this.opts.labels, [ASG_NODE_LABEL]: seen.group },
      });
    for (const name of privateDns ? [privateDns.toLowerCase(), instanceId] : [instanceId]) {
      try {
        await this.core.createNode({ body: manifest(name) });
        this.nodesByInstance.set(instanceId, name);
        this.counts.registered++;
        this.opts.log?.(
          `asg-nodes: instance ${instanceId} (${seen.group}, ${seen.zone}) joined as node ${name}`,
        );
        return;
      } catch (err) {
        // A private IP the emulator handed out twice: fall back to the instance id.
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
  }

  private async deleteNode(name: string): Promise<void> {
    if (!name) return;
    try {
      await this.core.deleteNode({ name });
      this.counts.deleted++;
      this.opts.log?.(`asg-nodes: node ${name} removed (its instance left the group)`);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  private async ourNodes(): Promise<k8s.V1Node[]> {
    if (this.groups.size === 0) return [];
    const selector = `${ASG_NODE_LABEL} in (${[...this.groups].join(',')})`;
    return (await this.core.listNode({ labelSelector: selector })).items;
  }
}
