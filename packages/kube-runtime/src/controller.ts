import type * as k8s from '@kubernetes/client-node';
import type { KubeClient, ResourceType } from './client';
import { SharedCache } from './cache';
import type { EventRecorder } from './events';
import { objectKey, splitKey, type Informer, type InformerOptions } from './informer';
import { noopLogger, type Logger } from './logger';
import type { RuntimeMetrics } from './metrics';
import { defaultControllerRateLimiter, WorkQueue, type RateLimiter } from './workqueue';

export interface Request {
  key: string;
  namespace?: string;
  name: string;
}

export interface ReconcileResult {
  /** Reconcile this key again after this long (a poll, e.g. waiting on a drain). */
  requeueAfterMs?: number;
  /** Reconcile again with rate-limited backoff, without counting an error. */
  requeue?: boolean;
}

export interface ReconcileContext {
  log: Logger;
  /**
   * Aborted when the in-flight work must end now: leadership lost, the shutdown grace period over, or
   * the controller's reconcile timeout reached. Every call of the manager's client aborts with it;
   * pass it to other I/O (AWS SDK `abortSignal`).
   */
  signal: AbortSignal;
}

export type Reconciler = (req: Request, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

/** Thrown by a reconciler when retrying cannot help (bad input): the key is not requeued. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/**
 * Decides what a reconcile error means, once for a whole process (e.g. AWS throttling: wait longer);
 * returning nothing keeps the default (requeue with per-key exponential backoff).
 */
export type ErrorPolicy = (
  err: unknown,
  req: Request,
  /** Consecutive failed reconciles of this key, this one included (a success resets it). */
  failures: number,
) => ErrorDecision | undefined | void;

export interface ErrorDecision {
  /** Wait this long instead of the per-key backoff. */
  requeueAfterMs?: number;
  /** Do not retry. */
  terminal?: boolean;
  /** Tell the object's users (a Warning Event on the primary object). */
  event?: { reason: string; message: string };
}

/** What the manager hands a runnable: when to stop taking work, and when to abort what is in flight. */
export interface RunContext {
  /** Stop taking new work; return once in-flight work is done. */
  stopping: AbortSignal;
  /** End in-flight work now (leadership lost, or the grace period is over). */
  abort: AbortSignal;
}

/** Work a Manager starts and stops: controllers, pollers, servers. */
export interface Runnable {
  readonly name: string;
  /** Runs until ctx.stopping (or ctx.abort) aborts, then resolves. */
  run(ctx: RunContext): Promise<void>;
}

/** Filters which watch events enqueue a key. Each function defaults to "yes". */
export interface Predicate<T> {
  create?(obj: T): boolean;
  update?(oldObj: T, newObj: T): boolean;
  delete?(obj: T): boolean;
}

/** Let an update through when the spec changed (generation), or deletion began, or finalizers changed. */
export const generationChanged: Predicate<k8s.KubernetesObject> = {
  update: (o, n) =>
    o.metadata?.generation !== n.metadata?.generation ||
    (!o.metadata?.deletionTimestamp && !!n.metadata?.deletionTimestamp) ||
    JSON.stringify(o.metadata?.finalizers ?? []) !== JSON.stringify(n.metadata?.finalizers ?? []) ||
    // resync (old === new) always passes, so periodic reconciles still happen
    o === n,
};

export const labelsChanged: Predicate<k8s.KubernetesObject> = {
  update: (o, n) => JSON.stringify(o.metadata?.labels ?? {}) !== JSON.stringify(n.metadata?.labels ?? {}),
};

export const annotationsChanged: Predicate<k8s.KubernetesObject> = {
  update: (o, n) =>
    JSON.stringify(o.metadata?.annotations ?? {}) !== JSON.stringify(n.metadata?.annotations ?? {}),
};

/** Passes when any predicate passes. */
export function anyOf<T>(...ps: Predicate<T>[]): Predicate<T> {
  return {
    create: (o) => ps.some((p) => p.create?.(o) ?? true),
    update: (o, n) => ps.some((p) => p.update?.(o, n) ?? true),
    delete: (o) => ps.some((p) => p.delete?.(o) ?? true),
  };
}

export interface WatchOptions<T extends k8s.KubernetesObject> extends Pick<
  InformerOptions<T>,
  | 'namespace'
  | 'labelSelector'
  | 'fieldSelector'
  | 'indexers'
  | 'optional'
  | 'transform'
  | 'pageSize'
  | 'resyncPeriodMs'
> {
  predicates?: Predicate<T>[];
}

export interface ControllerOptions<T extends k8s.KubernetesObject> {
  /** Names the controller in logs and metrics (controller-runtime's `controller` label). */
  name: string;
  client: KubeClient;
  /** Where the controller's informers come from (the manager's shared cache); default: a cache of its own. */
  cache?: SharedCache;
  /** The primary kind: each of its objects is one reconcile key. */
  for: ResourceType;
  forOptions?: WatchOptions<T>;
  reconcile: Reconciler;
  workers?: number;
  rateLimiter?: RateLimiter<string>;
  metrics?: RuntimeMetrics;
  logger?: Logger;
  /** Default namespace scope for every watch of this controller ('' or undefined: all namespaces). */
  namespace?: string;
  errorPolicy?: ErrorPolicy;
  /** Records the error policy's Warning events. */
  events?: EventRecorder;
  /** Abort a reconcile that runs longer than this (its signal aborts; counted as a timeout). Default: none. */
  reconcileTimeoutMs?: number;
}

/** A reconciler bug rather than a failure of what it talked to: counted as a panic, like Go's. */
function isPanic(err: unknown): boolean {
  return err instanceof TypeError || err instanceof ReferenceError || err instanceof RangeError;
}

/**
 * One reconcile loop: informers (from the shared cache) for the primary kind and the kinds it owns or
 * watches feed keys of the primary kind into a rate-limited work queue; N workers call
 * `reconcile(key)`. A key is never reconciled by two workers at once; a thrown error requeues it with
 * backoff (or as the error policy says). A Runnable: the manager runs it while it leads.
 */
export class Controller<T extends k8s.KubernetesObject = k8s.KubernetesObject> implements Runnable {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  readonly primary: Informer<T>;
  private readonly cache: SharedCache;
  private readonly sources: Informer<k8s.KubernetesObject>[] = [];
  private readonly log: Logger;
  private workers: Promise<void>[] = [];
  /** Used by start()/stop() when the controller runs without a manager. */
  private standalone?: { stopping: AbortController; abort: AbortController; running: Promise<void> };
  private abortSignal: AbortSignal = new AbortController().signal;
  private readonly started: Promise<void>;
  private readonly failures = new Map<string, number>();
  private markStarted!: () => void;

  constructor(private readonly opts: ControllerOptions<T>) {
    this.name = opts.name;
    this.log = opts.logger?.child?.({ controller: opts.name }) ?? opts.logger ?? noopLogger;
    this.cache = opts.cache ?? new SharedCache(opts.client, { logger: this.log });
    this.queue = new WorkQueue<string>({
      name: opts.name,
      rateLimiter: opts.rateLimiter ?? defaultControllerRateLimiter<string>(),
      metrics: opts.metrics?.workQueueMetrics(opts.name, opts.name),
    });
    this.started = new Promise((r) => (this.markStarted = r));
    this.primary = this.informerFor<T>(opts.for, opts.forOptions);
    this.primary.addEventHandler(this.handler<T>((o) => [objectKey(o)], opts.forOptions?.predicates));
  }

  /** Reconcile the owner (kind of `for`, controller ownerReference) when an owned object changes. */
  owns<O extends k8s.KubernetesObject>(rt: ResourceType, opts?: WatchOptions<O>): this {
    const ownerKind = this.opts.for.kind;
    const ownerApiGroup = this.opts.for.group;
    return this.watches<O>(
      rt,
      (obj) =>
        (obj.metadata?.ownerReferences ?? [])
          .filter(
            (r) =>
              r.controller &&
              r.kind === ownerKind &&
              (r.apiVersion.split('/').length === 1 ? '' : r.apiVersion.split('/')[0]) === ownerApiGroup,
          )
          .map((r) =>
            this.opts.for.namespaced && obj.metadata?.namespace
              ? `${obj.metadata.namespace}/${r.name}`
              : r.name,
          ),
      opts,
    );
  }

  /** Reconcile the keys `map` returns whenever an object of `rt` changes. */
  watches<O extends k8s.KubernetesObject>(
    rt: ResourceType,
    map: (obj: O) => string[],
    opts?: WatchOptions<O>,
  ): this {
    const informer = this.informerFor<O>(rt, opts);
    informer.addEventHandler(this.handler<O>(map, opts?.predicates));
    this.sources.push(informer as unknown as Informer<k8s.KubernetesObject>);
    return this;
  }

  /** The cache of a kind this controller owns or watches (the first watch of it), for reconcilers to read. */
  cacheOf<O extends k8s.KubernetesObject>(rt: ResourceType): Informer<O> {
    const found = this.sources.find((i) => i.resource.group === rt.group && i.resource.plural === rt.plural);
    if (!found) throw new Error(`controller ${this.name} does not watch ${rt.plural}.${rt.group || 'core'}`);
    return found as unknown as Informer<O>;
  }

  /** Every informer this controller reads. */
  informers(): Informer<k8s.KubernetesObject>[] {
    return [this.primary as unknown as Informer<k8s.KubernetesObject>, ...this.sources];
  }

  /**
   * Runs until ctx.stopping aborts: waits for its caches (started by the cache's owner, or here), runs
   * the workers, then stops dequeuing and waits for in-flight reconciles (ctx.abort ends them).
   */
  async run(ctx: RunContext): Promise<void> {
    this.abortSignal = ctx.abort;
    if (!this.cache.isStarted()) this.cache.start();
    await Promise.race([Promise.all(this.informers().map((i) => i.waitForReady())), once(ctx.stopping)]);
    if (!ctx.stopping.aborted) {
      const n = this.opts.workers ?? 1;
      this.opts.metrics?.setMaxConcurrentReconciles(this.name, n);
      this.log.info('caches synced; starting workers', { workers: n });
      this.workers = Array.from({ length: n }, () => this.worker());
    }
    this.markStarted();
    await once(ctx.stopping);
    const drained = this.queue.shutDownWithDrain();
    await Promise.race([drained, once(ctx.abort)]);
    this.queue.shutDown();
    await Promise.all(this.workers);
  }

  /** Starts without a manager; resolves when the caches are synced and the workers run. */
  async start(): Promise<void> {
    if (this.standalone) return this.started;
    const stopping = new AbortController();
    const abort = new AbortController();
    this.standalone = {
      stopping,
      abort,
      running: this.run({ stopping: stopping.signal, abort: abort.signal }),
    };
    await Promise.race([this.started, this.standalone.running]);
  }

  /** Stops a standalone controller: in-flight reconciles get `graceMs`, then their signal aborts. */
  async stop(graceMs = 30_000): Promise<void> {
    const s = this.standalone;
    if (!s) return;
    s.stopping.abort();
    const timer = setTimeout(() => s.abort.abort(), graceMs);
    await s.running;
    clearTimeout(timer);
    s.abort.abort();
    await this.cache.stop();
  }

  private informerFor<O extends k8s.KubernetesObject>(rt: ResourceType, opts?: WatchOptions<O>): Informer<O> {
    const { predicates: _predicates, ...informerOpts } = opts ?? {};
    return this.cache.informer<O>(rt, {
      ...informerOpts,
      namespace: rt.namespaced ? (opts?.namespace ?? this.opts.namespace) : undefined,
    });
  }

  private handler<O extends k8s.KubernetesObject>(map: (o: O) => string[], predicates: Predicate<O>[] = []) {
    const enqueue = (o: O) => {
      for (const key of map(o)) this.queue.add(key);
    };
    return {
      onAdd: (o: O) => predicates.every((p) => p.create?.(o) ?? true) && enqueue(o),
      onUpdate: (old: O, o: O) => {
        if (!predicates.every((p) => p.update?.(old, o) ?? true)) return;
        // an ownership change must reach the old owner too
        enqueue(old);
        enqueue(o);
      },
      onDelete: (o: O) => predicates.every((p) => p.delete?.(o) ?? true) && enqueue(o),
    };
  }

  private async worker(): Promise<void> {
    for (;;) {
      const next = await this.queue.get();
      if (next.shutdown) return;
      await this.process(next.item);
    }
  }

  private async process(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const req = { key, namespace, name };
    const log = this.log.child?.({ key }) ?? this.log;
    const started = process.hrtime.bigint();
    this.opts.metrics?.activeWorkers(this.name, +1);
    const timeout = this.opts.reconcileTimeoutMs
      ? AbortSignal.timeout(this.opts.reconcileTimeoutMs)
      : undefined;
    const signal = timeout ? AbortSignal.any([this.abortSignal, timeout]) : this.abortSignal;
    try {
      this.onResult(key, (await this.opts.reconcile(req, { log, signal })) ?? {});
      this.failures.delete(key);
    } catch (err) {
      this.onError(req, err, log, !!timeout?.aborted && !this.abortSignal.aborted);
    } finally {
      this.opts.metrics?.observeReconcileTime(this.name, Number(process.hrtime.bigint() - started) / 1e9);
      this.opts.metrics?.activeWorkers(this.name, -1);
      this.queue.done(key);
    }
  }

  private onResult(key: string, result: ReconcileResult): void {
    const metrics = this.opts.metrics;
    if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
      this.queue.forget(key);
      this.queue.addAfter(key, result.requeueAfterMs);
      metrics?.reconcileResult(this.name, 'requeue_after');
    } else if (result.requeue) {
      this.queue.addRateLimited(key);
      metrics?.reconcileResult(this.name, 'requeue');
    } else {
      this.queue.forget(key);
      metrics?.reconcileResult(this.name, 'success');
    }
  }

  private onError(req: Request, err: unknown, log: Logger, timedOut: boolean): void {
    const failures = (this.failures.get(req.key) ?? 0) + 1;
    this.failures.set(req.key, failures);
    const policy = this.opts.errorPolicy?.(err, req, failures) ?? {};
    const obj = policy.event ? this.primary.get(req.key) : undefined;
    if (obj && policy.event)
      void this.opts.events
        ?.record(obj, 'Warning', policy.event.reason, policy.event.message)
        .catch(() => undefined);
    const terminal = err instanceof TerminalError || !!policy.terminal;
    const panic = isPanic(err);
    if (panic) this.opts.metrics?.reconcilePanic(this.name);
    this.opts.metrics?.reconcileResult(this.name, 'error', { terminal, timedOut });
    if (terminal) {
      this.queue.forget(req.key);
      this.failures.delete(req.key);
    } else if (policy.requeueAfterMs) {
      this.queue.forget(req.key);
      this.queue.addAfter(req.key, policy.requeueAfterMs);
    } else this.queue.addRateLimited(req.key);
    const fields = {
      error: err instanceof Error ? err.message : String(err),
      retries: this.queue.numRequeues(req.key),
      ...(panic && err instanceof Error ? { stack: err.stack } : {}),
      ...(timedOut ? { timeoutMs: this.opts.reconcileTimeoutMs } : {}),
    };
    if (terminal) log.error('reconcile failed; not retrying (terminal error)', fields);
    else log.error(panic ? 'reconcile crashed (bug); will retry' : 'reconcile failed; will retry', fields);
  }
}

/** Resolves when the signal aborts. */
function once(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
