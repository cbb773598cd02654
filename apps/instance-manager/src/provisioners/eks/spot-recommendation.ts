// Spot recommendations (upstream's contract with minion-manager): the latest Event with reason
// SpotRecommendationGiven about the group (involvedObject.name = the scaling group's name, any namespace),
// whose message is {"apiVersion":"v1alpha1","spotPrice":"0.0067","useSpot":true}, sets the group's spot
// price: useSpot → that price (the maximum price of the spot market options), otherwise on-demand. Without
// any recommendation the spec's own spotPrice stays. Not for mixed-instances groups: they buy spot through
// their policy (AWS refuses market options beside one).
import { ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import type { InstanceGroup } from '@keiko/api';
import type { CoreV1Event } from '@kubernetes/client-node';

export const SPOT_RECOMMENDATION_REASON = 'SpotRecommendationGiven';
export const SPOT_RECOMMENDATION_VERSION = 'v1alpha1';

export interface SpotRecommendation {
  useSpot: boolean;
  spotPrice: string;
  at: number;
}

type EventLike = Pick<CoreV1Event, 'reason' | 'message' | 'lastTimestamp' | 'eventTime' | 'firstTimestamp'>;

function timeOf(e: EventLike): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp;
  return t ? new Date(t as unknown as string).getTime() : 0;
}

/** The newest readable recommendation among the Events (others' reasons and unreadable messages skipped). */
export function latestRecommendation(events: readonly EventLike[]): SpotRecommendation | undefined {
  let latest: SpotRecommendation | undefined;
  for (const e of events) {
    if (e.reason !== SPOT_RECOMMENDATION_REASON) continue;
    let doc: { apiVersion?: unknown; spotPrice?: unknown; useSpot?: unknown };
    try {
      doc = JSON.parse(e.message ?? '') as typeof doc;
    } catch {
      continue;
    }
    if (doc.apiVersion !== SPOT_RECOMMENDATION_VERSION || typeof doc.useSpot !== 'boolean') continue;
    const rec = {
      useSpot: doc.useSpot,
      spotPrice: typeof doc.spotPrice === 'string' ? doc.spotPrice : '',
      at: timeOf(e),
    };
    if (!latest || rec.at >= latest.at) latest = rec;
  }
  return latest;
}

/** The group with the recommendation applied, or undefined when it does not apply (none, or a mixed group). */
export function withRecommendation(
  ig: InstanceGroup,
  rec: SpotRecommendation | undefined,
): InstanceGroup | undefined {
  const config = ig.spec.eks?.configuration;
  if (!rec || !ig.spec.eks || !config || config.mixedInstancesPolicy !== undefined) return undefined;
  const spotPrice = rec.useSpot && Number(rec.spotPrice) > 0 ? rec.spotPrice : undefined;
  const { spotPrice: _previous, ...rest } = config;
  void _previous;
  return {
    ...ig,
    spec: {
      ...ig.spec,
      eks: { ...ig.spec.eks, configuration: { ...rest, ...(spotPrice ? { spotPrice } : {}) } },
    },
  };
}

/** The recommendation Events about the scaling group, in every namespace. */
export async function readRecommendation(
  kube: KubeClient,
  groupName: string,
): Promise<SpotRecommendation | undefined> {
  const events = await kube.listAll<CoreV1Event>(ResourceTypes.Event, {
    fieldSelector: `reason=${SPOT_RECOMMENDATION_REASON},involvedObject.name=${groupName}`,
  });
  return latestRecommendation(events.items);
}
