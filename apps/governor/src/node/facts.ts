// Gathering what the node plan decides on: the views of every node (EC2 instance, group, ghost twin,
// flap transitions) and the facts about the candidates (Ready pods, stable groups, locks). I/O only.
import { ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import { instanceIdOfNode, type DisruptionLocks } from '@keiko/node-ops';
import type { CoreV1Event, V1Node, V1Pod } from '@kubernetes/client-node';
import type { FoundInstance, NodeReaperAws } from './aws';
import { flapTransitions, type Candidate, type CandidateFacts, type NodeView } from './plan';
import type { NodeReaperSettings } from './settings';

/** Ghost twins: for nodes whose instance is gone, a running instance carrying the node's name. */
async function twins(
  aws: NodeReaperAws,
  nodes: readonly V1Node[],
  instances: ReadonlyMap<string, FoundInstance>,
): Promise<Map<string, string>> {
  const gone = nodes.filter((n) => {
    const id = instanceIdOfNode(n);
    const state = id ? (instances.get(id)?.state ?? 'absent') : undefined;
    return state === 'terminated' || state === 'absent';
  });
  const names = gone.map((n) => n.metadata?.name ?? '').filter(Boolean);
  const out = new Map<string, string>();
  for (const i of await aws.runningByDnsName(names))
    if (i.privateDnsName) out.set(i.privateDnsName.toLowerCase(), i.id);
  return out;
}

/** Ready transitions per node within the flap window, from Node Events (one LIST). */
async function flaps(client: KubeClient, windowMs: number, now: number): Promise<Map<string, number>> {
  const list = await client.listAll<CoreV1Event>(ResourceTypes.Event, {
    fieldSelector: 'involvedObject.kind=Node',
  });
  const byNode = new Map<string, CoreV1Event[]>();
  for (const e of list.items) {
    const name = e.involvedObject?.name ?? '';
    byNode.set(name, [...(byNode.get(name) ?? []), e]);
  }
  return new Map([...byNode].map(([name, events]) => [name, flapTransitions(events, windowMs, now)]));
}

export async function nodeViews(
  client: KubeClient,
  aws: NodeReaperAws,
  nodes: readonly V1Node[],
  s: NodeReaperSettings,
  now: number,
): Promise<NodeView[]> {
  const ids = nodes.map(instanceIdOfNode).filter((id): id is string => !!id);
  const instances = new Map((await aws.instances(ids)).map((i) => [i.id, i]));
  const twinOf = s.reapGhost ? await twins(aws, nodes, instances) : new Map<string, string>();
  const flapOf = s.reapFlappy ? await flaps(client, s.flapWindowMs, now) : new Map<string, number>();
  return nodes.map((node) => {
    const name = node.metadata?.name ?? '';
    const instanceId = instanceIdOfNode(node);
    const instance = instanceId ? instances.get(instanceId) : undefined;
    const twin = twinOf.get(name.toLowerCase());
    return {
      node,
      name,
      ...(instanceId ? { instanceId, instanceState: instance?.state ?? 'absent' } : {}),
      ...(instance?.group ? { group: instance.group } : {}),
      ...(twin && twin !== instanceId ? { runningTwin: twin } : {}),
      flapTransitions: flapOf.get(name) ?? 0,
    };
  });
}

/** A pod counts as Ready unless the node controller marked it lost (reason NodeLost), as upstream. */
function readyPod(p: V1Pod): boolean {
  if (p.status?.reason === 'NodeLost') return false;
  if (p.status?.phase !== 'Running') return false;
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export async function candidateFacts(
  client: KubeClient,
  aws: NodeReaperAws,
  locks: DisruptionLocks,
  lock: { identity: string; region: string },
  candidates: readonly Candidate[],
  s: NodeReaperSettings,
): Promise<CandidateFacts> {
  const fresh = candidates.filter((c) => !c.resuming);
  const readyPods = new Map<string, number>();
  const soft = fresh.filter((c) => ['unready', 'unknown', 'condition'].includes(c.kind));
  if (s.softReap)
    for (const c of soft) {
      const pods = await client.listAll<V1Pod>(ResourceTypes.Pod, {
        fieldSelector: `spec.nodeName=${c.name}`,
      });
      readyPods.set(c.name, pods.items.filter(readyPod).length);
    }
  const groups = [...new Set(fresh.map((c) => c.group).filter((g): g is string => !!g))];
  const stableGroups = s.asgValidation ? await aws.stableGroups(groups) : new Set(groups);
  const lockedGroups = new Map<string, string>();
  for (const g of groups) {
    const holder = await locks.holder({ region: lock.region, name: g });
    if (holder && holder !== lock.identity) lockedGroups.set(g, holder);
  }
  return { readyPods, stableGroups, lockedGroups };
}
