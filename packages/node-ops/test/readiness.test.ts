import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import {
  isNodeReady,
  nodeMatchesReadinessGates,
  nodeNotReadyReason,
  unmetReadinessGates,
  type NodeReadinessGate,
} from '../src/readiness';
import { formatDuration } from '../src/duration';

const node = (ready: string | undefined, labels: Record<string, string> = {}): V1Node => ({
  metadata: { name: 'n1', labels },
  status: {
    conditions: [
      { type: 'MemoryPressure', status: 'False' },
      ...(ready
        ? [
            {
              type: 'Ready',
              status: ready,
              reason: ready === 'True' ? 'KubeletReady' : 'KubeletNotReady',
              message: 'PLEG is not healthy',
            },
          ]
        : []),
    ],
  },
});

describe('isNodeReady', () => {
  it('is the Ready condition being True', () => {
    expect(isNodeReady(node('True'))).toBe(true);
    expect(isNodeReady(node('False'))).toBe(false);
    expect(isNodeReady(node('Unknown'))).toBe(false);
    expect(isNodeReady(node(undefined))).toBe(false);
    expect(isNodeReady({ metadata: { name: 'bare' } })).toBe(false);
  });
});

describe('readiness gates', () => {
  const gates: NodeReadinessGate[] = [
    { matchLabels: { 'cni.example.com/ready': 'true' } },
    { matchLabels: { 'storage/ready': 'yes', zone: 'a' } },
  ];

  it('pass when the node carries every label of every gate', () => {
    expect(
      nodeMatchesReadinessGates(
        node('True', { 'cni.example.com/ready': 'true', 'storage/ready': 'yes', zone: 'a', x: 'y' }),
        gates,
      ),
    ).toBe(true);
  });

  it('fail when any label is missing or different, and say which', () => {
    const n = node('True', { 'cni.example.com/ready': 'true', 'storage/ready': 'no' });
    expect(nodeMatchesReadinessGates(n, gates)).toBe(false);
    expect(unmetReadinessGates(n, gates)).toEqual(['storage/ready=yes', 'zone=a']);
  });

  it('no gates (or empty ones) always pass', () => {
    expect(nodeMatchesReadinessGates(node('True'))).toBe(true);
    expect(nodeMatchesReadinessGates(node('True'), [])).toBe(true);
    expect(nodeMatchesReadinessGates(node('True'), [{}, { matchLabels: {} }])).toBe(true);
  });

  it('nodeNotReadyReason explains what is missing', () => {
    expect(nodeNotReadyReason(undefined)).toBe('node does not exist');
    expect(nodeNotReadyReason(node(undefined))).toBe('no Ready condition reported');
    expect(nodeNotReadyReason(node('False'))).toBe('Ready=False (KubeletNotReady: PLEG is not healthy)');
    expect(nodeNotReadyReason(node('True'), gates)).toBe(
      'missing readiness gate labels cni.example.com/ready=true, storage/ready=yes, zone=a',
    );
    expect(
      nodeNotReadyReason(
        node('True', { 'cni.example.com/ready': 'true', 'storage/ready': 'yes', zone: 'a' }),
        gates,
      ),
    ).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [800, '800ms'],
    [1000, '1s'],
    [4_400, '4s'],
    [45_000, '45s'],
    [300_000, '5m0s'],
    [3_723_000, '1h2m3s'],
    [Infinity, 'forever'],
  ])('%d ms -> %s', (ms: number, text: string) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
