// Sandbox seed for upgrade-manager (run by scripts/sandbox.ts before the controllers start and the
// examples are applied): the AWS and cluster state the Keiko talk's RollingUpgrade expects, so that
// examples/talk/rollingupgrade-my-rolling-upgrade.yaml, applied as written, starts rolling at once.
//
//  - launch template `my-launch-template`, Auto Scaling group `my-auto-scaling-group` (3 instances)
//    on its version 1, in the emulator (AWS_ENDPOINT_URL), region us-west-2 as the example says;
//  - the harness's AsgNodeSimulator, the kubelet stand-in: a simulated node per instance, joining 3 s
//    after the instance is InService, removed once the instance is terminated — kept running for
//    as long as the sandbox runs;
//  - a Deployment `shop/web` (3 pods on those nodes) with a PodDisruptionBudget (maxUnavailable 1);
//  - then version 2 of the template, and the group pointed at it: the 3 instances are drifted.
//
// Every run starts from scratch (a reused test cluster keeps the previous run's state).
import type * as k8s from '@kubernetes/client-node';
import { RollingUpgradeKind, type RollingUpgrade } from '@keiko/api';
import { awsClientConfig, createAwsClients, createAwsPorts } from '@keiko/aws';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import {
  ASG_NODE_LABEL,
  AsgNodeSimulator,
  createNamespace,
  eventually,
  kubeConfigFromEnv,
} from '@keiko/testenv';

const GROUP = 'my-auto-scaling-group';
const TEMPLATE = 'my-launch-template';
const REGION = 'us-west-2';
const SHOP = 'shop';

/** Lives as long as the sandbox process: it is the simulated kubelet of the group's instances. */
let simulator: AsgNodeSimulator | undefined;

export async function seed(log: (line: string) => void): Promise<void> {
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  const clients = createAwsClients(awsClientConfig({ region: REGION }));
  const aws = createAwsPorts(clients, { cacheTtlMs: 0 });
  try {
    await reset(client, aws);

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
      bootDelayMs: 3000,
      pollIntervalMs: 1000,
      log,
    });
    await simulator.start();
    await eventually(
      '3 Ready nodes for the group',
      async () => {
        const nodes = (
          await client.list<k8s.V1Node>(ResourceTypes.Node, { labelSelector: `${ASG_NODE_LABEL}=${GROUP}` })
        ).items;
        return (
          nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
            .length === 3
        );
      },
      60_000,
    );
    log(
      `Auto Scaling group ${GROUP}: 3 instances on ${TEMPLATE} version 1, each a simulated node (harness: AsgNodeSimulator plays the kubelet)`,
    );

    await workload(client);
    log(`Deployment ${SHOP}/web: 3 pods on the group's nodes, PodDisruptionBudget maxUnavailable 1`);

    await aws.ec2.createLaunchTemplateVersion(
      { id: lt.id },
      { data: { ImageId: 'ami-12c6146b', InstanceType: 't3.large' }, sourceVersion: 1 },
    );
    // The emulator reports an instance's template version as the template's default version, and
    // tags instances with the default version at launch; making v2 the default keeps both truthful.
    await aws.ec2.setDefaultLaunchTemplateVersion({ id: lt.id }, 2);
    await aws.autoScaling.updateGroup(GROUP, { launchTemplate: { id: lt.id, version: '2' } });
    log(`${TEMPLATE} version 2 created and ${GROUP} pointed at it: its 3 instances are drifted`);
  } finally {
    clients.destroy();
  }
}

async function reset(client: KubeClient, aws: ReturnType<typeof createAwsPorts>): Promise<void> {
  await simulator?.stop();
  // RollingUpgrades a previous run left on this group (their status would say completed).
  const rus = await client
    .list<RollingUpgrade>(RollingUpgradeKind)
    .catch(() => ({ items: [] as RollingUpgrade[] }));
  for (const ru of rus.items.filter((r) => r.spec.asgName === GROUP)) {
    const ns = ru.metadata.namespace ?? '';
    const name = ru.metadata.name ?? '';
    await client
      .patch(RollingUpgradeKind, ns, name, { metadata: { finalizers: null } })
      .catch(() => undefined);
    await client.delete(RollingUpgradeKind, ns, name);
  }
  await aws.autoScaling.deleteGroup(GROUP, { forceDelete: true });
  const template = await aws.ec2.describeLaunchTemplate({ name: TEMPLATE });
  if (template) await aws.ec2.deleteLaunchTemplate({ id: template.id });
  const nodes = await client.list<k8s.V1Node>(ResourceTypes.Node, {
    labelSelector: `${ASG_NODE_LABEL}=${GROUP}`,
  });
  for (const n of nodes.items) await client.delete(ResourceTypes.Node, undefined, n.metadata?.name ?? '');
  if (await client.get(ResourceTypes.Namespace, undefined, SHOP)) {
    await client.delete(ResourceTypes.Deployment, SHOP, 'web');
    await client.delete(ResourceTypes.PodDisruptionBudget, SHOP, 'web');
  }
}

async function workload(client: KubeClient): Promise<void> {
  if (!(await client.get(ResourceTypes.Namespace, undefined, SHOP)))
    await createNamespace(SHOP, { exact: true });
  const labels = { app: 'web' };
  await client.create(ResourceTypes.Deployment, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: SHOP },
    spec: {
      replicas: 3,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { [ASG_NODE_LABEL]: GROUP },
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: labels },
            },
          ],
          terminationGracePeriodSeconds: 5,
          containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  } as k8s.V1Deployment);
  await client.create(ResourceTypes.PodDisruptionBudget, {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'web', namespace: SHOP },
    // AlwaysAllow: a pod that is not Ready anyway may be evicted; healthy ones are kept by the budget.
    spec: { selector: { matchLabels: labels }, maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
  } as k8s.V1PodDisruptionBudget);
  await eventually(
    '3 web pods Running',
    async () => {
      const pods = await client.list<k8s.V1Pod>(ResourceTypes.Pod, {
        namespace: SHOP,
        labelSelector: 'app=web',
      });
      return (
        pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp).length === 3
      );
    },
    60_000,
  );
}
