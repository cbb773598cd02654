// How many nodes a disruption budget allows: one rule for every tool that takes nodes away.
import type { DisruptionBudget } from '@keiko/api';

/**
 * The rule, the same for every tool:
 * - a number of nodes is taken as is;
 * - a percentage is of the group's desired capacity (what the group is sized to, not the instances it
 *   happens to have mid-rotation), rounded DOWN — a safety limit, so the smaller number wins: 25% of 6
 *   nodes is 1;
 * - the result is never below 1, so a rotation can always progress one node at a time (a budget that
 *   allows nothing is refused when the resource is applied, or mapped by its CRD, never read as "stuck
 *   forever").
 */
export function budgetNodes(budget: DisruptionBudget, desiredCapacity: number): number {
  const capacity = Math.max(0, Math.floor(desiredCapacity));
  const nodes = 'nodes' in budget ? Math.floor(budget.nodes) : Math.floor((budget.percent * capacity) / 100);
  return Math.max(1, nodes);
}
