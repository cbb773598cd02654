// CachedEc2's subnet and security group lookups: every reconcile of every group names them, they rarely
// change, and a lookup that missed something must be asked again (the subnet may be created next minute).
import { describe, expect, it } from '@jest/globals';
import { CachedEc2, type Clock, type Ec2Port, type SecurityGroup, type Subnet } from '../src/index';

class ManualClock implements Clock {
  constructor(private ms = 1_000) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

function recording(subnets: Subnet[], groups: SecurityGroup[]) {
  const calls: string[] = [];
  const matches = (wanted: readonly string[], keys: Array<string | undefined>) =>
    keys.some((k) => k !== undefined && wanted.includes(k));
  const inner = {
    describeSubnets: async (idsOrNames: readonly string[], options?: { vpcId?: string }) => {
      calls.push(`subnets ${idsOrNames.join(',')} in ${options?.vpcId ?? '*'}`);
      return subnets.filter(
        (s) => matches(idsOrNames, [s.id, s.name]) && (!options?.vpcId || s.vpcId === options.vpcId),
      );
    },
    describeSecurityGroups: async (idsOrNames: readonly string[], options?: { vpcId?: string }) => {
      calls.push(`groups ${idsOrNames.join(',')} in ${options?.vpcId ?? '*'}`);
      return groups.filter(
        (g) =>
          matches(idsOrNames, [g.id, g.name, g.groupName]) && (!options?.vpcId || g.vpcId === options.vpcId),
      );
    },
  } as unknown as Ec2Port;
  return { inner, calls };
}

const subnetA: Subnet = { id: 'subnet-a', name: 'private-a', vpcId: 'vpc-1', tags: { Name: 'private-a' } };
const subnetB: Subnet = { id: 'subnet-b', name: 'private-b', vpcId: 'vpc-1', tags: { Name: 'private-b' } };
const nodes: SecurityGroup = {
  id: 'sg-1',
  groupName: 'nodes',
  name: 'node-sg',
  vpcId: 'vpc-1',
  tags: { Name: 'node-sg' },
};

describe('CachedEc2: subnets and security groups', () => {
  it('reuses a lookup that found every id or name, in any order, until the TTL', async () => {
    const clock = new ManualClock();
    const { inner, calls } = recording([subnetA, subnetB], [nodes]);
    const cached = new CachedEc2(inner, { clock, networkTtlMs: 60_000 });
    expect(await cached.describeSubnets(['private-a', 'subnet-b'], { vpcId: 'vpc-1' })).toEqual([
      subnetA,
      subnetB,
    ]);
    expect(await cached.describeSubnets(['subnet-b', 'private-a'], { vpcId: 'vpc-1' })).toEqual([
      subnetA,
      subnetB,
    ]);
    expect(await cached.describeSecurityGroups(['nodes'], { vpcId: 'vpc-1' })).toEqual([nodes]);
    expect(await cached.describeSecurityGroups(['nodes'], { vpcId: 'vpc-1' })).toEqual([nodes]);
    expect(calls).toEqual(['subnets private-a,subnet-b in vpc-1', 'groups nodes in vpc-1']);
    // Another VPC is another question.
    expect(await cached.describeSubnets(['private-a', 'subnet-b'], { vpcId: 'vpc-2' })).toEqual([]);
    clock.advance(60_001);
    await cached.describeSubnets(['private-a', 'subnet-b'], { vpcId: 'vpc-1' });
    expect(calls.filter((c) => c.startsWith('subnets'))).toHaveLength(3);
  });

  it('asks again every time while something is missing, and caches once it exists', async () => {
    const clock = new ManualClock();
    const subnets: Subnet[] = [subnetA];
    const { inner, calls } = recording(subnets, [nodes]);
    const cached = new CachedEc2(inner, { clock });
    expect(await cached.describeSubnets(['private-a', 'private-b'])).toEqual([subnetA]);
    expect(await cached.describeSubnets(['private-a', 'private-b'])).toEqual([subnetA]);
    expect(await cached.describeSecurityGroups(['nodes', 'sg-missing'])).toEqual([nodes]);
    expect(await cached.describeSecurityGroups(['nodes', 'sg-missing'])).toEqual([nodes]);
    expect(calls).toHaveLength(4);
    subnets.push(subnetB); // created by someone in the meantime
    expect(await cached.describeSubnets(['private-a', 'private-b'])).toEqual([subnetA, subnetB]);
    expect(await cached.describeSubnets(['private-a', 'private-b'])).toEqual([subnetA, subnetB]);
    expect(calls).toHaveLength(5);
  });
});
