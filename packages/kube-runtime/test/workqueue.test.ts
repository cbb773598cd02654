import { describe, expect, it } from '@jest/globals';
import { ManualClock, WorkQueue, realClock } from '../src/workqueue';
import type { RateLimiter, WorkQueueGetResult, WorkQueueMetrics } from '../src/workqueue';

/** Lets every pending promise callback run, so "still waiting" means really still waiting. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tracks a get() so a test can ask whether it has resolved yet without awaiting it. */
function track<K extends string>(
  pending: Promise<WorkQueueGetResult<K>>,
): { result?: WorkQueueGetResult<K> } {
  const tracked: { result?: WorkQueueGetResult<K> } = {};
  void pending.then((result) => {
    tracked.result = result;
  });
  return tracked;
}

async function getItem<K extends string>(queue: WorkQueue<K>): Promise<K> {
  const result = await queue.get();
  if (result.shutdown) throw new Error('queue unexpectedly shut down');
  return result.item;
}

/** Drains whatever is queued right now, marking each item done. */
async function takeAll<K extends string>(queue: WorkQueue<K>): Promise<K[]> {
  const items: K[] = [];
  while (queue.len() > 0) {
    const item = await getItem(queue);
    items.push(item);
    queue.done(item);
  }
  return items;
}

function newQueue(extra: { rateLimiter?: RateLimiter; metrics?: WorkQueueMetrics } = {}) {
  const clock = new ManualClock();
  const queue = new WorkQueue({ name: 'test', clock, ...extra });
  return { clock, queue };
}

describe('WorkQueue: queueing', () => {
  it('queues an item once however often it is added', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.len()).toBe(2);
    expect(await takeAll(queue)).toEqual(['a', 'b']);
    expect(queue.len()).toBe(0);
  });

  it('hands items out first in, first out', async () => {
    const { queue } = newQueue();
    for (const item of ['c', 'a', 'd', 'b']) queue.add(item);
    expect(await takeAll(queue)).toEqual(['c', 'a', 'd', 'b']);
  });

  it('makes a waiting getter wait until an item arrives, serving getters in order', async () => {
    const { queue } = newQueue();
    const first = track(queue.get());
    const second = track(queue.get());
    await flush();
    expect(first.result).toBeUndefined();
    queue.add('x');
    await flush();
    expect(first.result).toEqual({ item: 'x', shutdown: false });
    expect(second.result).toBeUndefined();
    queue.add('y');
    await flush();
    expect(second.result).toEqual({ item: 'y', shutdown: false });
  });

  it('accepts the same item again once it has been taken', async () => {
    const { queue } = newQueue();
    queue.add('a');
    const item = await getItem(queue);
    queue.done(item);
    queue.add('a');
    expect(queue.len()).toBe(1);
    expect(await getItem(queue)).toBe('a');
  });
});

describe('WorkQueue: an item is never processed by two workers at once', () => {
  it('holds back an item re-added while it is processed, then hands it out exactly once more', async () => {
    const { queue } = newQueue();
    queue.add('a');
    const firstWorker = await getItem(queue);
    expect(firstWorker).toBe('a');

    const secondWorker = track(queue.get());
    const thirdWorker = track(queue.get());
    queue.add('a');
    queue.add('a');
    await flush();
    expect(secondWorker.result).toBeUndefined();
    expect(thirdWorker.result).toBeUndefined();
    // Re-added but held: it is not "waiting" in the queue while a worker has it.
    expect(queue.len()).toBe(0);

    queue.done('a');
    await flush();
    expect(secondWorker.result).toEqual({ item: 'a', shutdown: false });
    expect(thirdWorker.result).toBeUndefined();

    queue.done('a');
    await flush();
    expect(thirdWorker.result).toBeUndefined();
    expect(queue.len()).toBe(0);
  });

  it('holds back an item handed straight to a waiting worker just the same', async () => {
    const { queue } = newQueue();
    const firstWorker = track(queue.get());
    const secondWorker = track(queue.get());
    queue.add('a');
    await flush();
    expect(firstWorker.result).toEqual({ item: 'a', shutdown: false });

    queue.add('a');
    await flush();
    expect(secondWorker.result).toBeUndefined();
    queue.done('a');
    await flush();
    expect(secondWorker.result).toEqual({ item: 'a', shutdown: false });
  });

  it('does not re-queue an item that was not dirtied while processing', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.done(await getItem(queue));
    expect(queue.len()).toBe(0);
    const waiting = track(queue.get());
    await flush();
    expect(waiting.result).toBeUndefined();
  });

  it('puts a dirtied item at the back of the queue when done', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('b');
    const a = await getItem(queue);
    queue.add('a');
    queue.add('c');
    expect(queue.len()).toBe(2);
    queue.done(a);
    expect(await takeAll(queue)).toEqual(['b', 'c', 'a']);
  });

  it('ignores done for an item that is not being processed', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.done('a');
    queue.done('zzz');
    expect(queue.len()).toBe(1);
    expect(await takeAll(queue)).toEqual(['a']);
  });

  it('lets different items be processed concurrently', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('b');
    expect(await getItem(queue)).toBe('a');
    expect(await getItem(queue)).toBe('b');
  });
});

describe('WorkQueue: delayed adds', () => {
  it('adds an item only once its delay has passed', async () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 100);
    expect(queue.len()).toBe(0);
    clock.advance(99);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(await getItem(queue)).toBe('a');
  });

  it('releases delayed items in deadline order, not call order', async () => {
    const { clock, queue } = newQueue();
    queue.addAfter('late', 300);
    queue.addAfter('early', 100);
    queue.addAfter('middle', 200);
    clock.advance(150);
    expect(await takeAll(queue)).toEqual(['early']);
    clock.advance(1000);
    expect(await takeAll(queue)).toEqual(['middle', 'late']);
  });

  it('lets a later call with an earlier deadline win', async () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 1000);
    queue.addAfter('a', 10);
    clock.advance(10);
    expect(await takeAll(queue)).toEqual(['a']);
    clock.advance(5000);
    expect(queue.len()).toBe(0);
  });

  it('does not let a later call postpone an item already waiting', async () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 10);
    queue.addAfter('a', 1000);
    clock.advance(10);
    expect(await takeAll(queue)).toEqual(['a']);
    clock.advance(5000);
    expect(queue.len()).toBe(0);
  });

  it('adds immediately when the delay is zero or negative', () => {
    const { queue } = newQueue();
    queue.addAfter('zero', 0);
    queue.addAfter('negative', -5);
    expect(queue.len()).toBe(2);
  });

  it('deduplicates a delayed item against the same item already queued', async () => {
    const { clock, queue } = newQueue();
    queue.add('a');
    queue.addAfter('a', 50);
    clock.advance(50);
    expect(queue.len()).toBe(1);
    expect(await takeAll(queue)).toEqual(['a']);
  });

  it('wakes a waiting getter when a delayed item falls due', async () => {
    const { clock, queue } = newQueue();
    const waiting = track(queue.get());
    queue.addAfter('a', 20);
    await flush();
    expect(waiting.result).toBeUndefined();
    clock.advance(20);
    await flush();
    expect(waiting.result).toEqual({ item: 'a', shutdown: false });
  });

  it('keeps one timer armed for the earliest deadline only', () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 300);
    queue.addAfter('b', 100);
    queue.addAfter('c', 200);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(300);
    expect(clock.pendingTimers()).toBe(0);
    expect(queue.len()).toBe(3);
  });

  it('fires a delayed add on the real clock', async () => {
    const queue = new WorkQueue({ name: 'real-clock', clock: realClock });
    queue.addAfter('a', 5);
    expect(queue.len()).toBe(0);
    expect(await getItem(queue)).toBe('a');
    queue.shutDown();
  });
});

describe('WorkQueue: rate limiting', () => {
  class ScriptedLimiter implements RateLimiter {
    readonly asked: string[] = [];
    readonly forgotten: string[] = [];
    constructor(private readonly delayMs: number) {}
    when(item: string): number {
      this.asked.push(item);
      return this.delayMs;
    }
    forget(item: string): void {
      this.forgotten.push(item);
    }
    numRequeues(item: string): number {
      return this.asked.filter((asked) => asked === item).length;
    }
  }

  it('delays addRateLimited by what the rate limiter says', () => {
    const limiter = new ScriptedLimiter(250);
    const { clock, queue } = newQueue({ rateLimiter: limiter });
    queue.addRateLimited('a');
    expect(limiter.asked).toEqual(['a']);
    clock.advance(249);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
  });

  it('passes forget and numRequeues through to the rate limiter', () => {
    const limiter = new ScriptedLimiter(1);
    const { queue } = newQueue({ rateLimiter: limiter });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    expect(queue.numRequeues('a')).toBe(2);
    queue.forget('a');
    expect(limiter.forgotten).toEqual(['a']);
  });

  it('backs off exponentially per item with the default rate limiter', () => {
    const { clock, queue } = newQueue();
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    expect(queue.numRequeues('a')).toBe(3);
    // Three failures ask for 5, 10 and 20ms; the earliest deadline (5ms) wins.
    clock.advance(4);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
  });
});

describe('WorkQueue: shutdown', () => {
  it('wakes every waiting getter with shutdown', async () => {
    const { queue } = newQueue();
    const first = track(queue.get());
    const second = track(queue.get());
    queue.shutDown();
    await flush();
    expect(first.result).toEqual({ shutdown: true });
    expect(second.result).toEqual({ shutdown: true });
    expect(queue.shuttingDown()).toBe(true);
  });

  it('stops handing out work and drops what was queued', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('b');
    queue.shutDown();
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toEqual({ shutdown: true });
  });

  it('ignores adds of every kind after shutdown', async () => {
    const { clock, queue } = newQueue();
    queue.shutDown();
    queue.add('a');
    queue.addAfter('b', 10);
    queue.addAfter('c', 0);
    queue.addRateLimited('d');
    clock.advance(10_000);
    expect(queue.len()).toBe(0);
    expect(queue.numRequeues('d')).toBe(0);
    expect(await queue.get()).toEqual({ shutdown: true });
  });

  it('clears its delay timer so nothing fires after shutdown', () => {
    const { clock, queue } = newQueue();
    queue.addAfter('a', 1000);
    expect(clock.pendingTimers()).toBe(1);
    queue.shutDown();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('does not re-queue an in-flight item dirtied before shutdown', async () => {
    const { queue } = newQueue();
    queue.add('a');
    const item = await getItem(queue);
    queue.add('a');
    queue.shutDown();
    queue.done(item);
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toEqual({ shutdown: true });
  });

  it('is idempotent', async () => {
    const { queue } = newQueue();
    queue.shutDown();
    queue.shutDown();
    await expect(queue.shutDownWithDrain()).resolves.toBeUndefined();
  });

  it('drains: resolves only once every in-flight item is done', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('b');
    queue.add('c');
    const a = await getItem(queue);
    const b = await getItem(queue);

    let drained = false;
    const drain = queue.shutDownWithDrain().then(() => {
      drained = true;
    });
    expect(queue.shuttingDown()).toBe(true);
    expect(await queue.get()).toEqual({ shutdown: true });
    queue.add('d');
    expect(queue.len()).toBe(0);

    queue.done(a);
    await flush();
    expect(drained).toBe(false);
    queue.done(b);
    await drain;
    expect(drained).toBe(true);
  });

  it('drains at once when nothing is in flight', async () => {
    const { queue } = newQueue();
    queue.add('a');
    await expect(queue.shutDownWithDrain()).resolves.toBeUndefined();
  });
});

describe('realClock', () => {
  it('does not keep the process alive for a pending timer', () => {
    const timer = realClock.setTimeout(() => {}, 60_000) as ReturnType<typeof setTimeout>;
    expect(timer.hasRef()).toBe(false);
    realClock.clearTimeout(timer);
  });

  it("does not fire a delay beyond Node's timer range at once", async () => {
    let fired = false;
    const timer = realClock.setTimeout(() => {
      fired = true;
    }, 2 ** 40);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toBe(false);
    realClock.clearTimeout(timer);
  });
});

describe('ManualClock', () => {
  it('fires timers in deadline order, each at its own time', () => {
    const clock = new ManualClock(1000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 20);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 10);
    const cancelled = clock.setTimeout(() => fired.push(['never', clock.now()]), 5);
    clock.clearTimeout(cancelled);
    clock.advance(15);
    expect(fired).toEqual([['a', 1010]]);
    expect(clock.now()).toBe(1015);
    clock.advance(100);
    expect(fired).toEqual([
      ['a', 1010],
      ['b', 1020],
    ]);
    expect(clock.now()).toBe(1115);
  });
});
