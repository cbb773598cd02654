// `governor reap pod`: stuck Terminating pods force-deleted (grace 0), completed and failed pods deleted
// past their age. Controller mode watches Pods and Namespaces; --once LISTs them.
import { errorText, ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import type { CommonConfig } from '../config';
import type { GovernorCommand, SweepContext } from '../run';
import { planPodReaping, type PodReaperSettings, type PodVerdict } from './plan';

export interface PodReaperConfig extends CommonConfig {
  pod: PodReaperSettings;
}

type Source = () => Promise<{ pods: V1Pod[]; namespaces: V1Namespace[] }>;

function source(ctx: SweepContext, namespace: string): Source {
  if (!ctx.mgr) {
    const client: KubeClient = ctx.client;
    return async () => ({
      pods: (await client.listAll<V1Pod>(ResourceTypes.Pod, namespace ? { namespace } : {})).items,
      namespaces: (await client.listAll<V1Namespace>(ResourceTypes.Namespace)).items,
    });
  }
  const pods = ctx.mgr.cache.informer<V1Pod>(ResourceTypes.Pod, namespace ? { namespace } : {});
  const namespaces = ctx.mgr.cache.informer<V1Namespace>(ResourceTypes.Namespace);
  pods.addEventHandler({
    onUpdate: (o, n) => {
      if (!o.metadata?.deletionTimestamp && n.metadata?.deletionTimestamp) ctx.trigger();
    },
  });
  return () => Promise.resolve({ pods: pods.list(), namespaces: namespaces.list() });
}

async function reapPod(
  ctx: SweepContext,
  v: PodVerdict,
  pod: V1Pod | undefined,
  dryRun: boolean,
): Promise<boolean> {
  const what = `${v.namespace}/${v.name}`;
  if (dryRun) {
    ctx.log.info('dry run: would delete pod', { pod: what, reason: v.reason, detail: v.detail });
    return false;
  }
  try {
    await ctx.client.delete(ResourceTypes.Pod, v.namespace, v.name, {
      ...(v.reason === 'ReapStuckTerminating' ? { gracePeriodSeconds: 0 } : {}),
      ...(v.uid ? { preconditions: { uid: v.uid } } : {}),
    });
  } catch (err) {
    ctx.log.error('could not delete pod', { pod: what, reason: v.reason, error: errorText(err) });
    return false;
  }
  ctx.metrics.podResult.set({ namespace: v.namespace, pod: v.name, reason: v.reason }, 1);
  ctx.metrics.podsReaped.inc({ reason: v.reason });
  ctx.log.info('pod reaped', { pod: what, reason: v.reason, detail: v.detail });
  if (pod) await ctx.events.record(pod, 'Normal', v.reason, `governor deleted the pod: ${v.detail}`);
  return true;
}

export function podReaperCommand(config: PodReaperConfig): GovernorCommand {
  return {
    name: 'pod-reaper',
    setup: (ctx) => {
      const list = source(ctx, config.manager.namespace);
      return async () => {
        const { pods, namespaces } = await list();
        const verdicts = planPodReaping(
          pods,
          new Map(namespaces.map((n) => [n.metadata?.name ?? '', n])),
          config.pod,
          Date.now(),
        );
        const byKey = new Map(pods.map((p) => [`${p.metadata?.namespace}/${p.metadata?.name}`, p]));
        let reaped = 0;
        for (const v of verdicts)
          if (await reapPod(ctx, v, byKey.get(`${v.namespace}/${v.name}`), config.pod.dryRun)) reaped++;
        ctx.log.info('pod reaper sweep done', {
          pods: pods.length,
          reapable: verdicts.length,
          reaped,
          dryRun: config.pod.dryRun,
        });
      };
    },
  };
}
