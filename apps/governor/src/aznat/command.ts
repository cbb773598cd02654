// `governor cordon az-nat`: a one-shot command (it never runs as a controller). Reads the VPC's route
// tables, NAT gateways and their subnets' zones, plans (plan.ts), and — unless --dry-run, which prints
// the route changes — replaces the routes, tagging each cordoned route table with its original NAT
// gateway so that --restore can put it back.
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeNatGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  ReplaceRouteCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { awsClientConfig, createAwsClients } from '@keiko/aws';
import { createLogger, type Logger } from '@keiko/kube-runtime';
import type { CommonConfig } from '../config';
import {
  ORIGINAL_NAT_TAG,
  planCordon,
  planRestore,
  type NatGatewayInfo,
  type RouteChange,
  type RouteTableInfo,
} from './plan';

export interface AzNatConfig extends CommonConfig {
  azNat: { vpcId: string; zones: string[]; restore: boolean; dryRun: boolean };
}

const vpcFilter = (vpcId: string) => [{ Name: 'vpc-id', Values: [vpcId] }];

async function readVpc(
  ec2: EC2Client,
  vpcId: string,
): Promise<{ tables: RouteTableInfo[]; nats: NatGatewayInfo[] }> {
  const rt = await ec2.send(new DescribeRouteTablesCommand({ Filters: vpcFilter(vpcId) }));
  const tables = (rt.RouteTables ?? []).map((t) => ({
    id: t.RouteTableId ?? '',
    tags: Object.fromEntries((t.Tags ?? []).map((x) => [x.Key ?? '', x.Value ?? ''])),
    routes: (t.Routes ?? [])
      .filter((r) => r.DestinationCidrBlock)
      .map((r) => ({
        destination: r.DestinationCidrBlock ?? '',
        ...(r.NatGatewayId ? { natGatewayId: r.NatGatewayId } : {}),
      })),
  }));
  const ng = await ec2.send(new DescribeNatGatewaysCommand({ Filter: vpcFilter(vpcId) }));
  const subnetIds = [...new Set((ng.NatGateways ?? []).map((n) => n.SubnetId ?? '').filter(Boolean))];
  const subnets = subnetIds.length
    ? ((await ec2.send(new DescribeSubnetsCommand({ SubnetIds: subnetIds }))).Subnets ?? [])
    : [];
  const zoneOf = new Map(
    subnets.map((s) => [s.SubnetId ?? '', { zone: s.AvailabilityZone ?? '', zoneId: s.AvailabilityZoneId }]),
  );
  const nats = (ng.NatGateways ?? []).map((n) => ({
    id: n.NatGatewayId ?? '',
    state: n.State ?? '',
    zone: zoneOf.get(n.SubnetId ?? '')?.zone ?? '',
    ...(zoneOf.get(n.SubnetId ?? '')?.zoneId ? { zoneId: zoneOf.get(n.SubnetId ?? '')?.zoneId } : {}),
  }));
  return { tables, nats };
}

async function apply(ec2: EC2Client, c: RouteChange, restore: boolean): Promise<void> {
  if (!restore)
    await ec2.send(
      new CreateTagsCommand({
        Resources: [c.routeTableId],
        Tags: [{ Key: ORIGINAL_NAT_TAG, Value: c.from }],
      }),
    );
  await ec2.send(
    new ReplaceRouteCommand({
      RouteTableId: c.routeTableId,
      DestinationCidrBlock: c.destination,
      NatGatewayId: c.to,
    }),
  );
  if (restore)
    await ec2.send(new DeleteTagsCommand({ Resources: [c.routeTableId], Tags: [{ Key: ORIGINAL_NAT_TAG }] }));
}

/** Plans and (unless a dry run) applies; the exit code. */
export async function runAzNat(config: AzNatConfig, log?: Logger): Promise<number> {
  const m = config.manager;
  const logger =
    log ?? createLogger({ level: m.logLevel, format: m.logFormat, fields: { component: 'governor az-nat' } });
  const clients = createAwsClients(
    awsClientConfig({ ...(config.region ? { region: config.region } : {}), userAgentAppId: 'governor' }),
  );
  try {
    const { vpcId, zones, restore, dryRun } = config.azNat;
    const { tables, nats } = await readVpc(clients.ec2, vpcId);
    const planned = restore
      ? { changes: planRestore(tables, nats) }
      : planCordon(tables, nats, new Set(zones));
    if ('problem' in planned && planned.problem) {
      logger.error(`cordon az-nat: ${planned.problem}; nothing changed`, { vpcId, zones });
      return 1;
    }
    for (const c of planned.changes) {
      const line = `${dryRun ? 'dry run: would replace' : 'replacing'} route ${c.destination} in ${c.routeTableId}: ${c.from} -> ${c.to} (${c.why})`;
      logger.info(line, { ...c });
      if (!dryRun) await apply(clients.ec2, c, restore);
    }
    logger.info(
      `cordon az-nat done: ${planned.changes.length} route(s) ${dryRun ? 'would change' : 'changed'}`,
      { vpcId, zones, restore, dryRun },
    );
    return 0;
  } finally {
    clients.destroy();
  }
}
