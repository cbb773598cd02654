// The `healthchecks` CLI view as a pure function: one row per check, last and next run.
import type { HealthCheck } from '@keiko/api';

const ago = (iso: string | undefined, now: Date): string => {
  if (!iso) return '-';
  const s = Math.round((now.getTime() - Date.parse(iso)) / 1000);
  const abs = Math.abs(s);
  const text = abs < 120 ? `${abs}s` : abs < 7200 ? `${Math.round(abs / 60)}m` : `${Math.round(abs / 3600)}h`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
};

/** Rows of NAMESPACE NAME SCHEDULE STATUS LAST RUN NEXT RUN RUNNING OK FAIL REMEDY MESSAGE. */
export function healthCheckRows(checks: HealthCheck[], now: Date): string[][] {
  const header = [
    'NAMESPACE',
    'NAME',
    'SCHEDULE',
    'STATUS',
    'LAST RUN',
    'NEXT RUN',
    'RUNNING',
    'OK',
    'FAIL',
    'REMEDY',
    'MESSAGE',
  ];
  const rows = checks
    .slice()
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    )
    .map((hc) => {
      const s = hc.status ?? {};
      const schedule =
        (hc.spec.repeatAfterSec ?? 0) > 0
          ? `every ${hc.spec.repeatAfterSec}s`
          : (hc.spec.schedule?.cron ?? '-');
      const status = s.paused ? 'Paused' : (s.status ?? 'Pending');
      return [
        hc.metadata.namespace ?? '',
        hc.metadata.name ?? '',
        schedule,
        status,
        ago(s.finishedAt, now),
        s.paused ? '-' : s.nextRunAt ? ago(s.nextRunAt, now) : s.currentWorkflow ? 'after this run' : '-',
        s.currentWorkflow ?? '-',
        String(s.successCount ?? 0),
        String(s.failedCount ?? 0),
        s.remedyStatus ?? '-',
        s.errorMessage ?? '',
      ];
    });
  return [header, ...rows];
}

export function formatTable(rows: string[][], width = 200): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .slice(0, width)
        .trimEnd(),
    )
    .join('\n');
}
