import type * as k8s from '@kubernetes/client-node';
import {
  ApiError,
  isGone,
  isNotFound,
  type KubeClient,
  type ListOptions,
  type ResourceType,
  type WatchEvent,
} from './client';
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
   * The kind may not be installed (a CRD of another tool, Argo's Workflow): while discovery does not
   * list it, the informer reports `absent`, counts as ready, and looks again every `pollMs`.
   */
  optional?: { pollMs?: number };
  /** Sync with a streaming list (watch with sendInitialEvents) when the apiserver supports it. Default true. */
  watchList?: boolean;
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

/** The read side of a cache, as reconcilers see it: objects are shared, never to be changed in place. */
export interface Store<T> {
  readonly resource: ResourceType;
  get(key: string): T | undefined;
  getByName(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
  keys(): string[];
  byIndex(indexName: string, value: string): T[];
  hasSynced(): boolean;
}

/** Whether the kind is served: `unknown` until the first discovery or LIST answer. */
export type SourceState = 'unknown' | 'available' | 'absent';

const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';
const INITIAL_EVENTS_TIMEOUT_MS = 120_000;

/**
 * A list+watch cache of one kind. LISTs (paged), then WATCHes from the list's resourceVersion with
 * bookmarks; on 410 Gone it re-LISTs and emits the difference (adds, updates, deletes) so handlers
 * never miss a change; reconnects with exponential backoff; optionally resyncs.
 */
export class Informer<T extends k8s.KubernetesObject> implements Store<T> {
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
  /** How many times the cache was rebuilt from a LIST or a streaming list (initial one included). */
  listCount = 0;
  /** The last list/watch failure, for a cache that does not sync (names the likely cause). */
  lastError?: unknown;
  private sourceState: SourceState = 'unknown';
  private readonly stateListeners: ((s: SourceState) => void)[] = [];
  /** Falls to false for good when the apiserver refuses a streaming list. */
  private watchListSupported: boolean;
  private resyncPeriodMs: number;
  private failedOnce = false;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceType,
    private readonly opts: InformerOptions<T> = {},
  ) {
    this.indexers = { [NAMESPACE_INDEX]: (o) => [o.metadata?.namespace ?? ''], ...opts.indexers };
    for (const name of Object.keys(this.indexers)) this.indices.set(name, new Map());
    this.transform = opts.transform ?? stripManagedFields;
    this.watchListSupported = opts.watchList ?? true;
    this.resyncPeriodMs = opts.resyncPeriodMs ?? 0;
    this.log =
      (opts.logger ?? noopLogger).child?.({ informer: resource.plural }) ?? opts.logger ?? noopLogger;
  }

  addEventHandler(h: EventHandler<T>): void {
    this.handlers.push(h);
    // A handler added after sync sees the current contents, as in client-go.
    if (this.synced) for (const obj of this.store.values()) this.call(h, 'onAdd', obj);
  }

  /** Adds an index (a shared informer gets indexers from several controllers); indexes what is cached. */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    if (this.indexers[name] === fn) return;
    if (this.indexers[name])
      throw new Error(`informer ${this.resource.plural}: index ${name} already exists`);
    this.indexers[name] = fn;
    const index = new Map<string, Set<string>>();
    this.indices.set(name, index);
    for (const [key, obj] of this.store)
      for (const value of fn(obj)) {
        let keys = index.get(value);
        if (!keys) index.set(value, (keys = new Set()));
        keys.add(key);
      }
  }

  /** Called with the new state when the kind appears or goes away (optional informers). */
  onStateChange(listener: (s: SourceState) => void): void {
    this.stateListeners.push(listener);
  }

  state(): SourceState {
    return this.sourceState;
  }

  /** Ready for readiness and start-up: synced, or an optional kind known to be absent. */
  isReady(): boolean {
    // An optional kind never holds back start-up: absent, or present but failing (RBAC), it is reported
    // and retried while the rest of the process runs.
    return this.synced || (!!this.opts.optional && (this.sourceState === 'absent' || this.failedOnce));
  }

  /** Resolves when isReady() turns true. */
  waitForReady(): Promise<void> {
    if (this.isReady()) return Promise.resolve();
    return new Promise((resolve) => {
      this.syncWaiters.push(resolve);
    });
  }

  /**
   * One handler's failure must not keep the event from the others, nor stop the cache: it is logged
   * and the next handler runs (client-go's handlers cannot fail; ours are plain functions that might).
   */
  private call(h: EventHandler<T>, fn: 'onAdd' | 'onDelete', obj: T): void;
  private call(h: EventHandler<T>, fn: 'onUpdate', old: T, obj: T): void;
  private call(h: EventHandler<T>, fn: keyof EventHandler<T>, a: T, b?: T): void {
    try {
      if (fn === 'onUpdate') h.onUpdate?.(a, b!);
      else h[fn]?.(a);
    } catch (err) {
      this.log.error('event handler failed', { handler: fn, key: objectKey(b ?? a), error: String(err) });
    }
  }

  private emit(fn: 'onAdd' | 'onDelete', obj: T): void;
  private emit(fn: 'onUpdate', old: T, obj: T): void;
  private emit(fn: keyof EventHandler<T>, a: T, b?: T): void {
    for (const h of this.handlers) {
      if (fn === 'onUpdate') this.call(h, 'onUpdate', a, b!);
      else this.call(h, fn, a);
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
    this.scheduleResync();
  }

  /** A shared informer resyncs as often as its most demanding reader asked. */
  shortenResync(ms: number): void {
    if (this.resyncPeriodMs && this.resyncPeriodMs <= ms) return;
    this.resyncPeriodMs = ms;
    if (!this.stopped) this.scheduleResync();
  }

  private scheduleResync(): void {
    clearInterval(this.resyncTimer);
    if (!this.resyncPeriodMs) return;
    this.resyncTimer = setInterval(() => this.resync(), this.resyncPeriodMs);
    this.resyncTimer.unref();
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

  /** Resolves when the cache is synced (for an optional informer: also when its kind is absent). */
  waitForSync(): Promise<void> {
    return this.waitForReady();
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
    const backoff = (ms: number) => Math.min(Math.max(ms * 2, initialMs), maxMs);
    let delayMs = 0;
    while (!this.stopped) {
      if (delayMs > 0) await this.sleep(delayMs * (1 + Math.random() * 0.2));
      if (this.stopped) break;
      if (this.opts.optional && !(await this.served())) {
        delayMs = this.opts.optional.pollMs ?? 30_000;
        continue;
      }
      const started = Date.now();
      try {
        if (!this.resourceVersion && !this.watchListSupported) await this.relist();
        const outcome = await this.watchOnce();
        this.lastError = undefined;
        if (outcome === 'gone') {
          this.log.info('watch expired (410 Gone); re-listing', { resourceVersion: this.resourceVersion });
          this.resourceVersion = '';
          delayMs = 0;
        } else {
          // A watch that lived a while was healthy: reconnect at once. A watch that ended at once
          // (server trouble) backs off like any failure.
          delayMs = Date.now() - started > 10_000 ? 0 : backoff(delayMs);
        }
      } catch (err) {
        if (this.stopped) break;
        this.lastError = err;
        // A 410 on a LIST (an expired continue token) backs off too: re-listing at once would loop hot.
        if (isGone(err) && this.resourceVersion) {
          this.resourceVersion = '';
          delayMs = 0;
          continue;
        }
        delayMs = backoff(delayMs);
        if (this.opts.optional && !this.failedOnce) {
          this.failedOnce = true;
          this.wakeWaiters();
        }
        if (this.opts.optional && (err as { statusCode?: number }).statusCode === 404) delayMs = 0;
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
    this.markSynced();
  }

  private markSynced(): void {
    this.setState('available');
    if (this.synced) return;
    this.synced = true;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private setState(state: SourceState): void {
    if (this.sourceState === state) return;
    this.sourceState = state;
    for (const l of this.stateListeners) l(state);
  }

  /**
   * Whether discovery lists the kind (optional informers only). When it went away, the cache empties
   * (handlers see the deletes) and waits for it to come back.
   */
  private async served(): Promise<boolean> {
    let present: boolean;
    try {
      present = await resourceServed(this.client, this.resource);
    } catch (err) {
      this.lastError = err;
      this.log.warn('discovery failed; trying again', { error: String(err) });
      return false;
    }
    if (present) return true;
    if (this.sourceState !== 'absent')
      this.log.warn('kind not installed; watching for it', {
        resource: `${this.resource.plural}.${this.resource.group || 'core'}`,
      });
    this.replace([]);
    this.resourceVersion = '';
    this.synced = false;
    this.setState('absent');
    this.wakeWaiters();
    return false;
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
      this.emit('onDelete', old);
    }
  }

  private upsert(key: string, received: T): void {
    const obj = this.transform(received);
    const old = this.store.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    this.index(key, obj);
    if (old) this.emit('onUpdate', old, obj);
    else this.emit('onAdd', obj);
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
    for (const obj of this.store.values()) this.emit('onUpdate', obj, obj);
  }

  /**
   * One WATCH from the current resourceVersion until the server or we end it. Without a resourceVersion
   * it is a streaming list: the server sends the current objects, then a bookmark marking their end,
   * then changes — the cache is replaced at that bookmark, as after a LIST.
   */
  private async watchOnce(): Promise<'closed' | 'gone'> {
    const initial = this.resourceVersion ? undefined : new Map<string, T>();
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    let collecting = !!initial;
    let gone = false;
    let done!: (err: unknown) => void;
    const ended = new Promise<unknown>((resolve) => (done = resolve));
    const onEvent = (e: WatchEvent<T>) => {
      if (e.type === 'ERROR') gone = this.watchError(e) || gone;
      else if (collecting) collecting = !this.initialEvent(e, initial!);
      else this.applyEvent(e);
    };
    const stop = new AbortController();
    this.watchAbort = stop;
    if (this.stopped) stop.abort();
    try {
      await this.client.watch<T>(
        this.resource,
        {
          signal: stop.signal,
          ...this.selectors(),
          resourceVersion: this.resourceVersion || undefined,
          allowWatchBookmarks: true,
          timeoutSeconds,
          inactivityTimeoutMs: (timeoutSeconds + 30) * 1000,
          ...(initial ? { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan' } : {}),
        },
        onEvent,
        (err) => done(err),
      );
    } catch (err) {
      if (initial && isWatchListRefused(err)) {
        this.log.info('streaming list not supported by the apiserver; using paged LIST');
        this.watchListSupported = false;
        return 'closed';
      }
      throw err;
    }
    // A server that ignores sendInitialEvents never sends the bookmark that ends them: give up on
    // streaming lists after a while and LIST instead.
    const noEnd = collecting
      ? setTimeout(() => {
          if (!collecting) return;
          this.log.warn('no end of the streaming list; using paged LIST', {
            afterMs: INITIAL_EVENTS_TIMEOUT_MS,
          });
          this.watchListSupported = false;
          this.watchAbort?.abort();
        }, INITIAL_EVENTS_TIMEOUT_MS)
      : undefined;
    const err = await ended;
    clearTimeout(noEnd);
    this.watchAbort = undefined;
    if (gone || isGone(err)) return 'gone';
    if (collecting && !this.stopped && this.watchListSupported)
      throw new Error('watch ended before its initial events were complete');
    if (err && !this.stopped && !['AbortError', 'TimeoutError'].includes((err as Error).name)) throw err;
    return 'closed';
  }

  /**
   * Collects a streaming list's initial events; at the bookmark that ends them, makes the cache equal
   * them and returns true (what follows are ordinary changes).
   */
  private initialEvent(e: WatchEvent<T>, initial: Map<string, T>): boolean {
    if (e.type !== 'BOOKMARK') {
      initial.set(objectKey(e.object), e.object);
      return false;
    }
    if (e.object.metadata?.annotations?.[INITIAL_EVENTS_END] !== 'true') return false;
    this.listCount++;
    if (!this.synced) this.log.debug('synced by a streaming list', { objects: initial.size });
    this.replace([...initial.values()]);
    initial.clear();
    const rv = e.object.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    this.markSynced();
    return true;
  }

  /** True when the error event is 410 Gone (the caller re-lists). */
  private watchError(e: WatchEvent<T>): boolean {
    const status = e.object as unknown as k8s.V1Status;
    if (status.code === 410) return true;
    this.log.warn('watch error event', { code: status.code, message: status.message });
    return false;
  }

  private applyEvent(e: WatchEvent<T>): void {
    const rv = e.object.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    const key = objectKey(e.object);
    if (e.type === 'DELETED') {
      const old = this.store.get(key);
      this.remove(key);
      this.emit('onDelete', old ?? e.object);
    } else {
      this.upsert(key, e.object);
    }
    if (rv) this.resourceVersion = rv;
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

/** A refused streaming list: the apiserver does not know sendInitialEvents (feature gate off, old server). */
function isWatchListRefused(err: unknown): boolean {
  return (
    err instanceof ApiError &&
    [400, 403, 422].includes(err.statusCode) &&
    /sendInitialEvents|watch-?list/i.test(err.message)
  );
}

/**
 * Whether the apiserver serves `rt` (discovery). The group list comes first: for a group it does not
 * serve, the apiserver answers /apis/<group>/<version> with a plain-text 404 page, not a Status.
 */
export async function resourceServed(client: KubeClient, rt: ResourceType): Promise<boolean> {
  if (rt.group) {
    const groups = await client.request<{ groups?: { name: string; versions?: { version: string }[] }[] }>(
      'GET',
      '/apis',
    );
    const group = (groups.groups ?? []).find((g) => g.name === rt.group);
    if (!group?.versions?.some((v) => v.version === rt.version)) return false;
  }
  try {
    const path = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
    const list = await client.request<{ resources?: { name: string }[] }>('GET', path);
    return (list.resources ?? []).some((r) => r.name === rt.plural);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
