// How requests reach the apiserver: one keep-alive connection pool per apiserver (the kubeconfig's TLS),
// a client-side token bucket (QPS/burst) and the credentials of the moment. client-node 2.x builds a new
// undici Agent — a new TCP+TLS connection — for every call when a CA is configured; this does not.
import type { KubeCredentials } from './kubeconfig';
import { Agent, type Dispatcher } from 'undici';

export interface TransportOptions {
  /** Requests per second, sustained (controller-runtime's default: 20). 0 turns the limit off. */
  qps?: number;
  /** Requests allowed at once above the rate (controller-runtime's default: 30). */
  burst?: number;
  /**
   * Connections to the apiserver for ordinary requests; more requests than this wait for a free one.
   * Watches hold their connection for minutes, so they have a pool of their own.
   */
  maxConnections?: number;
}

/** client-go's token bucket: `burst` requests at once, then `qps` per second; waiters are served in order. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    readonly qps: number,
    readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Takes one token; resolves when it may be used (at once while the burst lasts). */
  async take(signal?: AbortSignal): Promise<number> {
    if (!(this.qps > 0)) return 0;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    const waitMs = (-this.tokens * 1000) / this.qps;
    await abortableSleep(waitMs, signal);
    return waitMs;
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error(typeof r === 'string' ? r : 'aborted');
  e.name = 'AbortError';
  return e;
}

/** The shared part of every KubeClient made from one kubeconfig: pools, rate limit, credentials. */
export class KubeTransport {
  readonly limiter: TokenBucket;
  private serverUrl?: URL;
  private pools?: Promise<{ requests: Dispatcher; watches: Dispatcher }>;

  constructor(
    readonly kubeConfig: KubeCredentials,
    private readonly opts: TransportOptions = {},
  ) {
    this.limiter = new TokenBucket(opts.qps ?? 20, opts.burst ?? 30);
  }

  /** The apiserver's URL (read on first use: a client may be made before its kubeconfig is complete). */
  get server(): URL {
    if (this.serverUrl) return this.serverUrl;
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return (this.serverUrl = new URL(cluster.server));
  }

  /** The pool for ordinary requests, or the one for watches. */
  async dispatcher(kind: 'requests' | 'watches'): Promise<Dispatcher> {
    this.pools ??= this.makePools();
    return (await this.pools)[kind];
  }

  /**
   * The credentials of this moment. client-node re-reads a token file (the projected ServiceAccount
   * token, rotated hourly by the kubelet) and re-runs exec plugins when their token expires.
   */
  async headers(): Promise<Record<string, string>> {
    const o: { headers?: Record<string, string>; auth?: string } = {};
    await this.kubeConfig.applyToHTTPSOptions(o as never);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) headers[k] = String(v);
    if (o.auth) headers.Authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    return headers;
  }

  async close(): Promise<void> {
    if (!this.pools) return;
    const { requests, watches } = await this.pools;
    await Promise.all([requests.close(), watches.close()]);
  }

  private async makePools(): Promise<{ requests: Dispatcher; watches: Dispatcher }> {
    const tls: Record<string, unknown> = {};
    await this.kubeConfig.applyToHTTPSOptions(tls as never);
    const connect = {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      servername: tls.servername,
      ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
    } as Agent.Options['connect'];
    return {
      requests: new Agent({
        connect,
        connections: this.opts.maxConnections ?? 4,
        keepAliveTimeout: 60_000,
        keepAliveMaxTimeout: 300_000,
      }),
      watches: new Agent({ connect, keepAliveTimeout: 60_000, bodyTimeout: 0, headersTimeout: 60_000 }),
    };
  }
}
