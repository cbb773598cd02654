// The two ways a governor command runs: --once (one sweep, push metrics, exit — upstream's CronJob form)
// or a long-running controller (Manager, leader election, sweeps on an interval and when what it
// watches changes). Both use one sweep function; only the wiring differs.
import {
  createLogger,
  errorText,
  EventRecorder,
  KubeClient,
  loadKubeConfig,
  Manager,
  RuntimeMetrics,
  type Logger,
} from '@keiko/kube-runtime';
import type { CommonConfig } from './config';
import { GovernorMetrics } from './metrics';

/** What a command's sweep gets, whichever way it runs. */
export interface SweepContext {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  metrics: GovernorMetrics;
  registry: RuntimeMetrics['registry'];
  /** Set in controller mode: the manager (its cache feeds the sweep; `trigger` asks for a sweep soon). */
  mgr?: Manager;
  trigger: () => void;
  signal?: AbortSignal;
  onStop: (name: string, fn: () => void | Promise<void>) => void;
}

export interface GovernorCommand {
  /** e.g. `node-reaper`: names the runnable, logs and the metric label. */
  name: string;
  /** Builds the sweep (and registers what it watches on ctx.mgr's cache). */
  setup(ctx: SweepContext): Promise<() => Promise<unknown>> | (() => Promise<unknown>);
}

/** One sweep, timed and counted; errors are logged and counted, not thrown (the controller keeps going). */
async function timedSweep(
  cmd: GovernorCommand,
  ctx: SweepContext,
  sweep: () => Promise<unknown>,
): Promise<boolean> {
  const end = ctx.metrics.sweepDuration.startTimer({ reaper: cmd.name });
  try {
    await sweep();
    ctx.metrics.sweeps.inc({ reaper: cmd.name, result: 'success' });
    return true;
  } catch (err) {
    if (ctx.signal?.aborted) return false;
    ctx.metrics.sweeps.inc({ reaper: cmd.name, result: 'error' });
    ctx.log.error(`${cmd.name} sweep failed`, { error: errorText(err) });
    return false;
  } finally {
    end();
  }
}

export async function runOnce(cmd: GovernorCommand, config: CommonConfig): Promise<number> {
  const m = config.manager;
  const log = createLogger({
    level: m.logLevel,
    format: m.logFormat,
    fields: { component: `governor ${cmd.name}` },
  });
  const client = new KubeClient(loadKubeConfig(m.kubeconfig), { qps: m.kubeApiQps, burst: m.kubeApiBurst });
  const runtime = new RuntimeMetrics();
  const cleanups: Array<() => void | Promise<void>> = [];
  const ctx: SweepContext = {
    client,
    events: new EventRecorder(client, { component: 'governor', logger: log }),
    log,
    metrics: new GovernorMetrics(runtime.registry),
    registry: runtime.registry,
    trigger: () => undefined,
    onStop: (_name, fn) => cleanups.push(fn),
  };
  let ok = false;
  try {
    ok = await timedSweep(cmd, ctx, await cmd.setup(ctx));
    if (config.pushgateway)
      await ctx.metrics
        .push(config.pushgateway, `governor-${cmd.name}`)
        .catch((err: unknown) => log.warn('could not push metrics', { error: errorText(err) }));
  } finally {
    for (const fn of cleanups) await fn();
    await client.close().catch(() => undefined);
  }
  return ok ? 0 : 1;
}

/** Waits `ms`, or less when triggered or stopping. */
function pause(ms: number, wake: { promise: Promise<void> }, stopping: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    void wake.promise.then(done);
    stopping.addEventListener('abort', done, { once: true });
  });
}

export async function runController(cmd: GovernorCommand, config: CommonConfig): Promise<void> {
  const mgr = new Manager(`governor-${cmd.name}`, config.manager);
  let wake = deferred();
  let debounce: NodeJS.Timeout | undefined;
  const ctx: SweepContext = {
    client: mgr.client,
    events: mgr.events,
    log: mgr.log,
    metrics: new GovernorMetrics(mgr.metrics.registry),
    registry: mgr.metrics.registry,
    mgr,
    // A burst of changes makes one sweep, a second after its first change. Not a second after the
    // last: in a large cluster something always changes, and such a sweep would never come.
    trigger: () => {
      debounce ??= setTimeout(() => {
        debounce = undefined;
        wake.resolve();
      }, 1000);
    },
    signal: mgr.signal,
    onStop: (name, fn) => mgr.onStop(name, fn),
  };
  const sweep = await cmd.setup(ctx);
  mgr.add({
    name: cmd.name,
    run: async ({ stopping }) => {
      mgr.log.info(`${cmd.name} started`, { sweepIntervalSeconds: config.sweepIntervalMs / 1000 });
      while (!stopping.aborted) {
        wake = deferred();
        await timedSweep(cmd, ctx, sweep);
        await pause(config.sweepIntervalMs, wake, stopping);
      }
      clearTimeout(debounce);
    },
  });
  await mgr.start();
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
