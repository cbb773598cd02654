import * as k8s from '@kubernetes/client-node';
import { dump } from 'js-yaml';
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { pipeline, Transform } from 'node:stream';
import { testEnvStatus } from './testenv';

/** The statuses an overloaded or failing apiserver answers with. */
export type FaultStatus = 429 | 500 | 503;

export interface FailShareOptions {
  /** Fraction (0..1) of matching requests the proxy answers itself instead of forwarding. */
  share: number;
  status: FaultStatus;
  /** Sent as the Retry-After header and as the Status's details.retryAfterSeconds. */
  retryAfterSeconds?: number;
  /** Only requests with these methods (default: every method). */
  methods?: string[];
  /** Only requests whose path+query matches (default: every path). */
  pathPattern?: RegExp;
}

/** One request as it was sent to the apiserver. */
export interface ForwardedRequest {
  /** Date.now() when it was sent upstream. */
  at: number;
  method: string;
  /** Path and query. */
  path: string;
  userAgent: string;
  /** The apiserver's answer status, once it has answered. */
  status?: number;
}

export interface ApiFaultProxyStats {
  /** TLS connections accepted since start() or resetStats(). */
  connections: number;
  /** Requests received (forwarded, failed or dropped). */
  requests: number;
  /** Requests sent to the apiserver. */
  forwarded: number;
  /** POST/PUT/PATCH/DELETE requests sent to the apiserver. */
  writesForwarded: number;
  /** Requests the proxy answered itself with an injected failure. */
  faulted: number;
  /** Held requests whose client went away before they could be forwarded (never sent). */
  dropped: number;
  /** Requests whose client went away while they were held (they will be dropped, not forwarded). */
  abandoned: number;
  /** Forwarded requests and forwarded writes, by User-Agent header ('' when absent). */
  byUserAgent: Record<string, { requests: number; writes: number }>;
}

export interface ApiFaultProxyOptions {
  /** The kubeconfig whose current cluster is the upstream (default: the running test cluster's). */
  kubeconfig?: string;
  /** Serving certificate and key (default: the test apiserver's own, so its kubeconfig's CA fits). */
  certFile?: string;
  keyFile?: string;
}

interface Fault {
  status: FaultStatus;
  retryAfterSeconds?: number;
}

const REASONS: Record<FaultStatus, string> = {
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
// Per-connection headers: each side of the proxy has its own connection.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade'];

const emptyStats = (): ApiFaultProxyStats => ({
  connections: 0,
  requests: 0,
  forwarded: 0,
  writesForwarded: 0,
  faulted: 0,
  dropped: 0,
  abandoned: 0,
  byUserAgent: {},
});

/**
 * A TEST-ONLY HTTPS proxy in front of the test kube-apiserver that injects the faults a controller
 * must survive: throttling and server errors, latency, a stalled apiserver, dropped connections and
 * partitions. It terminates TLS with the apiserver's own serving certificate, so a copy of the test
 * kubeconfig with only `server:` changed (kubeconfig()) works unchanged, and it counts and logs what
 * it forwards, so a test can prove which requests reached the apiserver and which never did.
 */
export class ApiFaultProxy {
  /** https://127.0.0.1:<port> once started. */
  url = '';
  private server?: https.Server;
  private agent?: https.Agent;
  private upstream?: { kc: k8s.KubeConfig; server: string; url: URL };
  private readonly sockets = new Set<net.Socket>();
  private partitioned = false;
  private hold?: { promise: Promise<void>; release: () => void };
  private delayMs = 0;
  private share?: FailShareOptions;
  private failing = { count: 0, fault: { status: 503 } as Fault };
  private counters = emptyStats();
  private log: ForwardedRequest[] = [];

  constructor(private readonly opts: ApiFaultProxyOptions = {}) {}

  /** Listens on a free loopback port; resolves to the proxy's https URL. */
  async start(): Promise<string> {
    const files = await this.files();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(files.kubeconfig);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${files.kubeconfig} has no current cluster`);
    this.upstream = { kc, server: cluster.server, url: new URL(cluster.server) };
    this.partitioned = false;
    const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : undefined;
    this.agent = new https.Agent({ keepAlive: true, ca, rejectUnauthorized: !cluster.skipTLSVerify });

    const server = https.createServer(
      // No request timeout: held requests and watches last as long as the test wants.
      { cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile), requestTimeout: 0 },
      (req, res) => void this.handle(req, res),
    );
    server.on('connection', (socket: net.Socket) => this.partitioned && socket.destroy());
    server.on('secureConnection', (socket: net.Socket) => {
      this.counters.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    process.stderr.write(
      `[testenv] test fault proxy (tests only) at ${this.url} in front of ${cluster.server}\n`,
    );
    return this.url;
  }

  /** Drops every connection and stops listening; requests still held are dropped. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.partitioned = true;
    this.cut();
    this.resume();
    if (server) await new Promise((resolve) => server.close(resolve));
    this.agent?.destroy();
  }

  /** A copy of the upstream kubeconfig whose cluster points at the proxy (same CA, same credentials). */
  kubeconfig(): k8s.KubeConfig {
    const { kc, server } = this.started();
    const copy = new k8s.KubeConfig();
    copy.loadFromOptions({
      clusters: kc.clusters.map((c) => (c.server === server ? { ...c, server: this.url } : c)),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    return copy;
  }

  /** kubeconfig() as YAML, for a controller run as a separate process. */
  kubeconfigYaml(): string {
    return dump(JSON.parse(this.kubeconfig().exportConfig()));
  }

  /** Answers `share` of the matching requests with `status` (replaces an earlier failShare). */
  failShare(opts: FailShareOptions): void {
    this.share = { ...opts };
  }

  /** The next n requests, whatever they are, fail with `status` (replaces an earlier failNext). */
  failNext(n: number, status: FaultStatus, retryAfterSeconds?: number): void {
    this.failing = { count: n, fault: { status, retryAfterSeconds } };
  }

  /** Ends failNext and failShare (latency and pause are separate knobs). */
  clearFaults(): void {
    this.failing.count = 0;
    this.share = undefined;
  }

  /** Delay added before each request is forwarded or failed (0 = none). */
  latency(ms: number): void {
    this.delayMs = ms;
  }

  /**
   * Stalls the apiserver as its clients see it: new requests are held, open responses (watches)
   * stop delivering. On resume() held requests whose client is still connected go on; the others
   * are dropped and never reach the apiserver.
   */
  pause(): void {
    if (this.hold) return;
    let release = () => {};
    const promise = new Promise<void>((resolve) => (release = resolve));
    this.hold = { promise, release };
  }

  resume(): void {
    this.hold?.release();
    this.hold = undefined;
  }

  /** Destroys every open client connection, watches included (new ones are accepted). */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** cut(), and refuse every new connection until heal(). */
  partition(): void {
    this.partitioned = true;
    this.cut();
  }

  heal(): void {
    this.partitioned = false;
  }

  stats(): ApiFaultProxyStats {
    const byUserAgent = Object.fromEntries(
      Object.entries(this.counters.byUserAgent).map(([ua, c]) => [ua, { ...c }]),
    );
    return { ...this.counters, byUserAgent };
  }

  forwardedLog(): ForwardedRequest[] {
    return [...this.log];
  }

  resetStats(): void {
    this.counters = emptyStats();
    this.log = [];
  }

  private started(): NonNullable<ApiFaultProxy['upstream']> {
    if (!this.upstream || !this.url) throw new Error('ApiFaultProxy: call start() first');
    return this.upstream;
  }

  private async files(): Promise<Required<ApiFaultProxyOptions>> {
    const { kubeconfig, certFile, keyFile } = this.opts;
    if (kubeconfig && certFile && keyFile) return { kubeconfig, certFile, keyFile };
    const info = await testEnvStatus();
    if (!info?.pkiDir) {
      throw new Error('ApiFaultProxy needs the running test cluster (its apiserver serving key)');
    }
    return {
      kubeconfig: kubeconfig ?? info.kubeconfig,
      certFile: certFile ?? path.join(info.pkiDir, 'apiserver.crt'),
      keyFile: keyFile ?? path.join(info.pkiDir, 'apiserver.key'),
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.counters.requests++;
    let clientGone = false;
    let held = true;
    res.once('close', () => {
      clientGone = true;
      if (held) this.counters.abandoned++;
    });
    // Decided on arrival, so failNext hits the next requests in the order they came in.
    const fault = this.pickFault(req);
    await this.unpaused();
    if (this.delayMs > 0) {
      await new Promise((r) => setTimeout(r, this.delayMs));
      await this.unpaused();
    }
    held = false;
    if (clientGone || req.socket.destroyed) {
      // The client gave up (a deposed leader aborting its write): this request must never land.
      this.counters.dropped++;
      return;
    }
    if (fault) this.answerFault(req, res, fault);
    else this.forward(req, res);
  }

  private pickFault(req: http.IncomingMessage): Fault | undefined {
    if (this.failing.count > 0) {
      this.failing.count--;
      return this.failing.fault;
    }
    const s = this.share;
    if (!s) return undefined;
    if (s.methods && !s.methods.some((m) => m.toUpperCase() === req.method)) return undefined;
    if (s.pathPattern && (req.url ?? '').search(s.pathPattern) < 0) return undefined;
    return Math.random() < s.share ? s : undefined;
  }

  /** A Status like the apiserver's own, so clients take their real 429/5xx paths. */
  private answerFault(req: http.IncomingMessage, res: http.ServerResponse, fault: Fault): void {
    this.counters.faulted++;
    req.resume(); // read and discard the body so the connection stays usable
    const retry = fault.retryAfterSeconds;
    const body = JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `injected by the test fault proxy (${fault.status})`,
      reason: REASONS[fault.status],
      ...(retry !== undefined ? { details: { retryAfterSeconds: retry } } : {}),
      code: fault.status,
    });
    res.writeHead(fault.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...(retry !== undefined ? { 'retry-after': String(retry) } : {}),
    });
    res.end(body);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const { url } = this.started();
    const upstream = https.request({
      hostname: url.hostname,
      port: url.port,
      method: req.method,
      path: req.url,
      headers: { ...withoutHopByHop(req.headers), host: url.host },
      agent: this.agent,
    });
    const entry = this.record(req);
    upstream.on('response', (upRes) => {
      entry.status = upRes.statusCode;
      if (res.destroyed) return void upRes.destroy();
      res.writeHead(upRes.statusCode ?? 502, withoutHopByHop(upRes.headers));
      res.flushHeaders(); // a watch's client sees its 200 before the first event
      // Streamed chunk by chunk (never buffered); a client going away aborts the upstream response.
      pipeline(upRes, this.gate(), res, () => {});
    });
    upstream.on('error', (err) => {
      if (res.headersSent || res.destroyed) res.destroy();
      else
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: upstream: ${err.message}\n`);
    });
    res.on('close', () => !res.writableFinished && upstream.destroy());
    // pipe, not pipeline: an upstream error must not destroy the client's socket before the 502.
    req.pipe(this.gate()).pipe(upstream);
  }

  /** Counted at the moment the request goes upstream. */
  private record(req: http.IncomingMessage): ForwardedRequest {
    const method = req.method ?? 'GET';
    const userAgent = req.headers['user-agent'] ?? '';
    const write = WRITES.has(method);
    const c = this.counters;
    const ua = (c.byUserAgent[userAgent] ??= { requests: 0, writes: 0 });
    c.forwarded++;
    ua.requests++;
    if (write) {
      c.writesForwarded++;
      ua.writes++;
    }
    const entry: ForwardedRequest = { at: Date.now(), method, path: req.url ?? '/', userAgent };
    this.log.push(entry);
    return entry;
  }

  private async unpaused(): Promise<void> {
    while (this.hold) await this.hold.promise;
  }

  /** Passes bytes through, holding them while paused (how a watch "stops delivering"). */
  private gate(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        if (!this.hold) done(null, chunk);
        else void this.unpaused().then(() => done(null, chunk));
      },
    });
  }
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = { ...headers };
  for (const h of HOP_BY_HOP) delete out[h];
  return out;
}
