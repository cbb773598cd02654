import { describe, expect, it } from '@jest/globals';
import type { HealthCheck } from '@keiko/api';
import { formatTable, healthCheckRows } from '../src/healthcheck/table';

const now = new Date('2026-12-06T10:00:00Z');
const hc = (
  name: string,
  spec: Partial<HealthCheck['spec']>,
  status?: HealthCheck['status'],
): HealthCheck => ({
  apiVersion: 'activemonitor.keikoproj.io/v1alpha1',
  kind: 'HealthCheck',
  metadata: { name, namespace: 'health' },
  spec: { workflow: {}, ...spec },
  ...(status ? { status } : {}),
});

describe('healthchecks view', () => {
  it('shows each check with its last and next run, the run in flight and the counters', () => {
    const rows = healthCheckRows(
      [
        hc(
          'dns',
          { schedule: { cron: '* * * * *' } },
          {
            status: 'Succeeded',
            finishedAt: '2026-12-06T09:59:30Z',
            nextRunAt: '2026-12-06T10:01:00Z',
            successCount: 3,
          },
        ),
        hc(
          'api',
          { repeatAfterSec: 60 },
          {
            status: 'Failed',
            currentWorkflow: 'api-abc-1',
            failedCount: 2,
            errorMessage: 'boom',
            remedyStatus: 'Succeeded',
          },
        ),
        hc('off', { repeatAfterSec: 0 }, { status: 'Stopped', errorMessage: 'no schedule' }),
      ],
      now,
    );
    expect(rows.slice(1)).toEqual([
      [
        'health',
        'api',
        'every 60s',
        'Failed',
        '-',
        'after this run',
        'api-abc-1',
        '0',
        '2',
        'Succeeded',
        'boom',
      ],
      ['health', 'dns', '* * * * *', 'Succeeded', '30s ago', 'in 60s', '-', '3', '0', '-', ''],
      ['health', 'off', '-', 'Stopped', '-', '-', '-', '0', '0', '-', 'no schedule'],
    ]);
    expect(formatTable(rows).split('\n')[0]).toMatch(
      /^NAMESPACE\s+NAME\s+SCHEDULE\s+STATUS\s+LAST RUN\s+NEXT RUN/,
    );
  });
});
