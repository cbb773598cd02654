// The AWS emulator's fixtures for node tools: what examples/instance-manager/* refer to — an EKS cluster
// (my-eks-cluster), subnets and a node security group found by their Name tags, node images as SSM
// parameters. Shared by the sandbox, the instance-manager tests, the e2e suites and the benchmarks; every
// seed is idempotent and safe to run from processes side by side.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateClusterCommand, DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';

/** The SDK clients a seed uses (@keiko/aws's AwsClients is one). */
export interface SeedClients {
  ec2: EC2Client;
  eks: EKSClient;
  ssm: SSMClient;
}

/** SDK client settings for the emulator: AWS_ENDPOINT_URL and AWS_REGION (default us-west-2). */
export function emulatorConfig(opts: { region?: string; endpoint?: string } = {}) {
  const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL;
  return {
    region: opts.region ?? process.env.AWS_REGION ?? 'us-west-2',
    ...(endpoint ? { endpoint } : {}),
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'testing',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'testing',
    },
  };
}

/** SDK clients for the emulator (emulatorConfig); destroy() when done. */
export function emulatorClients(): SeedClients & { destroy(): void } {
  const config = emulatorConfig();
  const clients = { ec2: new EC2Client(config), eks: new EKSClient(config), ssm: new SSMClient(config) };
  return {
    ...clients,
    destroy: () => Object.values(clients).forEach((c) => c.destroy()),
  };
}

/** Network, cluster and images in one call (what a test of a node tool needs before its groups). */
export async function seedNodeToolFixtures(
  clients: SeedClients,
): Promise<{ vpcId: string; subnetIds: string[]; securityGroupId: string }> {
  const net = await seedNetwork(clients);
  await seedCluster(clients, net.subnetIds, net.securityGroupId);
  await seedImage(clients);
  return net;
}

export const SANDBOX_CLUSTER = 'my-eks-cluster';
export const SANDBOX_KUBERNETES_VERSION = '1.31';
export const SANDBOX_VPC_NAME = 'keiko-sandbox';
/**
 * /20s: moto never gives a terminated instance's address back, and one `npm test` run (every suite sharing
 * one emulator) launches several hundred instances — a /24 runs out.
 */
export const SANDBOX_SUBNETS = [
  { name: 'keiko-sandbox-a', cidr: '10.90.0.0/20', az: 'us-west-2a' },
  { name: 'keiko-sandbox-b', cidr: '10.90.16.0/20', az: 'us-west-2b' },
  { name: 'keiko-sandbox-c', cidr: '10.90.32.0/20', az: 'us-west-2c' },
];
export const SANDBOX_SECURITY_GROUP = 'keiko-sandbox-nodes';
export const SANDBOX_IMAGE_PARAMETER = '/keiko/sandbox/eks-node-ami';
/**
 * The node image: one of the AMIs moto loads into every region at start (moto/ec2/resources/amis.json,
 * "amazon-eks-node-linux", x86_64, available), so the controller's image check finds it. Starting moto with
 * MOTO_EC2_LOAD_DEFAULT_AMIS=false would remove it.
 */
export const SANDBOX_IMAGE_ID = 'ami-ekslinux';
/**
 * Node images of the other operating system families (os-family annotation), as SSM parameters like the
 * one above (`/aws/service/...` parameters cannot be put in moto, so `image: latest` cannot resolve here).
 * moto has no Bottlerocket AMI: its parameter holds the same stand-in Linux image (the emulator boots
 * nothing; the user data decides what the simulated node registers). Windows gets moto's EKS-optimized
 * Windows AMI.
 */
export const SANDBOX_BOTTLEROCKET_IMAGE_PARAMETER = '/keiko/sandbox/bottlerocket-node-ami';
export const SANDBOX_WINDOWS_IMAGE_PARAMETER = '/keiko/sandbox/windows-node-ami';
export const SANDBOX_WINDOWS_IMAGE_ID = 'ami-ekswin';

/**
 * Seeding is look-then-create, and test files run side by side in several processes against one emulator:
 * without this, two of them each create "the" VPC, or the cluster twice. A lock directory per emulator
 * endpoint serializes them (a holder that died leaves it behind; it is taken over after 30 s).
 */
async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
  const key = createHash('md5')
    .update(process.env.AWS_ENDPOINT_URL ?? 'aws')
    .digest('hex')
    .slice(0, 12);
  const lock = path.join(os.tmpdir(), `keiko-seed-${key}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > 30_000) fs.rmSync(lock, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`timed out waiting for the emulator seed lock ${lock}`);
    else await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Idempotent and safe to call from processes running side by side. */
export function seedNetwork(
  clients: SeedClients,
): Promise<{ vpcId: string; subnetIds: string[]; securityGroupId: string }> {
  return exclusively(() => seedNetworkNow(clients));
}

/** Idempotent and safe to call from processes running side by side. `name`: another cluster than the sandbox's. */
export function seedCluster(
  clients: SeedClients,
  subnetIds: string[],
  securityGroupId: string,
  name: string = SANDBOX_CLUSTER,
): Promise<void> {
  return exclusively(() => seedClusterNow(clients, subnetIds, securityGroupId, name));
}

async function ensureVpc(clients: SeedClients): Promise<string> {
  const found = await clients.ec2.send(
    new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [SANDBOX_VPC_NAME] }] }),
  );
  const existing = found.Vpcs?.[0]?.VpcId;
  if (existing) return existing;
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.90.0.0/16' }));
  const id = vpc.Vpc?.VpcId ?? '';
  await clients.ec2.send(
    new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'Name', Value: SANDBOX_VPC_NAME }] }),
  );
  return id;
}

/** Idempotent: an emulator reused across sandbox runs keeps what an earlier run made. */
async function seedNetworkNow(
  clients: SeedClients,
): Promise<{ vpcId: string; subnetIds: string[]; securityGroupId: string }> {
  const vpcId = await ensureVpc(clients);
  const subnetIds: string[] = [];
  for (const s of SANDBOX_SUBNETS) {
    const found = await clients.ec2.send(
      new DescribeSubnetsCommand({
        Filters: [
          { Name: 'tag:Name', Values: [s.name] },
          { Name: 'vpc-id', Values: [vpcId] },
        ],
      }),
    );
    let id = found.Subnets?.[0]?.SubnetId;
    if (!id) {
      const created = await clients.ec2.send(
        new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: s.cidr, AvailabilityZone: s.az }),
      );
      id = created.Subnet?.SubnetId ?? '';
      await clients.ec2.send(
        new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'Name', Value: s.name }] }),
      );
    }
    subnetIds.push(id);
  }
  const sgs = await clients.ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [
        { Name: 'group-name', Values: [SANDBOX_SECURITY_GROUP] },
        { Name: 'vpc-id', Values: [vpcId] },
      ],
    }),
  );
  let securityGroupId = sgs.SecurityGroups?.[0]?.GroupId;
  if (!securityGroupId) {
    const sg = await clients.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: SANDBOX_SECURITY_GROUP,
        Description: 'sandbox worker nodes',
        VpcId: vpcId,
      }),
    );
    securityGroupId = sg.GroupId ?? '';
    await clients.ec2.send(
      new CreateTagsCommand({
        Resources: [securityGroupId],
        Tags: [{ Key: 'Name', Value: SANDBOX_SECURITY_GROUP }],
      }),
    );
  }
  return { vpcId, subnetIds, securityGroupId };
}

async function seedClusterNow(
  clients: SeedClients,
  subnetIds: string[],
  securityGroupId: string,
  name: string,
): Promise<void> {
  try {
    await clients.eks.send(new DescribeClusterCommand({ name }));
    return;
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
  await clients.eks.send(
    new CreateClusterCommand({
      name,
      version: SANDBOX_KUBERNETES_VERSION,
      roleArn: 'arn:aws:iam::123456789012:role/keiko-sandbox-cluster',
      resourcesVpcConfig: { subnetIds, securityGroupIds: [securityGroupId] },
    }),
  );
}

export async function seedImage(clients: SeedClients): Promise<void> {
  await clients.ssm.send(
    new PutParameterCommand({
      Name: SANDBOX_IMAGE_PARAMETER,
      Value: SANDBOX_IMAGE_ID,
      Type: 'String',
      Overwrite: true,
    }),
  );
  await clients.ssm.send(
    new PutParameterCommand({
      Name: SANDBOX_BOTTLEROCKET_IMAGE_PARAMETER,
      Value: SANDBOX_IMAGE_ID,
      Type: 'String',
      Overwrite: true,
    }),
  );
  await clients.ssm.send(
    new PutParameterCommand({
      Name: SANDBOX_WINDOWS_IMAGE_PARAMETER,
      Value: SANDBOX_WINDOWS_IMAGE_ID,
      Type: 'String',
      Overwrite: true,
    }),
  );
}
