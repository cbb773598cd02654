// The test cluster does what the controllers' tests rely on: simulated nodes turn Ready, the
// scheduler binds pods and KWOK runs them, evicted pods come back elsewhere, Jobs complete, the
// garbage collector follows ownerReferences, and the AWS emulator answers.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DescribeInstanceAttributeCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { createSimulatedNode, eventually, kubeConfigFromEnv } from '../src/index';

const kc = kubeConfigFromEnv();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
const policy = kc.makeApiClient(k8s.PolicyV1Api);
const ns = `testenv-${Date.now().toString(36)}`;
const nodeNames = [`${ns}-a`, `${ns}-b`];

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const [i, name] of nodeNames.entries()) {
    await createSimulatedNode(kc, {
      name,
      zone: `us-west-2${'ab'[i]}`,
      providerID: `aws:///us-west-2a/i-${ns}-${i}`,
      labels: { 'keiko.io/test-ns': ns },
    });
  }
  // The namespace's default ServiceAccount comes from the controller-manager; pods need it.
  await eventually('default service account', async () =>
    (await core.listNamespacedServiceAccount({ namespace: ns })).items.find(
      (s) => s.metadata?.name === 'default',
    ),
  );
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns });
  for (const name of nodeNames) await core.deleteNode({ name }).catch(() => undefined);
});

describe('test cluster', () => {
  it('reports the pinned Kubernetes version', async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.(3[0-9])\./);
  });

  it('registers simulated nodes Ready with their providerID', async () => {
    const node = await core.readNode({ name: nodeNames[0]! });
    expect(node.spec?.providerID).toBe(`aws:///us-west-2a/i-${ns}-0`);
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('runs a Deployment on simulated nodes and recreates an evicted pod', async () => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              nodeSelector: { 'keiko.io/test-ns': ns },
              containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }],
            },
          },
        },
      },
    });
    const running = await eventually('2 running pods', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
      const ok = pods.filter((p) => p.status?.phase === 'Running' && p.spec?.nodeName);
      return ok.length === 2 ? ok : undefined;
    });
    expect(nodeNames).toContain(running[0]!.spec!.nodeName);

    const victim = running[0]!.metadata!.name!;
    await core.createNamespacedPodEviction({
      name: victim,
      namespace: ns,
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: victim, namespace: ns } },
    });
    await eventually('a replacement pod Running', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
      const ok = pods.filter(
        (p) => p.status?.phase === 'Running' && p.metadata?.name !== victim && !p.metadata?.deletionTimestamp,
      );
      return ok.length === 2 ? ok : undefined;
    });
    await eventually('the evicted pod gone', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
      return pods.some((p) => p.metadata?.name === victim) ? undefined : true;
    });
  });

  it('refuses an eviction that a PodDisruptionBudget forbids', async () => {
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
      },
    });
    await eventually('the PDB observed', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns });
      return pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.currentHealthy === 2
        ? pdb
        : undefined;
    });
    const pod = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items[0]!;
    const name = pod.metadata!.name!;
    await expect(
      core.createNamespacedPodEviction({ name, namespace: ns, body: { metadata: { name, namespace: ns } } }),
    ).rejects.toMatchObject({ code: 429 });
  });

  it('completes a Job and garbage-collects its pods with it', async () => {
    await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name: 'once' },
        spec: {
          template: {
            spec: {
              restartPolicy: 'Never',
              nodeSelector: { 'keiko.io/test-ns': ns },
              containers: [{ name: 'once', image: 'registry.k8s.io/pause:3.10' }],
            },
          },
        },
      },
    });
    await eventually('job succeeded', async () => {
      const job = await batch.readNamespacedJob({ name: 'once', namespace: ns });
      return (job.status?.succeeded ?? 0) >= 1 ? job : undefined;
    });
    await batch.deleteNamespacedJob({ name: 'once', namespace: ns, propagationPolicy: 'Background' });
    await eventually('job pods collected', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=once' })).items;
      return pods.length === 0 ? true : undefined;
    });
  });

  it('serves the AWS emulator: an Auto Scaling group launches its instances', async () => {
    expect(process.env.AWS_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ec2 = new EC2Client({});
    const asg = new AutoScalingClient({});
    const lt = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: ns,
        LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 'm5.large' },
      }),
    );
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: ns,
        LaunchTemplate: { LaunchTemplateId: lt.LaunchTemplate!.LaunchTemplateId!, Version: '$Latest' },
        MinSize: 2,
        MaxSize: 2,
        AvailabilityZones: ['us-west-2a'],
      }),
    );
    const described = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ns] }));
    const instances = described.AutoScalingGroups?.[0]?.Instances ?? [];
    expect(instances).toHaveLength(2);
    expect(instances.every((i) => i.LifecycleState === 'InService' && i.InstanceId?.startsWith('i-'))).toBe(
      true,
    );
  });

  it('launches from a launch template version made by CreateLaunchTemplateVersion, with its user data', async () => {
    // moto alone answers HTTP 500 here (packages/testenv/moto/server.py fixes it).
    const ec2 = new EC2Client({});
    const asg = new AutoScalingClient({});
    const name = `${ns}-v2`;
    const userData = (text: string) => Buffer.from(text).toString('base64');
    const lt = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        LaunchTemplateData: {
          ImageId: 'ami-12c6146b',
          InstanceType: 'm5.large',
          UserData: userData('#!/bin/bash\necho v1\n'),
        },
      }),
    );
    const id = lt.LaunchTemplate!.LaunchTemplateId!;
    const v2 = await ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: id,
        LaunchTemplateData: {
          ImageId: 'ami-12c6146b',
          InstanceType: 'm5.xlarge',
          UserData: userData('#!/bin/bash\necho v2\n'),
        },
      }),
    );
    expect(v2.LaunchTemplateVersion?.VersionNumber).toBe(2);
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        LaunchTemplate: { LaunchTemplateId: id, Version: '2' },
        MinSize: 1,
        MaxSize: 1,
        AvailabilityZones: ['us-west-2a'],
      }),
    );
    const described = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
    const instance = described.AutoScalingGroups?.[0]?.Instances?.[0];
    expect(instance?.InstanceType).toBe('m5.xlarge');
    const attr = await ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: instance?.InstanceId, Attribute: 'userData' }),
    );
    expect(Buffer.from(attr.UserData?.Value ?? '', 'base64').toString()).toBe('#!/bin/bash\necho v2\n');
  });
});
