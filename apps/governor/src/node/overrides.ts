// Per-node (in practice per-group: a group's nodes share its labels) overrides of the node reaper's
// settings, read from node labels (upstream #74: a group whose workload restarts as a whole wants its
// old nodes reaped less often, and only in a maintenance window). Pure; a malformed value is reported
// and the flag's value applies.
import type { V1Node } from '@kubernetes/client-node';
import type { NodeReaperSettings } from './settings';

/** Upstream's prefix of governor's labels and annotations. */
export const LABEL_PREFIX = 'governor.keikoproj.io';

export const OVERRIDE_LABELS = {
  reapAfter: `${LABEL_PREFIX}/reap-after-minutes`,
  oldThreshold: `${LABEL_PREFIX}/reap-old-threshold-minutes`,
  flapCount: `${LABEL_PREFIX}/flap-count`,
  window: `${LABEL_PREFIX}/reap-window`,
} as const;

/** A daily UTC window, minutes after midnight; `end < start` wraps past midnight. */
export interface ReapWindow {
  start: number;
  end: number;
  text: string;
}

export interface NodeOverrides {
  settings: NodeReaperSettings;
  /** Healthy kinds (flappy, tainted, old) start only inside it. */
  window?: ReapWindow;
  /** Malformed labels, each naming the label and the value. */
  problems: string[];
}

const WINDOW = /^([01]\d|2[0-3])([0-5]\d)-([01]\d|2[0-3])([0-5]\d)$/;

/** `HHMM-HHMM` (UTC), e.g. `0200-0500` or `2300-0100`; label values allow no `:`. */
export function parseWindow(text: string): ReapWindow | undefined {
  const m = WINDOW.exec(text);
  if (!m) return undefined;
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  return start === end ? undefined : { start, end, text };
}

export function inWindow(w: ReapWindow, now: number): boolean {
  const d = new Date(now);
  const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
  return w.start < w.end ? minute >= w.start && minute < w.end : minute >= w.start || minute < w.end;
}

function positiveInt(text: string | undefined, min: number): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min ? n : undefined;
}

/** The settings that apply to one node: the flags, overridden by its labels where they are valid. */
export function overridesFor(node: V1Node, s: NodeReaperSettings): NodeOverrides {
  const labels = node.metadata?.labels ?? {};
  const problems: string[] = [];
  const read = <T>(key: string, parse: (v: string) => T | undefined, expected: string): T | undefined => {
    const raw = labels[key];
    if (raw === undefined) return undefined;
    const value = parse(raw);
    if (value === undefined) problems.push(`label ${key}=${raw}: expected ${expected}; the flag applies`);
    return value;
  };
  const reapAfter = read(OVERRIDE_LABELS.reapAfter, (v) => positiveInt(v, 1), 'whole minutes ≥ 1');
  const old = read(OVERRIDE_LABELS.oldThreshold, (v) => positiveInt(v, 1), 'whole minutes ≥ 1');
  const flaps = read(OVERRIDE_LABELS.flapCount, (v) => positiveInt(v, 1), 'a count ≥ 1');
  const window = read(OVERRIDE_LABELS.window, parseWindow, 'HHMM-HHMM in UTC, e.g. 0200-0500');
  const settings: NodeReaperSettings = {
    ...s,
    ...(reapAfter ? { reapAfterMs: reapAfter * 60_000 } : {}),
    ...(old ? { oldThresholdMs: old * 60_000 } : {}),
    ...(flaps ? { flapCount: flaps } : {}),
  };
  return { settings, ...(window ? { window } : {}), problems };
}
