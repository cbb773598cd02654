// `cordon az-nat`'s decisions, pure: which route tables of the VPC send their default route through a
// NAT gateway in an impaired zone, and which healthy zone's NAT gateway takes it over (cordon); or which
// cordoned route tables go back to the NAT gateway they had (restore).

/** Tag governor puts on a route table it cordoned: the NAT gateway to restore. */
export const ORIGINAL_NAT_TAG = 'governor.keikoproj.io/az-nat-original';

export interface NatGatewayInfo {
  id: string;
  state: string;
  /** Zone name and id (us-west-2a / usw2-az1) of its subnet. */
  zone: string;
  zoneId?: string;
}

export interface RouteTableInfo {
  id: string;
  tags: Record<string, string>;
  routes: Array<{ destination: string; natGatewayId?: string }>;
}

export interface RouteChange {
  routeTableId: string;
  destination: string;
  from: string;
  to: string;
  /** Words for logs and the dry run. */
  why: string;
}

const impaired = (nat: NatGatewayInfo | undefined, zones: ReadonlySet<string>) =>
  !!nat && (zones.has(nat.zone) || (!!nat.zoneId && zones.has(nat.zoneId)));

/**
 * Cordon: each route through an impaired zone's NAT gateway goes to an available NAT gateway of a healthy
 * zone (spread over them in order, so one gateway does not take every table). Nothing when no healthy
 * gateway is left: moving routes to nowhere would cut the VPC off.
 */
export function planCordon(
  tables: readonly RouteTableInfo[],
  nats: readonly NatGatewayInfo[],
  zones: ReadonlySet<string>,
): { changes: RouteChange[]; problem?: string } {
  const byId = new Map(nats.map((n) => [n.id, n]));
  const healthy = nats
    .filter((n) => n.state === 'available' && !impaired(n, zones))
    .sort((a, b) => a.zone.localeCompare(b.zone) || a.id.localeCompare(b.id));
  const changes: RouteChange[] = [];
  for (const t of [...tables].sort((a, b) => a.id.localeCompare(b.id)))
    for (const r of t.routes) {
      const nat = r.natGatewayId ? byId.get(r.natGatewayId) : undefined;
      if (!r.natGatewayId || !impaired(nat, zones)) continue;
      const to = healthy[changes.length % Math.max(1, healthy.length)];
      if (!to) return { changes: [], problem: 'no available NAT gateway outside the impaired zones' };
      changes.push({
        routeTableId: t.id,
        destination: r.destination,
        from: r.natGatewayId,
        to: to.id,
        why: `${r.natGatewayId} is in impaired zone ${nat?.zone}; ${to.id} is in ${to.zone}`,
      });
    }
  return { changes };
}

/** Restore: every route table governor cordoned goes back to its original NAT gateway, if available. */
export function planRestore(
  tables: readonly RouteTableInfo[],
  nats: readonly NatGatewayInfo[],
): RouteChange[] {
  const byId = new Map(nats.map((n) => [n.id, n]));
  const changes: RouteChange[] = [];
  for (const t of [...tables].sort((a, b) => a.id.localeCompare(b.id))) {
    const original = t.tags[ORIGINAL_NAT_TAG];
    if (!original || byId.get(original)?.state !== 'available') continue;
    for (const r of t.routes)
      if (r.natGatewayId && r.natGatewayId !== original)
        changes.push({
          routeTableId: t.id,
          destination: r.destination,
          from: r.natGatewayId,
          to: original,
          why: `back to ${original} (${byId.get(original)?.zone})`,
        });
  }
  return changes;
}
