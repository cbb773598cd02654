// Sandbox seed for minion-manager (run by scripts/sandbox.ts before the controllers start). minion-manager
// has no custom resource: groups opt in with AWS tags. What the sandbox shows:
//
//  - Auto Scaling group `minion-manager-demo` (2 on-demand instances of t3.medium, a mixed instances policy
//    at 100 % on-demand) tagged KubernetesCluster=keiko-sandbox-spot and k8s-minion-manager=use-spot, with
//    the harness's AsgNodeSimulator (the kubelet stand-in) registering a node per instance;
//  - spot prices in the emulator at 30 % of on-demand in the group's AZs (the launcher's test endpoint);
//  - minion-manager runs for that cluster name (the seed sets MINION_MANAGER_CLUSTER_NAME and a 5 s refresh in
//    the environment the sandbox starts every app with: no other tool's group carries that cluster tag). Its
//    log says `group switched` ... `"to":"spot"`, then it replaces the two on-demand instances one at a time
//    with drains (`wrong-market instance replaced`). The seed prints the group's Events
//    (`minion-manager: Event SpotRecommendationGiven ...`) and its status entry as it changes; the end state
//    is `minion-manager: status of minion-manager-demo: market=spot decision=spot spot=2 on-demand=0`.
//
// Every run starts from scratch (a reused test cluster keeps the previous run's state).
import { awsClientConfig, createAwsClients, createAwsPorts } from '@keiko/aws';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { AsgNodeSimulator, kubeConfigFromEnv, setSpotPrices } from '@keiko/testenv';
import type { CoreV1Event, V1ConfigMap } from '@kubernetes/client-node';

const GROUP = 'minion-manager-demo';
const TEMPLATE = 'minion-manager-demo';
const CLUSTER = 'keiko-sandbox-spot';
const REGION = 'us-west-2';
const ZONES = [`${REGION}a`, `${REGION}b`, `${REGION}c`];
const EVENTS_NAMESPACE = 'default';

/** Lives as long as the sandbox process: the simulated kubelet of the group's instances. */
let simulator: AsgNodeSimulator | undefined;

export async function seed(log: (line: string) => void): Promise<void> {
  process.env.MINION_MANAGER_CLUSTER_NAME = CLUSTER;
  process.env.MINION_MANAGER_REFRESH_INTERVAL_SECONDS = '5';
  process.env.MINION_MANAGER_STATUS_NAMESPACE = EVENTS_NAMESPACE;
  const kc = kubeConfigFromEnv();
  const clients = createAwsClients(awsClientConfig({ region: REGION }));
  const aws = createAwsPorts(clients, { cacheTtlMs: 0 });
  try {
    await aws.autoScaling.deleteGroup(GROUP, { forceDelete: true }).catch(() => false);
    await aws.ec2.deleteLaunchTemplate({ name: TEMPLATE }).catch(() => false);
    const lt = await aws.ec2.createLaunchTemplate({
      name: TEMPLATE,
      data: { ImageId: 'ami-12c6146b', InstanceType: 't3.medium' },
    });
    await setSpotPrices(
      ZONES.map((availabilityZone) => ({ availabilityZone, instanceType: 't3.medium', price: 0.0125 })),
    );
    await aws.autoScaling.createGroup({
      name: GROUP,
      minSize: 1,
      maxSize: 4,
      desiredCapacity: 2,
      mixedInstancesPolicy: {
        launchTemplate: { id: lt.id, version: '1' },
        overrides: [{ instanceType: 't3.medium' }],
        instancesDistribution: { onDemandBaseCapacity: 0, onDemandPercentageAboveBaseCapacity: 100 },
      },
      availabilityZones: ZONES,
      tags: [
        { key: 'KubernetesCluster', value: CLUSTER, propagateAtLaunch: false },
        { key: 'k8s-minion-manager', value: 'use-spot', propagateAtLaunch: false },
      ],
    });
    simulator = new AsgNodeSimulator({
      kubeConfig: kc,
      groups: [GROUP],
      region: REGION,
      pollIntervalMs: 1000,
      log,
    });
    await simulator.start();
    log(`group ${GROUP} (2 on-demand instances) tagged for cluster ${CLUSTER}; spot at 30 % of on-demand`);
    printGroupEvents(new KubeClient(kc), log);
    printGroupStatus(new KubeClient(kc), log);
  } finally {
    clients.destroy();
  }
}

/** Prints minion-manager's Events about the group once they appear (what the sandbox asserts on). */
function printGroupEvents(client: KubeClient, log: (line: string) => void): void {
  const seen = new Set<string>();
  const timer = setInterval(() => {
    void client
      .list<CoreV1Event>(ResourceTypes.Event, {
        namespace: EVENTS_NAMESPACE,
        fieldSelector: `involvedObject.name=${GROUP}`,
      })
      .then((list) => {
        for (const e of list.items) {
          const key = `${e.reason} ${e.message}`;
          if (seen.has(key)) continue;
          seen.add(key);
          log(`Event ${e.reason} on SpotPriceInfo ${GROUP}: ${e.message}`);
        }
      })
      .catch(() => undefined);
  }, 2000);
  timer.unref();
}

/** Prints the group's status entry (the ConfigMap minion-manager keeps) whenever it changes. */
function printGroupStatus(client: KubeClient, log: (line: string) => void): void {
  let last = '';
  const timer = setInterval(() => {
    void client
      .get<V1ConfigMap>(ResourceTypes.ConfigMap, EVENTS_NAMESPACE, 'minion-manager-status')
      .then((cm) => {
        const raw = cm?.data?.[GROUP];
        if (!raw) return;
        const s = JSON.parse(raw) as Record<string, unknown>;
        const line = `status of ${GROUP}: market=${String(s.market)} decision=${String(s.decision)} spot=${String(s.spotInstances)} on-demand=${String(s.onDemandInstances)}`;
        if (line === last) return;
        last = line;
        log(line);
      })
      .catch(() => undefined);
  }, 2000);
  timer.unref();
}
