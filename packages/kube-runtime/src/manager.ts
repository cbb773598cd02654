import * as k8s from '@kubernetes/client-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from './client';
import type { ManagerConfig } from './config';
import { Controller, type ControllerOptions } from './controller';
import { EventRecorder } from './events';
import { LeaderElector } from './leader';
import { createLogger, type Logger } from './logger';
import { RuntimeMetrics } from './metrics';

export type ManagerState = 'starting' | 'standby' | 'leading' | 'stopping' | 'stopped';

/**
 * Wires a controller process together: client, logs, metrics and health endpoints, leader election,
 * the controllers, and graceful shutdown. Controllers run only while this process holds the Lease;
 * losing it ends the process (a restarted pod rejoins as a candidate) so a deposed leader can never
 * act alongside its successor.
 */
export class Manager {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly events: EventRecorder;
  private readonly controllers: Controller<k8s.KubernetesObject>[] = [];
  private readonly servers = new Map<'metrics' | 'health', http.Server>();
  private elector?: LeaderElector;
  private state: ManagerState = 'starting';
  private leading = false;
  private stopping?: Promise<void>;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    readonly component: string,
    readonly config: ManagerConfig,
    opts: { kubeConfig?: k8s.KubeConfig; logger?: Logger } = {},
  ) {
    this.log =
      opts.logger ??
      createLogger({ level: config.logLevel, format: config.logFormat, fields: { component } });
    const kc = opts.kubeConfig ?? loadKubeConfig(config.kubeconfig);
    this.client = new KubeClient(kc);
    this.metrics = new RuntimeMetrics();
    this.client.onRequest((r) => this.metrics.observeRequest(r.method, r.statusCode, r.host));
    this.events = new EventRecorder(this.client, { component, logger: this.log });
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Registers a controller; workers default to --concurrency, namespace scope to --namespace. */
  addController<T extends k8s.KubernetesObject>(
    opts: Omit<ControllerOptions<T>, 'client' | 'metrics' | 'logger'> &
      Partial<Pick<ControllerOptions<T>, 'logger'>>,
  ): Controller<T> {
    const c = new Controller<T>({
      workers: this.config.concurrency,
      namespace: this.config.namespace || undefined,
      ...opts,
      client: this.client,
      metrics: this.metrics,
      logger: opts.logger ?? this.log,
    });
    this.controllers.push(c as unknown as Controller<k8s.KubernetesObject>);
    return c;
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
   * Starts endpoints and leader election (or the controllers directly when it is off) and handles
   * SIGTERM/SIGINT. Resolves when the manager has stopped.
   */
  async start(opts: { handleSignals?: boolean } = {}): Promise<void> {
    if (opts.handleSignals !== false) {
      const onSignal = (sig: NodeJS.Signals) => {
        this.log.info('signal received; shutting down', { signal: sig });
        void this.stop().then(() => process.exit(0));
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    }
    await this.serveEndpoints();
    if (!this.config.leaderElect) {
      this.log.info('leader election disabled; starting controllers');
      await this.startLeading();
    } else {
      this.state = 'standby';
      this.elector = new LeaderElector(this.client, {
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
          onStoppedLeading: () => {
            if (this.state === 'stopping' || this.state === 'stopped') return;
            this.log.error('leadership lost; stopping at once');
            for (const c of this.controllers) c.abortNow();
            this.leading = false;
            process.exitCode = 1;
            void this.stop();
          },
          onNewLeader: (id: string) => this.log.info('leader observed', { leader: id }),
        })
        .catch((err: unknown) => {
          this.log.error('leader election failed', { error: String(err) });
          process.exitCode = 1;
          void this.stop();
        });
    }
    return this.done;
  }

  /** Stops taking work, finishes in-flight reconciles within the grace period, releases the lease. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      await Promise.all(this.controllers.map((c) => c.stop(this.config.shutdownGraceMs)));
      this.leading = false;
      await this.elector
        ?.release()
        .catch((err: unknown) => this.log.warn('could not release the lease', { error: String(err) }));
      await Promise.all([...this.servers.values()].map((s) => new Promise((r) => s.close(r))));
      this.state = 'stopped';
      this.log.info('stopped');
      this.resolveDone();
    })();
    return this.stopping;
  }

  private async startLeading(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.leading = true;
    this.state = 'leading';
    try {
      await Promise.all(this.controllers.map((c) => c.start()));
    } catch (err) {
      this.log.error('controllers failed to start', { error: String(err) });
      process.exitCode = 1;
      await this.stop();
    }
  }

  /** Ready when the controllers' caches are synced — or when standing by as a non-leader replica. */
  private ready(): boolean {
    if (this.state === 'standby') return true;
    return this.state === 'leading' && this.controllers.every((c) => c.primary.hasSynced());
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

/** --kubeconfig, else $KUBECONFIG, else the in-cluster service account. */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
