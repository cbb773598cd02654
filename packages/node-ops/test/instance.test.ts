import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import {
  formatProviderId,
  instanceIdOfNode,
  InvalidProviderIdError,
  nodesByInstanceId,
  parseProviderId,
} from '../src/instance';

const node = (name: string, providerID?: string): V1Node => ({
  metadata: { name },
  spec: providerID ? { providerID } : {},
});

describe('parseProviderId', () => {
  it.each([
    ['aws:///us-west-2a/i-0abc', { zone: 'us-west-2a', instanceId: 'i-0abc' }],
    ['aws:///us-west-2a/i-0123456789abcdef0', { zone: 'us-west-2a', instanceId: 'i-0123456789abcdef0' }],
    ['aws:///us-west-2-lax-1a/i-12345678', { zone: 'us-west-2-lax-1a', instanceId: 'i-12345678' }],
    ['aws:///i-0abc', { instanceId: 'i-0abc' }],
  ])('parses %s', (input, expected) => {
    expect(parseProviderId(input)).toEqual(expected);
  });

  it.each([
    ['', /empty/],
    ['i-0abc', /start with aws:\/\//],
    ['gce://project/us-central1-a/vm-1', /start with aws:\/\//],
    ['kind://docker/kind/kind-worker', /start with aws:\/\//],
    ['aws://us-west-2a/i-0abc', /three slashes/],
    ['aws:///', /not an EC2 instance ID/],
    ['aws:///us-west-2a/', /not an EC2 instance ID/],
    ['aws:///us-west-2a/vol-0abc', /not an EC2 instance ID/],
    ['aws:///us-west-2a/fargate-ip-10-0-0-1', /not an EC2 instance ID/],
    ['aws:///us-west-2a/i-', /not an EC2 instance ID/],
    ['aws:///a/b/i-0abc', /expected aws:\/\/\/<zone>\/<instance-id> or/],
    ['aws:///US WEST/i-0abc', /not an availability zone/],
    ['aws:///us-west-2a/i-0abc ', /not an EC2 instance ID/],
  ])('rejects %j with a clear error', (input, message) => {
    expect(() => parseProviderId(input)).toThrow(InvalidProviderIdError);
    expect(() => parseProviderId(input)).toThrow(message);
  });

  it('names the bad providerID in the error', () => {
    expect(() => parseProviderId('aws:///x/y/z')).toThrow('invalid AWS providerID "aws:///x/y/z"');
  });

  it('round-trips with formatProviderId', () => {
    for (const id of [{ zone: 'eu-west-1b', instanceId: 'i-0f' }, { instanceId: 'i-0f' }]) {
      expect(parseProviderId(formatProviderId(id))).toEqual(id);
    }
  });
});

describe('instanceIdOfNode', () => {
  it('reads the instance from spec.providerID', () => {
    expect(instanceIdOfNode(node('a', 'aws:///us-west-2a/i-0abc'))).toBe('i-0abc');
  });
  it('is undefined for nodes that are not EC2 instances or have no providerID yet', () => {
    expect(instanceIdOfNode(node('a'))).toBeUndefined();
    expect(instanceIdOfNode(node('a', 'kind://docker/kind/kind-worker'))).toBeUndefined();
    expect(instanceIdOfNode(node('a', 'aws:///us-west-2a/fargate-ip-10-0-0-1'))).toBeUndefined();
  });
});

describe('nodesByInstanceId', () => {
  it('indexes mappable nodes and leaves the rest out', () => {
    const a = node('a', 'aws:///us-west-2a/i-0a');
    const b = node('b', 'aws:///i-0b');
    const map = nodesByInstanceId([a, b, node('c'), node('d', 'gce://x/y/z')]);
    expect([...map.keys()].sort()).toEqual(['i-0a', 'i-0b']);
    expect(map.get('i-0a')).toBe(a);
  });
  it('refuses two nodes claiming one instance, naming both', () => {
    expect(() => nodesByInstanceId([node('a', 'aws:///us-west-2a/i-0a'), node('b', 'aws:///i-0a')])).toThrow(
      /nodes a and b .* i-0a/,
    );
  });
});
