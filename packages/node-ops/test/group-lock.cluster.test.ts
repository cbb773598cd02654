// The per-group disruption lock against the real apiserver: one holder at a time, renewals, release,
// expiry of a holder that stopped renewing, and exactly one winner when two tools race for it.
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_DISRUPTION_LOCK_NAMESPACE, DisruptionLocks, disruptionLockName } from '../src/group-lock';
import { ResourceTypes } from '@keiko/kube-runtime';
import type { KubernetesObject } from '@kubernetes/client-node';
import { client } from './support/cluster';
import { eventually } from '@keiko/testenv';

const group = () => ({
  region: 'us-west-2',
  name: `asg-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
});

describe('DisruptionLocks', () => {
  it('lets one holder at a time disrupt a group, naming the holder to the others', async () => {
    const locks = new DisruptionLocks(client);
    const g = group();
    expect(await locks.acquire(g, 'upgrade-manager/ns/ru-1', 'rolling upgrade')).toEqual({ held: true });
    expect(await locks.acquire(g, 'instance-manager/ns/ig-1', 'rolling update')).toEqual({
      held: false,
      holder: 'upgrade-manager/ns/ru-1',
      reason: 'rolling upgrade',
    });
    // The holder renews; someone else's release changes nothing.
    expect(await locks.acquire(g, 'upgrade-manager/ns/ru-1', 'rolling upgrade')).toEqual({ held: true });
    await locks.release(g, 'instance-manager/ns/ig-1');
    expect(await locks.holder(g)).toBe('upgrade-manager/ns/ru-1');

    await locks.release(g, 'upgrade-manager/ns/ru-1');
    expect(await locks.holder(g)).toBeUndefined();
    expect(await locks.acquire(g, 'instance-manager/ns/ig-1', 'rolling update')).toEqual({ held: true });
    await locks.release(g, 'instance-manager/ns/ig-1');
  });

  it('frees the lock of a holder that stopped renewing once its lease expired', async () => {
    const g = group();
    const old = new DisruptionLocks(client, { leaseDurationSeconds: 60 });
    expect(await old.acquire(g, 'governor', 'reaping')).toEqual({ held: true });
    const later = new DisruptionLocks(client, { now: () => new Date(Date.now() + 61_000) });
    expect(await later.holder(g)).toBeUndefined();
    expect(await later.acquire(g, 'lifecycle-manager', 'termination')).toEqual({ held: true });
    expect(await old.acquire(g, 'governor', 'reaping')).toMatchObject({
      held: false,
      holder: 'lifecycle-manager',
    });
    await later.release(g, 'lifecycle-manager');
  });

  it('has exactly one winner when several tools race for a free group', async () => {
    const locks = new DisruptionLocks(client);
    const g = group();
    const outcomes = await Promise.all(['a', 'b', 'c', 'd'].map((who) => locks.acquire(g, who, 'race')));
    expect(outcomes.filter((o) => o.held)).toHaveLength(1);
    const holder = await locks.holder(g);
    for (const o of outcomes) if (!o.held) expect(o.holder).toBe(holder);
    await locks.release(g, holder!);
    expect(disruptionLockName(g)).toMatch(/^keiko-disruption-[0-9a-f]{20}$/);
  });

  it('keeps a held lock renewed through long work, and says so once someone else has it; a renewal never re-creates a released lock', async () => {
    const g = group();
    // A 3 s lease, renewed every second: seen as its renewTime moving on while the holder still has it.
    const locks = new DisruptionLocks(client, { leaseDurationSeconds: 3 });
    expect(await locks.acquire(g, 'governor', 'reaping')).toEqual({ held: true });
    const renewTime = async () =>
      (
        await client.get<KubernetesObject & { spec?: { renewTime?: string } }>(
          ResourceTypes.Lease,
          DEFAULT_DISRUPTION_LOCK_NAMESPACE,
          disruptionLockName(g),
        )
      )?.spec?.renewTime;
    const first = await renewTime();
    const renewal = locks.keepRenewed(g, 'governor', 'reaping');
    await eventually(
      'a renewal',
      async () => ((await renewTime()) !== first ? true : undefined),
      20_000,
      100,
    );
    expect(await locks.holder(g)).toBe('governor');
    expect(renewal.stillHeld()).toBe(true);
    expect(await locks.acquire(g, 'upgrade-manager', 'rollout')).toMatchObject({
      held: false,
      holder: 'governor',
    });
    renewal.stop();

    await locks.release(g, 'governor');
    expect(await locks.renew(g, 'governor', 'reaping')).toBe(false);
    expect(await locks.holder(g)).toBeUndefined();

    // Taken by another tool meanwhile (the lease ran out): the renewal notices.
    expect(await locks.acquire(g, 'upgrade-manager', 'rollout')).toEqual({ held: true });
    const late = locks.keepRenewed(g, 'governor', 'reaping');
    await eventually('the renewal to notice', () => (late.stillHeld() ? undefined : true), 10_000, 200);
    late.stop();
    expect(await locks.holder(g)).toBe('upgrade-manager');
    await locks.release(g, 'upgrade-manager');
  }, 30_000);
});

describe('DisruptionLocks.release', () => {
  it('still releases when a renewal of ours lands between its read and its delete (no lock left held)', async () => {
    const g = group();
    const locks = new DisruptionLocks(client);
    expect(await locks.acquire(g, 'governor', 'reaping')).toEqual({ held: true });
    // The first Lease delete finds the lease renewed since release read it (a renewal still in flight).
    let raced = false;
    const racing = new Proxy(client, {
      get(target, prop, receiver) {
        if (prop !== 'delete') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<typeof client.delete>) => {
          if (!raced) {
            raced = true;
            expect(await locks.renew(g, 'governor', 'reaping')).toBe(true);
          }
          return target.delete(...args);
        };
      },
    });
    await new DisruptionLocks(racing).release(g, 'governor');
    expect(raced).toBe(true);
    expect(await locks.holder(g)).toBeUndefined();
  });
});
