// Client of the AWS emulator's fault injection (packages/testenv/moto/server.py, /testenv-api/faults).
// Faults apply only to requests signed with the scope's access key: the controller under test is started
// with `faults.env` (its own AWS_ACCESS_KEY_ID), while fixtures, the node simulator and other suites keep
// theirs and see a fault-free emulator. The emulator also records every request of the scope (operation,
// instance ids, answer status, injected fault): counts of destructive calls come from there, not from the
// controller's logs.
import { emulatorConfig } from './aws-fixtures';

export interface AwsFaultRule {
  /** Operation names (TerminateInstanceInAutoScalingGroup, DescribeInstances...) or '*' (default). */
  operations?: string[];
  /** Share of requests answered with the service's throttling error (0..1). */
  throttle?: number;
  /** Share answered HTTP 500 (0..1). */
  error?: number;
  /** Latency before each matching request: a fixed ms, or [min, max] drawn from the seed. */
  latencyMs?: number | [number, number];
}

export interface AwsCallRecord {
  operation: string;
  instances: string[];
  /** The HTTP status the caller got. */
  status?: number;
  fault?: 'throttle' | 'error';
  at: number;
}

export interface AwsFaultSummary {
  calls: number;
  throttled: number;
  errors: number;
}

/** The chaos suites' default: 20 % throttled, 5 % HTTP 500, 5-60 ms latency on every operation. */
export const DEFAULT_AWS_FAULTS: AwsFaultRule[] = [
  { operations: ['*'], throttle: 0.2, error: 0.05, latencyMs: [5, 60] },
];

export class AwsFaults {
  /** An access key of its own: the emulator injects faults only into requests signed with it. */
  readonly scope: string;
  private readonly endpoint: string;

  constructor(name: string, endpoint = emulatorConfig().endpoint ?? '') {
    this.scope = `chaos-${name}`.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 60);
    this.endpoint = endpoint;
    if (!endpoint) throw new Error('AwsFaults: no AWS emulator endpoint (AWS_ENDPOINT_URL)');
  }

  /** The environment the faulted process runs with (its own access key). */
  get env(): Record<string, string> {
    return { AWS_ACCESS_KEY_ID: this.scope, AWS_SECRET_ACCESS_KEY: 'testing' };
  }

  async on(seed: number, rules: AwsFaultRule[] = DEFAULT_AWS_FAULTS): Promise<void> {
    await this.call('POST', JSON.stringify({ scope: this.scope, seed, rules }));
  }

  async off(): Promise<void> {
    await this.call('DELETE');
  }

  async records(): Promise<AwsCallRecord[]> {
    return ((await this.call('GET')) as { records: AwsCallRecord[] }).records;
  }

  /** Successful calls of `operation`, per instance id (e.g. TerminateInstanceInAutoScalingGroup). */
  async succeeded(operation: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const r of await this.records()) {
      if (r.operation !== operation || r.fault || (r.status ?? 0) >= 300) continue;
      for (const id of r.instances) out.set(id, (out.get(id) ?? 0) + 1);
    }
    return out;
  }

  /**
   * Calls of `operation` that reached the emulator (no fault injected: AWS acted on them, whatever it
   * answered), per instance id: a destructive call reaching it twice for one instance is a second act.
   */
  async reached(operation: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const r of await this.records()) {
      if (r.operation !== operation || r.fault) continue;
      for (const id of r.instances) out.set(id, (out.get(id) ?? 0) + 1);
    }
    return out;
  }

  async summary(): Promise<AwsFaultSummary> {
    const records = await this.records();
    return {
      calls: records.length,
      throttled: records.filter((r) => r.fault === 'throttle').length,
      errors: records.filter((r) => r.fault === 'error').length,
    };
  }

  private async call(method: string, body?: string): Promise<unknown> {
    const url = `${this.endpoint}/testenv-api/faults?scope=${encodeURIComponent(this.scope)}`;
    const res = await fetch(url, {
      method,
      ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}),
    });
    if (!res.ok) throw new Error(`emulator faults ${method}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }
}
