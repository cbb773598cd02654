// `governor reap node`: wires the node reaper to AWS, the cluster and its state, for either run mode.
import { AwsMetrics, awsClientConfig, createAwsClients, createAwsPorts } from '@keiko/aws';
import { ResourceTypes } from '@keiko/kube-runtime';
import { DisruptionLocks } from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import type { NodeReaperConfig } from '../config';
import type { GovernorCommand, SweepContext } from '../run';
import { StateStore } from '../state';
import { AwsNodeReaperPorts } from './aws';
import { condition, STATE_ANNOTATION } from './plan';
import { NodeReaper } from './reaper';

/** What about a node can change the reaper's mind: conditions' statuses, taints, labels, its state. */
export function nodeSignature(n: V1Node): string {
  return JSON.stringify([
    (n.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).sort(),
    (n.spec?.taints ?? []).map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`).sort(),
    n.metadata?.labels ?? {},
    n.metadata?.annotations?.[STATE_ANNOTATION] ?? '',
    condition(n, 'Ready')?.lastTransitionTime ?? '',
  ]);
}

/** The nodes: the shared informer's store in controller mode (a Node change triggers a sweep), else one LIST. */
function nodeSource(ctx: SweepContext, selector: string): () => Promise<V1Node[]> {
  if (!ctx.mgr)
    return async () =>
      (await ctx.client.listAll<V1Node>(ResourceTypes.Node, selector ? { labelSelector: selector } : {}))
        .items;
  const informer = ctx.mgr.cache.informer<V1Node>(
    ResourceTypes.Node,
    selector ? { labelSelector: selector } : {},
  );
  informer.addEventHandler({
    onAdd: () => ctx.trigger(),
    onDelete: () => ctx.trigger(),
    onUpdate: (o, n) => {
      if (o !== n && nodeSignature(o) !== nodeSignature(n)) ctx.trigger();
    },
  });
  return () => Promise.resolve(informer.list());
}

export function nodeReaperCommand(config: NodeReaperConfig): GovernorCommand {
  return {
    name: 'node-reaper',
    setup: (ctx) => {
      const clients = createAwsClients(
        awsClientConfig({ ...(config.region ? { region: config.region } : {}), userAgentAppId: 'governor' }),
        {
          metrics: new AwsMetrics({ registry: ctx.registry }),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        },
      );
      ctx.onStop('aws-clients', () => clients.destroy());
      const ports = createAwsPorts(clients, { cacheTtlMs: 0 });
      const reaper = new NodeReaper({
        client: ctx.client,
        events: ctx.events,
        log: ctx.log,
        metrics: ctx.metrics,
        aws: new AwsNodeReaperPorts(ports.ec2, clients.ec2, ports.autoScaling),
        locks: new DisruptionLocks(ctx.client, { namespace: config.disruptionLockNamespace }),
        state: new StateStore(ctx.client, config.stateNamespace, config.stateConfigMap),
        settings: config.node,
        listNodes: nodeSource(ctx, config.node.nodeSelector),
        identity: 'governor',
        region: clients.config.region,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if (config.node.dryRun) ctx.log.info('dry run: reporting what would be reaped; nothing is changed');
      return () => reaper.sweep();
    },
  };
}
