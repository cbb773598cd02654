// The PDB reaper's decisions: blocking, misconfigured (ints and percentages), overlapping budgets,
// crashlooping and long-not-ready pods (any or all), excluded namespaces, and when a saved one returns.
import { describe, expect, it } from '@jest/globals';
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { findBlockingPdbs, resolveIntOrPercent, restorable, type PdbReaperSettings } from '../src/pdb/plan';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const S: PdbReaperSettings = {
  dryRun: false,
  reap: false,
  reapMisconfigured: true,
  reapMultiple: true,
  reapCrashloop: true,
  allCrashloop: true,
  crashloopRestartCount: 5,
  reapNotReady: true,
  notReadyThresholdMs: 1_800_000,
  allNotReady: false,
  excludedNamespaces: [],
};

function pdb(
  name: string,
  spec: Record<string, unknown>,
  allowed: number,
  expected: number,
  ns = 'ns',
): V1PodDisruptionBudget {
  return {
    metadata: { name, namespace: ns },
    spec: { selector: { matchLabels: { app: name } }, ...spec },
    status: { disruptionsAllowed: allowed, expectedPods: expected, currentHealthy: 0, desiredHealthy: 0 },
  } as V1PodDisruptionBudget;
}

function pod(
  name: string,
  app: string,
  o: { crash?: number; notReadyMin?: number; extra?: Record<string, string> } = {},
): V1Pod {
  return {
    metadata: { name, namespace: 'ns', labels: { app, ...o.extra } },
    status: {
      containerStatuses:
        o.crash !== undefined
          ? [
              {
                name: 'c',
                image: 'x',
                imageID: '',
                ready: false,
                restartCount: o.crash,
                state: { waiting: { reason: 'CrashLoopBackOff' } },
              },
            ]
          : [],
      conditions:
        o.notReadyMin !== undefined
          ? [
              {
                type: 'ContainersReady',
                status: 'False',
                lastTransitionTime: new Date(NOW - o.notReadyMin * 60_000),
              },
            ]
          : [],
    },
  };
}

describe('pdb reaper plan', () => {
  it('resolves ints and percentages as the disruption controller does', () => {
    expect(resolveIntOrPercent('0%', 3)).toBe(0);
    expect(resolveIntOrPercent('100%', 3)).toBe(3);
    expect(resolveIntOrPercent('50%', 3)).toBe(2);
    expect(resolveIntOrPercent(1, 3)).toBe(1);
    expect(resolveIntOrPercent(undefined, 3)).toBeUndefined();
  });

  it('only blocking budgets; misconfigured ones first', () => {
    const pdbs = [
      pdb('zero', { maxUnavailable: 0 }, 0, 3),
      pdb('all', { minAvailable: '100%' }, 0, 2),
      pdb('fine', { maxUnavailable: 1 }, 1, 3),
      pdb('empty', { maxUnavailable: 0 }, 0, 0),
    ];
    expect(findBlockingPdbs(pdbs, [], S, NOW).map((f) => [f.name, f.reason])).toEqual([
      ['all', 'Misconfigured'],
      ['zero', 'Misconfigured'],
    ]);
    expect(findBlockingPdbs(pdbs, [], { ...S, excludedNamespaces: ['ns'] }, NOW)).toEqual([]);
  });

  it('overlapping budgets, crashlooping pods (all by default) and not-ready pods (any by default)', () => {
    const pods = [
      pod('a1', 'a', { crash: 6 }),
      pod('a2', 'a', { crash: 7 }),
      pod('b1', 'b', { crash: 6 }),
      pod('b2', 'b'),
      pod('c1', 'c', { notReadyMin: 40 }),
      pod('c2', 'c'),
      pod('d1', 'd', { extra: { team: 'x' } }),
    ];
    const pdbs = [
      pdb('a', { minAvailable: 1 }, 0, 2),
      pdb('b', { minAvailable: 1 }, 0, 2),
      pdb('c', { minAvailable: 1 }, 0, 2),
      pdb('d', { minAvailable: 1 }, 0, 2),
      {
        ...pdb('team', { minAvailable: 1 }, 0, 2),
        spec: { minAvailable: 1, selector: { matchLabels: { team: 'x' } } },
      } as V1PodDisruptionBudget,
    ];
    const got = findBlockingPdbs(pdbs, pods, S, NOW).map((f) => [f.name, f.reason]);
    expect(got).toEqual([
      ['a', 'Crashloop'],
      ['c', 'NotReady'],
      ['d', 'Multiple'],
      ['team', 'Multiple'],
    ]);
    const any = findBlockingPdbs(pdbs, pods, { ...S, allCrashloop: false }, NOW).map((f) => f.name);
    expect(any).toContain('b');
  });

  it('a saved budget returns when its pods are healthy again, and never when it was the cause', () => {
    const saved = pdb('c', { minAvailable: 1 }, 0, 1);
    expect(restorable(saved, 'NotReady', new Set(), [pod('c1', 'c', { notReadyMin: 40 })], S, NOW)).toBe(
      false,
    );
    expect(restorable(saved, 'NotReady', new Set(), [pod('c1', 'c')], S, NOW)).toBe(true);
    expect(restorable(saved, 'NotReady', new Set(['ns/c']), [pod('c1', 'c')], S, NOW)).toBe(false);
    expect(restorable(saved, 'Misconfigured', new Set(), [pod('c1', 'c')], S, NOW)).toBe(false);
  });
});
