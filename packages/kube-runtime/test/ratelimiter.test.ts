import { describe, expect, it } from '@jest/globals';
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  ManualClock,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from '../src/workqueue';
import type { RateLimiter } from '../src/workqueue';

function delays(limiter: RateLimiter, item: string, times: number): number[] {
  return Array.from({ length: times }, () => limiter.when(item));
}

describe('ItemExponentialFailureRateLimiter', () => {
  it('doubles the delay on each failure, starting at the base', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    expect(delays(limiter, 'a', 6)).toEqual([5, 10, 20, 40, 80, 160]);
    expect(limiter.numRequeues('a')).toBe(6);
  });

  it('caps the delay at the maximum', () => {
    const limiter = new ItemExponentialFailureRateLimiter(1, 100);
    expect(delays(limiter, 'a', 10)).toEqual([1, 2, 4, 8, 16, 32, 64, 100, 100, 100]);
  });

  it('stays at the cap for failure counts far beyond the float range', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    delays(limiter, 'a', 5000);
    expect(limiter.when('a')).toBe(1_000_000);
    expect(limiter.numRequeues('a')).toBe(5001);
  });

  it('keeps a zero base delay at zero however many failures', () => {
    const limiter = new ItemExponentialFailureRateLimiter(0, 1000);
    delays(limiter, 'a', 2000);
    expect(limiter.when('a')).toBe(0);
  });

  it('tracks each item separately', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    delays(limiter, 'a', 3);
    expect(limiter.when('b')).toBe(5);
    expect(limiter.when('a')).toBe(40);
    expect(limiter.numRequeues('a')).toBe(4);
    expect(limiter.numRequeues('b')).toBe(1);
  });

  it('starts over after forget', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    delays(limiter, 'a', 4);
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
    expect(delays(limiter, 'a', 2)).toEqual([5, 10]);
  });

  it("defaults to client-go's 5ms base and 1000s cap", () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    expect(limiter.when('a')).toBe(5);
    delays(limiter, 'a', 40);
    expect(limiter.when('a')).toBe(1_000_000);
  });
});

describe('BucketRateLimiter', () => {
  it('lets a burst through at once, then spaces retries at the rate', () => {
    const clock = new ManualClock();
    const limiter = new BucketRateLimiter(10, 3, clock);
    expect(delays(limiter, 'a', 3)).toEqual([0, 0, 0]);
    // Each call reserves a token, so waiting callers queue up 100ms apart.
    expect(delays(limiter, 'b', 3)).toEqual([100, 200, 300]);
  });

  it('is shared by all items', () => {
    const clock = new ManualClock();
    const limiter = new BucketRateLimiter(10, 2, clock);
    expect(limiter.when('a')).toBe(0);
    expect(limiter.when('b')).toBe(0);
    expect(limiter.when('c')).toBe(100);
  });

  it('refills at the rate, never beyond the burst', () => {
    const clock = new ManualClock();
    const limiter = new BucketRateLimiter(10, 2, clock);
    delays(limiter, 'a', 2);
    clock.advance(100);
    expect(limiter.when('a')).toBe(0);
    expect(limiter.when('a')).toBe(100);
    clock.advance(60_000);
    expect(delays(limiter, 'a', 3)).toEqual([0, 0, 100]);
  });

  it('pays back tokens reserved in advance before lending more', () => {
    const clock = new ManualClock();
    const limiter = new BucketRateLimiter(10, 1, clock);
    expect(delays(limiter, 'a', 3)).toEqual([0, 100, 200]);
    clock.advance(150);
    expect(limiter.when('a')).toBe(150);
  });

  it('does not count requeues and has nothing to forget', () => {
    const limiter = new BucketRateLimiter(10, 1, new ManualClock());
    delays(limiter, 'a', 3);
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
    expect(limiter.when('a')).toBe(300);
  });

  it('never delays with an infinite rate', () => {
    const limiter = new BucketRateLimiter(Infinity, 1, new ManualClock());
    expect(delays(limiter, 'a', 5)).toEqual([0, 0, 0, 0, 0]);
  });

  it('rejects settings that would block forever', () => {
    expect(() => new BucketRateLimiter(0, 10)).toThrow(RangeError);
    expect(() => new BucketRateLimiter(10, 0)).toThrow(RangeError);
  });
});

describe('MaxOfRateLimiter', () => {
  it('answers with the longest delay and lets every limiter record the failure', () => {
    const fast = new ItemExponentialFailureRateLimiter(1, 1000);
    const slow = new ItemExponentialFailureRateLimiter(50, 60);
    const limiter = new MaxOfRateLimiter(fast, slow);
    expect(delays(limiter, 'a', 8)).toEqual([50, 60, 60, 60, 60, 60, 64, 128]);
    expect(fast.numRequeues('a')).toBe(8);
    expect(slow.numRequeues('a')).toBe(8);
  });

  it('reports the highest requeue count of its limiters', () => {
    const counting = new ItemExponentialFailureRateLimiter(1, 1000);
    const bucket = new BucketRateLimiter(10, 100, new ManualClock());
    const limiter = new MaxOfRateLimiter(bucket, counting);
    counting.when('a');
    counting.when('a');
    limiter.when('a');
    expect(limiter.numRequeues('a')).toBe(3);
  });

  it('forgets in every limiter', () => {
    const first = new ItemExponentialFailureRateLimiter(1, 1000);
    const second = new ItemExponentialFailureRateLimiter(2, 1000);
    const limiter = new MaxOfRateLimiter(first, second);
    delays(limiter, 'a', 3);
    limiter.forget('a');
    expect(first.numRequeues('a')).toBe(0);
    expect(second.numRequeues('a')).toBe(0);
    expect(limiter.when('a')).toBe(2);
  });
});

describe('defaultControllerRateLimiter', () => {
  it('backs off per item from 5ms', () => {
    const limiter = defaultControllerRateLimiter(new ManualClock());
    expect(delays(limiter, 'a', 5)).toEqual([5, 10, 20, 40, 80]);
    expect(limiter.numRequeues('a')).toBe(5);
  });

  it('caps per-item backoff at 1000s', () => {
    const limiter = defaultControllerRateLimiter(new ManualClock());
    const all = delays(limiter, 'a', 30);
    expect(all.at(-1)).toBe(1_000_000);
    expect(Math.max(...all)).toBe(1_000_000);
  });

  it('limits all items together to 10 per second after a burst of 100', () => {
    const clock = new ManualClock();
    const limiter = defaultControllerRateLimiter(clock);
    // Distinct items each sit at their first (5ms) backoff, so only the bucket can push them further.
    const first100 = Array.from({ length: 100 }, (_, i) => limiter.when(`item-${i}`));
    expect(new Set(first100)).toEqual(new Set([5]));
    expect(limiter.when('item-100')).toBe(100);
    expect(limiter.when('item-101')).toBe(200);
  });
});
