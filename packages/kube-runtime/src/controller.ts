import type * as k8s from '@kubernetes/client-node';
import type { KubeClient, ResourceType } from './client';
import { Informer, objectKey, splitKey, type InformerOptions } from './informer';
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
  /** Aborted when the controller is shutting down or its manager lost leadership. */
  signal: AbortSignal;
}

export type Reconciler = (req: Request, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

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

export interface WatchOptions<T extends k8s.KubernetesObject> extends InformerOptions<T> {
  predicates?: Predicate<T>[];
}

export interface ControllerOptions<T extends k8s.KubernetesObject> {
  /** Names the controller in logs and metrics (controller-runtime's `controller` label). */
  name: string;
  client: KubeClient;
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
}

interface Source {
  informer: Informer<k8s.KubernetesObject>;
}

/**
 * One reconcile loop: informers for the primary kind and the kinds it owns or watches feed keys of
 * the primary kind into a rate-limited work queue; N workers call `reconcile(key)`. A key is never
 * reconciled by two workers at once; a thrown error requeues it with backoff.
 */
export class Controller<T extends k8s.KubernetesObject = k8s.KubernetesObject> {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  readonly primary: Informer<T>;
  private readonly sources: Source[] = [];
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];

  constructor(private readonly opts: ControllerOptions<T>) {
    this.name = opts.name;
    this.log = opts.logger?.child?.({ controller: opts.name }) ?? opts.logger ?? noopLogger;
    this.queue = new WorkQueue<string>({
      name: opts.name,
      rateLimiter: opts.rateLimiter ?? defaultControllerRateLimiter<string>(),
      metrics: opts.metrics?.workQueueMetrics(opts.name, opts.name),
    });
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
    this.sources.push({ informer: informer as unknown as Informer<k8s.KubernetesObject> });
    return this;
  }

  /** The cache of a kind this controller owns or watches (the first watch of it), for reconcilers to read. */
  cacheOf<O extends k8s.KubernetesObject>(rt: ResourceType): Informer<O> {
    const found = this.sources.find(
      (s) => s.informer.resource.group === rt.group && s.informer.resource.plural === rt.plural,
    );
    if (!found) throw new Error(`controller ${this.name} does not watch ${rt.plural}.${rt.group || 'core'}`);
    return found.informer as unknown as Informer<O>;
  }

  /** Starts the informers, waits until their caches are synced, then starts the workers. */
  async start(): Promise<void> {
    const informers = [
      this.primary as unknown as Informer<k8s.KubernetesObject>,
      ...this.sources.map((s) => s.informer),
    ];
    for (const i of informers) i.start();
    await Promise.all(informers.map((i) => i.waitForSync()));
    const n = this.opts.workers ?? 1;
    this.opts.metrics?.setMaxConcurrentReconciles(this.name, n);
    this.log.info('caches synced; starting workers', { workers: n });
    this.workers = Array.from({ length: n }, () => this.worker());
  }

  /**
   * Stops taking work, lets in-flight reconciles finish for up to `graceMs`, then aborts their signal.
   */
  async stop(graceMs = 30_000): Promise<void> {
    const drained = this.queue.shutDownWithDrain();
    const timer = setTimeout(() => this.abort.abort(), graceMs);
    await drained;
    clearTimeout(timer);
    this.abort.abort();
    await Promise.all(this.workers);
    const informers = [
      this.primary as unknown as Informer<k8s.KubernetesObject>,
      ...this.sources.map((s) => s.informer),
    ];
    await Promise.all(informers.map((i) => i.stop()));
  }

  /** Ends in-flight work now (the manager lost leadership: nothing may act any more). */
  abortNow(): void {
    this.abort.abort();
    this.queue.shutDown();
  }

  private informerFor<O extends k8s.KubernetesObject>(
    rt: ResourceType,
    opts?: InformerOptions<O>,
  ): Informer<O> {
    return new Informer<O>(this.opts.client, rt, {
      namespace: rt.namespaced ? (opts?.namespace ?? this.opts.namespace) : undefined,
      logger: this.log,
      ...opts,
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
    const log = this.log.child?.({ key }) ?? this.log;
    const metrics = this.opts.metrics;
    const started = process.hrtime.bigint();
    metrics?.activeWorkers(this.name, +1);
    try {
      const result =
        (await this.opts.reconcile({ key, namespace, name }, { log, signal: this.abort.signal })) ?? {};
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
    } catch (err) {
      this.queue.addRateLimited(key);
      metrics?.reconcileResult(this.name, 'error');
      log.error('reconcile failed; will retry', {
        error: err instanceof Error ? err.message : String(err),
        retries: this.queue.numRequeues(key),
      });
    } finally {
      metrics?.observeReconcileTime(this.name, Number(process.hrtime.bigint() - started) / 1e9);
      metrics?.activeWorkers(this.name, -1);
      this.queue.done(key);
    }
  }
}
