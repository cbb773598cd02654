// The kubelet stand-in reads hand-written user data (test/fixtures/userdata, written from each
// bootstrap's documentation) as a kubelet would: these are the labels and taints a node registers with.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { instanceRuns } from '../src/asg-nodes';
import { kubeletRegistration, shellWords } from '../src/kubelet-registration';

const fixture = (name: string) =>
  fs.readFileSync(path.join(import.meta.dirname, 'fixtures/userdata', name), 'utf8');

describe('kubelet registration from user data', () => {
  it('Amazon Linux 2: the flags inside bootstrap.sh --kubelet-extra-args', () => {
    expect(kubeletRegistration(fixture('al2-bootstrap.sh'))).toEqual({
      labels: { team: 'data', 'node.kubernetes.io/role': 'workers' },
      taints: [
        { key: 'dedicated', value: 'data', effect: 'NoSchedule' },
        { key: 'spot', effect: 'PreferNoSchedule' },
      ],
      os: 'linux',
      bootstrap: 'bootstrap.sh',
    });
  });

  it('double quotes, a value after a space, repeated flags adding up; comments are no call', () => {
    expect(kubeletRegistration(fixture('al2-double-quoted.sh'))).toMatchObject({
      labels: { a: '1', b: '2' },
      taints: [{ key: 'gpu', value: 'true', effect: 'NoExecute' }],
    });
  });

  it('Amazon Linux 2023: spec.kubelet.flags of the application/node.eks.aws part', () => {
    expect(kubeletRegistration(fixture('al2023-nodeadm.mime'))).toEqual({
      labels: { team: 'data', 'node.kubernetes.io/role': 'workers' },
      taints: [{ key: 'dedicated', value: 'data', effect: 'NoSchedule' }],
      os: 'linux',
      bootstrap: 'nodeadm',
    });
    expect(kubeletRegistration(fixture('al2023-base64-part.mime'))).toMatchObject({
      labels: { 'zone-pinned': 'yes' },
      bootstrap: 'nodeadm',
    });
  });

  it('Bottlerocket: the node-labels and node-taints settings tables', () => {
    expect(kubeletRegistration(fixture('bottlerocket.toml'))).toEqual({
      labels: { team: 'data', 'node.kubernetes.io/role': 'rocket' },
      taints: [
        { key: 'dedicated', value: 'data', effect: 'NoSchedule' },
        { key: 'dedicated', value: 'data', effect: 'NoExecute' },
        { key: 'special', effect: 'PreferNoSchedule' },
      ],
      os: 'linux',
      bootstrap: 'bottlerocket',
    });
  });

  it('Windows: Start-EKSBootstrap.ps1 -KubeletExtraArgs, and a Windows node', () => {
    expect(kubeletRegistration(fixture('windows.ps1'))).toEqual({
      labels: { team: 'data' },
      taints: [{ key: 'os', value: 'windows', effect: 'NoSchedule' }],
      os: 'windows',
      bootstrap: 'windows',
    });
  });

  it('user data that starts no kubelet with flags registers nothing of its own', () => {
    expect(kubeletRegistration(fixture('no-bootstrap.sh'))).toEqual({
      labels: {},
      taints: [],
      os: 'linux',
      bootstrap: 'none',
    });
    expect(kubeletRegistration('')).toMatchObject({ labels: {}, taints: [] });
  });

  it('the kubelet refuses labels in kubernetes.io it may not set, and malformed taints', () => {
    expect(() => kubeletRegistration(fixture('forbidden-label.sh'))).toThrow(
      /node-role\.kubernetes\.io\/worker/,
    );
    expect(() =>
      kubeletRegistration("/etc/eks/bootstrap.sh c --kubelet-extra-args '--register-with-taints=a=b'"),
    ).toThrow(/no valid effect/);
    expect(() =>
      kubeletRegistration(
        "/etc/eks/bootstrap.sh c --kubelet-extra-args '--node-labels=kubelet.kubernetes.io/x=1,topology.kubernetes.io/zone=z'",
      ),
    ).not.toThrow();
  });

  it('shell words as a POSIX shell splits them', () => {
    expect(shellWords(`a 'b c' "d \\"e\\"" f\\ g`)).toEqual(['a', 'b c', 'd "e"', 'f g']);
  });
});

describe('when an instance keeps its node', () => {
  it.each([
    ['InService', 'running', true],
    ['Terminating', 'running', true],
    ['Terminating:Wait', 'running', true],
    ['Terminating:Proceed', 'running', false],
    ['Terminated', 'terminated', false],
    [undefined, 'running', true],
    [undefined, 'shutting-down', false],
    [undefined, undefined, false],
    ['InService', 'stopped', false],
  ])('lifecycle %s, EC2 %s: %s', (lifecycle, ec2, runs) => {
    expect(instanceRuns(lifecycle, ec2)).toBe(runs);
  });
});
