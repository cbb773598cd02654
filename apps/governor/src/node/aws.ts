// What the node reaper asks AWS: the instances behind the nodes (state, group tag), running instances by
// private DNS name (ghosts) or by tag (unjoined), group stability, and terminations. Behind one
// interface so the sweep can be tested and benchmarked with the emulator.
import { DescribeInstancesCommand, type EC2Client, type Filter } from '@aws-sdk/client-ec2';
import {
  terminateConfirmed,
  type AutoScalingPort,
  type Ec2Instance,
  type Ec2Port,
  type TerminateOutcome,
} from '@keiko/aws';

export const GROUP_TAG = 'aws:autoscaling:groupName';

export interface FoundInstance {
  id: string;
  state: string;
  privateDnsName?: string;
  launchTime?: Date;
  group?: string;
}

export interface NodeReaperAws {
  /** The instances among `ids` EC2 knows (terminated ones too). */
  instances(ids: readonly string[]): Promise<FoundInstance[]>;
  /** Running instances whose private DNS name is one of `names`. */
  runningByDnsName(names: readonly string[]): Promise<FoundInstance[]>;
  /** Running (and pending) instances tagged key=value. */
  runningByTag(key: string, value: string): Promise<FoundInstance[]>;
  /** Groups whose DesiredCapacity equals their count of Healthy InService instances. */
  stableGroups(names: readonly string[]): Promise<Set<string>>;
  /** TerminateInstanceInAutoScalingGroup without decrement, only if InService (never twice). */
  terminateInGroup(group: string, instanceId: string): Promise<TerminateOutcome>;
  /** EC2 TerminateInstances (unjoined instances, in no group). */
  terminateInstance(instanceId: string): Promise<void>;
}

const found = (i: Ec2Instance): FoundInstance => ({
  id: i.id,
  state: i.state,
  ...(i.privateDnsName ? { privateDnsName: i.privateDnsName } : {}),
  ...(i.launchTime ? { launchTime: i.launchTime } : {}),
  ...(i.tags[GROUP_TAG] ? { group: i.tags[GROUP_TAG] } : {}),
});

/**
 * How long a running instance's description is reused: a sweep of a large cluster then describes only
 * new instances and those not running. A ghost (its instance terminated while its node looks fine) is
 * seen at most this late; anything about to be terminated is described afresh by terminateConfirmed.
 */
export const RUNNING_INSTANCE_TTL_MS = 5 * 60_000;

export class AwsNodeReaperPorts implements NodeReaperAws {
  private readonly running = new Map<string, { instance: FoundInstance; at: number }>();

  constructor(
    private readonly ec2: Ec2Port,
    private readonly ec2Client: EC2Client,
    private readonly autoScaling: AutoScalingPort,
    private readonly now: () => number = Date.now,
  ) {}

  async instances(ids: readonly string[]): Promise<FoundInstance[]> {
    const now = this.now();
    const cached: FoundInstance[] = [];
    const stale: string[] = [];
    for (const id of ids) {
      const hit = this.running.get(id);
      if (hit && now - hit.at < RUNNING_INSTANCE_TTL_MS) cached.push(hit.instance);
      else stale.push(id);
    }
    const fresh = stale.length ? (await this.ec2.describeInstances(stale)).map(found) : [];
    for (const i of fresh)
      if (i.state === 'running') this.running.set(i.id, { instance: i, at: now });
      else this.running.delete(i.id);
    if (this.running.size > 4 * ids.length + 1000) this.running.clear();
    return [...cached, ...fresh];
  }

  async runningByDnsName(names: readonly string[]): Promise<FoundInstance[]> {
    if (names.length === 0) return [];
    const out: FoundInstance[] = [];
    for (let i = 0; i < names.length; i += 200)
      out.push(
        ...(await this.filtered([
          { Name: 'private-dns-name', Values: names.slice(i, i + 200) },
          { Name: 'instance-state-name', Values: ['running'] },
        ])),
      );
    return out;
  }

  runningByTag(key: string, value: string): Promise<FoundInstance[]> {
    return this.filtered([
      { Name: `tag:${key}`, Values: [value] },
      { Name: 'instance-state-name', Values: ['running', 'pending'] },
    ]);
  }

  async stableGroups(names: readonly string[]): Promise<Set<string>> {
    const stable = new Set<string>();
    if (names.length === 0) return stable;
    for (const name of names) this.autoScaling.invalidate(name);
    for (const g of await this.autoScaling.describeGroups(names)) {
      const healthy = g.instances.filter(
        (i) => i.lifecycleState === 'InService' && (i.healthStatus ?? 'Healthy') === 'Healthy',
      ).length;
      if (g.desiredCapacity === healthy) stable.add(g.name);
    }
    return stable;
  }

  async terminateInGroup(group: string, instanceId: string): Promise<TerminateOutcome> {
    this.running.delete(instanceId);
    const result = await terminateConfirmed(this.autoScaling, group, [
      { instanceId, decrementDesired: false },
    ]);
    if (result.error) throw result.error;
    const outcome = result.outcomes[0];
    if (!outcome) throw new Error(`terminate ${instanceId}: no outcome`);
    return outcome;
  }

  async terminateInstance(instanceId: string): Promise<void> {
    await this.ec2.terminateInstances([instanceId]);
  }

  private async filtered(filters: Filter[]): Promise<FoundInstance[]> {
    const out: FoundInstance[] = [];
    let token: string | undefined;
    do {
      const page = await this.ec2Client.send(
        new DescribeInstancesCommand({ Filters: filters, NextToken: token, MaxResults: 1000 }),
      );
      for (const r of page.Reservations ?? [])
        for (const i of r.Instances ?? []) {
          const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
          out.push({
            id: i.InstanceId ?? '',
            state: i.State?.Name ?? '',
            ...(i.PrivateDnsName ? { privateDnsName: i.PrivateDnsName.toLowerCase() } : {}),
            ...(i.LaunchTime ? { launchTime: i.LaunchTime } : {}),
            ...(tags[GROUP_TAG] ? { group: tags[GROUP_TAG] } : {}),
          });
        }
      token = page.NextToken;
    } while (token);
    return out;
  }
}
