// Images and instance types: the EC2 port against the emulator (moto loads a set of public AMIs and the
// real instance type catalogue into every region), and CachedEc2's caching of both.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeregisterImageCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import {
  AwsEc2,
  CachedEc2,
  awsClientConfig,
  createAwsClients,
  type AwsClients,
  type Clock,
  type Ec2Image,
  type Ec2Port,
  type InstanceTypeInfo,
} from '../src/index';

let clients: AwsClients;
let ec2: AwsEc2;

beforeAll(() => {
  if (!process.env.AWS_ENDPOINT_URL)
    throw new Error('AWS_ENDPOINT_URL is not set: the jest global setup should have started the emulator');
  clients = createAwsClients(awsClientConfig());
  ec2 = new AwsEc2(clients.ec2);
});

afterAll(() => clients?.destroy());

describe('images against the emulator', () => {
  it('finds the images that exist, in the order asked, and leaves out the others without failing', async () => {
    // moto's built-in AMIs: amazon-eks-node-linux (x86_64) and an al2022 arm64 image.
    const found = await ec2.describeImages([
      'ami-0e9271c829888680e',
      'ami-fe2dc743aEXAMPLE',
      'ami-ekslinux',
      'not-an-ami',
      'ami-ekslinux',
    ]);
    expect(found.map((i) => [i.id, i.state, i.architecture])).toEqual([
      ['ami-0e9271c829888680e', 'available', 'arm64'],
      ['ami-ekslinux', 'available', 'x86_64'],
    ]);
    expect(found[1]?.name).toBe('amazon-eks-node-linux');
    expect(await ec2.describeImages(['ami-fe2dc743aEXAMPLE'])).toEqual([]);
    expect(await ec2.describeImages([])).toEqual([]);
  });

  it("finds the account's own images, and no longer once deregistered", async () => {
    const name = `keiko-aws-it-${Date.now().toString(36)}`;
    const out = await clients.ec2.send(new RegisterImageCommand({ Name: name }));
    const id = out.ImageId ?? '';
    try {
      expect((await ec2.describeImages([id])).map((i) => [i.id, i.name])).toEqual([[id, name]]);
    } finally {
      await clients.ec2.send(new DeregisterImageCommand({ ImageId: id }));
    }
    expect(await ec2.describeImages([id])).toEqual([]);
  });
});

describe('instance types against the emulator', () => {
  it('describes the named types the region offers, sorted, and leaves out unknown names', async () => {
    const types = await ec2.describeInstanceTypes(['m6g.xlarge', 'm5.xlarge', 'm5.xlargee']);
    expect(types).toEqual([
      expect.objectContaining({
        instanceType: 'm5.xlarge',
        vcpus: 4,
        memoryMiB: 16384,
        architectures: ['x86_64'],
      }),
      expect.objectContaining({
        instanceType: 'm6g.xlarge',
        vcpus: 4,
        memoryMiB: 16384,
        architectures: ['arm64'],
      }),
    ]);
    expect(types[0]?.usageClasses).toContain('on-demand');
    expect(await ec2.describeInstanceTypes([])).toEqual([]);
  });

  it('lists every type of the region when asked for none in particular', async () => {
    const all = await ec2.describeInstanceTypes();
    expect(all.length).toBeGreaterThan(500);
    const names = all.map((t) => t.instanceType);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(names).toEqual(expect.arrayContaining(['m5.xlarge', 'm5a.xlarge', 'm5d.xlarge', 'm5n.xlarge']));
  });
});

class ManualClock implements Clock {
  constructor(private ms = 1_000) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

describe('CachedEc2: images and instance types', () => {
  const image = (id: string, state = 'available'): Ec2Image => ({
    id,
    state,
    architecture: 'x86_64',
    tags: {},
  });
  const type = (instanceType: string): InstanceTypeInfo => ({
    instanceType,
    vcpus: 2,
    memoryMiB: 8192,
    architectures: ['x86_64'],
    usageClasses: ['on-demand'],
  });

  function recording(images: Ec2Image[], types: InstanceTypeInfo[]) {
    const calls: string[] = [];
    const inner = {
      describeImages: async (ids: readonly string[]) => {
        calls.push(`images ${ids.join(',')}`);
        return images.filter((i) => ids.includes(i.id));
      },
      describeInstanceTypes: async (names?: readonly string[]) => {
        calls.push(`types ${names ? names.join(',') : '*'}`);
        return names ? types.filter((t) => names.includes(t.instanceType)) : types;
      },
    } as unknown as Ec2Port;
    return { inner, calls };
  }

  it('keeps available images for a while; missing and pending ones are asked again every time', async () => {
    const clock = new ManualClock();
    const { inner, calls } = recording([image('ami-1'), image('ami-2', 'pending')], []);
    const cached = new CachedEc2(inner, { clock, imageTtlMs: 60_000 });
    expect((await cached.describeImages(['ami-1', 'ami-2', 'ami-3'])).map((i) => i.id)).toEqual([
      'ami-1',
      'ami-2',
    ]);
    expect((await cached.describeImages(['ami-1'])).map((i) => i.id)).toEqual(['ami-1']);
    expect((await cached.describeImages(['ami-2', 'ami-1', 'ami-3'])).map((i) => i.id)).toEqual([
      'ami-2',
      'ami-1',
    ]);
    expect(calls).toEqual(['images ami-1,ami-2,ami-3', 'images ami-2,ami-3']);
    clock.advance(60_001);
    await cached.describeImages(['ami-1']);
    expect(calls.at(-1)).toBe('images ami-1');
  });

  it('keeps instance types for hours, and answers questions about some types from the whole list', async () => {
    const clock = new ManualClock();
    const { inner, calls } = recording([], [type('m5.large'), type('m5a.large'), type('c5.large')]);
    const cached = new CachedEc2(inner, { clock });
    expect(
      (await cached.describeInstanceTypes(['m5a.large', 'm5.large'])).map((t) => t.instanceType),
    ).toEqual(['m5.large', 'm5a.large']);
    await cached.describeInstanceTypes(['m5.large', 'm5a.large']);
    expect(calls).toEqual(['types m5.large,m5a.large']);
    const [all, again] = await Promise.all([cached.describeInstanceTypes(), cached.describeInstanceTypes()]);
    expect(all).toHaveLength(3);
    expect(again).toBe(all);
    expect((await cached.describeInstanceTypes(['c5.large'])).map((t) => t.instanceType)).toEqual([
      'c5.large',
    ]);
    expect(calls).toEqual(['types m5.large,m5a.large', 'types *']);
    clock.advance(5 * 60 * 60_000);
    await cached.describeInstanceTypes();
    expect(calls).toHaveLength(2);
    clock.advance(60 * 60_000);
    await cached.describeInstanceTypes();
    expect(calls).toEqual(['types m5.large,m5a.large', 'types *', 'types *']);
  });
});
