// One error type for every failed AWS call made through the ports, so a controller can log, put in a
// condition or match on it without knowing which SDK client threw. The SDK has already retried by the time
// one of these surfaces (see config.ts), so callers should requeue, not retry in a loop.

/** Error codes AWS uses for "slow down". Mirrors the SDK's own list (smithy THROTTLING_ERROR_CODES). */
export const THROTTLING_ERROR_CODES: ReadonlySet<string> = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
  $response?: { statusCode?: unknown };
  $retryable?: { throttling?: unknown };
}

function shape(err: unknown): ErrorShape | undefined {
  return typeof err === 'object' && err !== null ? (err as ErrorShape) : undefined;
}

/** The AWS error code (`Throttling`, `ValidationError`, `InvalidInstanceID.NotFound`...) or a Node error code. */
export function awsErrorCode(err: unknown): string | undefined {
  if (err instanceof AwsOperationError) return err.code;
  const e = shape(err);
  if (!e) return undefined;
  // SDK v3 service exceptions carry the code as `name`; Node network errors as `code` (ECONNRESET...).
  for (const candidate of [e.Code, e.name, e.code]) {
    if (typeof candidate === 'string' && candidate !== '' && candidate !== 'Error') return candidate;
  }
  return undefined;
}

/** HTTP status of the response that produced the error, when there was one. */
export function awsHttpStatus(err: unknown): number | undefined {
  if (err instanceof AwsOperationError) return err.httpStatus;
  const e = shape(err);
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True when AWS asked us to slow down: a throttling error code, a throttling-modelled error, or HTTP 429. */
export function isThrottlingError(err: unknown): boolean {
  if (err instanceof AwsOperationError) return err.throttled;
  const code = awsErrorCode(err);
  if (code !== undefined && THROTTLING_ERROR_CODES.has(code)) return true;
  if (shape(err)?.$retryable?.throttling === true) return true;
  return awsHttpStatus(err) === 429;
}

/** True when `err` (or the SDK error it wraps) has one of `codes`. */
export function hasAwsErrorCode(err: unknown, ...codes: string[]): boolean {
  const code = awsErrorCode(err);
  return code !== undefined && codes.includes(code);
}

export interface AwsOperationContext {
  /** `autoscaling`, `ec2`, `sqs`... (the metrics' service label). */
  service: string;
  /** The API operation, e.g. `TerminateInstanceInAutoScalingGroup`. */
  operation: string;
  /** What the call was about, e.g. `group web-blue instance i-0abc`; goes into the message. */
  subject?: string;
}

/** A failed AWS call, after the SDK's retries, with what was being done and AWS's own code and message. */
export class AwsOperationError extends Error {
  readonly service: string;
  readonly operation: string;
  readonly subject: string | undefined;
  readonly code: string | undefined;
  readonly httpStatus: number | undefined;
  readonly requestId: string | undefined;
  readonly throttled: boolean;

  constructor(ctx: AwsOperationContext, cause: unknown) {
    const code = awsErrorCode(cause);
    const httpStatus = awsHttpStatus(cause);
    const causeMessage = cause instanceof Error ? cause.message : String(cause);
    const where = ctx.subject ? ` ${ctx.subject}` : '';
    const what = [code, httpStatus !== undefined ? `HTTP ${httpStatus}` : undefined]
      .filter(Boolean)
      .join(', ');
    super(`${ctx.service} ${ctx.operation}${where}: ${what ? `${what}: ` : ''}${causeMessage}`, { cause });
    this.name = 'AwsOperationError';
    this.service = ctx.service;
    this.operation = ctx.operation;
    this.subject = ctx.subject;
    this.code = code;
    this.httpStatus = httpStatus;
    const requestId = shape(cause)?.$metadata?.requestId;
    this.requestId = typeof requestId === 'string' ? requestId : undefined;
    this.throttled = isThrottlingError(cause);
  }
}

/** `a,b,c` for short lists, `a,b,c,d,e (+45 more)` for long ones: error messages stay readable. */
export function listForMessage(items: readonly string[] | undefined, max = 5): string {
  if (!items || items.length === 0) return '(none)';
  const shown = items.slice(0, max).join(',');
  return items.length > max ? `${shown} (+${items.length - max} more)` : shown;
}

/** Runs one SDK call and rethrows its failure as an AwsOperationError naming the operation and subject. */
export async function callAws<T>(ctx: AwsOperationContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AwsOperationError) throw err;
    throw new AwsOperationError(ctx, err);
  }
}

/**
 * A reconcile error policy for controllers that call AWS (the shape of kube-runtime's ErrorPolicy):
 * a throttled key waits 5 s, 10 s, 20 s ... up to 5 minutes, with a Warning `AwsThrottled` Event on
 * the object, instead of hammering an API that asked us to slow down. Other errors keep the default.
 */
export function awsThrottlingPolicy(
  opts: { baseMs?: number; maxMs?: number } = {},
): (
  err: unknown,
  req: unknown,
  failures: number,
) => { requeueAfterMs: number; event: { reason: string; message: string } } | undefined {
  const baseMs = opts.baseMs ?? 5_000;
  const maxMs = opts.maxMs ?? 300_000;
  return (err, _req, failures) => {
    if (!isThrottlingError(err)) return undefined;
    const delay = Math.min(maxMs, baseMs * 2 ** (Math.max(1, failures) - 1));
    const message = err instanceof Error ? err.message : String(err);
    return {
      requeueAfterMs: delay,
      event: {
        reason: 'AwsThrottled',
        message: `AWS is throttling (${message}); retrying in ${Math.round(delay / 1000)}s`,
      },
    };
  };
}
