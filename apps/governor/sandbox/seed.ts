// Sandbox seed for governor (run by scripts/sandbox.ts before the controllers start). governor has no
// custom resource: what the sandbox shows is its node reaper sweeping and naming the node it would reap.
//
//  - Auto Scaling group `governor-demo` (3 instances) in the emulator, and the harness's AsgNodeSimulator
//    (the kubelet stand-in) registering a node per instance;
//  - then one of them "loses its kubelet": KWOK lets go of it (kwok.x-k8s.io/status=custom) and its Ready
//    has been Unknown for 20 minutes;
//  - governor runs in the sandbox as a DRY RUN, scoped to that group: the seed sets GOVERNOR_DRY_RUN=true
//    and GOVERNOR_NODE_SELECTOR in the environment the sandbox starts every app with. Other tools' examples
//    make nodes NotReady on purpose (rolling upgrades); a real run would race them. Its log then says
//    `dry run: would reap node <name>` and the node gets a DryRunReap Event, which the seed prints (the
//    sandbox prints only Events of Keiko resources; governor has none): `governor: Event DryRunReap ...`.
//
// Every run starts from scratch (a reused test cluster keeps the previous run's state).
import { awsClientConfig, createAwsClients, createAwsPorts } from '@keiko/aws';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { ASG_NODE_LABEL, AsgNodeSimulator, eventually, kubeConfigFromEnv } from '@keiko/testenv';
import type { CoreV1Event, V1Node } from '@kubernetes/client-node';

const GROUP = 'governor-demo';
const TEMPLATE = 'governor-demo';
const REGION = 'us-west-2';

/** Lives as long as the sandbox process: the simulated kubelet of the group's instances. */
let simulator: AsgNodeSimulator | undefined;

export async function seed(log: (line: string) => void): Promise<void> {
  process.env.GOVERNOR_DRY_RUN = 'true';
  process.env.GOVERNOR_NODE_SELECTOR = `${ASG_NODE_LABEL}=${GROUP}`;
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  const clients = createAwsClients(awsClientConfig({ region: REGION }));
  const aws = createAwsPorts(clients, { cacheTtlMs: 0 });
  try {
    await aws.autoScaling.deleteGroup(GROUP, { forceDelete: true }).catch(() => false);
    await aws.ec2.deleteLaunchTemplate({ name: TEMPLATE }).catch(() => false);
    const lt = await aws.ec2.createLaunchTemplate({
      name: TEMPLATE,
      data: { ImageId: 'ami-12c6146b', InstanceType: 't3.medium' },
    });
    await aws.autoScaling.createGroup({
      name: GROUP,
      minSize: 1,
      maxSize: 6,
      desiredCapacity: 3,
      launchTemplate: { id: lt.id, version: '1' },
      availabilityZones: [`${REGION}a`, `${REGION}b`, `${REGION}c`],
    });
    simulator = new AsgNodeSimulator({
      kubeConfig: kc,
      groups: [GROUP],
      region: REGION,
      pollIntervalMs: 1000,
      log,
    });
    await simulator.start();
    const nodes = await eventually(
      `3 nodes of ${GROUP}`,
      async () => {
        const list = await client.list<V1Node>(ResourceTypes.Node, {
          labelSelector: `${ASG_NODE_LABEL}=${GROUP}`,
        });
        return list.items.length >= 3 ? list.items : undefined;
      },
      60_000,
      500,
    );
    const victim = nodes[0]?.metadata?.name ?? '';
    await client.patch(ResourceTypes.Node, undefined, victim, {
      metadata: { annotations: { 'kwok.x-k8s.io/status': 'custom' } },
    });
    const since = new Date(Date.now() - 20 * 60_000).toISOString();
    const conditions = (nodes[0]?.status?.conditions ?? []).map((c) =>
      c.type === 'Ready'
        ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', lastTransitionTime: since }
        : c,
    );
    await client.patch(
      ResourceTypes.Node,
      undefined,
      victim,
      { status: { conditions } },
      {
        subresource: 'status',
        type: 'strategic',
      },
    );
    log(`node ${victim} of ${GROUP}: Ready Unknown for 20m (its kubelet "died"); governor runs as a dry run`);
    printGovernorEvents(victim, log);
  } finally {
    clients.destroy();
  }
}

/** Prints governor's Events about the node once they appear (what the sandbox asserts on). */
function printGovernorEvents(node: string, log: (line: string) => void): void {
  const client = new KubeClient(kubeConfigFromEnv());
  const seen = new Set<string>();
  const timer = setInterval(() => {
    void client
      .list<CoreV1Event>(ResourceTypes.Event, {
        namespace: 'default',
        fieldSelector: `involvedObject.name=${node}`,
      })
      .then((list) => {
        for (const e of list.items) {
          if (!(e.source?.component ?? e.reportingComponent ?? '').startsWith('governor')) continue;
          if (seen.has(e.reason ?? '')) continue;
          seen.add(e.reason ?? '');
          log(`Event ${e.reason} on node ${node}: ${e.message}`);
        }
      })
      .catch(() => undefined);
  }, 2000);
  timer.unref();
}
