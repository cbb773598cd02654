// AWS call metrics, measured by a middleware inside each SDK client's retry loop: every HTTP attempt is
// seen, so a call that was throttled twice and then succeeded counts three attempts and two throttles.
import type {
  AbsoluteLocation,
  DeserializeHandlerOptions,
  DeserializeMiddleware,
  HandlerExecutionContext,
  MiddlewareStack,
} from '@smithy/types';
import { Counter, Histogram, Registry } from 'prom-client';
import { isThrottlingError } from './errors';

export type AwsCallOutcome = 'success' | 'throttled' | 'error';

/** Seconds; AWS control-plane calls take tens of ms to a few s, long polls up to 20 s. */
export const AWS_CALL_DURATION_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30,
];

export const METRIC_NAMES = {
  calls: 'keiko_aws_api_calls_total',
  throttles: 'keiko_aws_throttles_total',
  duration: 'keiko_aws_api_call_duration_seconds',
} as const;

/** Anything with an SDK v3 middleware stack: every `@aws-sdk/client-*` client. */
export interface InstrumentableClient<Input extends object, Output extends object> {
  middlewareStack: MiddlewareStack<Input, Output>;
}

const MIDDLEWARE_OPTIONS: DeserializeHandlerOptions & AbsoluteLocation = {
  step: 'deserialize',
  // High priority in the deserialize step wraps the deserializer, so errors arrive parsed (code, status)
  // while still inside the retry middleware (finalizeRequest step) — hence one observation per attempt.
  priority: 'high',
  name: 'keikoAwsMetricsMiddleware',
  override: true,
};

/** `DescribeAutoScalingGroupsCommand` -> `DescribeAutoScalingGroups`. */
export function operationName(context: Pick<HandlerExecutionContext, 'commandName'>): string {
  const command = context.commandName ?? 'unknown';
  return command.endsWith('Command') ? command.slice(0, -'Command'.length) : command;
}

export function classifyOutcome(err: unknown): AwsCallOutcome {
  return isThrottlingError(err) ? 'throttled' : 'error';
}

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  // Two AwsMetrics on one registry (two client sets in one process) share the instruments instead of
  // failing on a duplicate registration.
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export interface AwsMetricsOptions {
  /** Where the metrics are registered: the runtime's registry. Default: a private one (never the global). */
  registry?: Registry;
  /** Clock for durations, ms. */
  now?: () => number;
}

export class AwsMetrics {
  readonly registry: Registry;
  private readonly calls: Counter<'service' | 'operation' | 'outcome'>;
  private readonly throttles: Counter<'service' | 'operation'>;
  private readonly duration: Histogram<'service' | 'operation'>;
  private readonly now: () => number;
  private attempts = 0;
  private throttled = 0;

  constructor(options: AwsMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    this.now = options.now ?? (() => performance.now());
    const registers = [this.registry];
    this.calls = getOrCreate(
      this.registry,
      METRIC_NAMES.calls,
      () =>
        new Counter({
          name: METRIC_NAMES.calls,
          help: 'AWS API requests sent (each retry attempt counts), by outcome: success, throttled or error.',
          labelNames: ['service', 'operation', 'outcome'],
          registers,
        }),
    );
    this.throttles = getOrCreate(
      this.registry,
      METRIC_NAMES.throttles,
      () =>
        new Counter({
          name: METRIC_NAMES.throttles,
          help: 'AWS API requests answered with a throttling error (code or HTTP 429); the SDK backs off and retries.',
          labelNames: ['service', 'operation'],
          registers,
        }),
    );
    this.duration = getOrCreate(
      this.registry,
      METRIC_NAMES.duration,
      () =>
        new Histogram({
          name: METRIC_NAMES.duration,
          help: 'Duration of one AWS API request attempt in seconds, including response parsing.',
          labelNames: ['service', 'operation'],
          buckets: [...AWS_CALL_DURATION_BUCKETS],
          registers,
        }),
    );
  }

  /** Adds the measuring middleware to `client` (idempotent: re-instrumenting replaces it). */
  instrument<Input extends object, Output extends object>(
    client: InstrumentableClient<Input, Output>,
    service: string,
  ): void {
    client.middlewareStack.add(this.middleware<Input, Output>(service), MIDDLEWARE_OPTIONS);
  }

  /** HTTP requests sent to AWS so far through instrumented clients, retries included (benchmarks print it). */
  callCount(): number {
    return this.attempts;
  }

  /** Requests answered with a throttling error so far. */
  throttleCount(): number {
    return this.throttled;
  }

  /** Records one finished attempt; exposed for clients that are not SDK v3. */
  record(service: string, operation: string, outcome: AwsCallOutcome, seconds: number): void {
    this.attempts++;
    this.calls.inc({ service, operation, outcome });
    this.duration.observe({ service, operation }, seconds);
    if (outcome === 'throttled') {
      this.throttled++;
      this.throttles.inc({ service, operation });
    }
  }

  private middleware<Input extends object, Output extends object>(
    service: string,
  ): DeserializeMiddleware<Input, Output> {
    return (next, context) => async (args) => {
      const operation = operationName(context);
      const started = this.now();
      try {
        const result = await next(args);
        this.record(service, operation, 'success', (this.now() - started) / 1000);
        return result;
      } catch (err) {
        this.record(service, operation, classifyOutcome(err), (this.now() - started) / 1000);
        throw err;
      }
    };
  }
}
