// The plan as pure functions: drift, maxUnavailable, batch selection per strategy and zone, failed
// drains, resume from a recorded status, eager surge bookkeeping, the terminate-once decision,
// completion — and whole upgrades replayed against an in-memory world, restarts and crashes included.
import { describe, expect, it } from '@jest/globals';
import {
  resolveUpdateStrategy,
  type RollingUpgradeSpec,
  type RollingUpgradeStatus,
  type RollingUpgradeStep,
} from '@keiko/api';
import { budgetNodes, type DrainState } from '@keiko/node-ops';
import {
  buildGroupView,
  decide,
  instanceDriftFinding,
  launchTagDrift,
  nodesToUncordonOnDelete,
  recordTermination,
  scalingGroupHolder,
  strayCordons,
} from '../src/rollingupgrade/plan';
import { formatGoDuration, parseGoDurationMs } from '../src/rollingupgrade/durations';
import { scriptStateKey, type ScriptPhase, type ScriptState } from '../src/rollingupgrade/scripts';
import {
  group,
  instance,
  node,
  OWNER,
  planInput,
  rollingUpgrade,
  snapshot,
  TEMPLATE,
} from './support/fixtures';
import { run, World } from './support/world';

const NOW = new Date('2026-01-01T01:00:00Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

describe('maxUnavailable (the CRD field mapped to a budget, then the one budget rule)', () => {
  it.each([
    [undefined, 10, 1],
    [0, 10, 1],
    [1, 10, 1],
    [3, 10, 3],
    [50, 4, 50],
    ['20%', 10, 2],
    ['25%', 6, 1], // 1.5 rounds down
    ['50%', 5, 2], // 2.5 rounds down
    ['10%', 5, 1], // 0.5 rounds down to 0, then the minimum of 1
    ['100%', 7, 7],
    ['1%', 3, 1],
    ['30', 10, 3], // the schema admits a bare percentage
    ['33%', 0, 1],
  ])('maxUnavailable %p of desired capacity %p -> %p', (value, size, expected) => {
    const { maxUnavailable } = resolveUpdateStrategy({
      strategy: { maxUnavailable: value as number | string | undefined },
    } as RollingUpgradeSpec);
    expect(budgetNodes(maxUnavailable, size)).toBe(expected);
  });
});

describe('drift', () => {
  const ru = rollingUpgrade();
  it('follows the group view: another template version is drifted, the wanted one is not', () => {
    const g = group([instance('i-1', { version: '1' }), instance('i-2', { version: '2' })]);
    const view = buildGroupView(ru, snapshot(g), [], undefined);
    expect(view.instances.map((i) => [i.id, i.drifted])).toEqual([
      ['i-1', true],
      ['i-2', false],
    ]);
  });

  it('resolves $Latest before comparing', () => {
    const g = group([instance('i-1', { version: '2' })], {
      launchTemplate: { ...TEMPLATE, version: '$Latest' },
    });
    expect(buildGroupView(ru, snapshot(g), [], undefined).instances[0]?.drifted).toBe(false);
    const newer = { ...snapshot(g), resolved: [{ ...TEMPLATE, version: 3 }] };
    expect(buildGroupView(ru, newer, [], undefined).instances[0]?.drifted).toBe(true);
  });

  it('refuses to guess when $Latest was not resolved', () => {
    const g = group([instance('i-1')], { launchTemplate: { ...TEMPLATE, version: '$Latest' } });
    expect(() => buildGroupView(ru, { ...snapshot(g), resolved: [] }, [], undefined)).toThrow(
      /must be resolved/,
    );
  });

  it('never counts a terminating instance as drifted', () => {
    const g = group([instance('i-1', { version: '1', lifecycleState: 'Terminating' })]);
    expect(buildGroupView(ru, snapshot(g), [], undefined).instances[0]?.drifted).toBe(false);
  });

  it('a launch configuration change is drift', () => {
    const g = group([instance('i-1', { launchTemplate: undefined, launchConfigurationName: 'old' })], {
      launchTemplate: undefined,
      launchConfigurationName: 'new',
    });
    expect(instanceDriftFinding(ru, g, g.instances[0]!, [], undefined, undefined).drifted).toBe(true);
  });

  it("EC2's launch tag catches an instance the group view reports as current (the emulator's view)", () => {
    const g = group([instance('i-1', { version: '2' })]);
    const old = { launchTemplate: { id: TEMPLATE.id, version: '1' } };
    expect(launchTagDrift(g, 'i-1', old, [])?.drifted).toBe(true);
    expect(launchTagDrift(g, 'i-1', { launchTemplate: { id: TEMPLATE.id, version: '2' } }, [])?.drifted).toBe(
      false,
    );
    // another template is the group view's business
    expect(
      launchTagDrift(g, 'i-1', { launchTemplate: { id: 'lt-other', version: '1' } }, []),
    ).toBeUndefined();
    expect(instanceDriftFinding(ru, g, g.instances[0]!, [], old, undefined)).toMatchObject({
      drifted: true,
      detail: expect.stringContaining('version 1'),
    });
  });

  it('forceRefresh replaces instances launched before the upgrade started, not after', () => {
    const force = rollingUpgrade({ forceRefresh: true });
    const g = group([instance('i-1', { version: '2' }), instance('i-2', { version: '2' })]);
    const launches = {
      'i-1': { launchTime: '2026-01-01T00:00:00Z' },
      'i-2': { launchTime: '2026-01-01T02:00:00Z' },
    };
    const view = buildGroupView(force, snapshot(g, launches), [], '2026-01-01T01:00:00Z');
    expect(view.instances.map((i) => i.drifted)).toEqual([true, false]);
    expect(
      buildGroupView(ru, snapshot(g, launches), [], '2026-01-01T01:00:00Z').instances.map((i) => i.drifted),
    ).toEqual([false, false]);
  });

  it('maps nodes by providerID and refuses an instance two nodes claim', () => {
    const g = group([instance('i-1'), instance('i-2')]);
    const view = buildGroupView(
      ru,
      snapshot(g),
      [node('a', 'i-1'), node('b', 'i-2'), node('c', 'i-2')],
      undefined,
    );
    expect(view.byId.get('i-1')?.node?.metadata?.name).toBe('a');
    expect(view.byId.get('i-2')).toMatchObject({ node: undefined, ambiguous: true, available: false });
  });
});

describe('one RollingUpgrade per group', () => {
  const ru = (
    name: string,
    created: string,
    extra: Parameters<typeof rollingUpgrade>[1] = undefined,
    spec: Parameters<typeof rollingUpgrade>[0] = {},
  ) => rollingUpgrade(spec, extra, { name, uid: name, creationTimestamp: created });

  it('the oldest unfinished one holds the group; ties by namespace/name', () => {
    const a = ru('a', '2026-01-01T00:00:02Z');
    const b = ru('b', '2026-01-01T00:00:01Z');
    const c = ru('c', '2026-01-01T00:00:01Z');
    expect(scalingGroupHolder([a, b, c], a, 'us-west-2', false)?.metadata.name).toBe('b');
    expect(scalingGroupHolder([a, b, c], c, 'us-west-2', false)?.metadata.name).toBe('b');
  });

  it('finished, dry-run, invalid and other-group upgrades do not hold it', () => {
    const me = ru('me', '2026-01-01T00:00:09Z');
    const done = ru('done', '2026-01-01T00:00:01Z', { currentStatus: 'completed' });
    const failed = ru('failed', '2026-01-01T00:00:01Z', { currentStatus: 'error' });
    const dry = ru('dry', '2026-01-01T00:00:01Z', undefined, { dryRun: true });
    const other = ru('other', '2026-01-01T00:00:01Z', undefined, { asgName: 'asg-2' });
    const otherRegion = ru('far', '2026-01-01T00:00:01Z', undefined, { region: 'eu-west-1' });
    const invalid = ru('invalid', '2026-01-01T00:00:01Z', undefined, {
      strategy: { maxUnavailable: '250%' },
    });
    expect(
      scalingGroupHolder([me, done, failed, dry, other, otherRegion, invalid], me, 'us-west-2', false)
        ?.metadata.name,
    ).toBe('me');
  });

  it('a dry run does not contend at all', () => {
    const dry = ru('dry', '2026-01-01T00:00:09Z', undefined, { dryRun: true });
    expect(scalingGroupHolder([dry], dry, 'us-west-2', false)).toBeUndefined();
  });
});

describe('deletion and stray cordons', () => {
  it('uncordons what this upgrade cordoned, except nodes at terminate or later', () => {
    const status: RollingUpgradeStatus = {
      inProcessingNodes: {
        a: { nodeName: 'a', instanceID: 'i-a', stepName: 'drain' },
        b: { nodeName: 'b', instanceID: 'i-b', stepName: 'terminate' },
        c: { nodeName: 'c', instanceID: 'i-c', stepName: 'post_terminate' },
      },
    };
    const nodes = [
      node('a', 'i-a', { unschedulable: true, cordonedBy: OWNER }),
      node('b', 'i-b', { unschedulable: true, cordonedBy: OWNER }),
      node('c', 'i-c', { unschedulable: true, cordonedBy: OWNER }),
      node('d', 'i-d', { unschedulable: true, cordonedBy: 'kubectl' }),
      node('e', 'i-e', { unschedulable: true, cordonedBy: OWNER }), // a stray of ours
    ];
    expect(nodesToUncordonOnDelete(status, nodes, OWNER)).toEqual(['a', 'e']);
  });

  it('finds stray cordons of ours on live instances only', () => {
    const g = group([instance('i-a'), instance('i-b'), instance('i-c', { lifecycleState: 'Terminating' })]);
    const nodes = [
      node('a', 'i-a', { unschedulable: true, cordonedBy: OWNER }),
      node('b', 'i-b', { unschedulable: true, cordonedBy: OWNER }),
      node('c', 'i-c', { unschedulable: true, cordonedBy: OWNER }),
    ];
    const view = buildGroupView(rollingUpgrade(), snapshot(g), nodes, undefined);
    expect(strayCordons({ b: { nodeName: 'b', instanceID: 'i-b', stepName: 'drain' } }, view, OWNER)).toEqual(
      ['a'],
    );
  });
});

describe('terminate at most once', () => {
  it('resuming at a recorded terminate step asks for a terminate; the live check decides', () => {
    const ru = rollingUpgrade(
      {},
      {
        currentStatus: 'running',
        startTime: '2026-01-01T00:00:00Z',
        inProcessingNodes: {
          a: {
            nodeName: 'a',
            instanceID: 'i-1',
            stepName: 'terminate',
            stepStartTime: '2026-01-01T00:59:00Z',
          },
        },
      },
    );
    const d = decide(
      planInput(ru, snapshot(group([instance('i-1'), instance('i-2', { version: '2' })])), [
        node('a', 'i-1', { unschedulable: true, cordonedBy: OWNER }),
      ]),
    );
    expect(d.actions).toEqual([{ type: 'terminate', key: 'a', instanceId: 'i-1', decrementDesired: false }]);
    const after = recordTermination(d.status, 'a', 'gone', NOW);
    expect(after?.status.inProcessingNodes?.a?.stepName).toBe('post_terminate');
    expect(after?.status.lastTerminationTime).toBeUndefined();
    const terminated = recordTermination(d.status, 'a', 'terminated', NOW);
    expect(terminated?.status.lastTerminationTime).toBe(NOW.toISOString());
    expect(recordTermination(terminated!.status, 'a', 'terminated', NOW)).toBeUndefined();
  });
});

describe('decide', () => {
  const threeOld = () =>
    group([
      instance('i-1', { availabilityZone: 'us-west-2a' }),
      instance('i-2', { availabilityZone: 'us-west-2b' }),
      instance('i-3', { availabilityZone: 'us-west-2c' }),
    ]);
  const threeNodes = () => [
    node('n1', 'i-1'),
    node('n2', 'i-2', { zone: 'us-west-2b' }),
    node('n3', 'i-3', { zone: 'us-west-2c' }),
  ];

  it('first pass: running, startTime, Started, and the first batch recorded before anything is done', () => {
    const d = decide(planInput(rollingUpgrade(), snapshot(threeOld()), threeNodes()));
    expect(d.status.currentStatus).toBe('running');
    expect(d.status.startTime).toBe('2026-01-01T01:00:00Z');
    expect(d.events.map((e) => e.reason)).toEqual(['Started', 'BatchStarted']);
    expect(Object.values(d.status.inProcessingNodes ?? {})).toEqual([
      expect.objectContaining({ stepName: 'kickoff', instanceID: expect.stringMatching(/^i-/) }),
    ]);
    expect(d.actions).toEqual([]);
    expect(d.status.totalNodes).toBe(3);
    expect(d.status.conditions?.find((c) => c.type === 'Complete')).toBeUndefined();
    expect(d.status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'RotatingNodes',
    });
  });

  it('kickoff -> drain with a drain action; the step is in the status the decision returns', () => {
    const first = decide(planInput(rollingUpgrade(), snapshot(threeOld()), threeNodes()));
    const d = decide(
      planInput(rollingUpgrade({}, first.status), snapshot(threeOld()), threeNodes(), { now: at(10) }),
    );
    const [key, rec] = Object.entries(d.status.inProcessingNodes ?? {})[0]!;
    expect(rec.stepName).toBe('drain');
    // No drainTimeout in the spec: the drain carries the default, so a blocking PDB cannot hold it forever.
    expect(d.actions).toEqual([
      { type: 'drain', key, nodeName: key, instanceId: rec.instanceID, timeoutMs: 900_000 },
    ]);
    expect(d.transitions).toEqual([{ node: key, from: 'kickoff', to: 'drain', seconds: 0.01 }]);
  });

  it('restart while draining: starts the drain again (nothing runs in this process)', () => {
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: {
        n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'drain', stepStartTime: '2026-01-01T00:59:00Z' },
      },
    };
    const d = decide(planInput(rollingUpgrade({}, status), snapshot(threeOld()), threeNodes()));
    expect(d.actions).toEqual([
      { type: 'drain', key: 'n1', nodeName: 'n1', instanceId: 'i-1', timeoutMs: 900_000 },
    ]);
    // and with the drain running, it waits for it
    const running = decide(
      planInput(rollingUpgrade({}, status), snapshot(threeOld()), threeNodes(), {
        drains: new Map<string, DrainState>([['n1', { state: 'running', startedAt: 0 }]]),
      }),
    );
    expect(running.actions).toEqual([]);
  });

  it('resume keeps the recorded batch: the same nodes, never a new selection while one is in flight', () => {
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: {
        n2: {
          nodeName: 'n2',
          instanceID: 'i-2',
          stepName: 'post_wait',
          stepStartTime: '2026-01-01T00:59:59Z',
        },
      },
    };
    const ru = rollingUpgrade({ postDrainDelaySeconds: 30, strategy: { maxUnavailable: 3 } }, status);
    const d = decide(planInput(ru, snapshot(threeOld()), threeNodes()));
    expect(Object.keys(d.status.inProcessingNodes ?? {})).toEqual(['n2']);
    expect(d.actions).toEqual([]);
    expect(d.requeueAfterMs).toBe(29_000);
    // reads the older status name too
    const legacy = rollingUpgrade(
      { postDrainDelaySeconds: 30 },
      { ...status, inProcessingNodes: undefined, nodeInProcessing: status.inProcessingNodes },
    );
    const d2 = decide(planInput(legacy, snapshot(threeOld()), threeNodes()));
    expect(Object.keys(d2.status.inProcessingNodes ?? {})).toEqual(['n2']);
    expect(d2.status.nodeInProcessing).toBeUndefined();
  });

  it('post_wait elapsed -> terminate recorded, with the terminate action (lazy: desired not decremented)', () => {
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: {
        n2: {
          nodeName: 'n2',
          instanceID: 'i-2',
          stepName: 'post_wait',
          stepStartTime: '2026-01-01T00:59:00Z',
        },
      },
    };
    const d = decide(
      planInput(rollingUpgrade({ postDrainDelaySeconds: 30 }, status), snapshot(threeOld()), threeNodes()),
    );
    expect(d.status.inProcessingNodes?.n2?.stepName).toBe('terminate');
    expect(d.actions).toEqual([{ type: 'terminate', key: 'n2', instanceId: 'i-2', decrementDesired: false }]);
  });

  it('post_terminate waits for the instance to leave and the group to be back at desired with Ready nodes (and readiness gates)', () => {
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: {
        n1: {
          nodeName: 'n1',
          instanceID: 'i-1',
          stepName: 'post_terminate',
          stepStartTime: '2026-01-01T00:59:00Z',
        },
      },
    };
    const gates = { readinessGates: [{ matchLabels: { ready: 'yes' } }] };
    const withNew = group([instance('i-2'), instance('i-3'), instance('i-9', { version: '2' })]);
    const oldNodes = [
      node('n2', 'i-2', { labels: { ready: 'yes' } }),
      node('n3', 'i-3', { labels: { ready: 'yes' } }),
    ];
    // replacement InService but no node yet
    expect(
      decide(planInput(rollingUpgrade(gates, status), snapshot(withNew), oldNodes)).status.inProcessingNodes
        ?.n1?.stepName,
    ).toBe('post_terminate');
    // node Ready but not yet labelled
    expect(
      decide(planInput(rollingUpgrade(gates, status), snapshot(withNew), [...oldNodes, node('n9', 'i-9')]))
        .status.inProcessingNodes?.n1?.stepName,
    ).toBe('post_terminate');
    // gated: the node completes, and with it the batch — and the next batch starts on the same snapshot
    const done = decide(
      planInput(rollingUpgrade(gates, status), snapshot(withNew), [
        ...oldNodes,
        node('n9', 'i-9', { labels: { ready: 'yes' } }),
      ]),
    );
    expect(done.events.map((e) => e.reason)).toEqual(['NodeReplaced', 'BatchCompleted', 'BatchStarted']);
    expect(done.status.nodesProcessed).toBe(1);
    expect(Object.values(done.status.inProcessingNodes ?? {})).toEqual([
      expect.objectContaining({ stepName: 'kickoff' }),
    ]);
    expect(done.transitions).toEqual([
      expect.objectContaining({ node: 'n1', from: 'post_terminate', to: 'completed' }),
    ]);
    expect(done.nodesCompleted).toBe(1);
    // the old instance still listed as Terminating (real AWS) counts as gone: it is on its way out
    const stillThere = group(
      [
        instance('i-1', { lifecycleState: 'Terminating' }),
        instance('i-2'),
        instance('i-3'),
        instance('i-9', { version: '2' }),
      ],
      { desiredCapacity: 3 },
    );
    expect(
      decide(planInput(rollingUpgrade({}, status), snapshot(stillThere), [...oldNodes, node('n9', 'i-9')]))
        .nodesCompleted,
    ).toBe(1);
  });

  it('a completed batch is counted, cleared and starts nodeIntervalSeconds', () => {
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      totalNodes: 3,
      nodesProcessed: 1,
      inProcessingNodes: { n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'completed' } },
    };
    const g = group([
      instance('i-2'),
      instance('i-3', { version: '2' }),
      instance('i-8', { version: '2' }),
      instance('i-9', { version: '2' }),
    ]);
    const nodes = [node('n2', 'i-2'), node('n3', 'i-3'), node('n8', 'i-8'), node('n9', 'i-9')];
    const ru = rollingUpgrade({ nodeIntervalSeconds: 60 }, status);
    const d = decide(planInput(ru, snapshot(g), nodes));
    expect(d.status).toMatchObject({
      nodesProcessed: 2,
      completePercentage: '67%',
      inProcessingNodes: {},
      lastBatchEndTime: NOW.toISOString(),
    });
    expect(d.nodesCompleted).toBe(1);
    const wait = decide(
      planInput(rollingUpgrade({ nodeIntervalSeconds: 60 }, d.status), snapshot(g), nodes, {
        now: at(20_000),
      }),
    );
    expect(wait.status.inProcessingNodes).toEqual({});
    expect(wait.requeueAfterMs).toBe(40_000);
    expect(wait.status.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('WaitingNodeInterval');
    const next = decide(
      planInput(rollingUpgrade({ nodeIntervalSeconds: 60 }, d.status), snapshot(g), nodes, {
        now: at(60_000),
      }),
    );
    expect(Object.keys(next.status.inProcessingNodes ?? {})).toHaveLength(1);
  });

  it('waits, and says so, when other unavailable nodes use up maxUnavailable', () => {
    const nodes = [
      node('n1', 'i-1'),
      node('n2', 'i-2', { ready: false }),
      node('n3', 'i-3', { unschedulable: true, cordonedBy: 'someone' }),
    ];
    const g = group([instance('i-1'), instance('i-2', { version: '2' }), instance('i-3', { version: '2' })]);
    const d = decide(planInput(rollingUpgrade({ strategy: { maxUnavailable: 2 } }), snapshot(g), nodes));
    expect(d.status.inProcessingNodes).toEqual({});
    const progressing = d.status.conditions?.find((c) => c.type === 'Progressing');
    expect(progressing).toMatchObject({ status: 'False', reason: 'NodesUnavailable' });
    expect(progressing?.message).toMatch(/n2 is NotReady.*n3 is cordoned by someone/);
    expect(d.requeueAfterMs).toBe(5000);
  });

  it('a failed drain: recorded with the message, node uncordoned, others go on, retried last; a second failure ends in error', () => {
    const failure: DrainState = {
      state: 'failed',
      startedAt: 0,
      finishedAt: 0,
      reason: 'DisruptionBudget',
      message: 'drain node n1: eviction of pod shop/web-1 blocked by PodDisruptionBudget shop/web for 5s',
      pods: ['shop/web-1'],
      podDisruptionBudgets: ['shop/web'],
    };
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: { n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'drain' } },
    };
    const g = threeOld();
    const d = decide(
      planInput(rollingUpgrade({}, status), snapshot(g), threeNodes(), {
        drains: new Map([['n1', failure]]),
      }),
    );
    expect(d.status.drainFailures).toEqual([
      expect.objectContaining({
        nodeName: 'n1',
        instanceID: 'i-1',
        reason: 'DisruptionBudget',
        pods: ['shop/web-1'],
        podDisruptionBudgets: ['shop/web'],
        attempts: 1,
      }),
    ]);
    expect(d.actions).toEqual(
      expect.arrayContaining([
        { type: 'uncordon', nodeName: 'n1' },
        { type: 'forgetDrain', key: 'n1' },
      ]),
    );
    expect(d.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'DrainFailed',
        message: expect.stringContaining('PodDisruptionBudget shop/web'),
      }),
    ]);
    expect(d.drainFailures).toBe(1);
    // no new batch until the uncordon is done and seen
    expect(d.status.inProcessingNodes).toEqual({});
    expect(d.requeueAfterMs).toBe(0);
    // next batch: a node other than n1
    const next = decide(planInput(rollingUpgrade({}, d.status), snapshot(g), threeNodes()));
    expect(Object.values(next.status.inProcessingNodes ?? {})[0]?.instanceID).not.toBe('i-1');
    // only n1 left, it fails again: error
    const onlyN1 = group([
      instance('i-1'),
      instance('i-8', { version: '2' }),
      instance('i-9', { version: '2' }),
    ]);
    const nodes = [node('n1', 'i-1'), node('n8', 'i-8'), node('n9', 'i-9')];
    const retry = decide(planInput(rollingUpgrade({}, d.status), snapshot(onlyN1), nodes));
    expect(Object.keys(retry.status.inProcessingNodes ?? {})).toEqual(['n1']);
    const failedAgain = decide(
      planInput(
        rollingUpgrade(
          {},
          {
            ...retry.status,
            inProcessingNodes: { n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'drain' } },
          },
        ),
        snapshot(onlyN1),
        nodes,
        { drains: new Map([['n1', failure]]) },
      ),
    );
    expect(failedAgain.status.drainFailures?.[0]?.attempts).toBe(2);
    const end = decide(planInput(rollingUpgrade({}, failedAgain.status), snapshot(onlyN1), nodes));
    expect(end.status.currentStatus).toBe('error');
    expect(end.status.conditions?.find((c) => c.type === 'Complete')).toMatchObject({
      status: 'False',
      reason: 'DrainFailed',
      message: expect.stringContaining('shop/web-1'),
    });
    expect(end.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'Failed' })]);
  });

  it('ignoreDrainFailures: a failed drain goes on to terminate', () => {
    const failure: DrainState = {
      state: 'failed',
      startedAt: 0,
      finishedAt: 0,
      reason: 'DisruptionBudget',
      message: 'blocked by PodDisruptionBudget shop/web',
      pods: [],
      podDisruptionBudgets: [],
    };
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: { n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'drain' } },
    };
    const d = decide(
      planInput(rollingUpgrade({ ignoreDrainFailures: true }, status), snapshot(threeOld()), threeNodes(), {
        drains: new Map([['n1', failure]]),
      }),
    );
    expect(d.status.inProcessingNodes?.n1?.stepName).toBe('post_wait');
    expect(d.status.drainFailures).toBeUndefined();
    expect(d.events[0]).toMatchObject({
      type: 'Warning',
      reason: 'DrainFailed',
      message: expect.stringContaining('terminating'),
    });
  });

  it('an instance that left the group mid-step is not terminated', () => {
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: { n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'post_wait' } },
    };
    const g = group([instance('i-2'), instance('i-3')]);
    const d = decide(planInput(rollingUpgrade({}, status), snapshot(g), threeNodes().slice(1)));
    expect(d.status.inProcessingNodes?.n1?.stepName).toBe('post_terminate');
    expect(d.actions.filter((a) => a.type === 'terminate')).toEqual([]);
  });

  it('completes when nothing is drifted and nothing is in flight', () => {
    const g = group([instance('i-1', { version: '2' })]);
    const d = decide(
      planInput(
        rollingUpgrade(
          {},
          { currentStatus: 'running', startTime: '2026-01-01T00:58:30Z', nodesProcessed: 3, totalNodes: 3 },
        ),
        snapshot(g),
        [node('n', 'i-1')],
      ),
    );
    expect(d.status).toMatchObject({
      currentStatus: 'completed',
      endTime: '2026-01-01T01:00:00Z',
      totalProcessingTime: '1m30s',
      completePercentage: '100%',
    });
    expect(d.status.conditions?.find((c) => c.type === 'Complete')).toMatchObject({
      status: 'True',
      reason: 'Completed',
    });
    expect(d.events.map((e) => e.reason)).toEqual(['Completed']);
  });

  it('an instance without a node is terminated without a drain', () => {
    const g = group([instance('i-1')]);
    const first = decide(planInput(rollingUpgrade(), snapshot(g), []));
    expect(first.status.inProcessingNodes).toEqual({
      'i-1': expect.objectContaining({ instanceID: 'i-1', stepName: 'kickoff' }),
    });
    expect(first.status.inProcessingNodes?.['i-1']?.nodeName).toBeUndefined();
    const next = decide(planInput(rollingUpgrade({}, first.status), snapshot(g), [], { now: at(10) }));
    expect(next.status.inProcessingNodes?.['i-1']?.stepName).toBe('terminate');
    expect(next.actions).toEqual([
      { type: 'terminate', key: 'i-1', instanceId: 'i-1', decrementDesired: false },
    ]);
  });

  it('waits, and says why, for a drifted instance it cannot rotate (two nodes claim it)', () => {
    const g = group([instance('i-1')]);
    const d = decide(
      planInput(
        rollingUpgrade({}, { currentStatus: 'running', startTime: '2026-01-01T00:00:00Z' }),
        snapshot(g),
        [node('a', 'i-1'), node('b', 'i-1')],
      ),
    );
    expect(d.status.inProcessingNodes).toEqual({});
    expect(d.status.currentStatus).toBe('running');
    expect(d.status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'False',
      reason: 'WaitingForInstances',
      message: expect.stringContaining('a, b all claim instance i-1'),
    });
  });

  it('maxUnavailable as a percentage of the group, in a decision', () => {
    const ten = group(Array.from({ length: 10 }, (_, i) => instance(`i-${i}`)));
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`, `i-${i}`));
    expect(
      Object.keys(
        decide(planInput(rollingUpgrade({ strategy: { maxUnavailable: '35%' } }), snapshot(ten), nodes))
          .status.inProcessingNodes ?? {},
      ),
    ).toHaveLength(3);
    expect(
      Object.keys(
        decide(planInput(rollingUpgrade({ strategy: { maxUnavailable: 0 } }), snapshot(ten), nodes)).status
          .inProcessingNodes ?? {},
      ),
    ).toHaveLength(1);
  });

  it('uncordons a stray node of ours it no longer tracks', () => {
    const g = group([instance('i-1', { version: '2' }), instance('i-2', { version: '2' })]);
    const nodes = [
      node('n1', 'i-1', { unschedulable: true, cordonedBy: OWNER }),
      node('n2', 'i-2', { unschedulable: true, cordonedBy: 'other' }),
    ];
    const d = decide(
      planInput(
        rollingUpgrade({}, { currentStatus: 'running', startTime: '2026-01-01T00:00:00Z' }),
        snapshot(g),
        nodes,
      ),
    );
    expect(d.actions).toEqual([{ type: 'uncordon', nodeName: 'n1' }]);
  });

  it('dry run: the whole plan in status, nothing recorded in flight, no actions', () => {
    const six = group(
      Array.from({ length: 6 }, (_, i) =>
        instance(`i-${i}`, { availabilityZone: ['us-west-2a', 'us-west-2b'][i % 2] }),
      ),
    );
    const nodes = Array.from({ length: 6 }, (_, i) =>
      node(`n${i}`, `i-${i}`, { zone: ['us-west-2a', 'us-west-2b'][i % 2] }),
    );
    const d = decide(
      planInput(
        rollingUpgrade({ dryRun: true, strategy: { maxUnavailable: '50%', type: 'uniformAcrossAzUpdate' } }),
        snapshot(six),
        nodes,
      ),
    );
    expect(d.actions).toEqual([]);
    expect(d.status.inProcessingNodes).toBeUndefined();
    expect(d.status.currentStatus).toBe('init');
    expect(d.status.plan?.map((b) => b.nodes.length)).toEqual([3, 3]);
    expect(d.status.plan?.flatMap((b) => b.nodes).sort()).toEqual(['n0', 'n1', 'n2', 'n3', 'n4', 'n5']);
    expect(d.status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'False',
      reason: 'DryRun',
    });
    expect(d.events.map((e) => e.reason)).toEqual(['DryRun']);
    // the --dry-run flag does the same for any upgrade, and an unchanged plan says nothing new
    const again = decide(planInput(rollingUpgrade({}, d.status), snapshot(six), nodes, { dryRunFlag: true }));
    expect(again.actions).toEqual([]);
    expect(again.status.plan?.length).toBeGreaterThan(0);
  });
});

describe('eager mode', () => {
  it('records the surge before raising desired capacity, raises it once, then drains and terminates with decrement', () => {
    const world = new World(4, { bootMs: 1000 });
    const ru = rollingUpgrade({ strategy: { mode: 'eager', maxUnavailable: 2 } });
    const first = world.decide(ru);
    expect(first.status.surge).toEqual({ baseDesired: 4, added: 2 });
    expect(first.actions).toEqual([]); // recorded only
    const second = world.decide({ ...ru, status: first.status });
    expect(second.actions).toEqual([{ type: 'setDesiredCapacity', desiredCapacity: 6 }]);
    // a restart after the raise sees desired == base + added and never adds again
    world.execute({ ...ru, status: second.status }, second);
    const third = world.decide({ ...ru, status: second.status });
    expect(third.actions.filter((a) => a.type === 'setDesiredCapacity')).toEqual([]);
    const result = run(world, { ...ru, status: third.status });
    expect(result.ru.status?.currentStatus).toBe('completed');
    expect(world.setDesiredCalls).toEqual([6, 6]);
    expect(world.group.desiredCapacity).toBe(4);
    expect([...world.terminateCalls.values()].every((n) => n === 1)).toBe(true);
    expect(result.maxUnavailable).toBe(0);
  });

  it('a crash between recording the surge and raising it raises it after the restart', () => {
    const world = new World(3);
    const ru = rollingUpgrade({ strategy: { mode: 'eager', maxUnavailable: 1 } });
    const r = run(world, ru, { crashAfterWrite: (step) => step === 1 });
    expect(r.ru.status?.currentStatus).toBe('completed');
    expect(world.group.desiredCapacity).toBe(3);
  });

  it('no room under maxSize: the batch runs as lazy and says so', () => {
    const world = new World(3);
    world.group.maxSize = 3;
    const d = world.decide(rollingUpgrade({ strategy: { mode: 'eager' } }));
    expect(d.status.surge).toBeUndefined();
    expect(d.events.map((e) => e.reason)).toContain('NoRoomForSurge');
    const r = run(world, rollingUpgrade({ strategy: { mode: 'eager' } }));
    expect(r.ru.status?.currentStatus).toBe('completed');
  });
});

describe('whole upgrades against an in-memory world', () => {
  it.each([
    [6, 2, 'randomUpdate'],
    [7, 3, 'uniformAcrossAzUpdate'],
    [5, '40%', 'randomUpdate'],
    [4, 1, 'uniformAcrossAzUpdate'],
  ] as const)(
    '%p nodes, maxUnavailable %p, %s: every drifted node replaced once, never more than maxUnavailable down',
    (count, maxU, type) => {
      const world = new World(count);
      const r = run(world, rollingUpgrade({ strategy: { maxUnavailable: maxU, type } }));
      const limit = typeof maxU === 'number' ? maxU : Math.floor((parseInt(maxU) * count) / 100);
      expect(r.ru.status).toMatchObject({
        currentStatus: 'completed',
        nodesProcessed: count,
        totalNodes: count,
        completePercentage: '100%',
      });
      expect(r.maxUnavailable).toBeLessThanOrEqual(limit);
      expect(r.maxUnavailable).toBe(limit); // and it does use the budget
      expect(world.terminateCalls.size).toBe(count);
      expect([...world.terminateCalls.values()].every((n) => n === 1)).toBe(true);
      expect(world.group.instances.every((i) => i.launchTemplate?.version === '2')).toBe(true);
      expect(world.cordoned()).toEqual([]);
      const stats = Object.fromEntries(
        (r.ru.status?.statistics ?? []).map((s) => [s.stepName, s.durationCount]),
      );
      expect(stats).toMatchObject({
        kickoff: count,
        drain: count,
        post_wait: count,
        terminate: count,
        post_terminate: count,
        total: count,
      });
    },
  );

  it('restarts at every step (drain results lost) still finish with one terminate per instance', () => {
    for (let every = 2; every <= 7; every++) {
      // Drains shorter than the time between restarts: a controller restarting faster than it can
      // drain a node makes no progress (and should not).
      const world = new World(5, { drainMs: 5 });
      const r = run(world, rollingUpgrade({ strategy: { maxUnavailable: 2 } }), {
        crash: (step) => step % every === 0,
      });
      expect(r.ru.status?.currentStatus).toBe('completed');
      expect([...world.terminateCalls.values()].every((n) => n === 1)).toBe(true);
      expect(r.maxUnavailable).toBeLessThanOrEqual(2);
    }
  });

  it('crashes after the status write but before acting (the terminate-window) never terminate twice', () => {
    for (let every = 2; every <= 5; every++) {
      const world = new World(4);
      const r = run(world, rollingUpgrade({ strategy: { maxUnavailable: 2 } }), {
        crashAfterWrite: (step) => step % every === 1,
      });
      expect(r.ru.status?.currentStatus).toBe('completed');
      expect(world.terminateCalls.size).toBe(4);
      expect([...world.terminateCalls.values()].every((n) => n === 1)).toBe(true);
    }
  });

  it('a node a PDB pins: everything else is replaced, it is retried last, then the upgrade fails naming pod and PDB', () => {
    const failure: DrainState = {
      state: 'failed',
      startedAt: 0,
      finishedAt: 0,
      reason: 'DisruptionBudget',
      message:
        'drain node node-i-old1: eviction of pod shop/db-0 blocked by PodDisruptionBudget shop/db for 10s',
      pods: ['shop/db-0'],
      podDisruptionBudgets: ['shop/db'],
    };
    const world = new World(4, { drainFails: (n) => (n === 'node-i-old1' ? failure : undefined) });
    const r = run(world, rollingUpgrade({ strategy: { maxUnavailable: 1 } }));
    expect(r.ru.status?.currentStatus).toBe('error');
    expect(r.ru.status?.nodesProcessed).toBe(3);
    expect(r.ru.status?.drainFailures).toEqual([
      expect.objectContaining({ nodeName: 'node-i-old1', attempts: 2, podDisruptionBudgets: ['shop/db'] }),
    ]);
    expect(world.terminateCalls.has('i-old1')).toBe(false);
    expect(world.cordoned()).toEqual([]);
    // the retry came after every other node
    const drained = r.decisions.flatMap((d) =>
      d.actions.filter((a) => a.type === 'drain').map((a) => (a as { nodeName: string }).nodeName),
    );
    expect(drained.at(-1)).toBe('node-i-old1');
    expect(drained.filter((n) => n === 'node-i-old1')).toHaveLength(2);
  });

  it('dry run in the world touches nothing', () => {
    const world = new World(4);
    const r = run(world, rollingUpgrade({ dryRun: true }));
    expect(r.ru.status?.plan).toHaveLength(4);
    expect(world.terminateCalls.size).toBe(0);
    expect(world.cordoned()).toEqual([]);
  });
});

describe('scripts (run as Jobs: the plan asks for them and follows their state)', () => {
  const SCRIPTS = {
    preDrain: { script: 'echo pre' },
    postDrain: { script: 'echo post', waitSeconds: 10, postWaitScript: 'echo waited' },
    postTerminate: { script: 'echo gone' },
  };
  const g = () =>
    group([instance('i-1'), instance('i-2', { version: '2' }), instance('i-3', { version: '2' })]);
  const nodes = () => [node('n1', 'i-1'), node('n2', 'i-2'), node('n3', 'i-3')];
  const at1 = (stepName: RollingUpgradeStep, extra = {}) =>
    ({
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: {
        n1: { nodeName: 'n1', instanceID: 'i-1', stepName, stepStartTime: '2026-01-01T00:59:00Z', ...extra },
      },
    }) as RollingUpgradeStatus;
  const jobs = (entries: [ScriptPhase, ScriptState][]) =>
    new Map(entries.map(([phase, s]) => [scriptStateKey('n1', phase), s]));
  const ok = (job: string): ScriptState => ({ state: 'succeeded', job: `ns/${job}` });
  const running = (job: string): ScriptState => ({ state: 'running', job: `ns/${job}` });
  const step = (
    spec: Partial<RollingUpgradeSpec>,
    status: RollingUpgradeStatus,
    scripts: Map<string, ScriptState> = new Map(),
    opts: { group?: ReturnType<typeof g>; nodes?: ReturnType<typeof nodes> } = {},
  ) =>
    decide(
      planInput(rollingUpgrade(spec, status), snapshot(opts.group ?? g()), opts.nodes ?? nodes(), {
        scripts,
      }),
    );

  it('kickoff -> predrain_script: asks for the Job (no drain yet); waits while it runs; drains once it succeeded', () => {
    const d = step(SCRIPTS, at1('kickoff'));
    expect(d.status.inProcessingNodes?.n1?.stepName).toBe('predrain_script');
    expect(d.actions).toEqual([
      {
        type: 'runScript',
        key: 'n1',
        phase: 'preDrain',
        nodeName: 'n1',
        instanceId: 'i-1',
        script: 'echo pre',
        attempt: 1,
      },
    ]);
    const waiting = step(SCRIPTS, d.status, jobs([['preDrain', running('pre-1')]]));
    expect(waiting.actions).toEqual([]);
    expect(waiting.status.inProcessingNodes?.n1?.stepName).toBe('predrain_script');
    expect(waiting.status.conditions?.find((c) => c.type === 'Progressing')?.message).toContain(
      'n1 running its preDrain script (Job ns/pre-1)',
    );
    const done = step(SCRIPTS, d.status, jobs([['preDrain', ok('pre-1')]]));
    expect(done.status.inProcessingNodes?.n1?.stepName).toBe('drain');
    expect(done.actions).toEqual([expect.objectContaining({ type: 'drain', nodeName: 'n1' })]);
    expect(done.events).toEqual([
      expect.objectContaining({ reason: 'ScriptSucceeded', message: expect.stringContaining('ns/pre-1') }),
    ]);
  });

  it('drained -> postdrain_script -> post_wait (waitSeconds) -> postWaitScript -> terminate', () => {
    const drained = decide(
      planInput(rollingUpgrade(SCRIPTS, at1('drain')), snapshot(g()), nodes(), {
        drains: new Map<string, DrainState>([
          ['n1', { state: 'succeeded', startedAt: 0, finishedAt: 0, evicted: 1 }],
        ]),
      }),
    );
    expect(drained.status.inProcessingNodes?.n1?.stepName).toBe('postdrain_script');
    expect(drained.actions).toEqual([
      { type: 'forgetDrain', key: 'n1' },
      expect.objectContaining({ type: 'runScript', phase: 'postDrain', script: 'echo post' }),
    ]);
    const waiting = step(SCRIPTS, drained.status, jobs([['postDrain', ok('post-1')]]));
    expect(waiting.status.inProcessingNodes?.n1?.stepName).toBe('post_wait');
    expect(waiting.requeueAfterMs).toBe(10_000);
    // waitSeconds elapsed (post_wait started a minute ago): the postWaitScript, then terminate
    const postWait = step(SCRIPTS, at1('post_wait'));
    expect(postWait.status.inProcessingNodes?.n1?.stepName).toBe('post_wait');
    expect(postWait.actions).toEqual([
      expect.objectContaining({ type: 'runScript', phase: 'postWait', script: 'echo waited' }),
    ]);
    const terminate = step(SCRIPTS, at1('post_wait'), jobs([['postWait', ok('wait-1')]]));
    expect(terminate.status.inProcessingNodes?.n1?.stepName).toBe('terminate');
    expect(terminate.actions).toEqual([expect.objectContaining({ type: 'terminate', instanceId: 'i-1' })]);
  });

  it('post_terminate: the postTerminate script runs before the node counts as replaced', () => {
    // i-1 is gone and the group is back at 3 Ready nodes
    const replaced = group([
      instance('i-2', { version: '2' }),
      instance('i-3', { version: '2' }),
      instance('i-4', { version: '2' }),
    ]);
    const back = [node('n2', 'i-2'), node('n3', 'i-3'), node('n4', 'i-4')];
    const opts = { group: replaced, nodes: back };
    const asks = step(SCRIPTS, at1('post_terminate'), new Map(), opts);
    expect(asks.status.inProcessingNodes?.n1?.stepName).toBe('post_terminate');
    expect(asks.actions).toEqual([
      expect.objectContaining({ type: 'runScript', phase: 'postTerminate', instanceId: 'i-1' }),
    ]);
    const runs = step(SCRIPTS, at1('post_terminate'), jobs([['postTerminate', running('t-1')]]), opts);
    expect(runs.status.inProcessingNodes?.n1?.stepName).toBe('post_terminate');
    const done = step(SCRIPTS, at1('post_terminate'), jobs([['postTerminate', ok('t-1')]]), opts);
    expect(done.status.inProcessingNodes).toEqual({});
    expect(done.nodesCompleted).toBe(1);
    expect(done.events.map((e) => e.reason)).toEqual([
      'ScriptSucceeded',
      'NodeReplaced',
      'BatchCompleted',
      'Completed',
    ]);
  });

  it('a failed script stops the upgrade: error, ScriptFailed naming the Job, phase and reason; nodes not yet terminated are uncordoned', () => {
    const status: RollingUpgradeStatus = {
      currentStatus: 'running',
      startTime: '2026-01-01T00:00:00Z',
      inProcessingNodes: {
        n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'postdrain_script' },
        n2: { nodeName: 'n2', instanceID: 'i-2', stepName: 'drain' },
        n3: { nodeName: 'n3', instanceID: 'i-3', stepName: 'terminate' },
      },
    };
    const failed: ScriptState = {
      state: 'failed',
      job: 'ns/post-1',
      reason: 'DeadlineExceeded',
      message: 'Job was active longer than specified deadline',
    };
    const d = decide(
      planInput(
        rollingUpgrade({ ...SCRIPTS, strategy: { maxUnavailable: 3 } }, status),
        snapshot(group([instance('i-1'), instance('i-2'), instance('i-3')])),
        nodes(),
        { scripts: jobs([['postDrain', failed]]) },
      ),
    );
    expect(d.status.currentStatus).toBe('error');
    expect(d.status.endTime).toBeDefined();
    const complete = d.status.conditions?.find((c) => c.type === 'Complete');
    expect(complete).toMatchObject({ status: 'False', reason: 'ScriptFailed' });
    expect(complete?.message).toBe(
      'postDrain script (spec.postDrain.script) of node n1 failed: Job ns/post-1: DeadlineExceeded: Job was active longer than specified deadline',
    );
    const event = d.events.find((e) => e.reason === 'ScriptFailed');
    expect(event).toMatchObject({ type: 'Warning' });
    expect(event?.message).toContain('Job ns/post-1');
    expect(event?.message).toContain('n1, n2 uncordoned');
    expect(d.events.map((e) => e.reason)).toContain('Failed');
    // nothing new starts (no drain of n2 again); n3, recorded at terminate, is terminated as recorded
    expect(d.actions).toEqual([
      { type: 'terminate', key: 'n3', instanceId: 'i-3', decrementDesired: false },
      { type: 'uncordon', nodeName: 'n1' },
      { type: 'uncordon', nodeName: 'n2' },
    ]);
  });

  it('ignoreScripts: no script step, no Job', () => {
    const d = step({ ...SCRIPTS, ignoreScripts: true }, at1('kickoff'));
    expect(d.status.inProcessingNodes?.n1?.stepName).toBe('drain');
    expect(d.actions.map((a) => a.type)).toEqual(['drain']);
  });

  it('a step recorded at predrain_script without a preDrain script (an upstream status) goes on to drain', () => {
    const d = step({}, at1('predrain_script'));
    expect(d.status.inProcessingNodes?.n1?.stepName).toBe('drain');
  });

  it('a node retried after a failed drain runs its scripts again (attempt 2: another Job)', () => {
    const status = {
      ...at1('kickoff'),
      drainFailures: [{ nodeName: 'n1', instanceID: 'i-1', attempts: 1 }],
    } as RollingUpgradeStatus;
    const d = step(SCRIPTS, status);
    expect(d.actions).toEqual([expect.objectContaining({ type: 'runScript', attempt: 2 })]);
  });

  it('a whole upgrade with every script: each Job created once, restarts at every step included', () => {
    for (const every of [0, 2, 3, 5]) {
      const world = new World(3, { drainMs: 5, scriptMs: 20 });
      const r = run(world, rollingUpgrade({ ...SCRIPTS, strategy: { maxUnavailable: 2 } }), {
        crash: (s) => every > 0 && s % every === 0,
      });
      expect(r.ru.status?.currentStatus).toBe('completed');
      expect(world.jobCreations.size).toBe(3 * 4);
      expect([...world.jobCreations.values()].every((n) => n === 1)).toBe(true);
      expect([...world.terminateCalls.values()].every((n) => n === 1)).toBe(true);
      const stats = Object.fromEntries(
        (r.ru.status?.statistics ?? []).map((x) => [x.stepName, x.durationCount]),
      );
      expect(stats).toMatchObject({ predrain_script: 3, postdrain_script: 3, post_wait: 3, total: 3 });
    }
  });

  it("a whole upgrade where one node's postDrain script fails: error, that node uncordoned and kept", () => {
    const world = new World(3, {
      drainMs: 5,
      scriptMs: 20,
      scriptFails: (phase, key) =>
        phase === 'postDrain' && key === 'node-i-old1'
          ? { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }
          : undefined,
    });
    const r = run(world, rollingUpgrade({ ...SCRIPTS, strategy: { maxUnavailable: 1 } }));
    expect(r.ru.status?.currentStatus).toBe('error');
    expect(world.cordoned()).toEqual([]);
    expect(world.terminateCalls.has('i-old1')).toBe(false);
    expect(world.group.instances.map((i) => i.id)).toContain('i-old1');
    expect(r.ru.status?.conditions?.find((c) => c.type === 'Complete')?.message).toContain(
      'BackoffLimitExceeded',
    );
  });
});

describe('Go durations', () => {
  it.each([
    [0, '0s'],
    [450, '450ms'],
    [1500, '1.5s'],
    [90_000, '1m30s'],
    [3_723_400, '1h2m3.4s'],
  ])('%p ms -> %s and back', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
    expect(parseGoDurationMs(text)).toBe(ms);
  });
});
