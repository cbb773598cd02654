// The pod reaper's decisions: stuck Terminating (soft reap), completed and failed ages, opt-outs
// (both upstream's completed key for failed pods and the correct failed key).
import { describe, expect, it } from '@jest/globals';
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import {
  DISABLE_COMPLETED,
  DISABLE_FAILED,
  DISABLE_POD_REAPER,
  DISABLE_STUCK,
  planPodReaping,
  podVerdict,
  type PodReaperSettings,
} from '../src/pod/plan';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const ago = (min: number) => new Date(NOW - min * 60_000);
const S: PodReaperSettings = {
  dryRun: false,
  reapAfterMs: 10 * 60_000,
  softReap: true,
  reapCompleted: true,
  reapCompletedAfterMs: 240 * 60_000,
  reapFailed: true,
  reapFailedAfterMs: 240 * 60_000,
};

const ns = (annotations: Record<string, string> = {}): V1Namespace => ({
  metadata: { name: 'ns', annotations },
});

function terminating(name: string, deletedMinAgo: number, running = false): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: `uid-${name}`,
      // deletionTimestamp = when asked + grace (30s)
      deletionTimestamp: new Date(ago(deletedMinAgo).getTime() + 30_000),
      deletionGracePeriodSeconds: 30,
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'c',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: running ? { running: { startedAt: ago(100) } } : { waiting: { reason: 'x' } },
        },
      ],
    },
  };
}

function finished(name: string, phase: 'Succeeded' | 'Failed', minAgo: number): V1Pod {
  return {
    metadata: { name, namespace: 'ns' },
    status: {
      phase,
      containerStatuses: [
        {
          name: 'c',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: phase === 'Failed' ? 1 : 0, finishedAt: ago(minAgo) } },
        },
      ],
    },
  };
}

describe('pod reaper plan', () => {
  it('force-deletes pods Terminating past reap-after; soft reap spares running containers', () => {
    expect(podVerdict(terminating('old', 11), S, ns(), NOW)?.reason).toBe('ReapStuckTerminating');
    expect(podVerdict(terminating('young', 9), S, ns(), NOW)).toBeUndefined();
    expect(podVerdict(terminating('running', 30, true), S, ns(), NOW)).toBeUndefined();
    expect(podVerdict(terminating('running', 30, true), { ...S, softReap: false }, ns(), NOW)?.reason).toBe(
      'ReapStuckTerminating',
    );
  });

  it('completed and failed pods past their age, only when switched on', () => {
    expect(podVerdict(finished('c', 'Succeeded', 250), S, ns(), NOW)?.reason).toBe('ReapCompleted');
    expect(podVerdict(finished('c', 'Succeeded', 200), S, ns(), NOW)).toBeUndefined();
    expect(podVerdict(finished('f', 'Failed', 250), S, ns(), NOW)?.reason).toBe('ReapFailed');
    expect(podVerdict(finished('f', 'Failed', 250), { ...S, reapFailed: false }, ns(), NOW)).toBeUndefined();
  });

  it('namespace opt-outs: all, stuck, completed; failed honours both keys', () => {
    expect(podVerdict(terminating('x', 30), S, ns({ [DISABLE_POD_REAPER]: 'true' }), NOW)).toBeUndefined();
    expect(podVerdict(terminating('x', 30), S, ns({ [DISABLE_STUCK]: 'true' }), NOW)).toBeUndefined();
    expect(
      podVerdict(finished('c', 'Succeeded', 300), S, ns({ [DISABLE_COMPLETED]: 'true' }), NOW),
    ).toBeUndefined();
    expect(
      podVerdict(finished('f', 'Failed', 300), S, ns({ [DISABLE_COMPLETED]: 'true' }), NOW),
    ).toBeUndefined();
    expect(
      podVerdict(finished('f', 'Failed', 300), S, ns({ [DISABLE_FAILED]: 'true' }), NOW),
    ).toBeUndefined();
    expect(
      podVerdict(finished('c', 'Succeeded', 300), S, ns({ [DISABLE_FAILED]: 'true' }), NOW)?.reason,
    ).toBe('ReapCompleted');
  });

  it('plans over many pods with their namespaces', () => {
    const pods = [terminating('a', 30), finished('b', 'Succeeded', 10), finished('c', 'Failed', 500)];
    const got = planPodReaping(pods, new Map([['ns', ns()]]), S, NOW);
    expect(got.map((v) => [v.name, v.reason])).toEqual([
      ['a', 'ReapStuckTerminating'],
      ['c', 'ReapFailed'],
    ]);
    expect(got[0]?.uid).toBe('uid-a');
  });
});
