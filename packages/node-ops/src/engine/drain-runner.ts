// The engine's drain runner: every node tool drains through it. Drains run in the background, one task
// per node, so a drain waiting minutes on a PodDisruptionBudget never holds a reconcile worker. The
// owner's decision reads each task's state; a finished result stays here until the owner has recorded
// it (in its status, or on the node) and calls forget — so a lost write loses nothing. Memory only:
// after a restart or a leader change the owner's record says "draining" and the drain is started
// again (cordon and eviction are idempotent; pods already gone are simply not found).
import type { KubeClient, Logger } from '@keiko/kube-runtime';
import { AbortedError } from '../abort';
import { DrainError, drainNode } from '../drain';

/** One drain, as the owner's decision sees it. */
export type DrainState =
  | { state: 'running'; startedAt: number }
  | { state: 'succeeded'; startedAt: number; finishedAt: number; evicted: number }
  | {
      state: 'failed';
      startedAt: number;
      finishedAt: number;
      /** DrainError reasons joined (DisruptionBudget, Refused, EvictionFailed, NotTerminated...), or Error. */
      reason: string;
      message: string;
      /** namespace/name of each pod that kept the drain from completing. */
      pods: string[];
      /** namespace/name of each PodDisruptionBudget that refused an eviction. */
      podDisruptionBudgets: string[];
    };

export type FailedDrain = Extract<DrainState, { state: 'failed' }>;

export interface DrainRequest {
  /** Who asks (a RollingUpgrade's or an InstanceGroup's key): drains are grouped by owner. */
  owner: string;
  /** The owner's key for this drain (usually the node name). */
  key: string;
  nodeName: string;
  /** The keiko.io/cordoned-by value the drain cordons the node with. */
  cordonedBy: string;
  /** Always set by the caller (the CRD's resolved drain timeout); <= 0 only when a user asked for no limit. */
  timeoutMs: number;
  /** Overrides each pod's terminationGracePeriodSeconds. */
  gracePeriodSeconds?: number;
  /** How often the drain checks that evicted pods are gone. */
  pollIntervalMs?: number;
}

interface Task {
  state: DrainState;
  abort: AbortController;
  done: Promise<void>;
}

/** What a finished drain tells the owner, from drainNode's rejection. */
export function failedDrainOf(err: unknown, startedAt: number, finishedAt = Date.now()): FailedDrain {
  const base = { state: 'failed' as const, startedAt, finishedAt };
  if (err instanceof DrainError) {
    return {
      ...base,
      reason: err.reasons.join(',') || 'DrainFailed',
      message: err.message,
      pods: [...new Set(err.failures.map((f) => f.pod).filter(Boolean))],
      podDisruptionBudgets: [...new Set(err.failures.flatMap((f) => f.disruptionBudgets))],
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { ...base, reason: 'Error', message, pods: [], podDisruptionBudgets: [] };
}

export interface DrainRunnerOptions {
  client: KubeClient;
  log: Logger;
  /** Aborted when the controller stops or loses leadership: every drain stops with it. */
  signal: () => AbortSignal | undefined;
  /** Called when a drain finishes (not when it is aborted), to look at its owner again at once. */
  onDone: (owner: string, key: string, state: DrainState) => void;
}

export class DrainRunner {
  private readonly tasks = new Map<string, Map<string, Task>>();

  constructor(private readonly opts: DrainRunnerOptions) {}

  /** The states of the owner's drains, by key. */
  states(owner: string): Map<string, DrainState> {
    return new Map([...(this.tasks.get(owner) ?? new Map<string, Task>())].map(([k, t]) => [k, t.state]));
  }

  /** Starts the drain unless the owner already has one (running or unrecorded) under this key. */
  start(req: DrainRequest): void {
    const tasks = this.tasks.get(req.owner) ?? new Map<string, Task>();
    this.tasks.set(req.owner, tasks);
    if (tasks.has(req.key)) return;
    const abort = new AbortController();
    const outer = this.opts.signal();
    const signal = outer ? AbortSignal.any([outer, abort.signal]) : abort.signal;
    const startedAt = Date.now();
    const task: Task = { state: { state: 'running', startedAt }, abort, done: Promise.resolve() };
    const log = this.opts.log.child?.({ node: req.nodeName, owner: req.owner }) ?? this.opts.log;
    task.done = this.run(req, signal, log).then(
      (evicted) => {
        task.state = { state: 'succeeded', startedAt, finishedAt: Date.now(), evicted };
        log.info('drain finished', { evicted });
        this.opts.onDone(req.owner, req.key, task.state);
      },
      (err: unknown) => {
        if (err instanceof AbortedError || signal.aborted) {
          // Stopped by shutdown or by the owner: nothing to record; the owner's record still says "drain".
          if (tasks.get(req.key) === task) tasks.delete(req.key);
          return;
        }
        task.state = failedDrainOf(err, startedAt);
        log.warn('drain failed', { error: task.state.message });
        this.opts.onDone(req.owner, req.key, task.state);
      },
    );
    tasks.set(req.key, task);
  }

  private async run(req: DrainRequest, signal: AbortSignal, log: Logger): Promise<number> {
    const result = await drainNode(this.opts.client, req.nodeName, {
      timeoutMs: req.timeoutMs,
      cordonedBy: req.cordonedBy,
      // As kubectl drain --force --ignore-daemonsets --delete-emptydir-data: the instance is terminated
      // next, taking every pod and its local data with it, so refusing to evict them would only turn
      // the drain into a hard kill.
      deleteEmptyDirData: true,
      ignoreDaemonSets: true,
      force: true,
      signal,
      logger: log,
      ...(req.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: req.gracePeriodSeconds } : {}),
      ...(req.pollIntervalMs !== undefined ? { pollIntervalMs: req.pollIntervalMs } : {}),
    });
    return result.evicted.length;
  }

  /** The owner recorded the result: drop it (a running drain is kept). */
  forget(owner: string, key: string): void {
    const tasks = this.tasks.get(owner);
    const task = tasks?.get(key);
    if (!task || task.state.state === 'running') return;
    tasks?.delete(key);
    if (tasks?.size === 0) this.tasks.delete(owner);
  }

  /** Stops one drain (its node left the plan) and waits until it has. */
  async abort(owner: string, key: string, why: string): Promise<void> {
    const task = this.tasks.get(owner)?.get(key);
    if (!task) return;
    task.abort.abort(new Error(why));
    await task.done;
    this.tasks.get(owner)?.delete(key);
  }

  /** Stops the owner's drains (its resource is being deleted) and waits until they have. */
  async abortAll(owner: string, why: string): Promise<void> {
    const tasks = this.tasks.get(owner);
    if (!tasks) return;
    for (const t of tasks.values()) t.abort.abort(new Error(why));
    await Promise.all([...tasks.values()].map((t) => t.done));
    this.tasks.delete(owner);
  }

  /** Drains running for every owner (tests, shutdown). */
  running(): number {
    let n = 0;
    for (const tasks of this.tasks.values())
      for (const t of tasks.values()) if (t.state.state === 'running') n++;
    return n;
  }
}
