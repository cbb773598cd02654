// Runnable example against the AWS emulator (see README "Try it"): builds the clients and ports the way
// a controller's main.ts does, creates a launch template and an ASG, rolls the group to a new template
// version and reports which instances are drifted. Cleans up after itself.
import { Registry } from 'prom-client';
import {
  AwsMetrics,
  awsClientConfig,
  createAwsClients,
  createAwsPorts,
  driftedInstances,
  launchTemplatesToResolve,
} from '../src/index';

const registry = new Registry(); // in a controller: the runtime's registry served on /metrics
const metrics = new AwsMetrics({ registry });
const clients = createAwsClients(awsClientConfig({ userAgentAppId: 'example' }), { metrics });
const { autoScaling, ec2 } = createAwsPorts(clients);

const name = `keiko-example-${Date.now().toString(36)}`;
try {
  const template = await ec2.createLaunchTemplate({
    name,
    data: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' },
  });
  await ec2.createLaunchTemplateVersion(
    { id: template.id },
    { data: { ImageId: 'ami-12c6146b', InstanceType: 't3.small' } },
  );
  await autoScaling.createGroup({
    name,
    minSize: 0,
    maxSize: 3,
    desiredCapacity: 2,
    launchTemplate: { id: template.id, version: '1' },
    availabilityZones: ['us-west-2a'],
  });

  // The rollout: point the group at $Latest (version 2). Every instance still runs version 1.
  await autoScaling.updateGroup(name, { launchTemplate: { id: template.id, version: '$Latest' } });

  const group = await autoScaling.describeGroup(name);
  if (!group) throw new Error(`group ${name} vanished`);
  const resolved = await Promise.all(
    launchTemplatesToResolve(group).map((ref) => ec2.resolveLaunchTemplateVersion({ ...ref })),
  );
  const drifted = driftedInstances(group, resolved);
  console.log(`group ${name}: ${drifted.length}/${group.instances.length} instances drifted`);
  for (const instance of drifted) console.log(`  ${instance.id} ${instance.launchTemplate?.version ?? '?'}`);

  await autoScaling.deleteGroup(name, { forceDelete: true });
  await ec2.deleteLaunchTemplate({ id: template.id });
} finally {
  console.log(`aws_calls=${metrics.callCount()} throttles=${metrics.throttleCount()}`);
  clients.destroy();
}
