// Which drifted instances the rollingUpdate strategy replaces next, and when.
import { describe, expect, it } from '@jest/globals';
import type { Condition } from '@keiko/kube-runtime';
import type { DrainState } from '@keiko/node-ops';
import {
  planRotation,
  type RotationInput,
  type RotationInstance,
  type RotationPolicy,
} from '../src/strategies/rolling-update';

const talkPolicy: RotationPolicy = {
  mode: 'minInService',
  maxUnavailable: 0,
  minInstancesInService: 1,
  maxBatchSize: 1,
  pauseMs: 0,
};
const eksPolicy = (maxUnavailable: number): RotationPolicy => ({
  mode: 'maxUnavailable',
  maxUnavailable,
  minInstancesInService: 0,
  maxBatchSize: 0,
  pauseMs: 0,
});

/** A drain that failed: a PodDisruptionBudget kept refusing. */
const failed = (finishedAt: number, message: string): DrainState => ({
  state: 'failed',
  startedAt: 0,
  finishedAt,
  reason: 'DisruptionBudget',
  message,
  pods: [],
  podDisruptionBudgets: [],
});

/** Instances launch in the order a test creates them: the engine takes the oldest first. */
let launched = 0;

function instance(
  id: string,
  opts: Partial<RotationInstance> & { ready?: boolean; cordonedByUs?: boolean; noNode?: boolean } = {},
): RotationInstance {
  const { ready = true, cordonedByUs = false, noNode = false, ...rest } = opts;
  return {
    id,
    launchedAt: ++launched,
    lifecycleState: 'InService',
    drifted: true,
    ...(noNode ? {} : { node: { name: `node-${id}`, ready, cordoned: cordonedByUs, cordonedByUs } }),
    ...rest,
  };
}

function plan(instances: RotationInstance[], extra: Partial<RotationInput> = {}) {
  return planRotation({
    instances,
    desiredCapacity: instances.length,
    policy: talkPolicy,
    drains: new Map(),
    now: 1_000_000,
    ...extra,
  });
}

const inProgress: Condition = {
  type: 'RollingUpdate',
  status: 'True',
  reason: 'InProgress',
  message: '',
  lastTransitionTime: new Date(0).toISOString(),
};

describe('planRotation: minInstancesInService + maxBatchSize (the talk example)', () => {
  it('starts one drain at a time and never goes below minInstancesInService', () => {
    const p = plan([instance('i-1'), instance('i-2'), instance('i-3')]);
    expect(p.drain).toEqual(['node-i-1']);
    expect(p.terminate).toEqual([]);
    expect(p.condition).toMatchObject({ status: 'True', reason: 'InProgress' });
    expect(p.done).toBe(false);
  });

  it('waits when only minInstancesInService nodes are available', () => {
    const p = plan([instance('i-1')], { policy: { ...talkPolicy, minInstancesInService: 1 } });
    expect(p.drain).toEqual([]);
    expect(p.condition.message).toContain('minInstancesInService is 1');
  });

  it('terminates a drained instance, and only then', () => {
    const drains = new Map<string, DrainState>([['node-i-1', { state: 'running', startedAt: 0 }]]);
    const running = plan([instance('i-1', { cordonedByUs: true }), instance('i-2'), instance('i-3')], {
      drains,
    });
    expect(running.terminate).toEqual([]);
    expect(running.drain).toEqual([]); // maxBatchSize 1 is taken by the node in flight
    drains.set('node-i-1', { state: 'succeeded', startedAt: 0, finishedAt: 1, evicted: 0 });
    const drained = plan([instance('i-1', { cordonedByUs: true }), instance('i-2'), instance('i-3')], {
      drains,
    });
    expect(drained.terminate).toEqual(['i-1']);
  });

  it('after a restart, drains again the node it had cordoned (drains are idempotent) instead of starting another', () => {
    const p = plan([instance('i-1', { cordonedByUs: true }), instance('i-2'), instance('i-3')]);
    expect(p.drain).toEqual(['node-i-1']);
    expect(p.terminate).toEqual([]);
  });

  it('gives a node back when its drain fails, and goes on with the others', () => {
    const drains = new Map<string, DrainState>([
      ['node-i-1', failed(1_000_000 - 5_000, 'blocked by PDB web')],
    ]);
    const p = plan([instance('i-1', { cordonedByUs: true }), instance('i-2'), instance('i-3')], { drains });
    expect(p.drainFailures).toEqual([{ node: 'node-i-1', error: 'blocked by PDB web', attempts: 1 }]);
    // Not drained again now; the next node starts instead.
    expect(p.drain).toEqual(['node-i-2']);
    expect(p.failed).toBeUndefined();
  });

  it('tries a node whose drain failed once again only after every other node', () => {
    const failedOnce = (id: string): RotationInstance => {
      const i = instance(id);
      return { ...i, node: { ...i.node!, drainFailure: { attempts: 1, message: 'blocked by PDB web' } } };
    };
    const others = plan([failedOnce('i-1'), instance('i-2'), instance('i-3')]);
    expect(others.drain).toEqual(['node-i-2']);
    const last = plan([
      failedOnce('i-1'),
      instance('i-2', { drifted: false }),
      instance('i-3', { drifted: false }),
    ]);
    expect(last.drain).toEqual(['node-i-1']);
  });

  it('stops with DrainFailed, nodes in service, after a second failure of the same node', () => {
    const i1 = instance('i-1', { cordonedByUs: true });
    const failedOnce: RotationInstance = {
      ...i1,
      node: { ...i1.node!, drainFailure: { attempts: 1, message: 'blocked by PDB web' } },
    };
    const drains = new Map<string, DrainState>([
      ['node-i-1', failed(1_000_000, 'blocked by PDB web (again)')],
    ]);
    const p = plan([failedOnce, instance('i-2', { drifted: false })], { drains });
    expect(p.drainFailures).toEqual([{ node: 'node-i-1', error: 'blocked by PDB web (again)', attempts: 2 }]);
    expect(p.failed).toBe(true);
    expect(p.drain).toEqual([]);
    expect(p.terminate).toEqual([]);
    expect(p.condition).toMatchObject({ status: 'False', reason: 'DrainFailed' });
    expect(p.condition.message).toContain('node-i-1 (blocked by PDB web (again))');

    // Recorded and given back: it stays failed, and nothing else is touched.
    const after: RotationInstance = {
      ...instance('i-1'),
      node: {
        ...instance('i-1').node!,
        drainFailure: { attempts: 2, message: 'blocked by PDB web (again)' },
      },
    };
    const again = plan([after, instance('i-2', { drifted: false })]);
    expect(again).toMatchObject({ failed: true, drain: [], terminate: [], drainFailures: [] });
  });

  it('waits for the replacement before the next batch, then pauses pauseTime', () => {
    const fresh = instance('i-4', { drifted: false, lifecycleState: 'Pending', noNode: true });
    const waiting = plan([fresh, instance('i-2'), instance('i-3')], {
      previous: inProgress,
      policy: { ...talkPolicy, pauseMs: 300_000 },
    });
    expect(waiting.drain).toEqual([]);
    expect(waiting.condition.message).toContain('waiting for replacements');
    const back = instance('i-4', { drifted: false });
    const paused = plan([back, instance('i-2'), instance('i-3')], {
      previous: inProgress,
      policy: { ...talkPolicy, pauseMs: 300_000 },
    });
    expect(paused.drain).toEqual([]);
    expect(paused.condition).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(paused.requeueAfterMs).toBe(300_000);
    const pauseStarted: Condition = {
      type: 'RollingUpdate',
      status: 'False',
      reason: 'Paused',
      message: 'paused',
      lastTransitionTime: new Date(1_000_000 - 100_000).toISOString(),
    };
    const still = plan([back, instance('i-2'), instance('i-3')], {
      previous: pauseStarted,
      policy: { ...talkPolicy, pauseMs: 300_000 },
    });
    expect(still.drain).toEqual([]);
    expect(still.requeueAfterMs).toBe(60_000);
    const over = plan([back, instance('i-2'), instance('i-3')], {
      previous: pauseStarted,
      policy: { ...talkPolicy, pauseMs: 300_000 },
      now: 1_000_000 + 300_000,
    });
    expect(over.drain).toEqual(['node-i-2']);
  });

  it('replaces instances whose node never joined (or is NotReady) first: they cost no availability', () => {
    const p = plan([instance('i-1'), instance('i-2', { noNode: true }), instance('i-3', { ready: false })], {
      policy: { ...talkPolicy, maxBatchSize: 2, minInstancesInService: 1 },
    });
    expect(p.terminate).toEqual(['i-2']); // no node: nothing to drain
    expect(p.drain).toEqual(['node-i-3']);
  });

  it('is done when nothing is drifted, and gives back nodes it cordoned for instances no longer drifted', () => {
    const p = plan(
      [instance('i-1', { drifted: false, cordonedByUs: true }), instance('i-2', { drifted: false })],
      { previous: inProgress },
    );
    expect(p.done).toBe(true);
    expect(p.uncordon).toEqual(['node-i-1']);
    expect(p.condition).toMatchObject({ status: 'False', reason: 'Complete' });
  });

  it('ignores instances already terminating', () => {
    const p = plan([
      instance('i-1', { lifecycleState: 'Terminating' }),
      instance('i-2', { drifted: false }),
      instance('i-3', { drifted: false }),
    ]);
    expect(p.done).toBe(true);
  });
});

describe('planRotation: maxUnavailable (eks)', () => {
  it('takes up to maxUnavailable nodes at once', () => {
    const p = plan([instance('i-1'), instance('i-2'), instance('i-3'), instance('i-4')], {
      policy: eksPolicy(2),
    });
    expect(p.drain).toEqual(['node-i-1', 'node-i-2']);
  });

  it('counts nodes that are unavailable anyway against maxUnavailable', () => {
    const p = plan([instance('i-1'), instance('i-2'), instance('i-3', { drifted: false, ready: false })], {
      policy: eksPolicy(1),
    });
    expect(p.drain).toEqual([]);
    expect(p.condition.message).toContain('maxUnavailable is 1');
  });

  it('counts a missing instance (desired above what exists) as unavailable', () => {
    const p = planRotation({
      instances: [instance('i-1'), instance('i-2')],
      desiredCapacity: 3,
      policy: eksPolicy(1),
      drains: new Map(),
      now: 0,
    });
    expect(p.drain).toEqual([]);
  });
});
