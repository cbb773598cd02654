// The work queue between informers and reconcile workers, with client-go's guarantees: a key is
// queued at most once, never processed by two workers at once, and processed again after `done`
// if it changed while being processed. On top sit delayed adds and per-key rate limiting.
import { defaultControllerRateLimiter } from './ratelimiter';
import type { RateLimiter } from './ratelimiter';

/** An opaque handle returned by `Clock.setTimeout`. */
export type ClockTimer = object;

/** Time as the queue sees it; injectable so tests can drive delays without sleeping. */
export interface Clock {
  /** Milliseconds on a monotonic scale; only differences are meaningful. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
}

// Node fires any timeout above this after 1ms (with a warning), which would turn a long
// requeueAfter into an immediate retry. Firing early is harmless: the queue re-arms for the rest.
const LONGEST_NODE_TIMEOUT_MS = 2 ** 31 - 1;

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, Math.min(Math.max(delayMs, 0), LONGEST_NODE_TIMEOUT_MS));
    // A pending requeue alone must not keep a process alive that has nothing else to do.
    timer.unref();
    return timer;
  },
  clearTimeout(timer) {
    clearTimeout(timer as ReturnType<typeof setTimeout>);
  },
};

interface ManualTimer {
  dueAt: number;
  sequence: number;
  callback: () => void;
}

/** A clock that moves only when told to; timers fire in deadline order during `advance`. */
export class ManualClock implements Clock {
  private current: number;
  private nextSequence = 0;
  private readonly timers = new Map<ClockTimer, ManualTimer>();

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): ClockTimer {
    const handle = {};
    this.timers.set(handle, {
      dueAt: this.current + Math.max(delayMs, 0),
      sequence: this.nextSequence++,
      callback,
    });
    return handle;
  }

  clearTimeout(timer: ClockTimer): void {
    this.timers.delete(timer);
  }

  /** Timers set and neither fired nor cleared. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing each timer that falls due at its own deadline. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let earliest: [ClockTimer, ManualTimer] | undefined;
      for (const entry of this.timers) {
        const [, timer] = entry;
        if (timer.dueAt > target) continue;
        if (
          !earliest ||
          timer.dueAt < earliest[1].dueAt ||
          (timer.dueAt === earliest[1].dueAt && timer.sequence < earliest[1].sequence)
        ) {
          earliest = entry;
        }
      }
      if (!earliest) break;
      const [handle, timer] = earliest;
      this.timers.delete(handle);
      this.current = Math.max(this.current, timer.dueAt);
      timer.callback();
    }
    this.current = target;
  }
}

/**
 * What the queue reports so depth, latency and retries can be exported. Calls mirror client-go's
 * queue metrics: `add` when an item becomes dirty, `get` when it leaves the queue for a worker,
 * `done` when the worker finishes, `discard` when a dirty item is dropped at shutdown.
 */
export interface WorkQueueMetrics {
  add(item: string): void;
  get(item: string): void;
  done(item: string): void;
  discard(item: string): void;
  retry(): void;
}

const noMetrics: WorkQueueMetrics = {
  add() {},
  get() {},
  done() {},
  discard() {},
  retry() {},
};

export interface WorkQueueOptions<K extends string = string> {
  /** Identifies the queue in metrics and logs; usually the controller name. */
  name: string;
  /** Backoff for `addRateLimited`; defaults to client-go's default controller rate limiter. */
  rateLimiter?: RateLimiter<K>;
  metrics?: WorkQueueMetrics;
  clock?: Clock;
}

export type WorkQueueGetResult<K extends string = string> = { item: K; shutdown: false } | { shutdown: true };

/** First in, first out, without Array#shift's O(n) copy on every take. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}

interface DelayedEntry<K> {
  item: K;
  readyAt: number;
  sequence: number;
}

/**
 * Items waiting for their time, earliest first. An item is waiting at most once: scheduling it
 * again only ever moves it earlier. Superseded heap entries are skipped when they surface rather
 * than removed in place.
 */
class DelayedItems<K> {
  private readonly heap: DelayedEntry<K>[] = [];
  private readonly current = new Map<K, DelayedEntry<K>>();
  private nextSequence = 0;

  schedule(item: K, readyAt: number): void {
    const existing = this.current.get(item);
    if (existing && existing.readyAt <= readyAt) return;
    const entry = { item, readyAt, sequence: this.nextSequence++ };
    this.current.set(item, entry);
    this.push(entry);
  }

  nextReadyAt(): number | undefined {
    return this.peek()?.readyAt;
  }

  takeReady(now: number): K[] {
    const ready: K[] = [];
    for (let next = this.peek(); next && next.readyAt <= now; next = this.peek()) {
      this.pop();
      this.current.delete(next.item);
      ready.push(next.item);
    }
    return ready;
  }

  clear(): void {
    this.heap.length = 0;
    this.current.clear();
  }

  private peek(): DelayedEntry<K> | undefined {
    for (let top = this.heap[0]; top; top = this.heap[0]) {
      if (this.current.get(top.item) === top) return top;
      this.pop();
    }
    return undefined;
  }

  private static before<K>(a: DelayedEntry<K>, b: DelayedEntry<K>): boolean {
    return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.sequence < b.sequence);
  }

  private push(entry: DelayedEntry<K>): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!DelayedItems.before(entry, parent)) break;
      heap[index] = parent;
      index = parentIndex;
    }
    heap[index] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && DelayedItems.before(heap[right]!, heap[left]!) ? right : left;
      if (!DelayedItems.before(heap[child]!, last)) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
  }
}

export class WorkQueue<K extends string = string> {
  readonly name: string;
  private readonly rateLimiter: RateLimiter<K>;
  private readonly metrics: WorkQueueMetrics;
  private readonly clock: Clock;

  private readonly queue = new Fifo<K>();
  /** Items that need processing: queued, or changed while being processed. */
  private readonly dirty = new Set<K>();
  /** Items a worker holds between `get` and `done`. */
  private readonly processing = new Set<K>();
  private readonly waitingGetters: ((result: WorkQueueGetResult<K>) => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private readonly delayed = new DelayedItems<K>();
  private delayTimer: ClockTimer | undefined;
  private delayTimerReadyAt: number | undefined;
  private stopped = false;

  constructor(options: WorkQueueOptions<K>) {
    this.name = options.name;
    this.clock = options.clock ?? realClock;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<K>(this.clock);
    this.metrics = options.metrics ?? noMetrics;
  }

  /** Marks `item` as needing processing. Ignored after shutdown. */
  add(item: K): void {
    if (this.stopped || this.dirty.has(item)) return;
    this.metrics.add(item);
    this.dirty.add(item);
    // A worker holds it: `done` puts it back, so a second worker never sees it concurrently.
    if (this.processing.has(item)) return;
    this.queue.push(item);
    this.handOutQueuedItems();
  }

  /**
   * The next item, waiting for one if the queue is empty. The caller owns the item until it calls
   * `done(item)`. Resolves `{ shutdown: true }` once the queue is shut down.
   */
  get(): Promise<WorkQueueGetResult<K>> {
    if (this.stopped) return Promise.resolve({ shutdown: true });
    const item = this.queue.shift();
    if (item !== undefined) {
      this.startProcessing(item);
      return Promise.resolve({ item, shutdown: false });
    }
    return new Promise((resolve) => this.waitingGetters.push(resolve));
  }

  /** The worker has finished `item`; if it was added meanwhile it is queued again. */
  done(item: K): void {
    if (!this.processing.has(item)) return;
    this.metrics.done(item);
    this.processing.delete(item);
    if (this.dirty.has(item)) {
      this.queue.push(item);
      this.handOutQueuedItems();
    }
    this.resolveDrainIfIdle();
  }

  /** Items waiting to be handed out (not those being processed or delayed). */
  len(): number {
    return this.queue.length;
  }

  /**
   * Adds `item` once `delayMs` has passed. If it is already waiting, the earlier of the two
   * deadlines wins: a later call can bring it forward but never postpone it.
   */
  addAfter(item: K, delayMs: number): void {
    if (this.stopped) return;
    this.metrics.retry();
    if (!(delayMs > 0)) {
      this.add(item);
      return;
    }
    this.delayed.schedule(item, this.clock.now() + delayMs);
    this.armDelayTimer();
  }

  /** Adds `item` after the delay the rate limiter assigns to its next failure. */
  addRateLimited(item: K): void {
    if (this.stopped) return;
    this.addAfter(item, this.rateLimiter.when(item));
  }

  /** The item succeeded: reset its backoff. It does not remove the item from the queue. */
  forget(item: K): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: K): number {
    return this.rateLimiter.numRequeues(item);
  }

  /**
   * Stops handing out work: waiting and future `get`s resolve `{ shutdown: true }`, adds are
   * ignored, and queued or delayed items are dropped (controllers are level-triggered, so the next
   * leader's initial list brings them back). Items already handed out may still be `done`.
   */
  shutDown(): void {
    if (!this.stopped) {
      this.stopped = true;
      this.disarmDelayTimer();
      this.delayed.clear();
      this.queue.drain();
      for (const item of this.dirty) this.metrics.discard(item);
      this.dirty.clear();
      for (const resolve of this.waitingGetters.splice(0)) resolve({ shutdown: true });
    }
    this.resolveDrainIfIdle();
  }

  /** Shuts down, then resolves once every item handed out has been `done`. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  shuttingDown(): boolean {
    return this.stopped;
  }

  private startProcessing(item: K): void {
    this.metrics.get(item);
    this.processing.add(item);
    this.dirty.delete(item);
  }

  private handOutQueuedItems(): void {
    while (this.waitingGetters.length > 0 && this.queue.length > 0) {
      const item = this.queue.shift()!;
      const resolve = this.waitingGetters.shift()!;
      // Claimed synchronously so no other getter or add can see it as free before resolve runs.
      this.startProcessing(item);
      resolve({ item, shutdown: false });
    }
  }

  private resolveDrainIfIdle(): void {
    if (this.stopped && this.processing.size === 0) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  private armDelayTimer(): void {
    const readyAt = this.delayed.nextReadyAt();
    if (readyAt === undefined) {
      this.disarmDelayTimer();
      return;
    }
    if (this.delayTimer !== undefined && this.delayTimerReadyAt === readyAt) return;
    this.disarmDelayTimer();
    this.delayTimerReadyAt = readyAt;
    this.delayTimer = this.clock.setTimeout(() => this.releaseReadyItems(), readyAt - this.clock.now());
  }

  private disarmDelayTimer(): void {
    if (this.delayTimer !== undefined) this.clock.clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    this.delayTimerReadyAt = undefined;
  }

  private releaseReadyItems(): void {
    this.delayTimer = undefined;
    this.delayTimerReadyAt = undefined;
    if (this.stopped) return;
    for (const item of this.delayed.takeReady(this.clock.now())) this.add(item);
    this.armDelayTimer();
  }
}
