// The status of every managed group, one JSON entry per group in one ConfigMap (no CRD: groups are AWS
// objects), written with server-side apply and only when something other than the time changed.
import { ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Market } from './plan';

export interface GroupStatus {
  /** The market the group is configured for now. */
  market: Market;
  /** The market the prices and tags call for. */
  decision: Market;
  reason: string;
  action: string;
  instanceType?: string;
  spotPrice?: number;
  onDemandPrice?: number;
  spotInstances: number;
  onDemandInstances: number;
  estimatedSavingsPerHour: number;
  cooldownUntil?: string;
}

export const FIELD_MANAGER = 'minion-manager';

/** ConfigMap data keys must match [-._a-zA-Z0-9]+; group names may hold other characters. */
export function statusKey(group: string): string {
  return group.replace(/[^-._a-zA-Z0-9]/g, '_');
}

export class StatusWriter {
  private last = '';

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly name: string,
  ) {}

  async write(groups: ReadonlyMap<string, GroupStatus>, updatedAt: Date): Promise<void> {
    const data: Record<string, string> = {};
    for (const [group, status] of [...groups].sort(([a], [b]) => a.localeCompare(b)))
      data[statusKey(group)] = JSON.stringify({ group, ...status });
    const text = JSON.stringify(data);
    if (text === this.last) return;
    const cm: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/name': 'minion-manager' },
        annotations: { 'minion-manager.keikoproj.io/updated-at': updatedAt.toISOString() },
      },
      data,
    };
    await this.client.patch(ResourceTypes.ConfigMap, this.namespace, this.name, cm, {
      type: 'apply',
      fieldManager: FIELD_MANAGER,
      force: true,
    });
    this.last = text;
  }
}
