// The kubelet stand-in against the test cluster and the AWS emulator: a node per InService instance,
// registered with what the instance's user data asks the kubelet for; gone once the instance is.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, EC2Client } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { AsgNodeSimulator, ASG_NODE_LABEL, INSTANCE_ANNOTATION } from '../src/asg-nodes';
import { eventually } from '../src/eventually';
import { kubeConfigFromEnv } from '../src/kubeconfig';
import { isNodeReady, registeredTaints } from '../src/nodes';

const aws = { region: process.env.AWS_REGION ?? 'us-west-2', endpoint: process.env.AWS_ENDPOINT_URL };
const asg = new AutoScalingClient(aws);
const ec2 = new EC2Client(aws);
// Longer than a label value may be (as CloudFormation's group names are): the group is in an annotation.
const group = `sim-${Date.now().toString(36)}-${'x'.repeat(60)}`;
const userData = [
  '#!/bin/bash',
  "/etc/eks/bootstrap.sh my-cluster --kubelet-extra-args '--node-labels=team=data --register-with-taints=dedicated=data:NoSchedule'",
].join('\n');
let simulator: AsgNodeSimulator;

beforeAll(async () => {
  const lt = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: group.slice(0, 100),
      LaunchTemplateData: {
        ImageId: 'ami-ekslinux',
        InstanceType: 't3.medium',
        UserData: Buffer.from(userData).toString('base64'),
      },
    }),
  );
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: group,
      MinSize: 0,
      MaxSize: 3,
      DesiredCapacity: 2,
      LaunchTemplate: { LaunchTemplateId: lt.LaunchTemplate?.LaunchTemplateId, Version: '1' },
      AvailabilityZones: ['us-west-2a'],
    }),
  );
  simulator = await new AsgNodeSimulator({
    kubeConfig: kubeConfigFromEnv(),
    groups: [group],
    pollIntervalMs: 300,
  }).start();
});

afterAll(async () => {
  await simulator?.stop({ deleteNodes: true });
  await asg.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: group, ForceDelete: true }));
  asg.destroy();
  ec2.destroy();
});

const core = kubeConfigFromEnv().makeApiClient(k8s.CoreV1Api);
const nodes = async (): Promise<k8s.V1Node[]> =>
  (await core.listNode({ labelSelector: simulator.selector })).items.filter(
    (n) => n.metadata?.annotations?.[ASG_NODE_LABEL] === group,
  );

describe('AsgNodeSimulator', () => {
  it('registers a Ready node per InService instance, with the kubelet labels and the user data flags', async () => {
    const ready = await eventually(
      'two Ready nodes',
      async () => {
        const list = await nodes();
        return list.length === 2 && list.every(isNodeReady) ? list : undefined;
      },
      60_000,
      300,
    );
    for (const n of ready) {
      const id = n.metadata?.annotations?.[INSTANCE_ANNOTATION] ?? '';
      expect(id).toMatch(/^i-/);
      expect(n.spec?.providerID).toBe(`aws:///us-west-2a/${id}`);
      expect(n.metadata?.name).toMatch(/^ip-.*\.internal$/);
      expect(n.metadata?.labels).toMatchObject({
        'kubernetes.io/hostname': n.metadata?.name,
        'kubernetes.io/os': 'linux',
        'topology.kubernetes.io/zone': 'us-west-2a',
        'topology.kubernetes.io/region': 'us-west-2',
        'node.kubernetes.io/instance-type': 't3.medium',
        team: 'data',
      });
      expect(registeredTaints(n)).toMatchObject([{ key: 'dedicated', value: 'data', effect: 'NoSchedule' }]);
      expect(simulator.nodeFor(id)).toBe(n.metadata?.name);
      expect(n.metadata?.labels?.[ASG_NODE_LABEL]).toBeUndefined();
    }
  });

  it('removes the node of an instance that was terminated', async () => {
    await asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: group, DesiredCapacity: 1 }));
    // The simulator counts a deletion once its DELETE call returned: wait for both, not one then the other.
    await eventually(
      'one node left, deleted by the simulator',
      async () => (await nodes()).length === 1 && simulator.counts.deleted >= 1,
      60_000,
      300,
    );
    expect(simulator.counts.deleted).toBeGreaterThanOrEqual(1);
  });
});
