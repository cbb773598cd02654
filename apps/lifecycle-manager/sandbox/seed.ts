// Sandbox seed for lifecycle-manager (run by scripts/sandbox.ts before the controllers start): an SQS
// queue `lifecycle-manager`, an Auto Scaling group `lifecycle-demo` of 2 instances with a TERMINATING hook
// notifying that queue (the emulator's launcher fires hooks as AWS does), the harness's AsgNodeSimulator as
// the kubelet stand-in of its instances, and then one instance terminated: it waits in Terminating:Wait,
// its notification waits in the queue, and lifecycle-manager, once started, drains its node, completes the
// action ("lifecycle action completed" in its log) and deletes the Node.
//
// The queue name reaches lifecycle-manager through KEIKO_QUEUE_NAME (the sandbox starts every app with the
// same flags and this process's environment). Every run starts from scratch.
import type * as k8s from '@kubernetes/client-node';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
} from '@aws-sdk/client-sqs';
import { awsClientConfig, createAwsClients, createAwsPorts } from '@keiko/aws';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { ASG_NODE_LABEL, AsgNodeSimulator, eventually, kubeConfigFromEnv } from '@keiko/testenv';

const GROUP = 'lifecycle-demo';
const TEMPLATE = 'lifecycle-demo';
const QUEUE = 'lifecycle-manager';
const REGION = 'us-west-2';

let simulator: AsgNodeSimulator | undefined;

/**
 * Reports, for the sandbox's output (e2e/sandbox asserts it), what lifecycle-manager did with the terminated
 * instance: once its Node carries lifecycle-manager's NodeDrained Event, the Node is gone and the instance
 * has left its group (the lifecycle action completed), one line says so. Observes only; acts on nothing.
 */
function watch(client: KubeClient, node: string, instance: string, log: (line: string) => void): void {
  const aws = createAwsPorts(createAwsClients(awsClientConfig({ region: REGION })), { cacheTtlMs: 0 });
  const timer = setInterval(() => {
    void (async () => {
      const events = await client.list<k8s.CoreV1Event>(ResourceTypes.Event, {
        namespace: 'default',
        fieldSelector: `involvedObject.name=${node}`,
      });
      const drained = events.items.find(
        (e) => e.reason === 'NodeDrained' && e.source?.component === 'lifecycle-manager',
      );
      if (!drained || (await client.get(ResourceTypes.Node, undefined, node))) return;
      const group = await aws.autoScaling.describeGroup(GROUP);
      if (group?.instances.some((i) => i.id === instance)) return;
      clearInterval(timer);
      log(
        `instance ${instance} left gracefully: node ${node} drained and deleted by lifecycle-manager, lifecycle action completed`,
      );
    })().catch(() => undefined);
  }, 2000);
  timer.unref();
}

export async function seed(log: (line: string) => void): Promise<void> {
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  const clients = createAwsClients(awsClientConfig({ region: REGION }));
  const aws = createAwsPorts(clients, { cacheTtlMs: 0 });
  try {
    await aws.autoScaling.deleteGroup(GROUP, { forceDelete: true });
    const old = await aws.ec2.describeLaunchTemplate({ name: TEMPLATE });
    if (old) await aws.ec2.deleteLaunchTemplate({ id: old.id });
    const oldQueue = await clients.sqs
      .send(new GetQueueUrlCommand({ QueueName: QUEUE }))
      .catch(() => undefined);
    if (oldQueue?.QueueUrl) await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: oldQueue.QueueUrl }));
    const q = await clients.sqs.send(new CreateQueueCommand({ QueueName: QUEUE }));
    const attrs = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    process.env.KEIKO_QUEUE_NAME = QUEUE;

    const lt = await aws.ec2.createLaunchTemplate({
      name: TEMPLATE,
      data: { ImageId: 'ami-12c6146b', InstanceType: 't3.medium' },
    });
    await aws.autoScaling.createGroup({
      name: GROUP,
      minSize: 0,
      maxSize: 4,
      desiredCapacity: 2,
      launchTemplate: { id: lt.id, version: '1' },
      availabilityZones: [`${REGION}a`, `${REGION}b`],
    });
    await aws.autoScaling.putLifecycleHook({
      groupName: GROUP,
      hookName: 'lifecycle-manager',
      transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      heartbeatTimeoutSeconds: 300,
      defaultResult: 'CONTINUE',
      notificationTargetArn: attrs.Attributes?.QueueArn ?? '',
      roleArn: 'arn:aws:iam::123456789012:role/lifecycle-manager-hooks',
    });
    simulator = new AsgNodeSimulator({
      kubeConfig: kc,
      groups: [GROUP],
      region: REGION,
      bootDelayMs: 1000,
      pollIntervalMs: 1000,
      log,
    });
    await simulator.start();
    const nodes = await eventually(
      '2 nodes for the group',
      async () => {
        const list = (
          await client.list<k8s.V1Node>(ResourceTypes.Node, { labelSelector: `${ASG_NODE_LABEL}=${GROUP}` })
        ).items;
        return list.length === 2 ? list : undefined;
      },
      60_000,
    );
    const victim = nodes[0]?.spec?.providerID?.split('/').pop() ?? '';
    await aws.autoScaling.terminateInstanceInGroup(victim, { decrementDesired: true });
    log(
      `queue ${QUEUE}, group ${GROUP} (2 instances, TERMINATING hook to the queue); instance ${victim} terminated: it waits in Terminating:Wait for lifecycle-manager`,
    );
    watch(client, nodes[0]?.metadata?.name ?? '', victim, log);
  } finally {
    clients.destroy();
  }
}
