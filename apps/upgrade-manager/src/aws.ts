// The AWS side of upgrade-manager: one set of SDK clients per region (a RollingUpgrade may name its
// own spec.region), the cached ports from @keiko/aws, and the facts EC2 keeps about how each instance
// was launched (launch time for forceRefresh, the launch template version tags for drift), which never
// change for an instance and so are described once.
import {
  AwsMetrics,
  awsClientConfig,
  createAwsClients,
  createAwsPorts,
  type AutoScalingPort,
  type AwsClients,
  type Ec2Port,
} from '@keiko/aws';
import type { RuntimeMetrics } from '@keiko/kube-runtime';
import type { InstanceLaunch } from './rollingupgrade/plan';

export interface RegionPorts {
  region: string;
  autoScaling: AutoScalingPort;
  ec2: Ec2Port;
  launches: LaunchFacts;
}

/** Launch facts by instance id, described once per instance (bounded). */
export class LaunchFacts {
  private readonly known = new Map<string, InstanceLaunch>();

  constructor(
    private readonly ec2: Ec2Port,
    private readonly max = 20_000,
  ) {}

  async get(instanceIds: readonly string[]): Promise<Map<string, InstanceLaunch>> {
    const missing = instanceIds.filter((id) => !this.known.has(id));
    if (missing.length > 0) {
      for (const i of await this.ec2.describeInstances(missing)) {
        this.known.set(i.id, {
          ...(i.launchTime ? { launchTime: i.launchTime.toISOString() } : {}),
          ...(i.launchTemplate ? { launchTemplate: i.launchTemplate } : {}),
        });
      }
      while (this.known.size > this.max) {
        const oldest = this.known.keys().next();
        if (oldest.done) break;
        this.known.delete(oldest.value);
      }
    }
    const out = new Map<string, InstanceLaunch>();
    for (const id of instanceIds) {
      const fact = this.known.get(id);
      if (fact) out.set(id, fact);
    }
    return out;
  }
}

export interface AwsOptions {
  /** Region for RollingUpgrades without spec.region; default AWS_REGION / AWS_DEFAULT_REGION. */
  defaultRegion?: string;
  /** TTL of the describe caches (ms); 0 disables them. */
  cacheTtlMs: number;
  /** The manager's registry: AWS call metrics are exported next to the controller's. */
  registry: RuntimeMetrics['registry'];
  /** Aborts every AWS call (the manager's leadership signal). */
  signal?: AbortSignal;
}

export class AwsRegions {
  private readonly byRegion = new Map<string, { ports: RegionPorts; clients: AwsClients }>();
  readonly metrics: AwsMetrics;
  readonly defaultRegion: string;

  constructor(private readonly opts: AwsOptions) {
    this.metrics = new AwsMetrics({ registry: opts.registry });
    this.defaultRegion = opts.defaultRegion || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || '';
  }

  /** The ports for a region (spec.region, else the default); throws when no region is known. */
  for(region: string | undefined): RegionPorts {
    const name = region || this.defaultRegion;
    if (!name) throw new Error('no AWS region: set spec.region or AWS_REGION');
    let entry = this.byRegion.get(name);
    if (!entry) {
      const clients = createAwsClients(awsClientConfig({ region: name, userAgentAppId: 'upgrade-manager' }), {
        metrics: this.metrics,
        signal: this.opts.signal,
      });
      const ports = createAwsPorts(clients, { cacheTtlMs: this.opts.cacheTtlMs });
      entry = {
        clients,
        ports: {
          region: name,
          autoScaling: ports.autoScaling,
          ec2: ports.ec2,
          launches: new LaunchFacts(ports.ec2),
        },
      };
      this.byRegion.set(name, entry);
    }
    return entry.ports;
  }

  destroy(): void {
    for (const { clients } of this.byRegion.values()) clients.destroy();
    this.byRegion.clear();
  }
}
