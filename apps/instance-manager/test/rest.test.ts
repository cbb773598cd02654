import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import { restDecision, restFingerprint } from '../src/instancegroup/rest';

const node = (name: string, ready: string, unschedulable = false): V1Node => ({
  metadata: { name },
  spec: { unschedulable },
  status: { conditions: [{ type: 'Ready', status: ready }] },
});
const group = (generation: number, annotations?: Record<string, string>) => ({
  metadata: { generation, annotations },
});

describe('restFingerprint', () => {
  const base = restFingerprint(group(3, { a: '1' }), 'h1', [node('n1', 'True'), node('n2', 'True')]);

  it('is the same for the same inputs, whatever the order of nodes and annotations', () => {
    expect(restFingerprint(group(3, { a: '1' }), 'h1', [node('n2', 'True'), node('n1', 'True')])).toBe(base);
  });

  it.each([
    [
      'a spec change (generation)',
      restFingerprint(group(4, { a: '1' }), 'h1', [node('n1', 'True'), node('n2', 'True')]),
    ],
    ['an annotation', restFingerprint(group(3, { a: '2' }), 'h1', [node('n1', 'True'), node('n2', 'True')])],
    [
      'the managed defaults',
      restFingerprint(group(3, { a: '1' }), 'h2', [node('n1', 'True'), node('n2', 'True')]),
    ],
    ['a node leaving', restFingerprint(group(3, { a: '1' }), 'h1', [node('n1', 'True')])],
    [
      'a node NotReady',
      restFingerprint(group(3, { a: '1' }), 'h1', [node('n1', 'True'), node('n2', 'False')]),
    ],
    [
      'a node cordoned',
      restFingerprint(group(3, { a: '1' }), 'h1', [node('n1', 'True'), node('n2', 'True', true)]),
    ],
  ])('changes with %s', (_what, other) => {
    expect(other).not.toBe(base);
  });
});

describe('restDecision', () => {
  const at = 1_000_000;
  const mark = { fingerprint: 'f', at };
  const input = {
    mark,
    fingerprint: 'f',
    state: 'Ready',
    deleting: false,
    now: at + 60_000,
    driftCheckMs: 3_600_000,
  };

  it('skips a Ready group whose inputs are unchanged until the drift check is due, and comes back then', () => {
    expect(restDecision(input)).toEqual({ skip: true, requeueAfterMs: 3_540_000 });
    expect(restDecision({ ...input, now: at + 3_600_000 })).toEqual({ skip: false });
  });

  it.each([
    ['no full pass yet', { mark: undefined }],
    ['changed inputs', { fingerprint: 'g' }],
    ['a group not Ready', { state: 'InitUpgrade' }],
    ['a group being deleted', { deleting: true }],
    ['drift checks on every resync (0)', { driftCheckMs: 0 }],
  ])('does a full pass with %s', (_what, change) => {
    expect(restDecision({ ...input, ...change })).toEqual({ skip: false });
  });
});
