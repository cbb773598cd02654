// Rate limiters decide how long a failed key waits before it is handed out again. Semantics follow
// client-go's workqueue rate limiters so backoff behaves the same as in Go controllers.
import type { Clock } from './workqueue';

export interface RateLimiter<K extends string = string> {
  /** How long (ms) to wait before `item` is retried; records one more failure for it. */
  when(item: K): number;
  /** Stop tracking `item`: its next failure starts the backoff from the beginning. */
  forget(item: K): void;
  /** How many times `item` has failed since it was last forgotten. */
  numRequeues(item: K): number;
}

export type TimeSource = Pick<Clock, 'now'>;

const monotonicTime: TimeSource = { now: () => performance.now() };

// 2 ** 1024 is Infinity and 0 * Infinity is NaN; stopping one short keeps a zero base delay at zero
// while every real base still saturates to the cap long before this.
const LARGEST_FINITE_POWER_OF_TWO = 1023;

/** Per-key backoff: baseDelayMs * 2^failures, capped at maxDelayMs. */
export class ItemExponentialFailureRateLimiter<K extends string = string> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();

  constructor(
    readonly baseDelayMs = 5,
    readonly maxDelayMs = 1_000_000,
  ) {
    if (!(baseDelayMs >= 0) || !(maxDelayMs >= 0)) {
      throw new RangeError(
        `exponential rate limiter: delays must be >= 0 (base ${baseDelayMs}, max ${maxDelayMs})`,
      );
    }
  }

  when(item: K): number {
    const previousFailures = this.failures.get(item) ?? 0;
    this.failures.set(item, previousFailures + 1);
    const delayMs = this.baseDelayMs * 2 ** Math.min(previousFailures, LARGEST_FINITE_POWER_OF_TWO);
    return Math.min(delayMs, this.maxDelayMs);
  }

  forget(item: K): void {
    this.failures.delete(item);
  }

  numRequeues(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}

/**
 * One token bucket shared by every key: `burst` retries go through at once, then `qps` per second.
 * Like golang.org/x/time/rate's Reserve, every call takes a token even when it has to wait for it,
 * so a storm of failures is spread out instead of all retrying the moment a token appears.
 */
export class BucketRateLimiter<K extends string = string> implements RateLimiter<K> {
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly qps = 10,
    readonly burst = 100,
    private readonly clock: TimeSource = monotonicTime,
  ) {
    if (!(qps > 0)) throw new RangeError(`bucket rate limiter: qps must be > 0, got ${qps}`);
    if (!(burst >= 1)) throw new RangeError(`bucket rate limiter: burst must be >= 1, got ${burst}`);
    this.tokens = burst;
    this.refilledAt = clock.now();
  }

  when(_item: K): number {
    if (this.qps === Infinity) return 0;
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.qps) / 1000);
    this.refilledAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  forget(_item: K): void {}

  numRequeues(_item: K): number {
    return 0;
  }
}

/** The longest delay any of `limiters` asks for; every limiter sees every failure. */
export class MaxOfRateLimiter<K extends string = string> implements RateLimiter<K> {
  private readonly limiters: readonly RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters;
  }

  when(item: K): number {
    // Every limiter must be asked, not just until the longest is known: each records the failure.
    let longestMs = 0;
    for (const limiter of this.limiters) longestMs = Math.max(longestMs, limiter.when(item));
    return longestMs;
  }

  forget(item: K): void {
    for (const limiter of this.limiters) limiter.forget(item);
  }

  numRequeues(item: K): number {
    let most = 0;
    for (const limiter of this.limiters) most = Math.max(most, limiter.numRequeues(item));
    return most;
  }
}

/**
 * client-go's DefaultTypedControllerRateLimiter: per-key backoff 5ms..1000s, and no more than
 * 10 retries per second overall once a burst of 100 is spent.
 */
export function defaultControllerRateLimiter<K extends string = string>(clock?: TimeSource): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(
    new ItemExponentialFailureRateLimiter<K>(5, 1_000_000),
    new BucketRateLimiter<K>(10, 100, clock),
  );
}
