// Unjoined instances (tagged, running past the threshold, no node) are terminated from the same budget as
// nodes: --max-kill-nodes in the window and --reap-throttle, recorded in the state ConfigMap before the
// terminate, and never while another tool holds the group's disruption lock. The reaper runs against the
// test cluster (state ConfigMap, locks, Events); AWS is a fake port recording each terminate.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EventRecorder, KubeClient, noopLogger } from '@keiko/kube-runtime';
import { DisruptionLocks } from '@keiko/node-ops';
import { createNamespace, deleteNamespace, kubeConfigFromEnv } from '@keiko/testenv';
import { Registry } from 'prom-client';
import { GovernorMetrics } from '../src/metrics';
import type { FoundInstance, NodeReaperAws } from '../src/node/aws';
import { NodeReaper } from '../src/node/reaper';
import { NODE_REAPER_DEFAULTS, type NodeReaperSettings } from '../src/node/settings';
import { StateStore } from '../src/state';

const kc = kubeConfigFromEnv();
const client = new KubeClient(kc);
let ns: string;

beforeAll(async () => {
  ns = await createNamespace('gov-unjoined', { kubeConfig: kc });
});
afterAll(async () => {
  await deleteNamespace(ns, kc).catch(() => undefined);
});

const launched = new Date(Date.now() - 60 * 60_000);
function fakeAws(instances: FoundInstance[]): NodeReaperAws & { terminated: string[] } {
  const terminated: string[] = [];
  return {
    terminated,
    instances: async () => [],
    runningByDnsName: async () => [],
    runningByTag: async () => instances.filter((i) => !terminated.includes(i.id)),
    stableGroups: async () => new Set<string>(),
    terminateInGroup: async () => {
      throw new Error('no group terminate expected');
    },
    terminateInstance: async (id: string) => {
      terminated.push(id);
    },
  };
}

function reaper(aws: NodeReaperAws, state: string, settings: Partial<NodeReaperSettings>, now: () => number) {
  return new NodeReaper({
    client,
    events: new EventRecorder(client, { component: 'governor' }),
    log: noopLogger,
    metrics: new GovernorMetrics(new Registry()),
    aws,
    locks: new DisruptionLocks(client, { namespace: ns }),
    state: new StateStore(client, ns, state),
    settings: {
      ...NODE_REAPER_DEFAULTS,
      reapUnjoined: true,
      unjoinedTag: { key: 'k', value: 'v' },
      ...settings,
    },
    listNodes: async () => [],
    identity: 'governor',
    region: 'us-west-2',
    now,
  });
}

describe('governor: unjoined instances', () => {
  it('spend the kill budget and the throttle, recorded in the state; a later sweep never re-spends it', async () => {
    const aws = fakeAws(['i-a', 'i-b', 'i-c'].map((id) => ({ id, state: 'running', launchTime: launched })));
    let now = Date.now();
    const r = reaper(aws, 'state-budget', { maxKillNodes: 2, reapThrottleMs: 60_000 }, () => now);
    expect((await r.sweep()).unjoined).toEqual(['i-a']); // the throttle stops the second one this sweep
    expect((await r.sweep()).unjoined).toEqual([]);
    now += 61_000;
    expect((await r.sweep()).unjoined).toEqual(['i-b']);
    now += 61_000;
    expect((await r.sweep()).unjoined).toEqual([]); // --max-kill-nodes 2 in the window
    expect(aws.terminated).toEqual(['i-a', 'i-b']);
    const state = await new StateStore(client, ns, 'state-budget').load();
    expect(state.kills.map((k) => [k.instanceId, k.kind])).toEqual([
      ['i-a', 'unjoined'],
      ['i-b', 'unjoined'],
    ]);
  });

  it('leaves alone an instance whose group another tool holds the disruption lock of', async () => {
    const aws = fakeAws([{ id: 'i-locked', state: 'running', launchTime: launched, group: 'asg-rolling' }]);
    const locks = new DisruptionLocks(client, { namespace: ns });
    const ref = { region: 'us-west-2', name: 'asg-rolling' };
    expect((await locks.acquire(ref, 'upgrade-manager/x/y', 'rolling upgrade')).held).toBe(true);
    const r = reaper(aws, 'state-lock', { maxKillNodes: 5, reapThrottleMs: 0 }, Date.now);
    expect((await r.sweep()).unjoined).toEqual([]);
    expect(aws.terminated).toEqual([]);
    await locks.release(ref, 'upgrade-manager/x/y');
    expect((await r.sweep()).unjoined).toEqual(['i-locked']);
  });
});
