// Terminate at most once: the verdict from a fresh describe, and terminateConfirmed's handling of each
// outcome (only InService instances are terminated; a "not found" race is the outcome wanted; a
// failure stops the rest and reports what was done). The emulator-backed path runs in the controllers'
// tests (upgrade-manager resume-at-terminate, instance-manager rotation).
import { describe, expect, it } from '@jest/globals';
import {
  AwsOperationError,
  terminateConfirmed,
  terminateVerdict,
  type AutoScalingPort,
  type GroupInstance,
  type ScalingGroup,
} from '../src/index';

const instance = (id: string, lifecycleState = 'InService'): GroupInstance =>
  ({ id, lifecycleState, availabilityZone: 'us-west-2a', healthStatus: 'Healthy' }) as GroupInstance;
const group = (instances: GroupInstance[]): ScalingGroup =>
  ({ name: 'g', instances, desiredCapacity: instances.length }) as unknown as ScalingGroup;

/** The three calls terminateConfirmed makes, recorded; terminate may be scripted to throw. */
function port(g: ScalingGroup | undefined, fail: (id: string) => Error | undefined = () => undefined) {
  const calls: string[] = [];
  const p = {
    invalidate: () => calls.push('invalidate'),
    describeGroup: async () => {
      calls.push('describe');
      return g;
    },
    terminateInstanceInGroup: async (id: string, o: { decrementDesired: boolean }) => {
      calls.push(`terminate ${id} ${o.decrementDesired}`);
      const err = fail(id);
      if (err) throw err;
      return {};
    },
  };
  return { port: p as unknown as AutoScalingPort, calls };
}

describe('terminateVerdict', () => {
  const g = group([
    instance('i-1'),
    instance('i-2', 'Terminating'),
    instance('i-3', 'Standby'),
    instance('i-4', 'Terminated'),
    instance('i-5', 'Terminating:Wait'),
  ]);
  it.each([
    ['i-1', 'terminate'],
    ['i-2', 'gone'],
    ['i-4', 'gone'],
    ['i-5', 'gone'],
    ['i-9', 'gone'],
    ['i-3', 'wait'],
  ])('instance %s -> %s', (id, kind) => {
    expect(terminateVerdict(g, id).kind).toBe(kind);
  });
  it('a group that no longer exists terminates nothing', () => {
    expect(terminateVerdict(undefined, 'i-1').kind).toBe('gone');
  });
});

describe('terminateConfirmed', () => {
  it('describes once, afresh, and terminates only what is InService', async () => {
    const { port: p, calls } = port(
      group([instance('i-1'), instance('i-2', 'Terminating'), instance('i-3', 'Pending')]),
    );
    const r = await terminateConfirmed(p, 'g', [
      { instanceId: 'i-1', decrementDesired: false },
      { instanceId: 'i-2', decrementDesired: false },
      { instanceId: 'i-3', decrementDesired: true },
    ]);
    expect(calls).toEqual(['invalidate', 'describe', 'terminate i-1 false']);
    expect(r.error).toBeUndefined();
    expect(r.outcomes.map((o) => `${o.instanceId}:${o.outcome}`)).toEqual([
      'i-1:terminated',
      'i-2:gone',
      'i-3:wait',
    ]);
  });

  it('takes "not found" from AWS as gone, and stops at any other failure with what was done', async () => {
    const { port: p, calls } = port(group([instance('i-1'), instance('i-2'), instance('i-3')]), (id) =>
      id === 'i-1'
        ? new AwsOperationError(
            { service: 'autoscaling', operation: 'TerminateInstanceInAutoScalingGroup' },
            Object.assign(new Error('Instance Id not found - i-1'), { name: 'ValidationError' }),
          )
        : id === 'i-2'
          ? new Error('connection reset')
          : undefined,
    );
    const r = await terminateConfirmed(
      p,
      'g',
      ['i-1', 'i-2', 'i-3'].map((instanceId) => ({ instanceId, decrementDesired: false })),
    );
    expect(r.outcomes.map((o) => `${o.instanceId}:${o.outcome}`)).toEqual(['i-1:gone']);
    expect(String(r.error)).toContain('connection reset');
    expect(calls.filter((c) => c.startsWith('terminate'))).toEqual([
      'terminate i-1 false',
      'terminate i-2 false',
    ]);
  });

  it('makes no call at all for nothing to do', async () => {
    const { port: p, calls } = port(group([instance('i-1')]));
    expect((await terminateConfirmed(p, 'g', [])).outcomes).toEqual([]);
    expect(calls).toEqual([]);
  });
});
