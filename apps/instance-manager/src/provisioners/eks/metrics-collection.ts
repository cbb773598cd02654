// The eks provisioner's CloudWatch group metrics (spec.eks.configuration.metricsCollection): which to
// enable and which to disable. Pure.
import type { FieldProblem } from '@keiko/api';

export const METRICS_FIELD = 'spec.eks.configuration.metricsCollection';

/** Every Auto Scaling group metric (what `All` stands for, as in the original). */
export const ALL_GROUP_METRICS: readonly string[] = [
  'GroupMinSize',
  'GroupMaxSize',
  'GroupDesiredCapacity',
  'GroupInServiceInstances',
  'GroupPendingInstances',
  'GroupStandbyInstances',
  'GroupTerminatingInstances',
  'GroupTotalInstances',
  'GroupInServiceCapacity',
  'GroupPendingCapacity',
  'GroupStandbyCapacity',
  'GroupTerminatingCapacity',
  'GroupTotalCapacity',
  'WarmPoolDesiredCapacity',
  'WarmPoolWarmedCapacity',
  'WarmPoolPendingCapacity',
  'WarmPoolTerminatingCapacity',
  'WarmPoolTotalCapacity',
  'GroupAndWarmPoolDesiredCapacity',
  'GroupAndWarmPoolTotalCapacity',
];

/**
 * The metrics the spec asks for, in AWS's spelling (names match case-insensitively; `All` is every
 * metric), and the names that are no metric at all.
 */
export function desiredMetrics(spec: readonly string[] | undefined): {
  metrics: string[];
  problems: FieldProblem[];
} {
  const wanted = (spec ?? []).map((m) => m.trim()).filter(Boolean);
  if (wanted.some((m) => m.toLowerCase() === 'all')) return { metrics: [...ALL_GROUP_METRICS], problems: [] };
  const metrics: string[] = [];
  const unknown: string[] = [];
  for (const m of wanted) {
    const known = ALL_GROUP_METRICS.find((k) => k.toLowerCase() === m.toLowerCase());
    if (!known) unknown.push(m);
    else if (!metrics.includes(known)) metrics.push(known);
  }
  const problems =
    unknown.length > 0
      ? [
          {
            field: METRICS_FIELD,
            message: `unknown group metrics ${unknown.join(', ')}; use All or some of ${ALL_GROUP_METRICS.join(', ')}`,
          },
        ]
      : [];
  return { metrics, problems };
}

export interface MetricsChanges {
  /**
   * What EnableMetricsCollection is given: empty when every wanted metric is enabled, otherwise the whole
   * wanted list. Enabling an enabled metric is a no-op on AWS, and the emulator (moto) replaces the
   * group's set with the metrics of each call instead of adding them: sending only the missing ones
   * would drop the others there.
   */
  enable: string[];
  /** Enabled metrics the spec does not want (DisableMetricsCollection). */
  disable: string[];
}

export function metricsChanges(enabled: readonly string[], wanted: readonly string[]): MetricsChanges {
  const have = new Set(enabled);
  const want = new Set(wanted);
  return {
    enable: wanted.some((m) => !have.has(m)) ? [...wanted] : [],
    disable: enabled.filter((m) => !want.has(m)),
  };
}
