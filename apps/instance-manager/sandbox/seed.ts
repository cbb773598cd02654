// `npm run sandbox`: creates in the AWS emulator what examples/instance-manager/* refer to — an EKS cluster
// (my-eks-cluster), subnets and a node security group found by their Name tags, the node image as an SSM
// parameter — and runs the node simulator for their groups, so those examples reach Ready. The talk's
// own example (examples/talk/instancegroup-hello-world.yaml) keeps its EXAMPLE ids, which exist nowhere:
// it reports an error naming them.
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import { CreateClusterCommand, DescribeClusterCommand } from '@aws-sdk/client-eks';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { AwsAutoScaling, AwsEc2, AwsEks, awsClientConfig, createAwsClients, type AwsClients } from '@keiko/aws';
import { kubeConfigFromEnv } from '@keiko/testenv';
import { TAG_CLUSTER_NAME } from '../src/instancegroup/names';
import { AsgNodeSimulator } from './node-simulator';

export const SANDBOX_CLUSTER = 'my-eks-cluster';
export const SANDBOX_KUBERNETES_VERSION = '1.31';
export const SANDBOX_VPC_NAME = 'keiko-sandbox';
export const SANDBOX_SUBNETS = [
  { name: 'keiko-sandbox-a', cidr: '10.90.1.0/24', az: 'us-west-2a' },
  { name: 'keiko-sandbox-b', cidr: '10.90.2.0/24', az: 'us-west-2b' },
  { name: 'keiko-sandbox-c', cidr: '10.90.3.0/24', az: 'us-west-2c' },
];
export const SANDBOX_SECURITY_GROUP = 'keiko-sandbox-nodes';
export const SANDBOX_IMAGE_PARAMETER = '/keiko/sandbox/eks-node-ami';
/** Stands in for an EKS-optimized AMI; the emulator does not check images. */
export const SANDBOX_IMAGE_ID = 'ami-0c5a1b2c3d4e5f600';

async function ensureVpc(clients: AwsClients): Promise<string> {
  const found = await clients.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [SANDBOX_VPC_NAME] }] }));
  const existing = found.Vpcs?.[0]?.VpcId;
  if (existing) return existing;
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.90.0.0/16' }));
  const id = vpc.Vpc?.VpcId ?? '';
  await clients.ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'Name', Value: SANDBOX_VPC_NAME }] }));
  return id;
}

/** Idempotent: an emulator reused across sandbox runs keeps what an earlier run made. */
export async function seedNetwork(clients: AwsClients): Promise<{ vpcId: string; subnetIds: string[]; securityGroupId: string }> {
  const vpcId = await ensureVpc(clients);
  const subnetIds: string[] = [];
  for (const s of SANDBOX_SUBNETS) {
    const found = await clients.ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:Name', Values: [s.name] }, { Name: 'vpc-id', Values: [vpcId] }] }),
    );
    let id = found.Subnets?.[0]?.SubnetId;
    if (!id) {
      const created = await clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: s.cidr, AvailabilityZone: s.az }));
      id = created.Subnet?.SubnetId ?? '';
      await clients.ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'Name', Value: s.name }] }));
    }
    subnetIds.push(id);
  }
  const sgs = await clients.ec2.send(
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [SANDBOX_SECURITY_GROUP] }, { Name: 'vpc-id', Values: [vpcId] }] }),
  );
  let securityGroupId = sgs.SecurityGroups?.[0]?.GroupId;
  if (!securityGroupId) {
    const sg = await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: SANDBOX_SECURITY_GROUP, Description: 'sandbox worker nodes', VpcId: vpcId }));
    securityGroupId = sg.GroupId ?? '';
    await clients.ec2.send(new CreateTagsCommand({ Resources: [securityGroupId], Tags: [{ Key: 'Name', Value: SANDBOX_SECURITY_GROUP }] }));
  }
  return { vpcId, subnetIds, securityGroupId };
}

export async function seedCluster(clients: AwsClients, subnetIds: string[], securityGroupId: string): Promise<void> {
  try {
    await clients.eks.send(new DescribeClusterCommand({ name: SANDBOX_CLUSTER }));
    return;
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
  await clients.eks.send(
    new CreateClusterCommand({
      name: SANDBOX_CLUSTER,
      version: SANDBOX_KUBERNETES_VERSION,
      roleArn: 'arn:aws:iam::123456789012:role/keiko-sandbox-cluster',
      resourcesVpcConfig: { subnetIds, securityGroupIds: [securityGroupId] },
    }),
  );
}

export async function seedImage(clients: AwsClients): Promise<void> {
  await clients.ssm.send(new PutParameterCommand({ Name: SANDBOX_IMAGE_PARAMETER, Value: SANDBOX_IMAGE_ID, Type: 'String', Overwrite: true }));
}

export async function seed(log: (line: string) => void): Promise<void> {
  const clients = createAwsClients(awsClientConfig({ userAgentAppId: 'instance-manager-sandbox' }));
  const net = await seedNetwork(clients);
  await seedCluster(clients, net.subnetIds, net.securityGroupId);
  await seedImage(clients);
  log(
    `emulator: EKS cluster ${SANDBOX_CLUSTER} (${SANDBOX_KUBERNETES_VERSION}) in ${net.vpcId}; subnets ${SANDBOX_SUBNETS.map((s) => s.name).join(', ')}; ` +
      `security group ${SANDBOX_SECURITY_GROUP}; image ssm://${SANDBOX_IMAGE_PARAMETER}`,
  );
  const autoScaling = new AwsAutoScaling(clients.autoScaling);
  const eks = new AwsEks(clients.eks);
  const simulator = new AsgNodeSimulator({
    kubeConfig: kubeConfigFromEnv(),
    autoScaling,
    ec2: new AwsEc2(clients.ec2),
    eks,
    id: 'instance-manager-sandbox',
    groups: () => autoScaling.listGroups({ tags: { [TAG_CLUSTER_NAME]: SANDBOX_CLUSTER } }),
    nodegroups: async () => [{ cluster: SANDBOX_CLUSTER, name: `${SANDBOX_CLUSTER}-instance-manager-managed-workers` }],
    intervalMs: 2000,
    log,
  });
  simulator.start();
  log('node simulator: registering a simulated node (KWOK) per InService instance of the examples\' groups');
}
