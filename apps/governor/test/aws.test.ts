// The node reaper's AWS port: a running instance's description is reused for a while (a sweep of a
// large cluster describes only what is new or not running), a terminated one never.
import { describe, expect, it } from '@jest/globals';
import type { AutoScalingPort, Ec2Instance, Ec2Port } from '@keiko/aws';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { AwsNodeReaperPorts, RUNNING_INSTANCE_TTL_MS } from '../src/node/aws';

function fakeEc2(states: Record<string, string>): { port: Ec2Port; asked: string[][] } {
  const asked: string[][] = [];
  const port = {
    describeInstances: (ids: readonly string[]) => {
      asked.push([...ids]);
      return Promise.resolve(
        ids
          .filter((id) => states[id])
          .map((id): Ec2Instance => ({
            id,
            state: states[id] ?? '',
            tags: { 'aws:autoscaling:groupName': 'g' },
          })),
      );
    },
  } as unknown as Ec2Port;
  return { port, asked };
}

describe('AwsNodeReaperPorts.instances', () => {
  it('reuses running instances within the TTL, re-describes the others and everything after it', async () => {
    let now = 1_000_000;
    const { port, asked } = fakeEc2({ 'i-1': 'running', 'i-2': 'terminated' });
    const aws = new AwsNodeReaperPorts(port, {} as EC2Client, {} as AutoScalingPort, () => now);
    const first = await aws.instances(['i-1', 'i-2', 'i-3']);
    expect(first.map((i) => [i.id, i.state, i.group])).toEqual([
      ['i-1', 'running', 'g'],
      ['i-2', 'terminated', 'g'],
    ]);
    now += 1000;
    await aws.instances(['i-1', 'i-2', 'i-3']);
    expect(asked).toEqual([
      ['i-1', 'i-2', 'i-3'],
      ['i-2', 'i-3'],
    ]);
    now += RUNNING_INSTANCE_TTL_MS;
    await aws.instances(['i-1']);
    expect(asked.at(-1)).toEqual(['i-1']);
  });
});
