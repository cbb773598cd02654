import type * as k8s from '@kubernetes/client-node';
import { isGone, type KubeClient, type ListOptions, type ResourceType, type WatchEvent } from './client';
import { noopLogger, type Logger } from './logger';

/** `namespace/name`, or `name` for cluster-scoped objects — the key the cache and work queues use. */
export function objectKey(obj: k8s.KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : (obj.metadata?.name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  /** Also called with old === new on a resync. */
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export type IndexFunc<T> = (obj: T) => string[];

export interface InformerOptions<T> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object as an update this often (0: never). */
  resyncPeriodMs?: number;
  /** LIST page size. */
  pageSize?: number;
  indexers?: Record<string, IndexFunc<T>>;
  /** Server-side watch timeout; client-go picks 5–10 minutes at random so watches do not end together. */
  watchTimeoutSeconds?: number;
  backoff?: { initialMs: number; maxMs: number };
  logger?: Logger;
  /**
   * Applied to every object before it is cached (client-go's SetTransform). The default drops
   * metadata.managedFields, which no controller reads and which is often the larger part of an object.
   */
  transform?: (obj: T) => T;
}

/** The default transform: the cache does not keep server-side-apply bookkeeping. */
export function stripManagedFields<T extends k8s.KubernetesObject>(obj: T): T {
  if (obj.metadata && 'managedFields' in obj.metadata)
    delete (obj.metadata as { managedFields?: unknown }).managedFields;
  return obj;
}

const NAMESPACE_INDEX = 'namespace';

/**
 * A list+watch cache of one kind. LISTs (paged), then WATCHes from the list's resourceVersion with
 * bookmarks; on 410 Gone it re-LISTs and emits the difference (adds, updates, deletes) so handlers
 * never miss a change; reconnects with exponential backoff; optionally resyncs.
 */
export class Informer<T extends k8s.KubernetesObject> {
  private readonly store = new Map<string, T>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly indexers: Record<string, IndexFunc<T>>;
  private readonly handlers: EventHandler<T>[] = [];
  private readonly log: Logger;
  private readonly transform: (obj: T) => T;
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private stopped = true;
  private watchAbort?: AbortController;
  private loop?: Promise<void>;
  private resyncTimer?: NodeJS.Timeout;
  private sleepAbort?: AbortController;
  /** How many times the cache was rebuilt from a LIST (initial list included). */
  listCount = 0;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceType,
    private readonly opts: InformerOptions<T> = {},
  ) {
    this.indexers = { [NAMESPACE_INDEX]: (o) => [o.metadata?.namespace ?? ''], ...opts.indexers };
    for (const name of Object.keys(this.indexers)) this.indices.set(name, new Map());
    this.transform = opts.transform ?? stripManagedFields;
    this.log =
      (opts.logger ?? noopLogger).child?.({ informer: resource.plural }) ?? opts.logger ?? noopLogger;
  }

  addEventHandler(h: EventHandler<T>): void {
    this.handlers.push(h);
    // A handler added after sync sees the current contents, as in client-go.
    if (this.synced) for (const obj of this.store.values()) h.onAdd?.(obj);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
    if (this.opts.resyncPeriodMs) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncPeriodMs);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.watchAbort?.abort();
    this.sleepAbort?.abort();
    await this.loop;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The resourceVersion the cache reflects. */
  lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Cached objects; they are shared with every reader — clone before changing one. */
  list(namespace?: string): T[] {
    return namespace === undefined ? [...this.store.values()] : this.byIndex(NAMESPACE_INDEX, namespace);
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  byIndex(indexName: string, value: string): T[] {
    const index = this.indices.get(indexName);
    if (!index) throw new Error(`informer ${this.resource.plural}: no index named ${indexName}`);
    return [...(index.get(value) ?? [])].map((k) => this.store.get(k)).filter((o): o is T => o !== undefined);
  }

  private async run(): Promise<void> {
    const initialMs = this.opts.backoff?.initialMs ?? 800;
    const maxMs = this.opts.backoff?.maxMs ?? 30_000;
    let delayMs = 0;
    while (!this.stopped) {
      if (delayMs > 0) await this.sleep(delayMs * (1 + Math.random() * 0.2));
      if (this.stopped) break;
      try {
        if (!this.resourceVersion) await this.relist();
        const started = Date.now();
        const outcome = await this.watchOnce();
        if (outcome === 'gone') {
          this.log.info('watch expired (410 Gone); re-listing', { resourceVersion: this.resourceVersion });
          this.resourceVersion = '';
          delayMs = 0;
        } else {
          // A watch that lived a while was healthy: reconnect at once. A watch that ended at once
          // (server trouble) backs off like any failure.
          delayMs = Date.now() - started > 10_000 ? 0 : Math.min(Math.max(delayMs * 2, initialMs), maxMs);
        }
      } catch (err) {
        if (this.stopped) break;
        if (isGone(err)) {
          this.resourceVersion = '';
          delayMs = 0;
          continue;
        }
        delayMs = Math.min(Math.max(delayMs * 2, initialMs), maxMs);
        this.log.warn('list/watch failed; retrying', { error: String(err), retryInMs: delayMs });
      }
    }
  }

  private async relist(): Promise<void> {
    const list = await this.client.listAll<T>(this.resource, {
      ...this.selectors(),
      limit: this.opts.pageSize ?? 500,
    });
    this.listCount++;
    this.replace(list.items);
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /** Makes the cache equal `items`, telling handlers what changed since the last state they saw. */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      this.upsert(key, obj);
    }
    for (const [key, old] of [...this.store]) {
      if (seen.has(key)) continue;
      this.remove(key);
      for (const h of this.handlers) h.onDelete?.(old);
    }
  }

  private upsert(key: string, received: T): void {
    const obj = this.transform(received);
    const old = this.store.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    this.index(key, obj);
    for (const h of this.handlers) {
      if (old) h.onUpdate?.(old, obj);
      else h.onAdd?.(obj);
    }
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.unindex(key, old);
    this.store.delete(key);
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indices.get(name)!;
      for (const value of fn(obj)) {
        let keys = index.get(value);
        if (!keys) index.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indices.get(name)!;
      for (const value of fn(obj)) {
        const keys = index.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(value);
      }
    }
  }

  private resync(): void {
    for (const obj of this.store.values()) for (const h of this.handlers) h.onUpdate?.(obj, obj);
  }

  /** One WATCH from the current resourceVersion until the server or we end it. */
  private watchOnce(): Promise<'closed' | 'gone'> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    return new Promise((resolve, reject) => {
      let gone = false;
      const onEvent = (e: WatchEvent<T>) => {
        if (e.type === 'ERROR') {
          const status = e.object as unknown as k8s.V1Status;
          if (status.code === 410) gone = true;
          else this.log.warn('watch error event', { code: status.code, message: status.message });
          return;
        }
        const rv = e.object.metadata?.resourceVersion;
        if (e.type === 'BOOKMARK') {
          if (rv) this.resourceVersion = rv;
          return;
        }
        const key = objectKey(e.object);
        if (e.type === 'DELETED') {
          const old = this.store.get(key);
          this.remove(key);
          for (const h of this.handlers) h.onDelete?.(old ?? e.object);
        } else {
          this.upsert(key, e.object);
        }
        if (rv) this.resourceVersion = rv;
      };
      const onDone = (err: unknown) => {
        this.watchAbort = undefined;
        if (gone || isGone(err)) resolve('gone');
        else if (
          err &&
          !this.stopped &&
          (err as Error).name !== 'AbortError' &&
          (err as Error).name !== 'TimeoutError'
        )
          reject(err);
        else resolve('closed');
      };
      this.client
        .watch<T>(
          this.resource,
          {
            ...this.selectors(),
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            inactivityTimeoutMs: (timeoutSeconds + 30) * 1000,
          },
          onEvent,
          onDone,
        )
        .then((abort) => {
          this.watchAbort = abort;
          if (this.stopped) abort.abort();
        }, reject);
    });
  }

  private selectors(): ListOptions {
    return {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    };
  }

  private sleep(ms: number): Promise<void> {
    this.sleepAbort = new AbortController();
    const signal = this.sleepAbort.signal;
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
