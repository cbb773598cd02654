import { describe, expect, it } from '@jest/globals';
import {
  CachedAutoScaling,
  CachedEc2,
  TtlCache,
  type AutoScalingPort,
  type Clock,
  type Ec2Port,
  type ResolvedLaunchTemplate,
  type ScalingGroup,
} from '../src/index';

class ManualClock implements Clock {
  constructor(private ms = 1_000) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('TtlCache', () => {
  it('serves a value until its TTL passes, then loads again', async () => {
    const clock = new ManualClock();
    const cache = new TtlCache<string>({ ttlMs: 5_000, clock });
    let loads = 0;
    const load = async () => `v${++loads}`;

    expect(await cache.get('k', load)).toBe('v1');
    clock.advance(4_999);
    expect(await cache.get('k', load)).toBe('v1');
    clock.advance(1);
    expect(await cache.get('k', load)).toBe('v2');
    expect(cache.stats()).toEqual({ hits: 1, loads: 2, joined: 0 });
  });

  it('de-duplicates concurrent loads of one key', async () => {
    const cache = new TtlCache<string>({ ttlMs: 5_000, clock: new ManualClock() });
    const gate = deferred<string>();
    let loads = 0;
    const load = () => {
      loads++;
      return gate.promise;
    };

    const both = Promise.all([cache.get('x', load), cache.get('x', load)]);
    await Promise.resolve();
    gate.resolve('value');

    expect(await both).toEqual(['value', 'value']);
    expect(loads).toBe(1);
    expect(cache.stats().joined).toBe(1);
  });

  it('does not cache failures', async () => {
    const cache = new TtlCache<string>({ ttlMs: 5_000, clock: new ManualClock() });
    await expect(cache.get('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await cache.get('k', async () => 'ok')).toBe('ok');
  });

  it('caches undefined (a group that does not exist) like any value', async () => {
    const cache = new TtlCache<string | undefined>({ ttlMs: 5_000, clock: new ManualClock() });
    let loads = 0;
    const load = async () => {
      loads++;
      return undefined;
    };
    await cache.get('gone', load);
    await cache.get('gone', load);
    expect(loads).toBe(1);
  });

  it('forgets a key on invalidate', async () => {
    const cache = new TtlCache<number>({ ttlMs: 5_000, clock: new ManualClock() });
    let n = 0;
    const load = async () => ++n;
    await cache.get('k', load);
    cache.invalidate('k');
    expect(await cache.get('k', load)).toBe(2);
  });

  it('does not store a load that was in flight when its key was invalidated', async () => {
    const cache = new TtlCache<string>({ ttlMs: 5_000, clock: new ManualClock() });
    const before = deferred<string>();
    const stale = cache.get('g', () => before.promise);
    await Promise.resolve();

    cache.invalidate('g'); // e.g. a terminate finished while the describe was on the wire
    const fresh = cache.get('g', async () => 'after-mutation');
    before.resolve('before-mutation');

    expect(await stale).toBe('before-mutation'); // its own caller still gets an answer
    expect(await fresh).toBe('after-mutation');
    expect(await cache.get('g', async () => 'unused')).toBe('after-mutation');
  });
});

function group(name: string, instanceIds: string[] = []): ScalingGroup {
  return {
    name,
    minSize: 0,
    maxSize: 3,
    desiredCapacity: instanceIds.length,
    availabilityZones: [],
    subnetIds: [],
    instances: instanceIds.map((id) => ({
      id,
      availabilityZone: 'us-west-2a',
      lifecycleState: 'InService',
      healthStatus: 'Healthy',
      protectedFromScaleIn: false,
    })),
    tags: {},
    tagList: [],
    suspendedProcesses: [],
  };
}

/** An in-memory AutoScalingPort that records the calls reaching it. */
function recordingPort(groups: ScalingGroup[]) {
  const calls: string[][] = [];
  const terminated: string[] = [];
  const unexpected = () => Promise.reject(new Error('not used in this test'));
  const port: AutoScalingPort = {
    describeGroups: async (names) => {
      calls.push([...names]);
      return groups.filter((g) => names.includes(g.name));
    },
    describeGroup: unexpected,
    listGroups: async () => {
      calls.push(['*']);
      return groups;
    },
    createGroup: unexpected,
    deleteGroup: unexpected,
    terminateInstanceInGroup: async (instanceId) => {
      terminated.push(instanceId);
      const owner = groups.find((g) => g.instances.some((i) => i.id === instanceId));
      return owner ? { groupName: owner.name } : {};
    },
    setDesiredCapacity: async () => undefined,
    updateGroup: async () => undefined,
    enterStandby: async () => undefined,
    exitStandby: async () => undefined,
    setInstanceProtection: async () => undefined,
    createOrUpdateTags: async () => undefined,
    deleteTags: async () => undefined,
    suspendProcesses: async () => undefined,
    resumeProcesses: async () => undefined,
    putLifecycleHook: unexpected,
    describeLifecycleHooks: unexpected,
    deleteLifecycleHook: unexpected,
    completeLifecycleAction: async () => undefined,
    recordLifecycleActionHeartbeat: unexpected,
    describeWarmPool: async () => undefined,
    putWarmPool: async () => undefined,
    deleteWarmPool: async () => true,
    enableMetricsCollection: async () => undefined,
    disableMetricsCollection: async () => undefined,
    createLaunchConfiguration: unexpected,
    describeLaunchConfigurations: unexpected,
    listLaunchConfigurations: unexpected,
    deleteLaunchConfiguration: unexpected,
    invalidate: () => undefined,
  };
  return { port, calls, terminated };
}

describe('CachedAutoScaling', () => {
  it('turns two concurrent describeGroup calls for one group into one API call', async () => {
    const { port, calls } = recordingPort([group('x')]);
    const cached = new CachedAutoScaling(port, { clock: new ManualClock() });

    const [a, b] = await Promise.all([cached.describeGroup('x'), cached.describeGroup('x')]);

    expect(a?.name).toBe('x');
    expect(b).toBe(a);
    expect(calls).toEqual([['x']]);
  });

  it('batches reads of different groups made in the same tick', async () => {
    const { port, calls } = recordingPort([group('a'), group('b'), group('c')]);
    const cached = new CachedAutoScaling(port, { clock: new ManualClock() });

    const [one, many] = await Promise.all([
      cached.describeGroup('a'),
      cached.describeGroups(['b', 'c', 'nope']),
    ]);

    expect(one?.name).toBe('a');
    expect(many.map((g) => g.name)).toEqual(['b', 'c']);
    expect(calls).toEqual([['a', 'b', 'c', 'nope']]);
  });

  it('serves reads within the TTL from memory and reads again after it', async () => {
    const clock = new ManualClock();
    const { port, calls } = recordingPort([group('x')]);
    const cached = new CachedAutoScaling(port, { ttlMs: 5_000, clock });

    await cached.describeGroup('x');
    await cached.describeGroup('x');
    await cached.describeGroup('missing');
    await cached.describeGroup('missing');
    expect(calls).toHaveLength(2);

    clock.advance(5_000);
    await cached.describeGroup('x');
    expect(calls).toHaveLength(3);
    expect(cached.cacheStats()).toMatchObject({ hits: 2, loads: 3 });
  });

  it('invalidates the group an instance was terminated from, and only that group', async () => {
    const { port, calls } = recordingPort([group('web', ['i-1', 'i-2']), group('api', ['i-9'])]);
    const cached = new CachedAutoScaling(port, { clock: new ManualClock() });
    await cached.describeGroups(['web', 'api']);

    await cached.terminateInstanceInGroup('i-1', { decrementDesired: false });
    await cached.describeGroups(['web', 'api']);

    expect(calls).toEqual([['web', 'api'], ['web']]);
  });

  it('invalidates after every group mutation, even a failed one', async () => {
    const { port, calls } = recordingPort([group('web')]);
    const failing: AutoScalingPort = { ...port, updateGroup: () => Promise.reject(new Error('timeout')) };
    const cached = new CachedAutoScaling(failing, { clock: new ManualClock() });

    await cached.describeGroup('web');
    await cached.setDesiredCapacity('web', 2);
    await cached.describeGroup('web');
    await expect(cached.updateGroup('web', { maxSize: 4 })).rejects.toThrow('timeout');
    await cached.describeGroup('web');
    await cached.enterStandby('web', ['i-1'], { decrementDesired: true });
    await cached.describeGroup('web');

    expect(calls).toHaveLength(4);
  });

  it('invalidates the group after warm pool and metrics changes (its description carries both)', async () => {
    const { port, calls } = recordingPort([group('web')]);
    const cached = new CachedAutoScaling(port, { clock: new ManualClock() });

    await cached.describeGroup('web');
    await cached.putWarmPool('web', { minSize: 1 });
    await cached.describeGroup('web');
    await cached.enableMetricsCollection('web', ['GroupMinSize']);
    await cached.describeGroup('web');
    await cached.disableMetricsCollection('web', ['GroupMinSize']);
    await cached.describeGroup('web');
    await cached.deleteWarmPool('web', { forceDelete: true });
    await cached.describeGroup('web');
    await cached.describeWarmPool('web'); // a read: the group stays cached
    await cached.describeGroup('web');

    expect(calls).toHaveLength(5);
  });

  it('refreshes per-group entries from listGroups', async () => {
    const { port, calls } = recordingPort([group('a'), group('b')]);
    const cached = new CachedAutoScaling(port, { clock: new ManualClock() });
    await cached.listGroups();
    await cached.describeGroups(['a', 'b']);
    expect(calls).toEqual([['*']]);
  });
});

describe('CachedEc2', () => {
  it('reuses a resolved launch template version and forgets it after a template change', async () => {
    let version = 3;
    let calls = 0;
    const inner = {
      resolveLaunchTemplateVersion: async () => {
        calls++;
        return {
          id: 'lt-1',
          name: 'web',
          version,
          isDefault: true,
          data: {},
        } satisfies ResolvedLaunchTemplate;
      },
      setDefaultLaunchTemplateVersion: async (_ref: unknown, v: number) => {
        version = v;
      },
    } as unknown as Ec2Port;
    const cached = new CachedEc2(inner, { clock: new ManualClock() });

    await cached.resolveLaunchTemplateVersion({ id: 'lt-1', version: '$Default' });
    const again = await cached.resolveLaunchTemplateVersion({ id: 'lt-1', version: '$default' });
    expect(again.version).toBe(3);
    expect(calls).toBe(1);

    await cached.setDefaultLaunchTemplateVersion({ id: 'lt-1' }, 4);
    expect((await cached.resolveLaunchTemplateVersion({ id: 'lt-1', version: '$Default' })).version).toBe(4);
    expect(calls).toBe(2);
  });
});
