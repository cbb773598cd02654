// Unjoined instances are terminated under the node reaper's rules: the kill budget and throttle as the
// state ConfigMap holds them when the kill is written, and the group's disruption lock.
import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import type { FoundInstance, NodeReaperAws } from '../src/node/aws';
import type { NodeReaperDeps } from '../src/node/reaper';
import { NODE_REAPER_DEFAULTS } from '../src/node/settings';
import { UnjoinedReaper } from '../src/node/unjoined';
import { emptyState, type GovernorState } from '../src/state';
import { Registry } from 'prom-client';
import { GovernorMetrics } from '../src/metrics';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const launched = new Date(NOW - 60 * 60_000);
const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

function harness(opts: { state?: GovernorState; lockedGroups?: string[]; maxKillNodes?: number } = {}) {
  let state = opts.state ?? emptyState();
  const terminated: string[] = [];
  const running: FoundInstance[] = [
    { id: 'i-a', state: 'running', launchTime: launched },
    { id: 'i-b', state: 'running', launchTime: launched, group: 'workers' },
    { id: 'i-c', state: 'running', launchTime: launched },
  ];
  const aws: Partial<NodeReaperAws> = {
    runningByTag: async () => running,
    terminateInstance: async (id) => void terminated.push(id),
  };
  const locks = {
    acquire: async (ref: { name: string }) =>
      opts.lockedGroups?.includes(ref.name) ? { held: false, holder: 'upgrade-manager' } : { held: true },
    release: async () => undefined,
  };
  const deps = {
    aws,
    locks,
    log: quiet,
    metrics: new GovernorMetrics(new Registry()),
    identity: 'governor',
    region: 'us-west-2',
    state: { update: async (f: (s: GovernorState) => GovernorState) => (state = f(state)) },
    settings: {
      ...NODE_REAPER_DEFAULTS,
      reapUnjoined: true,
      unjoinedTag: { key: 'cluster', value: 'c1' },
      maxKillNodes: opts.maxKillNodes ?? 5,
      reapThrottleMs: 0,
    },
  } as unknown as NodeReaperDeps;
  const reaper = new UnjoinedReaper(deps);
  const sweep = () => reaper.sweep([{ node: { spec: {} } as V1Node } as never], NOW);
  return { sweep, terminated, state: () => state };
}

describe('unjoined instances', () => {
  it('are terminated and each counted as a kill', async () => {
    const h = harness();
    expect(await h.sweep()).toEqual(['i-a', 'i-b', 'i-c']);
    expect(h.terminated).toEqual(['i-a', 'i-b', 'i-c']);
    expect(h.state().kills.map((k) => [k.instanceId, k.kind])).toEqual([
      ['i-a', 'unjoined'],
      ['i-b', 'unjoined'],
      ['i-c', 'unjoined'],
    ]);
  });

  it('stop at --max-kill-nodes, counting the node kills already in the window', async () => {
    const state = { ...emptyState(), kills: [{ node: 'n1', kind: 'unready' as const, at: NOW - 1000 }] };
    const h = harness({ state, maxKillNodes: 2 });
    await h.sweep();
    expect(h.terminated).toEqual(['i-a']);
    expect(h.state().kills).toHaveLength(2);
  });

  it('in a group another tool has locked are left alone', async () => {
    const h = harness({ lockedGroups: ['workers'] });
    await h.sweep();
    expect(h.terminated).toEqual(['i-a', 'i-c']);
  });
});
