// The disruption budget of a resource: how many nodes of a group a tool may have unavailable at once.
// Each CRD maps its own field to this type in its resolve step (keeping the field's documented meaning
// there and nowhere else); node-ops' budgetNodes turns it into a number of nodes by one rule.

/** A number of nodes, or a percentage of the group's desired capacity. */
export type DisruptionBudget = { nodes: number } | { percent: number };
/**
 * Reads an int-or-percent field (2, "25%") into a budget; undefined for an empty value. A string of
 * digits without "%" means what the CRD documents: `bareString` (RollingUpgrade's original reads "30"
 * as 30%; InstanceGroup's as 30 nodes). Throws naming the field for anything else (the schemas refuse
 * such values at apply time already).
 */
export function parseBudget(
  value: number | string | undefined,
  field: string,
  bareString: 'nodes' | 'percent' = 'nodes',
): DisruptionBudget | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'number') return checked({ nodes: value }, field, value);
  const text = value.trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) return checked({ percent: Number(percent[1]) }, field, value);
  if (/^\d+$/.test(text))
    return checked(
      bareString === 'percent' ? { percent: Number(text) } : { nodes: Number(text) },
      field,
      value,
    );
  throw new Error(`${field}: "${value}" is neither a number of nodes nor a percentage`);
}

function checked(budget: DisruptionBudget, field: string, raw: number | string): DisruptionBudget {
  const n = 'nodes' in budget ? budget.nodes : budget.percent;
  if (!Number.isFinite(n) || n < 0 || ('percent' in budget && n > 100))
    throw new Error(`${field}: "${raw}" is out of range`);
  return budget;
}

/**
 * How long a drain may take when the resource sets none. A PodDisruptionBudget that never allows an
 * eviction would otherwise hold a node cordoned forever; past this the drain fails, the node is given
 * back, and the tool reports it (15 minutes, as instance-manager's --drain-timeout has always defaulted to).
 */
export const DEFAULT_DRAIN_TIMEOUT_SECONDS = 900;
