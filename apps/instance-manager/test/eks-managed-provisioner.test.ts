// The eks-managed provisioner against a scripted EKS (the emulator completes every operation at once, so
// the states EKS goes through are played here): create, wait while EKS works, size and labels in one
// UpdateNodegroupConfig, a version upgrade left to EKS, fields EKS cannot change, a failed node group.
import { describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup, type InstanceGroup } from '@keiko/api';
import type { CreateNodegroupSpec, Nodegroup } from '@keiko/aws';
import { noopLogger, type KubeClient } from '@keiko/kube-runtime';
import { EksManagedProvisioner } from '../src/provisioners/eks-managed/provisioner';
import type { AwsPortsForGroups, GroupContext, ReconcileState } from '../src/provisioners/types';
import { example } from './support/fixtures';

class ScriptedEks {
  nodegroup?: Nodegroup;
  calls: string[] = [];

  describeCluster = async (name: string) =>
    name === 'my-eks-cluster'
      ? { name, version: '1.31', vpcId: 'vpc-1', subnetIds: [], securityGroupIds: [] }
      : undefined;
  describeNodegroup = async () => (this.nodegroup ? structuredClone(this.nodegroup) : undefined);
  async createNodegroup(spec: CreateNodegroupSpec): Promise<Nodegroup> {
    this.calls.push('CreateNodegroup');
    this.nodegroup = {
      name: spec.name,
      clusterName: spec.clusterName,
      status: 'CREATING',
      instanceTypes: [...(spec.instanceTypes ?? [])],
      ...(spec.amiType ? { amiType: spec.amiType } : {}),
      ...(spec.diskSize !== undefined ? { diskSize: spec.diskSize } : {}),
      nodeRole: spec.nodeRole,
      subnets: [...spec.subnets],
      labels: { ...spec.labels },
      taints: [],
      tags: { ...spec.tags },
      scaling: spec.scaling,
      autoScalingGroups: [],
      issues: [],
    };
    return structuredClone(this.nodegroup);
  }
  async updateNodegroupConfig(_cluster: string, _name: string, update: unknown) {
    this.calls.push(`UpdateNodegroupConfig ${JSON.stringify(update)}`);
    return 'u-1';
  }
  async updateNodegroupVersion(_cluster: string, _name: string, update: unknown) {
    this.calls.push(`UpdateNodegroupVersion ${JSON.stringify(update)}`);
    return 'u-2';
  }
  set(fields: Partial<Nodegroup>) {
    if (!this.nodegroup) throw new Error('no node group');
    this.nodegroup = { ...this.nodegroup, ...fields };
  }
}

function managedGroup(edit?: (ig: InstanceGroup) => void): InstanceGroup {
  const ig = normalizeInstanceGroup(example('instance-manager/eks-managed.yaml'));
  ig.metadata = { ...ig.metadata, namespace: 'instance-manager', name: 'managed' };
  edit?.(ig);
  return ig;
}

function context(ig: InstanceGroup, eks: ScriptedEks, dryRun = false) {
  const recorded: ReconcileState[] = [];
  const events: string[] = [];
  const aws = {
    eks,
    ec2: {
      describeSubnets: async (ids: string[]) => ids.map((id) => ({ id: `subnet-${id}`, name: id, tags: {} })),
      describeSecurityGroups: async (ids: string[]) => ids.map((id) => ({ id, tags: {} })),
    },
  } as unknown as AwsPortsForGroups;
  const ctx: GroupContext = {
    ig,
    namespace: 'instance-manager',
    name: 'managed',
    owner: 'instance-manager/instance-manager/managed',
    log: noopLogger,
    aws,
    kube: {} as KubeClient,
    dryRun,
    now: () => new Date(),
    record: async (s) => {
      recorded.push(s);
    },
    act: async (_op, _d, run) => (dryRun ? undefined : run()),
    event: (type, reason, message) => events.push(`${type} ${reason}: ${message}`),
  };
  return { ctx, recorded, events };
}

describe('eks-managed provisioner', () => {
  it('creates the node group, waits while EKS works, then reports it provisioned', async () => {
    const eks = new ScriptedEks();
    const p = new EksManagedProvisioner();
    const { ctx, recorded, events } = context(managedGroup(), eks);
    const first = await p.reconcile(ctx);
    expect(recorded).toEqual(['InitCreate']);
    expect(eks.calls).toEqual(['CreateNodegroup']);
    expect(eks.nodegroup).toMatchObject({
      subnets: ['subnet-keiko-sandbox-a'],
      scaling: { minSize: 2, maxSize: 4, desiredSize: 2 },
      labels: { lifecycle: 'managed' },
      tags: { team: 'platform' },
    });
    expect(first).toMatchObject({
      phase: 'provisioning',
      state: 'ReconcileModifying',
      requeueAfterMs: 10_000,
      status: { provisioner: 'eks-managed', currentMin: 2, currentMax: 4, lifecycle: 'normal' },
    });
    expect(first.message).toMatch(/CREATING$/);
    expect(events).toEqual([`Normal NodegroupCreating: creating managed node group ${eks.nodegroup?.name}`]);
    eks.set({ status: 'ACTIVE' });
    const done = await p.reconcile(ctx);
    expect(done).toMatchObject({
      phase: 'provisioned',
      state: 'ReconcileModified',
      status: { currentMin: 2, currentMax: 4 },
    });
    expect(done.message).toBe(`managed node group ${eks.nodegroup?.name} ACTIVE`);
    expect(eks.calls).toEqual(['CreateNodegroup']);
  });

  it('a dry run says what it would create and creates nothing', async () => {
    const eks = new ScriptedEks();
    const out = await new EksManagedProvisioner().reconcile(context(managedGroup(), eks, true).ctx);
    expect(out).toMatchObject({ phase: 'provisioning', state: 'InitCreate' });
    expect(out.message).toMatch(/^dry run: would create managed node group /);
    expect(eks.nodegroup).toBeUndefined();
  });

  it('changes size and labels in one UpdateNodegroupConfig, keeping the desired size within bounds', async () => {
    const eks = new ScriptedEks();
    const p = new EksManagedProvisioner();
    await p.reconcile(context(managedGroup(), eks).ctx);
    eks.set({ status: 'ACTIVE', scaling: { minSize: 2, maxSize: 4, desiredSize: 4 }, labels: { old: 'x' } });
    const ig = managedGroup((g) => {
      const block = g.spec['eks-managed'];
      if (block) block.maxSize = 3;
    });
    const { ctx, recorded } = context(ig, eks);
    const out = await p.reconcile(ctx);
    expect(recorded).toEqual(['InitUpdate']);
    expect(eks.calls.slice(1)).toEqual([
      `UpdateNodegroupConfig ${JSON.stringify({
        scaling: { minSize: 2, maxSize: 3, desiredSize: 3 },
        labels: { addOrUpdate: { lifecycle: 'managed' }, remove: ['old'] },
      })}`,
    ]);
    expect(out).toMatchObject({ phase: 'provisioning', state: 'ReconcileModifying', requeueAfterMs: 10_000 });
  });

  it('leaves a version or release change to EKS, after size and labels match', async () => {
    const eks = new ScriptedEks();
    const p = new EksManagedProvisioner();
    await p.reconcile(context(managedGroup(), eks).ctx);
    eks.set({ status: 'ACTIVE', version: '1.30' });
    const ig = managedGroup((g) => {
      const c = g.spec['eks-managed']?.configuration;
      if (c) c.version = '1.31';
    });
    const { ctx, recorded, events } = context(ig, eks);
    const out = await p.reconcile(ctx);
    expect(recorded).toEqual(['InitUpgrade']);
    expect(eks.calls.slice(1)).toEqual([`UpdateNodegroupVersion ${JSON.stringify({ version: '1.31' })}`]);
    expect(out).toMatchObject({ phase: 'provisioning', state: 'InitUpgrade', requeueAfterMs: 10_000 });
    expect(events).toContain(
      `Normal NodegroupUpgrading: EKS is upgrading managed node group ${eks.nodegroup?.name}`,
    );
  });

  it('refuses a change EKS cannot make, and reports a node group EKS left degraded', async () => {
    const eks = new ScriptedEks();
    const p = new EksManagedProvisioner();
    await p.reconcile(context(managedGroup(), eks).ctx);
    eks.set({ status: 'ACTIVE' });
    const bigger = managedGroup((g) => {
      const c = g.spec['eks-managed']?.configuration;
      if (c) c.instanceType = 'm5.xlarge';
    });
    const refused = await p.reconcile(context(bigger, eks).ctx);
    expect(refused).toMatchObject({ phase: 'failed', state: 'Error', failureReason: 'ImmutableField' });
    expect(refused.problems?.map((x) => x.field)).toEqual(['spec.eks-managed.configuration.instanceType']);
    eks.set({ status: 'DEGRADED', issues: ['AsgInstanceLaunchFailures: no capacity'] });
    const degraded = await p.reconcile(context(managedGroup(), eks).ctx);
    expect(degraded).toMatchObject({ phase: 'failed', failureReason: 'NodegroupDegraded' });
    expect(degraded.message).toMatch(/DEGRADED: AsgInstanceLaunchFailures: no capacity$/);
    expect(eks.calls).toEqual(['CreateNodegroup']);
  });

  it('names every configuration problem before creating anything', async () => {
    const eks = new ScriptedEks();
    const ig = managedGroup((g) => {
      const c = g.spec['eks-managed']?.configuration;
      if (c) {
        c.clusterName = 'nowhere';
        delete c.nodeRole;
      }
    });
    const out = await new EksManagedProvisioner().reconcile(context(ig, eks).ctx);
    expect(out).toMatchObject({ phase: 'failed', failureReason: 'InvalidConfiguration' });
    expect(out.problems?.map((x) => x.field)).toEqual([
      'spec.eks-managed.configuration.clusterName',
      'spec.eks-managed.configuration.nodeRole',
    ]);
    expect(eks.calls).toEqual([]);
  });
});
