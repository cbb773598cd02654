// The process's shared informer cache: one LIST/WATCH per kind (and namespace and selectors) however
// many controllers read it, as controller-runtime's cache. Reconcilers get a read-only Store.
import type * as k8s from '@kubernetes/client-node';
import { ApiError, errorText, type KubeClient, type ResourceType } from './client';
import { Informer, type IndexFunc, type InformerOptions } from './informer';
import { noopLogger, type Logger } from './logger';

/** What selects one shared informer; everything else (indexers, handlers) is added to it. */
export interface CacheKey {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export type CacheInformerOptions<T> = CacheKey &
  Pick<
    InformerOptions<T>,
    'indexers' | 'optional' | 'transform' | 'pageSize' | 'watchList' | 'resyncPeriodMs'
  >;

export interface SharedCacheOptions {
  logger?: Logger;
  /** Re-deliver every cached object this often so level-triggered reconcilers re-check (default 10 h). */
  resyncPeriodMs?: number;
  /** Defaults for every informer (tests shorten backoffs). */
  informerDefaults?: Partial<InformerOptions<k8s.KubernetesObject>>;
}

/** The cache did not sync in time; the message names each kind and its likely cause. */
export class CacheSyncTimeoutError extends Error {
  constructor(readonly pending: string[]) {
    super(`caches not synced: ${pending.join('; ')}`);
    this.name = 'CacheSyncTimeoutError';
  }
}

export class SharedCache {
  private readonly entries = new Map<string, Informer<k8s.KubernetesObject>>();
  private readonly log: Logger;
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: SharedCacheOptions = {},
  ) {
    this.log = opts.logger ?? noopLogger;
  }

  /**
   * The shared informer of `rt` with these selectors, made on first use. Indexers are added to it;
   * an informer asked for after start() starts at once.
   */
  informer<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    opts: CacheInformerOptions<T> = {},
  ): Informer<T> {
    const namespace = rt.namespaced ? opts.namespace || undefined : undefined;
    const key = [rt.group, rt.version, rt.plural, namespace, opts.labelSelector, opts.fieldSelector].join(
      '|',
    );
    let informer = this.entries.get(key) as Informer<T> | undefined;
    if (!informer) {
      informer = new Informer<T>(this.client, rt, {
        resyncPeriodMs: this.opts.resyncPeriodMs ?? 10 * 3600_000,
        ...(this.opts.informerDefaults as Partial<InformerOptions<T>>),
        ...opts,
        namespace,
        logger: this.log,
      });
      this.entries.set(key, informer as unknown as Informer<k8s.KubernetesObject>);
      if (this.started) informer.start();
    } else {
      if (opts.resyncPeriodMs) informer.shortenResync(opts.resyncPeriodMs);
      for (const [name, fn] of Object.entries(opts.indexers ?? {}))
        informer.addIndexer(name, fn as IndexFunc<T>);
    }
    return informer;
  }

  informers(): Informer<k8s.KubernetesObject>[] {
    return [...this.entries.values()];
  }

  /** Starts every informer (and those made later). Idempotent. */
  start(): void {
    this.started = true;
    for (const i of this.entries.values()) i.start();
  }

  isStarted(): boolean {
    return this.started;
  }

  /** Every informer synced (or, optional, known absent). */
  ready(): boolean {
    return this.informers().every((i) => i.isReady());
  }

  /**
   * Waits until ready(), or throws CacheSyncTimeoutError after `timeoutMs` naming each kind that did not
   * sync and the likely cause (a CRD not installed, RBAC), so a misconfigured leader exits instead of
   * holding the lease forever.
   */
  async waitForSync(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      signal?.addEventListener('abort', () => resolve('timeout'), { once: true });
    });
    const synced = Promise.all(this.informers().map((i) => i.waitForReady())).then(() => 'synced' as const);
    const outcome = await Promise.race([synced, timedOut]);
    clearTimeout(timer);
    if (outcome === 'synced' || signal?.aborted) return;
    throw new CacheSyncTimeoutError(
      this.informers()
        .filter((i) => !i.isReady())
        .map(describePending),
    );
  }

  async stop(): Promise<void> {
    this.started = false;
    await Promise.all(this.informers().map((i) => i.stop()));
  }
}

/** `<plural>.<group>: <likely cause>` for an informer that has not synced. */
function describePending(i: Informer<k8s.KubernetesObject>): string {
  const rt = i.resource;
  const name = `${rt.plural}.${rt.group || 'core'}`;
  const err = i.lastError;
  if (err instanceof ApiError && err.statusCode === 404)
    return `${name}: not served by the apiserver (is its CRD installed?)`;
  if (err instanceof ApiError && err.statusCode === 403)
    return `${name}: forbidden (RBAC: the ServiceAccount needs list and watch on ${name})`;
  if (err) return `${name}: ${errorText(err)}`;
  return `${name}: no answer yet`;
}
