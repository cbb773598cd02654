import type * as k8s from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import type { KubeCredentials } from './kubeconfig';
import { abortableSleep, abortReason, KubeTransport, type TransportOptions } from './transport';

/** Where a kind lives in the API: enough to build every URL without a discovery round trip. */
export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  /** Lower-case plural, the URL segment (e.g. 'rollingupgrades'). */
  plural: string;
  kind: string;
  namespaced: boolean;
}

export function apiVersionOf(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

export const ResourceTypes = {
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  Secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  Pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  Node: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  Namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  Event: { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  PodTemplate: { group: '', version: 'v1', plural: 'podtemplates', kind: 'PodTemplate', namespaced: true },
  ServiceAccount: {
    group: '',
    version: 'v1',
    plural: 'serviceaccounts',
    kind: 'ServiceAccount',
    namespaced: true,
  },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  PodDisruptionBudget: {
    group: 'policy',
    version: 'v1',
    plural: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceType>;

/** The URL path of a collection (no name) or an object, optionally a subresource of it. */
export function resourcePath(
  rt: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let p = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  if (rt.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${rt.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** A failed API call, with the apiserver's Status when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number,
    readonly status?: k8s.V1Status,
  ) {
    super(`${method} ${path}: ${statusCode} ${status?.reason ?? ''} ${status?.message ?? ''}`.trim());
    this.name = 'ApiError';
  }
  get reason(): string | undefined {
    return this.status?.reason;
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.statusCode === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.statusCode === 409;
export const isAlreadyExists = (err: unknown): boolean =>
  isConflict(err) && (err as ApiError).reason === 'AlreadyExists';
export const isGone = (err: unknown): boolean =>
  (err instanceof ApiError && err.statusCode === 410) || (err as { statusCode?: number })?.statusCode === 410;

export type PatchType = 'merge' | 'json' | 'apply' | 'strategic';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
  strategic: 'application/strategic-merge-patch+json',
};

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** Sees every API request: rest_client_requests_total, and tests that count writes. */
export type RequestObserver = (request: {
  method: string;
  host: string;
  path: string;
  /** `<error>` when no response came (connection refused or reset, timeout, abort). */
  statusCode: number | '<error>';
  durationMs: number;
  /** True for the request that opened a watch. */
  watch?: boolean;
}) => void;

export interface ClientOptions extends TransportOptions {
  /**
   * Every call of this client (and of clients derived from it) is aborted when this signal aborts; a
   * call made after it aborted fails at once. The Manager passes its leadership signal here.
   */
  signal?: AbortSignal;
  /** Retries of a failed call (429 always; 5xx and lost connections only when retrying is safe). */
  maxRetries?: number;
}

/** Every typed call takes a signal of its own, joined to the client's. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Give up after this long (default 30s): a hung connection must not stall a controller. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * The write is conditional (a resourceVersion or preconditions), so sending it twice cannot apply it
   * twice: it may be retried after a 5xx or a lost connection. Detected for PUT/PATCH/DELETE bodies
   * carrying metadata.resourceVersion or preconditions.
   */
  guarded?: boolean;
}

/** One API call as the retry loop carries it. */
interface Call {
  method: string;
  url: URL;
  path: string;
  body: string | undefined;
  opts: RequestOptions;
}

/** How long to wait before retry `attempt` (1-based): client-go's 1s..10s exponential, with jitter. */
function retryDelayMs(attempt: number): number {
  return Math.min(10_000, 250 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
}

/** Seconds of a Retry-After header (the apiserver sends whole seconds), in ms; undefined when absent. */
function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A write that cannot be applied twice: reads, and writes carrying a resourceVersion or preconditions. */
function safeToResend(method: string, opts: RequestOptions): boolean {
  if (method === 'GET' || method === 'HEAD' || opts.guarded) return true;
  const body = opts.body as
    | { metadata?: { resourceVersion?: string }; preconditions?: { resourceVersion?: string; uid?: string } }
    | undefined;
  if (method === 'DELETE') return !!(body?.preconditions?.resourceVersion || body?.preconditions?.uid);
  if (method === 'PUT' || method === 'PATCH') return !!body?.metadata?.resourceVersion;
  return false;
}

/** Whether a failed attempt may be sent again, and after how long. */
function retryDecision(
  method: string,
  opts: RequestOptions,
  outcome: { error?: unknown; status?: number; retryAfter?: number; transportError?: boolean },
  attempt: number,
): number | undefined {
  if (outcome.status === 429 && !isDisruptionBudgetRefusal(outcome.error))
    return outcome.retryAfter ?? retryDelayMs(attempt);
  const serverTrouble = outcome.transportError || (outcome.status !== undefined && outcome.status >= 500);
  if (!serverTrouble || !safeToResend(method, opts)) return undefined;
  return outcome.retryAfter ?? retryDelayMs(attempt);
}

/**
 * An eviction refused by a PodDisruptionBudget is a 429 too, but an answer, not throttling: the caller
 * (a drain) decides when to ask again.
 */
function isDisruptionBudgetRefusal(err: unknown): boolean {
  return (
    err instanceof ApiError &&
    (err.status?.details?.causes ?? []).some((c) => c.reason === 'DisruptionBudget')
  );
}

function isAbort(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/**
 * A small typed client for any kind, built on @kubernetes/client-node's configuration and
 * authentication. It addresses objects by ResourceType, so custom resources need no generated client
 * and no discovery. Clients derived with `withSignal` share one connection pool and one rate limit.
 */
export class KubeClient {
  readonly transport: KubeTransport;
  private readonly observers: RequestObserver[];
  private readonly signal?: AbortSignal;
  private readonly maxRetries: number;

  constructor(
    readonly kubeConfig: KubeCredentials,
    opts: ClientOptions & { transport?: KubeTransport; observers?: RequestObserver[] } = {},
  ) {
    this.transport = opts.transport ?? new KubeTransport(kubeConfig, opts);
    this.observers = opts.observers ?? [];
    this.signal = opts.signal;
    this.maxRetries = opts.maxRetries ?? 5;
  }

  /** A client on the same pool, limiter and observers whose every call is also aborted by `signal`. */
  withSignal(signal: AbortSignal): KubeClient {
    const signals = this.signal ? AbortSignal.any([this.signal, signal]) : signal;
    return new KubeClient(this.kubeConfig, {
      transport: this.transport,
      observers: this.observers,
      signal: signals,
      maxRetries: this.maxRetries,
    });
  }

  onRequest(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  /** Closes the connection pools (the process is ending). */
  close(): Promise<void> {
    return this.transport.close();
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const linked = linkedAbort([this.signal, opts.signal]);
    try {
      return await this.attempts<T>({ method, url, path, body, opts }, linked.signal);
    } finally {
      linked.dispose();
    }
  }

  private async attempts<T>(call: Call, signal: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const one = linkedAbort([signal], call.opts.timeoutMs ?? 30_000);
      const outcome = await this.attempt(call, one.signal).finally(one.dispose);
      if ('value' in outcome) return outcome.value as T;
      const waitMs =
        attempt <= this.maxRetries && !signal.aborted
          ? retryDecision(call.method, call.opts, outcome, attempt)
          : undefined;
      if (waitMs === undefined) throw outcome.error;
      await abortableSleep(waitMs, signal);
    }
  }

  /** One try: the parsed body, or what went wrong (for the retry decision). */
  private async attempt(
    { method, url, path, body, opts }: Call,
    signal: AbortSignal,
  ): Promise<
    { value: unknown } | { error: unknown; status?: number; retryAfter?: number; transportError?: boolean }
  > {
    const started = performance.now();
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      await this.transport.limiter.take(signal);
      const headers = await this.headers(
        body === undefined ? undefined : (opts.contentType ?? 'application/json'),
      );
      // The dispatcher API, not fetch: an abort destroys the connection, so a request the apiserver has
      // not read yet never reaches it.
      const pool = await this.transport.dispatcher('requests');
      res = await pool.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        signal,
      });
      text = await res.body.text();
    } catch (err) {
      this.observe(method, url, path, '<error>', started);
      if (signal.aborted || isAbort(err)) return { error: signal.aborted ? abortReason(signal) : err };
      return {
        error: new Error(`${method} ${path}: ${errorText(err)}`, { cause: err }),
        transportError: true,
      };
    }
    this.observe(method, url, path, res.statusCode, started);
    const parsed = parseJson(text);
    if (res.statusCode >= 400) {
      const status =
        parsed && (parsed as k8s.V1Status).kind === 'Status'
          ? (parsed as k8s.V1Status)
          : ({ message: text.slice(0, 200).trim() } as k8s.V1Status);
      return {
        error: new ApiError(method, path, res.statusCode, status),
        status: res.statusCode,
        retryAfter: retryAfterMs(headerValue(res.headers['retry-after'])),
      };
    }
    if (text && parsed === undefined)
      return { error: new Error(`${method} ${path}: response is not JSON: ${text.slice(0, 200)}`) };
    return { value: parsed };
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(
      this.transport.server.origin + this.transport.server.pathname.replace(/\/$/, '') + path,
    );
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    return url;
  }

  private async headers(contentType?: string): Promise<Record<string, string>> {
    const headers: Record<string, string> = {
      ...(await this.transport.headers()),
      Accept: 'application/json',
    };
    if (contentType) headers['Content-Type'] = contentType;
    return headers;
  }

  private observe(
    method: string,
    url: URL,
    path: string,
    statusCode: number | '<error>',
    started: number,
    watch?: boolean,
  ): void {
    const durationMs = performance.now() - started;
    for (const o of this.observers) o({ method, host: url.host, path, statusCode, durationMs, watch });
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: CallOptions = {},
  ): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', resourcePath(rt, namespace, name), { signal: opts.signal });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** One page; its items carry apiVersion and kind (a LIST leaves them out of built-in kinds' items). */
  async list<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    opts: ListOptions & CallOptions = {},
  ): Promise<KubeList<T>> {
    const { namespace, signal, ...query } = opts;
    const list = await this.request<KubeList<T>>('GET', resourcePath(rt, namespace), {
      query: { ...query },
      signal,
    });
    const apiVersion = apiVersionOf(rt);
    for (const item of list.items) {
      item.apiVersion ??= apiVersion;
      item.kind ??= rt.kind;
    }
    return list;
  }

  /** Every object, page by page; the resourceVersion is the first page's (a consistent snapshot). */
  async listAll<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    opts: ListOptions & CallOptions = {},
  ): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.list<T>(rt, { limit: 500, ...opts, continue: cont });
      items.push(...page.items);
      resourceVersion ??= page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { metadata: { resourceVersion }, items };
  }

  create<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    obj: T,
    opts: { fieldManager?: string } & CallOptions = {},
  ): Promise<T> {
    return this.request<T>('POST', resourcePath(rt, obj.metadata?.namespace), {
      body: obj,
      query: { fieldManager: opts.fieldManager },
      signal: opts.signal,
    });
  }

  replace<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    obj: T,
    opts: { subresource?: string } & CallOptions = {},
  ): Promise<T> {
    return this.request<T>(
      'PUT',
      resourcePath(rt, obj.metadata?.namespace, obj.metadata?.name, opts.subresource),
      { body: obj, signal: opts.signal },
    );
  }

  patch<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    opts: {
      type?: PatchType;
      subresource?: string;
      fieldManager?: string;
      force?: boolean;
    } & CallOptions = {},
  ): Promise<T> {
    const type = opts.type ?? 'merge';
    return this.request<T>('PATCH', resourcePath(rt, namespace, name, opts.subresource), {
      body: patch,
      contentType: PATCH_CONTENT_TYPE[type],
      query: { fieldManager: opts.fieldManager, force: opts.force },
      signal: opts.signal,
    });
  }

  async delete(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: {
      propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
      gracePeriodSeconds?: number;
      preconditions?: { uid?: string; resourceVersion?: string };
    } & CallOptions = {},
  ): Promise<boolean> {
    const { signal, ...deleteOptions } = opts;
    try {
      await this.request('DELETE', resourcePath(rt, namespace, name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', ...deleteOptions },
        signal,
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Opens a watch on the watch pool; `onEvent` gets each event, `onDone` the end of the stream (null on a
   * clean close, the error otherwise — a throw from `onEvent` ends the watch with that error, so the
   * caller resumes from the last event it handled). Resolves once the server accepted the watch; returns
   * the AbortController that ends it.
   */
  async watch<T>(
    rt: ResourceType,
    opts: ListOptions & {
      allowWatchBookmarks?: boolean;
      timeoutSeconds?: number;
      /** End the watch when nothing (not even a bookmark) arrived for this long. */
      inactivityTimeoutMs?: number;
      sendInitialEvents?: boolean;
      resourceVersionMatch?: string;
      /** Ends the watch, also while it is still being opened. */
      signal?: AbortSignal;
    },
    onEvent: (e: WatchEvent<T>) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController> {
    const { namespace, inactivityTimeoutMs, signal: stop, ...query } = opts;
    const path = resourcePath(rt, namespace);
    const url = this.url(path, { ...query, watch: true });
    const abort = new AbortController();
    const call = linkedAbort([this.signal, abort.signal, stop]);
    const signal = call.signal;
    const started = performance.now();
    let res: Dispatcher.ResponseData;
    try {
      await this.transport.limiter.take(signal);
      const pool = await this.transport.dispatcher('watches');
      res = await pool.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'GET',
        headers: await this.headers(),
        signal,
      });
    } catch (err) {
      call.dispose();
      this.observe('GET', url, path, '<error>', started, true);
      throw signal.aborted
        ? abortReason(signal)
        : new Error(`WATCH ${path}: ${errorText(err)}`, { cause: err });
    }
    this.observe('GET', url, path, res.statusCode, started, true);
    if (res.statusCode >= 400) {
      call.dispose();
      const text = await res.body.text();
      const parsed = parseJson(text) as k8s.V1Status | undefined;
      throw new ApiError(
        'WATCH',
        path,
        res.statusCode,
        parsed?.kind === 'Status' ? parsed : { message: text.slice(0, 200) },
      );
    }
    void readEvents<T>(res, abort, inactivityTimeoutMs, onEvent)
      .finally(call.dispose)
      .then(
        () => onDone(null),
        (err: unknown) => onDone(signal.aborted ? null : err),
      );
    return abort;
  }
}

/** Reads a watch response line by line (one JSON event per line), until it ends or is aborted. */
async function readEvents<T>(
  res: Dispatcher.ResponseData,
  abort: AbortController,
  inactivityTimeoutMs: number | undefined,
  onEvent: (e: WatchEvent<T>) => void,
): Promise<void> {
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    if (!inactivityTimeoutMs) return;
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(), inactivityTimeoutMs);
  };
  const decoder = new TextDecoder();
  let buffered = '';
  arm();
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      arm();
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    }
  } finally {
    clearTimeout(idle);
  }
}

/**
 * A signal that aborts when any of `signals` does (with its reason) or after `timeoutMs`. Plain
 * listeners, removed by dispose(), rather than AbortSignal.any: the link must hold for as long as the
 * call runs, whatever the garbage collector thinks of an intermediate signal.
 */
function linkedAbort(
  signals: (AbortSignal | undefined)[],
  timeoutMs?: number,
): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const links: [AbortSignal, () => void][] = [];
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) ac.abort(s.reason);
    const onAbort = () => ac.abort(s.reason);
    s.addEventListener('abort', onAbort, { once: true });
    links.push([s, onAbort]);
  }
  const timer = timeoutMs
    ? setTimeout(
        () => ac.abort(new DOMException(`no answer within ${timeoutMs}ms`, 'TimeoutError')),
        timeoutMs,
      )
    : undefined;
  return {
    signal: ac.signal,
    dispose: () => {
      clearTimeout(timer);
      for (const [s, fn] of links) s.removeEventListener('abort', fn);
    },
  };
}

function headerValue(v: string | string[] | undefined): string | null {
  return (Array.isArray(v) ? v[0] : v) ?? null;
}

export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
