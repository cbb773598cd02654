// The command line: upstream's commands and flags, the command found after --flag=value, the default
// command, and bad flags failing at start naming the flag.
import { describe, expect, it } from '@jest/globals';
import { selectCommand } from '../src/cli';
import { normalizeArgv, parseNodeReaperConfig, parsePodReaperConfig } from '../src/config';

const argv = (...a: string[]) => ['node', 'governor', ...a];

describe('governor command line', () => {
  it('finds the command first, after --flag=value flags, or defaults to reap node', () => {
    expect(selectCommand(argv('reap', 'pod', '--reap-after=5'))).toEqual({
      command: 'reap pod',
      rest: argv('--reap-after=5'),
    });
    expect(selectCommand(argv('--kubeconfig=/k', 'reap', 'node', '--once'))).toEqual({
      command: 'reap node',
      rest: argv('--kubeconfig=/k', '--once'),
    });
    expect(selectCommand(argv('--leader-elect=false', '--metrics-port=1')).command).toBe('reap node');
    expect(() => selectCommand(argv('reap', 'nodes'))).toThrow();
  });

  it("keeps upstream's names and defaults", () => {
    const c = parseNodeReaperConfig(argv());
    expect(c.once).toBe(false);
    expect(c.stateConfigMap).toBe('governor-reap-node-state');
    expect(parseNodeReaperConfig(argv('--state-configmap=x', '--state-namespace=y'))).toMatchObject({
      stateConfigMap: 'x',
      stateNamespace: 'y',
    });
    expect(c.node).toMatchObject({
      reapAfterMs: 600_000,
      softReap: true,
      reapUnknown: true,
      reapUnready: true,
      reapGhost: true,
      reapFlappy: true,
      flapCount: 5,
      reapUnjoined: false,
      unjoinedThresholdMs: 900_000,
      reapOld: false,
      oldThresholdMs: 43_200 * 60_000,
      asgValidation: true,
      maxKillNodes: 1,
      reapThrottleMs: 300_000,
      reapOldThrottleMs: 1_800_000,
      reconsiderUnreapableAfterMs: 45 * 60_000,
      drainTimeoutMs: 600_000,
      ignoreFailure: false,
      breakerThresholdPercent: 20,
      dryRun: false,
    });
  });

  it('takes boolean flags bare or with a value, float minutes, repeatable taints and conditions', () => {
    const c = parseNodeReaperConfig(
      normalizeArgv(
        argv(
          '--dry-run',
          '--soft-reap=false',
          '--reap-old',
          '--reap-after',
          '1.5',
          '--reap-tainted=a:NoSchedule,b=c:NoExecute',
          '--reap-tainted',
          'd',
          '--reap-conditions=KernelDeadlock=True:5m',
          '--once',
        ),
      ),
    );
    expect(c.node).toMatchObject({ dryRun: true, softReap: false, reapOld: true, reapAfterMs: 90_000 });
    expect(c.node.reapTainted).toEqual([
      { key: 'a', effect: 'NoSchedule' },
      { key: 'b', value: 'c', effect: 'NoExecute' },
      { key: 'd' },
    ]);
    expect(c.node.reapConditions).toEqual([{ type: 'KernelDeadlock', status: 'True', forMs: 300_000 }]);
    expect(c.once).toBe(true);
  });

  it('rejects bad input naming the flag', () => {
    expect(() => parseNodeReaperConfig(argv('--reap-after=0.5'))).toThrow(/--reap-after must be at least 1/);
    expect(() => parseNodeReaperConfig(argv('--reap-unjoined-threshold-minutes=9'))).toThrow(
      /--reap-unjoined-threshold-minutes must be at least 10/,
    );
    expect(() => parseNodeReaperConfig(argv('--reconsider-unreapable-after=5'))).toThrow(/at least 10/);
    expect(() => parseNodeReaperConfig(argv('--reap-tainted=a=b:Sometimes'))).toThrow(/--reap-tainted/);
    expect(() => parseNodeReaperConfig(argv('--reap-unjoined'))).toThrow(
      /--reap-unjoined needs --reap-unjoined-tag-key and --reap-unjoined-tag-value/,
    );
    expect(() => parseNodeReaperConfig(argv('--reap-conditions=Bad'))).toThrow(/--reap-conditions/);
  });

  it('pod reaper flags', () => {
    const c = parsePodReaperConfig(argv('--reap-completed', '--reap-failed-after=60'));
    expect(c.pod).toMatchObject({
      reapAfterMs: 600_000,
      softReap: true,
      reapCompleted: true,
      reapCompletedAfterMs: 240 * 60_000,
      reapFailed: false,
      reapFailedAfterMs: 3_600_000,
    });
  });
});
