import type * as k8s from '@kubernetes/client-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SharedCache } from './cache';
import { KubeClient, errorText } from './client';
import type { ManagerConfig } from './config';
import {
  Controller,
  type ControllerOptions,
  type ErrorPolicy,
  type RunContext,
  type Runnable,
} from './controller';
import { EventRecorder } from './events';
import { loadKubeConfig, type KubeCredentials } from './kubeconfig';
import { LeaderElector } from './leader';
import { createLogger, type Logger } from './logger';
import { RuntimeMetrics } from './metrics';

export type ManagerState = 'starting' | 'standby' | 'leading' | 'stopping' | 'stopped';

export interface ManagerOptions {
  /** Default: loadKubeConfig(--kubeconfig). A client-node KubeConfig fits too. */
  kubeConfig?: KubeCredentials;
  logger?: Logger;
  /** What every controller does with a reconcile error unless it says otherwise. */
  errorPolicy?: ErrorPolicy;
  /** How the process ends (tests record it instead). Default: process.exit. */
  exit?: (code: number) => void;
}

export interface AddOptions {
  /** Run only while this process holds the Lease (default true). False: run on every replica. */
  needLeaderElection?: boolean;
}

interface Registered {
  runnable: Runnable;
  leaderOnly: boolean;
  running?: Promise<void>;
}

type ControllerRegistration<T extends k8s.KubernetesObject> = Omit<
  ControllerOptions<T>,
  'client' | 'metrics' | 'logger' | 'cache'
> &
  Partial<Pick<ControllerOptions<T>, 'logger'>>;

/**
 * Wires a controller process together: one client (pool, rate limit, retries), one shared informer
 * cache, logs, metrics and health endpoints, leader election, the runnables (controllers and side
 * work), and the shutdown order. Leader-only runnables run only while this process holds the Lease.
 *
 * Losing the Lease aborts `client`'s every call at once (in flight or new), stops the runnables, and
 * ends the process within --leader-lost-exit-timeout: a deposed leader never acts beside its successor.
 * SIGTERM: stop taking work, let in-flight work finish within --shutdown-grace, abort what is left,
 * release the Lease, exit 0.
 */
export class Manager {
  /** Every call aborts when leadership is lost or the shutdown grace ends; give it to all work. */
  readonly client: KubeClient;
  readonly cache: SharedCache;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly events: EventRecorder;
  /** Aborts when in-flight work must end now (pass to AWS SDK calls as `abortSignal`). */
  readonly signal: AbortSignal;
  /** Not bound to leadership: the elector's own client (it must release the Lease after the abort). */
  private readonly baseClient: KubeClient;
  private readonly abortWork = new AbortController();
  private readonly stopTaking = new AbortController();
  private readonly runnables: Registered[] = [];
  private readonly controllers: Controller<k8s.KubernetesObject>[] = [];
  private readonly servers = new Map<'metrics' | 'health', http.Server>();
  private elector?: LeaderElector;
  private state: ManagerState = 'starting';
  private leading = false;
  private lost = false;
  private stopping?: Promise<void>;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly exit: (code: number) => void;

  constructor(
    readonly component: string,
    readonly config: ManagerConfig,
    private readonly opts: ManagerOptions = {},
  ) {
    this.log =
      opts.logger ??
      createLogger({ level: config.logLevel, format: config.logFormat, fields: { component } });
    const kc = opts.kubeConfig ?? loadKubeConfig(config.kubeconfig);
    this.baseClient = new KubeClient(kc, { qps: config.kubeApiQps ?? 20, burst: config.kubeApiBurst ?? 30 });
    this.signal = this.abortWork.signal;
    this.client = this.baseClient.withSignal(this.signal);
    this.metrics = new RuntimeMetrics();
    this.baseClient.onRequest((r) =>
      this.metrics.observeRequest(r.method, r.statusCode, r.host, r.durationMs / 1000),
    );
    this.cache = new SharedCache(this.client, {
      logger: this.log,
      resyncPeriodMs: config.resyncPeriodMs,
    });
    this.events = new EventRecorder(this.client, { component, logger: this.log });
    this.exit = opts.exit ?? exitProcess;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Registers a controller on the shared cache; workers default to --concurrency, scope to --namespace. */
  addController<T extends k8s.KubernetesObject>(opts: ControllerRegistration<T>): Controller<T> {
    const c = new Controller<T>({
      workers: this.config.concurrency,
      namespace: this.config.namespace || undefined,
      errorPolicy: this.opts.errorPolicy,
      ...opts,
      client: this.client,
      cache: this.cache,
      events: this.events,
      metrics: this.metrics,
      logger: opts.logger ?? this.log,
    });
    this.controllers.push(c as unknown as Controller<k8s.KubernetesObject>);
    this.add(c);
    return c;
  }

  /**
   * Registers work the manager starts and stops: leader-only (the default) runs while this process
   * leads, after the caches synced; the rest runs from start() on every replica.
   */
  add(runnable: Runnable, opts: AddOptions = {}): void {
    const r: Registered = { runnable, leaderOnly: opts.needLeaderElection ?? true };
    this.runnables.push(r);
    if (this.state === 'leading' || (!r.leaderOnly && this.state === 'standby')) this.launch(r);
  }

  /**
   * Runs `cleanup` when the manager stops, after the leader-only work ended (AWS clients, files): the
   * process's side resources are released in one place, not after start() by hand.
   */
  onStop(name: string, cleanup: () => void | Promise<void>): void {
    this.add(
      {
        name,
        run: async ({ stopping }) => {
          await new Promise<void>((resolve) => {
            if (stopping.aborted) resolve();
            else stopping.addEventListener('abort', () => resolve(), { once: true });
          });
          await Promise.all(this.runnables.filter((r) => r.leaderOnly).map((r) => r.running));
          await cleanup();
        },
      },
      { needLeaderElection: false },
    );
  }

  getState(): ManagerState {
    return this.state;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The endpoints' bound ports (useful with port 0 in tests). */
  ports(): { metrics?: number; health?: number } {
    const port = (name: 'metrics' | 'health') =>
      (this.servers.get(name)?.address() as AddressInfo | null)?.port;
    return { metrics: port('metrics'), health: port('health') };
  }

  /**
   * Starts endpoints, the cache (now, or on winning the Lease without warm standby), the runnables that
   * do not need leadership, and leader election (or leads directly when it is off). Handles SIGTERM and
   * SIGINT. Resolves when the manager has stopped.
   */
  async start(opts: { handleSignals?: boolean } = {}): Promise<void> {
    if (opts.handleSignals !== false) {
      const onSignal = (sig: NodeJS.Signals) => {
        this.log.info('signal received; shutting down', { signal: sig });
        void this.stop().then(() => this.exit(0));
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    }
    await this.serveEndpoints();
    this.state = 'standby';
    for (const r of this.runnables) if (!r.leaderOnly) this.launch(r);
    if (!this.config.leaderElect) {
      this.log.info('leader election disabled; starting controllers');
      void this.startLeading();
      return this.done;
    }
    if (this.config.warmStandby ?? true) this.cache.start();
    this.campaign();
    return this.done;
  }

  /**
   * Stops taking work, waits for in-flight work up to the grace period, aborts what is left (every
   * client call with it), releases the Lease, closes the endpoints. The order keeps a successor from
   * acting while this process still does.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      this.stopTaking.abort();
      const done = this.runnablesDone();
      await within(done, this.config.shutdownGraceMs);
      this.abortWork.abort(new Error('manager stopped'));
      // Work that ignores its abort signal cannot hold the process: every call it makes through
      // mgr.client fails from here on.
      await within(done, 5_000);
      this.leading = false;
      await this.cache.stop();
      // After a lost lease there is nothing of ours to release, and a late write could only race the
      // successor's.
      if (!this.lost)
        await this.elector
          ?.release()
          .catch((err: unknown) => this.log.warn('could not release the lease', { error: errorText(err) }));
      await Promise.all([...this.servers.values()].map((s) => new Promise((r) => s.close(r))));
      await this.baseClient.close().catch(() => undefined);
      this.state = 'stopped';
      this.log.info('stopped');
      this.resolveDone();
    })();
    return this.stopping;
  }

  private campaign(): void {
    this.elector = new LeaderElector(this.baseClient, {
      namespace: this.config.leaderElectionNamespace,
      name: this.config.leaderElectionId,
      identity: this.config.leaderElectionIdentity,
      leaseDurationMs: this.config.leaseDurationMs,
      renewDeadlineMs: this.config.renewDeadlineMs,
      retryPeriodMs: this.config.retryPeriodMs,
      logger: this.log,
      onLeaderChange: (leading: boolean) => this.metrics.setLeader(this.config.leaderElectionId, leading),
    });
    this.log.info('waiting to become leader', {
      lease: `${this.config.leaderElectionNamespace}/${this.config.leaderElectionId}`,
      identity: this.config.leaderElectionIdentity,
    });
    void this.elector
      .run({
        onStartedLeading: () => {
          this.log.info('became leader', { identity: this.config.leaderElectionIdentity });
          void this.startLeading();
        },
        onStoppedLeading: () => this.leadershipLost(),
        onNewLeader: (id: string) => this.log.info('leader observed', { leader: id }),
      })
      .catch((err: unknown) => this.fail('leader election failed', err));
  }

  /** Nothing may act any more: abort every call now, stop, and exit within the bound whatever hangs. */
  private leadershipLost(): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.abortWork.abort(new Error('leadership lost'));
    this.lost = true;
    this.leading = false;
    this.log.error('leadership lost; stopping at once', { exitWithinMs: this.config.leaderLostExitMs });
    setTimeout(() => this.exit(1), this.config.leaderLostExitMs ?? 5_000).unref();
    void this.stop().then(() => this.exit(1));
  }

  /** Logs, stops, exits non-zero. */
  private fail(message: string, err: unknown): void {
    this.log.error(message, { error: errorText(err) });
    if (this.state === 'stopping' || this.state === 'stopped') return;
    void this.stop().then(() => this.exit(1));
  }

  private async startLeading(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.leading = true;
    this.state = 'leading';
    this.cache.start();
    try {
      await this.cache.waitForSync(this.config.cacheSyncTimeoutMs ?? 120_000, this.stopTaking.signal);
    } catch (err) {
      return this.fail('caches did not sync in time; exiting', err);
    }
    if (this.state !== 'leading') return;
    for (const r of this.runnables) if (r.leaderOnly) this.launch(r);
  }

  private launch(r: Registered): void {
    if (r.running) return;
    const ctx: RunContext = { stopping: this.stopTaking.signal, abort: this.abortWork.signal };
    r.running = r.runnable.run(ctx).catch((err: unknown) => {
      if (this.abortWork.signal.aborted) return;
      this.fail(`${r.runnable.name} failed`, err);
    });
  }

  private async runnablesDone(): Promise<void> {
    await Promise.all(this.runnables.map((r) => r.running));
  }

  /** Ready when leading with every cache synced, or standing by as a non-leader replica. */
  private ready(): boolean {
    if (this.state === 'standby') return true;
    return this.state === 'leading' && this.cache.ready();
  }

  private async serveEndpoints(): Promise<void> {
    const listen = async (name: 'metrics' | 'health', port: number, handler: http.RequestListener) => {
      if (port <= 0) return; // 0 turns the endpoint off
      const server = http.createServer(handler);
      this.servers.set(name, server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.config.bindAddress, () => resolve());
      });
    };
    const text = (res: http.ServerResponse, code: number, body: string, type = 'text/plain') => {
      res.writeHead(code, { 'Content-Type': type });
      res.end(body);
    };
    await listen('metrics', this.config.metricsPort, (req, res) => {
      if (req.url === '/metrics') {
        this.metrics.registry
          .metrics()
          .then((m) => text(res, 200, m, this.metrics.registry.contentType))
          .catch((e: unknown) => text(res, 500, String(e)));
      } else text(res, 404, 'not found\n');
    });
    await listen('health', this.config.healthPort, (req, res) => {
      if (req.url === '/healthz')
        text(res, this.state === 'stopped' ? 503 : 200, this.state === 'stopped' ? 'stopped\n' : 'ok\n');
      else if (req.url === '/readyz') text(res, this.ready() ? 200 : 503, `${this.state}\n`);
      else text(res, 404, 'not found\n');
    });
  }
}

/** Waits for `work`, but no longer than `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Ends the process with `code`, letting the last log lines reach a piped stdout first: the process
 * ends by itself once nothing is pending, or after 200 ms whatever is still open.
 */
function exitProcess(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 200).unref();
}
