// The crd strategy: submit a custom resource (a RollingUpgrade for upgrade-manager, an Argo Workflow...)
// for the upgrade and follow it at statusJSONPath — how instance-manager and upgrade-manager compose.
// The resource is named per group and launch template version, so a restart or a replayed event finds
// the one it already submitted instead of submitting another.
import type { CRDUpgradeStrategy, InstanceGroup } from '@keiko/api';
import { ApiError, isAlreadyExists, isNotFound, type KubeClient } from '@keiko/kube-runtime';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  MANAGED_BY_ANNOTATION,
  MANAGED_BY_VALUE,
  renderStrategyResource,
  retryDecision,
  SCOPE_ANNOTATION,
  strategyResourceOutcome,
} from './crd-template';

export interface CrdStepInput {
  ig: InstanceGroup;
  strategy: CRDUpgradeStrategy;
  scalingGroupName: string;
  launchVersion: string;
  dryRun: boolean;
  /** Records status fields before the resource is created (resumability). */
  record(status: {
    strategyResourceName: string;
    strategyResourceNamespace: string;
    strategyRetryCount: number;
  }): Promise<void>;
}

export interface CrdStepResult {
  phase: 'running' | 'succeeded' | 'failed' | 'waiting';
  message: string;
  status: { strategyResourceName?: string; strategyResourceNamespace?: string; strategyRetryCount?: number };
}

/** Running resources this controller submitted for the same scaling group, other than `name` (being deleted included). */
async function activeOthers(
  client: KubeClient,
  input: CrdStepInput,
  type: ReturnType<typeof renderStrategyResource>['resourceType'],
  namespace: string,
  name: string,
): Promise<KubernetesObject[]> {
  let others: KubernetesObject[] = [];
  try {
    others = (await client.list<KubernetesObject>(type, { namespace })).items;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return others.filter(
    (o) =>
      o.metadata?.name !== name &&
      o.metadata?.annotations?.[MANAGED_BY_ANNOTATION] === MANAGED_BY_VALUE &&
      o.metadata.annotations[SCOPE_ANNOTATION] === input.scalingGroupName &&
      (o.metadata.deletionTimestamp !== undefined ||
        strategyResourceOutcome(o, input.strategy) === 'running'),
  );
}

export async function crdStrategyStep(client: KubeClient, input: CrdStepInput): Promise<CrdStepResult> {
  const { ig, strategy } = input;
  const rendered = renderStrategyResource(ig, strategy, {
    scalingGroupName: input.scalingGroupName,
    launchVersion: input.launchVersion,
  });
  const where = `${rendered.resourceType.plural}.${rendered.resourceType.group} ${rendered.namespace}/${rendered.name}`;
  const retries = ig.status?.strategyResourceName === rendered.name ? (ig.status.strategyRetryCount ?? 0) : 0;
  const status = {
    strategyResourceName: rendered.name,
    strategyResourceNamespace: rendered.namespace,
    strategyRetryCount: retries,
  };

  const existing = await client.get<KubernetesObject>(
    rendered.resourceType,
    rendered.namespace,
    rendered.name,
  );
  if (existing) {
    if (existing.metadata?.deletionTimestamp)
      return { phase: 'waiting', message: `${where} is being deleted; resubmitting after`, status };
    const outcome = strategyResourceOutcome(existing, strategy);
    if (outcome === 'succeeded')
      return {
        phase: 'succeeded',
        message: `${where} ${strategy.statusSuccessString}`,
        status: { ...status, strategyRetryCount: 0 },
      };
    if (outcome === 'running') return { phase: 'running', message: `${where} running`, status };
    const decision = retryDecision(retries, strategy.maxRetries);
    if (!decision.retry)
      return {
        phase: 'failed',
        message: `${where} ${strategy.statusFailureString} after ${retries} retries (maxRetries ${strategy.maxRetries ?? 3})`,
        status,
      };
    const next = { ...status, strategyRetryCount: decision.nextCount };
    await input.record(next);
    if (!input.dryRun) await client.delete(rendered.resourceType, rendered.namespace, rendered.name);
    return {
      phase: 'running',
      message: `${where} ${strategy.statusFailureString}; resubmitting (retry ${decision.nextCount})`,
      status: next,
    };
  }

  const policy = strategy.concurrencyPolicy ?? 'Forbid';
  if (policy !== 'Allow') {
    const active = await activeOthers(
      client,
      input,
      rendered.resourceType,
      rendered.namespace,
      rendered.name,
    );
    const names = active.map((o) => o.metadata?.name ?? '').join(', ');
    if (active.length > 0 && policy === 'Forbid')
      return {
        phase: 'waiting',
        message: `concurrencyPolicy Forbid: waiting for ${names} to finish`,
        status,
      };
    if (active.length > 0) {
      // Replace: the older upgrades go first; their controller stops them cleanly on deletion (drains
      // aborted, its cordons given back). The new one is submitted once they are gone.
      if (!input.dryRun)
        for (const o of active)
          await client
            .delete(rendered.resourceType, rendered.namespace, o.metadata?.name ?? '')
            .catch((err: unknown) => {
              if (!isNotFound(err)) throw err;
            });
      return {
        phase: 'waiting',
        message: `concurrencyPolicy Replace: ${input.dryRun ? 'would delete' : 'deleted'} ${names}; submitting ${rendered.name} once they are gone`,
        status,
      };
    }
  }

  await input.record(status);
  if (input.dryRun) return { phase: 'running', message: `dry run: would submit ${where}`, status };
  try {
    await client.create(rendered.resourceType, rendered.object as KubernetesObject);
  } catch (err) {
    if (isAlreadyExists(err)) return { phase: 'running', message: `${where} submitted`, status };
    if (err instanceof ApiError && err.statusCode === 404)
      return {
        phase: 'failed',
        message: `cannot submit ${where}: the API has no ${rendered.resourceType.plural}.${rendered.resourceType.group} (is its CRD installed?)`,
        status,
      };
    throw err;
  }
  return { phase: 'running', message: `submitted ${where}`, status };
}
