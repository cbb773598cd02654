// Scenario bootstrap for a node tool's end-to-end runs and benchmarks: a namespace of its own, the CRDs of
// the charts it needs, the AWS emulator's node-tool fixtures (aws-fixtures.ts), and the node simulator —
// the kubelet stand-in — for the scaling groups the tool creates for that namespace (found by tag).
import fs from 'node:fs';
import path from 'node:path';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import * as k8s from '@kubernetes/client-node';
import { installChartCrds, kubectl, parseManifests } from './apply';
import { AsgNodeSimulator, INSTANCE_ANNOTATION, type ManagedNodegroup } from './asg-nodes';
import { emulatorClients, emulatorConfig, seedNodeToolFixtures } from './aws-fixtures';
import { eventually } from './eventually';
import { kubeConfigFromEnv } from './kubeconfig';
import { createNamespace, deleteNamespace } from './namespaces';
import { repoRoot } from './paths';

export interface ToolScenarioOptions {
  /** Charts whose CRDs to install (e.g. instance-manager, upgrade-manager). */
  crds?: string[];
  /** The tags that mark the scaling groups the tool creates for a namespace. */
  groupTags: (namespace: string) => Record<string, string>;
  nodegroups?: (namespace: string) => Promise<ManagedNodegroup[]>;
  pollIntervalMs?: number;
  /** How long a new instance's kubelet takes to register its node (default 0). */
  bootDelayMs?: number;
}

export interface ToolScenario {
  namespace: string;
  kc: k8s.KubeConfig;
  simulator: AsgNodeSimulator;
  /** Objects from a manifest file (relative to the repo), moved into the scenario's namespace. */
  manifest(file: string): k8s.KubernetesObject[];
  /** `kubectl apply -f -` (client-side, strict validation: what a user runs). */
  apply(objects: k8s.KubernetesObject[]): Promise<string>;
  /** The simulated nodes of a scaling group's instances. */
  nodesOf(groupName: string): Promise<k8s.V1Node[]>;
  /** Deletes every object of a namespaced custom resource in the namespace and waits until they are gone. */
  deleteAll(resource: { group: string; version: string; plural: string }, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startToolScenario(prefix: string, opts: ToolScenarioOptions): Promise<ToolScenario> {
  const kc = kubeConfigFromEnv();
  if (opts.crds?.length) await installChartCrds(kc, ...opts.crds);
  const namespace = await createNamespace(prefix, { kubeConfig: kc });
  const clients = emulatorClients();
  await seedNodeToolFixtures(clients).finally(() => clients.destroy());
  const nodegroups = opts.nodegroups;
  const simulator = await new AsgNodeSimulator({
    kubeConfig: kc,
    id: namespace,
    groupTags: opts.groupTags(namespace),
    ...(nodegroups ? { nodegroups: () => nodegroups(namespace) } : {}),
    pollIntervalMs: opts.pollIntervalMs ?? 700,
    ...(opts.bootDelayMs !== undefined ? { bootDelayMs: opts.bootDelayMs } : {}),
  }).start();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const asg = new AutoScalingClient(emulatorConfig());
  const root = repoRoot(import.meta.dirname);
  const list = async (r: { group: string; version: string; plural: string }) =>
    ((await custom.listNamespacedCustomObject({ ...r, namespace })) as { items: k8s.KubernetesObject[] })
      .items;
  return {
    namespace,
    kc,
    simulator,
    manifest: (file) =>
      parseManifests(fs.readFileSync(path.join(root, file), 'utf8')).map((o) => ({
        ...o,
        metadata: { ...o.metadata, namespace },
      })),
    apply: (objects) => kubectl(kc, ['apply', '-f', '-'], objects),
    nodesOf: async (groupName) => {
      const out = await asg.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }),
      );
      const ids = new Set(out.AutoScalingGroups?.[0]?.Instances?.map((i) => i.InstanceId));
      const nodes = (await core.listNode({ labelSelector: simulator.selector })).items;
      return nodes.filter((n) => ids.has(n.metadata?.annotations?.[INSTANCE_ANNOTATION]));
    },
    deleteAll: async (resource, timeoutMs = 120_000) => {
      for (const o of await list(resource))
        await custom.deleteNamespacedCustomObject({ ...resource, namespace, name: o.metadata?.name ?? '' });
      await eventually(
        `every ${resource.plural} in ${namespace} gone`,
        async () => (await list(resource)).length === 0,
        timeoutMs,
        500,
      );
    },
    close: async () => {
      await simulator.stop({ deleteNodes: true });
      await deleteNamespace(namespace, kc).catch(() => undefined);
      asg.destroy();
    },
  };
}
