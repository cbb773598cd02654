import * as k8s from '@kubernetes/client-node';
import { fetch } from 'undici';

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
  statusCode: number;
}) => void;

/**
 * A small typed client for any kind, built on @kubernetes/client-node's configuration and
 * authentication. It addresses objects by ResourceType, so custom resources need no generated client
 * and no discovery.
 */
export class KubeClient {
  private readonly observers: RequestObserver[] = [];

  constructor(readonly kubeConfig: k8s.KubeConfig) {}

  onRequest(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  async request<T>(
    method: string,
    path: string,
    opts: {
      query?: Record<string, string | number | boolean | undefined>;
      body?: unknown;
      contentType?: string;
      /** Give up after this long (default 30s): a hung connection must not stall a controller. */
      timeoutMs?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<T> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const ctx = new k8s.RequestContext(url.toString(), method as k8s.HttpMethod);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const res = await fetch(url, { method, headers, body, dispatcher: ctx.getDispatcher(), signal });
    for (const o of this.observers) o({ method, host: url.host, path, statusCode: res.status });
    const text = await res.text();
    // Errors are not always JSON (an unserved API group answers with a plain-text 404 page).
    const parsed = parseJson(text);
    if (res.status >= 400) {
      const status =
        parsed && (parsed as k8s.V1Status).kind === 'Status'
          ? (parsed as k8s.V1Status)
          : ({ message: text.slice(0, 200).trim() } as k8s.V1Status);
      throw new ApiError(method, path, res.status, status);
    }
    if (text && parsed === undefined)
      throw new Error(`${method} ${path}: response is not JSON: ${text.slice(0, 200)}`);
    return parsed as T;
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', resourcePath(rt, namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  list<T extends k8s.KubernetesObject>(rt: ResourceType, opts: ListOptions = {}): Promise<KubeList<T>> {
    const { namespace, ...query } = opts;
    return this.request<KubeList<T>>('GET', resourcePath(rt, namespace), { query: { ...query } });
  }

  /** Every object, page by page; the resourceVersion is the first page's (a consistent snapshot). */
  async listAll<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    opts: ListOptions = {},
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
    opts: { fieldManager?: string } = {},
  ): Promise<T> {
    return this.request<T>('POST', resourcePath(rt, obj.metadata?.namespace), { body: obj, query: opts });
  }

  replace<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    obj: T,
    opts: { subresource?: string } = {},
  ): Promise<T> {
    return this.request<T>(
      'PUT',
      resourcePath(rt, obj.metadata?.namespace, obj.metadata?.name, opts.subresource),
      {
        body: obj,
      },
    );
  }

  patch<T extends k8s.KubernetesObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    opts: { type?: PatchType; subresource?: string; fieldManager?: string; force?: boolean } = {},
  ): Promise<T> {
    const type = opts.type ?? 'merge';
    return this.request<T>('PATCH', resourcePath(rt, namespace, name, opts.subresource), {
      body: patch,
      contentType: PATCH_CONTENT_TYPE[type],
      query: { fieldManager: opts.fieldManager, force: opts.force },
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
    } = {},
  ): Promise<boolean> {
    try {
      await this.request('DELETE', resourcePath(rt, namespace, name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', ...opts },
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Opens a watch; `onEvent` gets each event, `onDone` the end of the stream (err null on a clean close).
   * Returns the AbortController that ends it.
   */
  watch<T>(
    rt: ResourceType,
    opts: ListOptions & {
      allowWatchBookmarks?: boolean;
      timeoutSeconds?: number;
      inactivityTimeoutMs?: number;
    },
    onEvent: (e: WatchEvent<T>) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController> {
    const { namespace, inactivityTimeoutMs, ...query } = opts;
    const w = new k8s.Watch(this.kubeConfig);
    // The inactivity timeout is not public API in client-node; a watch that outlives it ends cleanly
    // and the informer resumes from its resourceVersion.
    if (inactivityTimeoutMs)
      (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = inactivityTimeoutMs;
    return w.watch(
      resourcePath(rt, namespace),
      query,
      (type: string, object: T) => onEvent({ type: type as WatchEvent<T>['type'], object }),
      onDone,
    );
  }
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
