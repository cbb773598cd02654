// kube-forensics' own metrics, on the manager's registry next to the controller runtime's.
import type { RuntimeMetrics } from '@keiko/kube-runtime';
import { Counter, Histogram } from 'prom-client';

export const FORENSICS_METRIC_NAMES = {
  captures: 'kube_forensics_captures_total',
  bytes: 'kube_forensics_uploaded_bytes_total',
  duration: 'kube_forensics_capture_duration_seconds',
} as const;

export class ForensicsMetrics {
  private readonly captures: Counter<'result' | 'reason'>;
  private readonly bytes: Counter;
  private readonly duration: Histogram<'result'>;

  constructor(registry: RuntimeMetrics['registry']) {
    const registers = [registry];
    this.captures = new Counter({
      name: FORENSICS_METRIC_NAMES.captures,
      help: 'Captures finished, by result (complete, failed) and reason (Captured, CapturedWithoutCheckpoint, NotFound, Forbidden, CheckpointUnsupported, UploadFailed, InvalidSpec, Interrupted).',
      labelNames: ['result', 'reason'],
      registers,
    });
    this.bytes = new Counter({
      name: FORENSICS_METRIC_NAMES.bytes,
      help: 'Bytes uploaded to S3 by captures (logs, context, checkpoint archives, manifests).',
      registers,
    });
    this.duration = new Histogram({
      name: FORENSICS_METRIC_NAMES.duration,
      help: 'Time from a capture starting to its Complete or Failed condition.',
      labelNames: ['result'],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
  }

  finished(result: 'complete' | 'failed', reason: string, seconds: number | undefined): void {
    this.captures.inc({ result, reason });
    if (seconds !== undefined) this.duration.observe({ result }, seconds);
  }

  uploaded(bytes: number): void {
    if (bytes > 0) this.bytes.inc(bytes);
  }
}
