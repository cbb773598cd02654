// The node reaper's decisions as pure functions: every kind, opt-outs, the breaker, budget and
// throttles, locks, stability, soft reap, resume, flap window, unjoined, and the flag parsers.
import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import {
  breaker,
  decide,
  detect,
  flapTransitions,
  nextKillAt,
  unjoinedInstances,
  type CandidateFacts,
  type NodeView,
  type ReaperMemory,
} from '../src/node/plan';
import { overridesFor } from '../src/node/overrides';
import {
  NODE_REAPER_DEFAULTS,
  parseConditionRule,
  parseDuration,
  parseTaintMatcher,
  type NodeReaperSettings,
} from '../src/node/settings';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const ago = (min: number) => new Date(NOW - min * 60_000).toISOString();
const S: NodeReaperSettings = { ...NODE_REAPER_DEFAULTS };

interface NodeOpts {
  ready?: 'True' | 'False' | 'Unknown';
  since?: number;
  age?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: string }>;
  conditions?: Array<{ type: string; status: string; since: number }>;
}

function node(name: string, o: NodeOpts = {}): V1Node {
  return {
    metadata: {
      name,
      creationTimestamp: new Date(ago(o.age ?? 60)),
      labels: o.labels ?? {},
      annotations: o.annotations ?? {},
    },
    spec: { providerID: `aws:///us-west-2a/i-${name}`, taints: o.taints ?? [] },
    status: {
      conditions: [
        { type: 'Ready', status: o.ready ?? 'True', lastTransitionTime: new Date(ago(o.since ?? 60)) },
        ...(o.conditions ?? []).map((c) => ({
          type: c.type,
          status: c.status,
          lastTransitionTime: new Date(ago(c.since)),
        })),
      ],
    },
  } as V1Node;
}

function view(n: V1Node, extra: Partial<NodeView> = {}): NodeView {
  const name = n.metadata?.name ?? '';
  return {
    node: n,
    name,
    instanceId: `i-${name}`,
    group: 'g1',
    instanceState: 'running',
    flapTransitions: 0,
    ...extra,
  };
}

const healthyFleet = (count: number) => Array.from({ length: count }, (_, i) => view(node(`h${i}`)));
const facts = (f: Partial<CandidateFacts> = {}): CandidateFacts => ({
  readyPods: new Map(),
  stableGroups: new Set(['g1', 'g2']),
  lockedGroups: new Map(),
  ...f,
});
const none: ReaperMemory = { kills: [] };

function plan(views: NodeView[], s = S, f = facts(), memory = none) {
  const candidates = detect(views, s, NOW);
  const nodes = new Map(views.map((v) => [v.name, v.node]));
  return { candidates, decision: decide(candidates, nodes, s, f, memory, breaker(views, s), NOW) };
}

describe('detect', () => {
  it('finds Unknown and NotReady nodes past reap-after, not before', () => {
    const views = [
      view(node('unknown', { ready: 'Unknown', since: 11 })),
      view(node('unready', { ready: 'False', since: 30 })),
      view(node('fresh', { ready: 'False', since: 5 })),
      ...healthyFleet(7),
    ];
    const c = detect(views, S, NOW);
    expect(c.map((x) => [x.name, x.kind])).toEqual([
      ['unready', 'unready'],
      ['unknown', 'unknown'],
    ]);
    expect(c[0]?.detail).toBe('Ready False for 30m');
  });

  it('honours the opt-out labels and the per-kind switches', () => {
    const views = [
      view(
        node('a', {
          ready: 'Unknown',
          since: 20,
          labels: { 'governor.keikoproj.io/node-reaper-disabled': 'true' },
        }),
      ),
      view(
        node('b', {
          ready: 'Unknown',
          since: 20,
          labels: { 'governor.keikoproj.io/reap-unknown-disabled': 'true' },
        }),
      ),
      view(node('c', { ready: 'False', since: 20 })),
    ];
    expect(detect(views, S, NOW).map((x) => x.name)).toEqual(['c']);
    expect(detect(views, { ...S, reapUnready: false }, NOW)).toEqual([]);
  });

  it('configured conditions with their own durations', () => {
    const s = { ...S, reapConditions: [parseConditionRule('KernelDeadlock=True:5m')] };
    const views = [
      view(node('dead', { conditions: [{ type: 'KernelDeadlock', status: 'True', since: 6 }] })),
      view(node('soon', { conditions: [{ type: 'KernelDeadlock', status: 'True', since: 4 }] })),
    ];
    expect(detect(views, s, NOW).map((x) => [x.name, x.kind])).toEqual([['dead', 'condition']]);
  });

  it("tainted, ghost, flappy and old (old only when every node is Ready, never governor's node)", () => {
    const s = {
      ...S,
      reapOld: true,
      oldThresholdMs: 60 * 60_000,
      reapTainted: [parseTaintMatcher('bad:NoSchedule')],
      selfNode: 'self',
    };
    const views = [
      view(node('t', { taints: [{ key: 'bad', value: 'x', effect: 'NoSchedule' }] })),
      view(node('g'), { instanceState: 'terminated', runningTwin: 'i-other' }),
      view(node('f'), { flapTransitions: 5 }),
      view(node('old', { age: 120 })),
      view(node('older', { age: 240 })),
      view(node('self', { age: 500 })),
    ];
    const got = detect(views, s, NOW).map((x) => [x.name, x.kind]);
    expect(got).toEqual([
      ['f', 'flappy'],
      ['g', 'ghost'],
      ['t', 'tainted'],
      ['older', 'old'],
      ['old', 'old'],
    ]);
    const oneDown = [...views, view(node('down', { ready: 'False', since: 1 }))];
    expect(detect(oneDown, s, NOW).some((c) => c.kind === 'old')).toBe(false);
  });

  it('a node marked draining or termination-issued comes back as resuming', () => {
    const c = detect(
      [view(node('x', { annotations: { 'governor.keikoproj.io/state': 'draining' } }))],
      S,
      NOW,
    );
    expect(c).toHaveLength(1);
    expect(c[0]?.resuming).toBe('draining');
  });

  it('a resumed reap keeps the kind it began as (the node annotation outlives the kill record)', () => {
    const marked = (kind: string) =>
      node('x', {
        annotations: { 'governor.keikoproj.io/state': 'draining', 'governor.keikoproj.io/reap-kind': kind },
      });
    expect(detect([view(marked('old'))], S, NOW)[0]?.kind).toBe('old');
    expect(detect([view(marked('nonsense'))], S, NOW)[0]?.kind).toBe('unready');
  });
});

describe('circuit breaker', () => {
  it('opens above threshold% of the cluster (rounded up) and blocks every new kill', () => {
    const views = [
      ...Array.from({ length: 4 }, (_, i) => view(node(`bad${i}`, { ready: 'False', since: 20 }))),
      ...healthyFleet(6),
    ];
    const { candidates, decision } = plan(views);
    expect(candidates).toHaveLength(4);
    expect(breaker(views, S).cluster).toMatchObject({ open: true, unhealthy: 4, total: 10, allowed: 2 });
    expect(decision.reap).toEqual([]);
    expect(decision.skipped[0]?.why).toMatch(/circuit breaker open: 4\/10/);
  });

  it('stays closed at the threshold, and a group of its own can open alone', () => {
    const views = [view(node('bad', { ready: 'False', since: 20 })), ...healthyFleet(9)];
    expect(breaker(views, S).cluster.open).toBe(false);
    const small = [
      view(node('x1', { ready: 'False', since: 20 }), { group: 'g2' }),
      view(node('x2', { ready: 'False', since: 20 }), { group: 'g2' }),
      view(node('x3'), { group: 'g2' }),
      ...healthyFleet(17),
    ];
    const br = breaker(small, S);
    expect(br.cluster.open).toBe(false);
    expect([...br.groups.keys()]).toEqual(['g2']);
    expect(plan(small).decision.reap).toEqual([]);
  });
});

describe('decide', () => {
  const twoDown = () => [
    view(node('a', { ready: 'Unknown', since: 30 })),
    view(node('b', { ready: 'Unknown', since: 20 })),
    ...healthyFleet(10),
  ];

  it('kills at most --max-kill-nodes per window, longest unhealthy first', () => {
    const { decision } = plan(twoDown(), { ...S, reapThrottleMs: 0 });
    expect(decision.reap.map((c) => c.name)).toEqual(['a']);
    expect(decision.skipped[0]?.why).toMatch(/--max-kill-nodes 1/);
    expect(plan(twoDown(), { ...S, maxKillNodes: 2, reapThrottleMs: 0 }).decision.reap).toHaveLength(2);
  });

  it('the throttle after a persisted kill holds new kills, old kills throttle longer', () => {
    const memory: ReaperMemory = { kills: [{ node: 'z', kind: 'unknown', at: NOW - 60_000 }] };
    const s = { ...S, maxKillNodes: 5, killWindowMs: 30_000 };
    expect(plan(twoDown(), s, facts(), memory).decision.skipped[0]?.why).toMatch(/throttled until/);
    expect(nextKillAt(memory, s)).toBe(NOW - 60_000 + 300_000);
    expect(nextKillAt({ kills: [{ node: 'z', kind: 'old', at: NOW }] }, s)).toBe(NOW + 1_800_000);
    const later = plan(twoDown(), s, facts(), { kills: [{ node: 'z', kind: 'unknown', at: NOW - 301_000 }] });
    expect(later.decision.reap.map((c) => c.name)).toEqual(['a']);
  });

  it('kills within the window count against the budget (a restart does not reset it)', () => {
    const memory: ReaperMemory = { kills: [{ node: 'z', kind: 'unknown', at: NOW - 400_000 }] };
    const { decision } = plan(twoDown(), { ...S, killWindowMs: 600_000 }, facts(), memory);
    expect(decision.reap).toEqual([]);
    expect(decision.skipped[0]?.why).toMatch(/max-kill-nodes/);
  });

  it('leaves a group locked by another tool, an unstable group, and a node with a Ready pod (soft reap)', () => {
    const s = { ...S, maxKillNodes: 3, reapThrottleMs: 0 };
    const locked = plan(twoDown(), s, facts({ lockedGroups: new Map([['g1', 'upgrade-manager']]) }));
    expect(locked.decision.reap).toEqual([]);
    expect(locked.decision.skipped[0]?.why).toMatch(/being disrupted by upgrade-manager/);
    const unstable = plan(twoDown(), s, facts({ stableGroups: new Set() }));
    expect(unstable.decision.skipped[0]?.why).toMatch(/not stable/);
    expect(
      plan(twoDown(), { ...s, asgValidation: false }, facts({ stableGroups: new Set() })).decision.reap,
    ).toHaveLength(2);
    const soft = plan(twoDown(), s, facts({ readyPods: new Map([['a', 1]]) }));
    expect(soft.decision.reap.map((c) => c.name)).toEqual(['b']);
    expect(
      plan(twoDown(), { ...s, softReap: false }, facts({ readyPods: new Map([['a', 1]]) })).decision.reap,
    ).toHaveLength(2);
  });

  it('never its own node, never a node in no group, and skips age-unreapable nodes until reconsidered', () => {
    const s = { ...S, maxKillNodes: 5, reapThrottleMs: 0, selfNode: 'a' };
    const views = [
      ...twoDown(),
      view(node('c', { ready: 'False', since: 20 }), { group: undefined }),
      view(
        node('d', {
          ready: 'False',
          since: 20,
          annotations: { 'governor.keikoproj.io/age-unreapable': ago(10) },
        }),
      ),
      view(
        node('e', {
          ready: 'False',
          since: 20,
          annotations: { 'governor.keikoproj.io/age-unreapable': ago(50) },
        }),
      ),
      ...healthyFleet(20).map((v) => view(v.node, { name: `x${v.name}` })),
    ];
    const { decision } = plan(views, s);
    expect(decision.reap.map((c) => c.name).sort()).toEqual(['b', 'e']);
  });

  it('resuming nodes continue even with the breaker open or no budget left', () => {
    const views = [
      view(node('r', { annotations: { 'governor.keikoproj.io/state': 'termination-issued' } })),
      ...Array.from({ length: 5 }, (_, i) => view(node(`bad${i}`, { ready: 'False', since: 20 }))),
      ...healthyFleet(5),
    ];
    const memory: ReaperMemory = { kills: [{ node: 'r', kind: 'unknown', at: NOW - 1000 }] };
    const { decision } = plan(views, S, facts(), memory);
    expect(decision.reap.map((c) => c.name)).toEqual(['r']);
  });
});

describe('flap window and unjoined', () => {
  it('counts Ready transitions inside the window only (straddling events once)', () => {
    const window = 60 * 60_000;
    const events = [
      { reason: 'NodeReady', count: 3, firstTimestamp: ago(30), lastTimestamp: ago(5) },
      { reason: 'NodeNotReady', count: 4, firstTimestamp: ago(120), lastTimestamp: ago(10) },
      { reason: 'NodeReady', count: 9, firstTimestamp: ago(200), lastTimestamp: ago(90) },
      { reason: 'Other', count: 9, firstTimestamp: ago(1), lastTimestamp: ago(1) },
    ];
    expect(flapTransitions(events, window, NOW)).toBe(4);
  });

  it('unjoined: running, older than the threshold, and no node has it', () => {
    const s = { ...S, unjoinedThresholdMs: 15 * 60_000 };
    const instances = [
      { id: 'i-old', state: 'running', launchTime: new Date(ago(20)) },
      { id: 'i-young', state: 'running', launchTime: new Date(ago(5)) },
      { id: 'i-joined', state: 'running', launchTime: new Date(ago(20)) },
      { id: 'i-stopped', state: 'stopped', launchTime: new Date(ago(20)) },
    ];
    expect(unjoinedInstances(instances, new Set(['i-joined']), s, NOW)).toEqual(['i-old']);
  });
});

describe('flag parsers', () => {
  it('taints: key=value:effect, key:effect, key; bad ones name the flag', () => {
    expect(parseTaintMatcher('a=b:NoExecute')).toEqual({ key: 'a', value: 'b', effect: 'NoExecute' });
    expect(parseTaintMatcher('example.com/a:NoSchedule')).toEqual({
      key: 'example.com/a',
      effect: 'NoSchedule',
    });
    expect(parseTaintMatcher('a')).toEqual({ key: 'a' });
    expect(() => parseTaintMatcher('a=b:Never')).toThrow(/--reap-tainted: invalid taint "a=b:Never"/);
    expect(() => parseTaintMatcher('a:b:c')).toThrow(/--reap-tainted/);
    expect(() => parseTaintMatcher('-bad')).toThrow(/not a valid taint key/);
  });

  it('conditions and durations', () => {
    expect(parseConditionRule('KernelDeadlock=True:5m')).toEqual({
      type: 'KernelDeadlock',
      status: 'True',
      forMs: 300_000,
    });
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('5x')).toBeUndefined();
    expect(() => parseConditionRule('KernelDeadlock=Yes:5m')).toThrow(/--reap-conditions/);
    expect(() => parseConditionRule('Ready=False:5m')).toThrow(/--reap-unready/);
  });
});

describe('per-group overrides (node labels, upstream #74)', () => {
  const L = 'governor.keikoproj.io';
  const s = {
    ...S,
    reapOld: true,
    oldThresholdMs: 60 * 60_000,
    maxKillNodes: 5,
    reapThrottleMs: 0,
    reapOldThrottleMs: 0,
  };

  it("a node's labels override reap-after, the old threshold and the flap count", () => {
    const views = [
      view(node('slow', { ready: 'Unknown', since: 15, labels: { [`${L}/reap-after-minutes`]: '30' } })),
      view(node('quick', { ready: 'Unknown', since: 15 })),
      view(node('young', { age: 120, labels: { [`${L}/reap-old-threshold-minutes`]: '10080' } })),
      view(node('flappy', { labels: { [`${L}/flap-count`]: '2' } }), { flapTransitions: 2 }),
    ];
    expect(detect(views, s, NOW).map((c) => `${c.name}:${c.kind}`)).toEqual([
      'quick:unknown',
      'flappy:flappy',
    ]);
  });

  it('an old node waits for its reap window (UTC, may wrap midnight); an unhealthy one does not', () => {
    // NOW is 12:00 UTC.
    const windowed = (name: string, w: string, o: NodeOpts = {}) =>
      view(node(name, { age: 120, ...o, labels: { [`${L}/reap-window`]: w } }));
    const { decision } = plan(
      [windowed('inside', '1100-1300'), windowed('outside', '0200-0500'), windowed('wrapped', '2300-1201')],
      s,
    );
    expect(decision.reap.map((c) => c.name).sort()).toEqual(['inside', 'wrapped']);
    expect(decision.skipped.map((x) => [x.candidate.name, x.why])).toEqual([
      ['outside', `outside its reap window 0200-0500 UTC (label ${L}/reap-window)`],
    ]);
    const dead = plan([windowed('dead', '0200-0500', { ready: 'Unknown', since: 15 })], s);
    expect(dead.decision.reap.map((c) => c.name)).toEqual(['dead']);
  });

  it('a malformed label is reported, naming it, and the flag applies', () => {
    const bad = node('bad', {
      labels: { [`${L}/reap-window`]: '25:00', [`${L}/reap-after-minutes`]: '0' },
    });
    const o = overridesFor(bad, s);
    expect(o.settings).toEqual(s);
    expect(o.window).toBeUndefined();
    expect(o.problems).toEqual([
      `label ${L}/reap-after-minutes=0: expected whole minutes ≥ 1; the flag applies`,
      `label ${L}/reap-window=25:00: expected HHMM-HHMM in UTC, e.g. 0200-0500; the flag applies`,
    ]);
  });
});
