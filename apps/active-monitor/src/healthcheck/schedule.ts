// When a HealthCheck runs: a Schedule answers "the first slot after t". A slot is a cron fire time, or
// for repeatAfterSec the time recorded in status when the previous run completed. Pure; the cron
// arithmetic is cron-parser's (standard 5-field expressions, descriptors, a time zone).
import { CronExpressionParser } from 'cron-parser';
import { parseGoDuration, type HealthCheckSpec } from '@keiko/api';

export type Schedule =
  | { kind: 'repeat'; everyMs: number }
  | { kind: 'cron'; expression: string; next: (after: Date) => Date }
  | { kind: 'none'; reason: string };

const DESCRIPTORS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** The schedule of a spec, or why it has none (`none` → status Stopped with the reason). */
export function scheduleOf(
  spec: Pick<HealthCheckSpec, 'repeatAfterSec' | 'schedule'>,
  timeZone: string,
): Schedule {
  if ((spec.repeatAfterSec ?? 0) > 0) return { kind: 'repeat', everyMs: (spec.repeatAfterSec ?? 0) * 1000 };
  const cron = spec.schedule?.cron?.trim();
  if (!cron)
    return {
      kind: 'none',
      reason:
        'neither spec.repeatAfterSec (greater than 0) nor spec.schedule.cron is set: the check does not run',
    };
  try {
    return { kind: 'cron', expression: cron, next: cronNext(cron, timeZone) };
  } catch (err) {
    return {
      kind: 'none',
      reason: `spec.schedule.cron "${cron}" is invalid: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/**
 * robfig/cron's syntax as upstream documents it: 5 fields, descriptors, and `@every <duration>`. An
 * `@every` schedule fires on multiples of the duration since the epoch, so every process (and every
 * restart) computes the same slots.
 */
function cronNext(cron: string, timeZone: string): (after: Date) => Date {
  if (cron.startsWith('@every')) {
    const ms = parseGoDuration(cron.slice('@every'.length).trim());
    if (ms < 1000) throw new Error('@every needs a duration of at least 1s');
    return (after) => new Date((Math.floor(after.getTime() / ms) + 1) * ms);
  }
  const expression = cron === '@midnight' ? '@daily' : cron;
  if (!expression.startsWith('@') && expression.split(/\s+/).length !== 5)
    throw new Error('expected 5 fields (minute hour day-of-month month day-of-week)');
  if (expression.startsWith('@') && !DESCRIPTORS.includes(cron))
    throw new Error(`unknown descriptor; use one of ${DESCRIPTORS.join(', ')} or @every <duration>`);
  // Parse once now so an invalid expression is reported before any run.
  CronExpressionParser.parse(expression, { tz: timeZone, strict: false });
  return (after) =>
    CronExpressionParser.parse(expression, { tz: timeZone, currentDate: after }).next().toDate();
}

/** The latest fire time at or before `now`, starting from `slot` (a due slot); and how many were passed over. */
export function latestDueSlot(
  next: (after: Date) => Date,
  slot: Date,
  now: Date,
  limit = 10_000,
): { slot: Date; skipped: number } {
  let current = slot;
  let skipped = 0;
  for (let i = 0; i < limit; i++) {
    const following = next(current);
    if (following.getTime() > now.getTime()) break;
    current = following;
    skipped++;
  }
  return { slot: current, skipped };
}
