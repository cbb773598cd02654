// cordon az-nat: the plan (pure), and the command against the AWS emulator's VPC, subnets, NAT gateways
// and route tables — dry run changes nothing, cordon moves the impaired zone's routes, restore puts them back.
import { describe, expect, it } from '@jest/globals';
import {
  AllocateAddressCommand,
  CreateNatGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeRouteTablesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { emulatorConfig } from '@keiko/testenv';
import { noopLogger } from '@keiko/kube-runtime';
import { runAzNat, type AzNatConfig } from '../src/aznat/command';
import { ORIGINAL_NAT_TAG, planCordon, planRestore, type NatGatewayInfo } from '../src/aznat/plan';
import { parseAzNatConfig } from '../src/config';

const NATS: NatGatewayInfo[] = [
  { id: 'nat-a', state: 'available', zone: 'us-west-2a', zoneId: 'usw2-az1' },
  { id: 'nat-b', state: 'available', zone: 'us-west-2b', zoneId: 'usw2-az2' },
  { id: 'nat-c', state: 'available', zone: 'us-west-2c', zoneId: 'usw2-az3' },
];
const table = (id: string, nat: string, tags: Record<string, string> = {}) => ({
  id,
  tags,
  routes: [{ destination: '10.0.0.0/16' }, { destination: '0.0.0.0/0', natGatewayId: nat }],
});

describe('az-nat plan', () => {
  it('moves routes through the impaired zone (by id or name) to healthy gateways, spread', () => {
    const tables = [table('rtb-1', 'nat-a'), table('rtb-2', 'nat-a'), table('rtb-3', 'nat-b')];
    expect(
      planCordon(tables, NATS, new Set(['usw2-az1'])).changes.map((c) => [c.routeTableId, c.from, c.to]),
    ).toEqual([
      ['rtb-1', 'nat-a', 'nat-b'],
      ['rtb-2', 'nat-a', 'nat-c'],
    ]);
    expect(planCordon(tables, NATS, new Set(['us-west-2b'])).changes.map((c) => c.routeTableId)).toEqual([
      'rtb-3',
    ]);
  });

  it('refuses when no healthy gateway is left; restore goes back to the tagged original', () => {
    const all = new Set(['usw2-az1', 'usw2-az2', 'usw2-az3']);
    expect(planCordon([table('rtb-1', 'nat-a')], NATS, all).problem).toMatch(/no available NAT gateway/);
    const back = planRestore(
      [table('rtb-1', 'nat-b', { [ORIGINAL_NAT_TAG]: 'nat-a' }), table('rtb-2', 'nat-b')],
      NATS,
    );
    expect(back.map((c) => [c.routeTableId, c.from, c.to])).toEqual([['rtb-1', 'nat-b', 'nat-a']]);
  });

  it('needs its flags, naming them', () => {
    const argv = (...a: string[]) => ['node', 'governor', ...a];
    expect(() => parseAzNatConfig(argv('--target-az-ids=usw2-az1'))).toThrow(/--target-vpc-id/);
    expect(() => parseAzNatConfig(argv('--target-vpc-id=vpc-1'))).toThrow(/--target-az-ids/);
    expect(parseAzNatConfig(argv('--target-vpc-id=vpc-1', '--restore')).azNat).toMatchObject({
      restore: true,
    });
  });
});

describe('cordon az-nat against the emulator', () => {
  it('dry run prints and changes nothing; cordon moves the routes; restore puts them back', async () => {
    const ec2 = new EC2Client(emulatorConfig());
    try {
      const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc?.VpcId ?? '';
      const nat = async (zone: string, cidr: string) => {
        const subnet = (
          await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: cidr, AvailabilityZone: zone }))
        ).Subnet?.SubnetId;
        const eip = (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId;
        return (
          (await ec2.send(new CreateNatGatewayCommand({ SubnetId: subnet, AllocationId: eip }))).NatGateway
            ?.NatGatewayId ?? ''
        );
      };
      const natA = await nat('us-west-2a', '10.9.1.0/24');
      const natB = await nat('us-west-2b', '10.9.2.0/24');
      const rtb =
        (await ec2.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable?.RouteTableId ?? '';
      await ec2.send(
        new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', NatGatewayId: natA }),
      );
      const route = async () => {
        const t = (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }))).RouteTables?.[0];
        return {
          nat: t?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.NatGatewayId,
          tag: t?.Tags?.find((x) => x.Key === ORIGINAL_NAT_TAG)?.Value,
        };
      };
      const lines: string[] = [];
      const log = { ...noopLogger, info: (m: string) => void lines.push(m) } as typeof noopLogger;
      const config = (flags: string[]): AzNatConfig =>
        parseAzNatConfig([
          'node',
          'governor',
          `--target-vpc-id=${vpc}`,
          '--target-az-ids=us-west-2a',
          ...flags,
        ]);

      expect(await runAzNat(config(['--dry-run=true']), log)).toBe(0);
      expect(lines.join('\n')).toContain(
        `dry run: would replace route 0.0.0.0/0 in ${rtb}: ${natA} -> ${natB}`,
      );
      expect(await route()).toEqual({ nat: natA, tag: undefined });

      expect(await runAzNat(config([]), log)).toBe(0);
      expect(await route()).toEqual({ nat: natB, tag: natA });

      expect(await runAzNat(config(['--restore']), log)).toBe(0);
      expect(await route()).toEqual({ nat: natA, tag: undefined });
    } finally {
      ec2.destroy();
    }
  });
});
