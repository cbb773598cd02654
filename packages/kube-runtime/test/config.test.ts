import { describe, expect, it } from '@jest/globals';
import { parseManagerConfig } from '../src/config';

const argv = (...flags: string[]) => ['node', 'main.js', ...flags];

describe('parseManagerConfig', () => {
  it('has production defaults: leader election on, 15s/10s/2s, metrics 8080, health 8081, JSON logs', () => {
    const { config } = parseManagerConfig('upgrade-manager', argv());
    expect(config).toMatchObject({
      namespace: '',
      leaderElect: true,
      leaderElectionId: 'upgrade-manager-leader',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      metricsPort: 8080,
      healthPort: 8081,
      logFormat: 'json',
      logLevel: 'info',
      concurrency: 1,
      dryRun: false,
    });
    expect(config.leaderElectionIdentity).toMatch(/_[a-z0-9]+$/);
  });

  it('reads KEIKO_* environment variables, and flags win over them', () => {
    process.env.KEIKO_CONCURRENCY = '4';
    process.env.KEIKO_LOG_FORMAT = 'text';
    try {
      const { config } = parseManagerConfig(
        'x',
        argv('--log-format=json', '--lease-duration=30', '--renew-deadline=20', '--retry-period=5'),
      );
      expect(config.concurrency).toBe(4);
      expect(config.logFormat).toBe('json');
      expect([config.leaseDurationMs, config.renewDeadlineMs, config.retryPeriodMs]).toEqual([
        30_000, 20_000, 5_000,
      ]);
    } finally {
      delete process.env.KEIKO_CONCURRENCY;
      delete process.env.KEIKO_LOG_FORMAT;
    }
  });

  it('refuses bad values with a message naming the flag', () => {
    expect(() => parseManagerConfig('x', argv('--concurrency=-1'))).toThrow(
      /--concurrency must be a non-negative integer, got "-1"/,
    );
    expect(() => parseManagerConfig('x', argv('--concurrency=0'))).toThrow(
      /--concurrency must be at least 1/,
    );
    expect(() => parseManagerConfig('x', argv('--leader-elect=maybe'))).toThrow(
      /expected true or false, got "maybe"/,
    );
    expect(() => parseManagerConfig('x', argv('--log-format=xml'))).toThrow(/Allowed choices are json, text/);
    expect(() => parseManagerConfig('x', argv('--lease-duration=5', '--renew-deadline=10'))).toThrow(
      /--lease-duration > --renew-deadline > --retry-period/,
    );
  });

  it('passes tool-specific options through extend()', () => {
    const { extra } = parseManagerConfig('x', argv('--max-parallel=3'), (cmd) =>
      cmd.option('--max-parallel <n>', 'parallel', Number),
    );
    expect(extra).toEqual({ maxParallel: 3 });
  });
});
