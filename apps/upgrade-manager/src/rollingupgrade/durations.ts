// Go time.Duration strings, as the original controller wrote them into status (statistics,
// totalProcessingTime): `1m30.5s`, `450ms`, `0s`.
import { parseGoDuration } from '@keiko/api';

/** Go's Duration.String() for a millisecond count (millisecond precision). */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  const whole = Math.round(ms);
  if (whole < 1000) return `${whole}ms`;
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  const secondsMs = whole % 60_000;
  const seconds = (secondsMs / 1000).toFixed(3).replace(/\.?0+$/, '');
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** Milliseconds of a Go duration string; 0 for an empty or unreadable one (statistics are best effort). */
export function parseGoDurationMs(text: string | undefined): number {
  if (!text) return 0;
  try {
    return parseGoDuration(text);
  } catch {
    return 0;
  }
}
