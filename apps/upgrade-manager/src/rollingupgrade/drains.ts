// Drains run in the background, one task per node, so a drain waiting minutes on a PodDisruptionBudget
// never holds a worker (other RollingUpgrades keep moving). The plan sees each task's state; the
// result stays here until the plan has recorded it in status (forget), so a lost status write loses
// nothing. Memory only: after a restart the status says "drain" and the plan starts the drain again
// (cordon and eviction are idempotent).
import type { KubeClient, Logger } from '@keiko/kube-runtime';
import { AbortedError, DrainError, drainNode } from '@keiko/node-ops';
import type { DrainState } from './plan';

export interface DrainRequest {
  /** The RollingUpgrade's key (namespace/name). */
  owner: string;
  /** The in-flight key. */
  key: string;
  nodeName: string;
  /** keiko.io/cordoned-by value. */
  cordonedBy: string;
  /** 0: no limit. */
  timeoutMs: number;
  /** How often the drain checks that evicted pods are gone. */
  pollIntervalMs: number;
}

interface Task {
  state: DrainState;
  abort: AbortController;
  done: Promise<void>;
}

/** What a finished drain tells the plan, from drainNode's outcome. */
export function drainStateOf(err: unknown): DrainState {
  if (err instanceof DrainError) {
    return {
      state: 'failed',
      reason: err.reasons.join(',') || 'DrainFailed',
      message: err.message,
      pods: [...new Set(err.failures.map((f) => f.pod).filter(Boolean))],
      podDisruptionBudgets: [...new Set(err.failures.flatMap((f) => f.disruptionBudgets))],
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { state: 'failed', reason: 'Error', message, pods: [], podDisruptionBudgets: [] };
}

export class DrainRunner {
  private readonly tasks = new Map<string, Map<string, Task>>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    /** Aborted when the controller stops or loses leadership: every drain stops with it. */
    private readonly signal: () => AbortSignal | undefined,
    /** Called when a drain finishes (the owner's key), to reconcile it at once. */
    private readonly onDone: (owner: string) => void,
  ) {}

  /** The states of the owner's drains, by in-flight key. */
  states(owner: string): Map<string, DrainState> {
    return new Map([...(this.tasks.get(owner) ?? new Map<string, Task>())].map(([k, t]) => [k, t.state]));
  }

  start(req: DrainRequest): void {
    const tasks = this.tasks.get(req.owner) ?? new Map<string, Task>();
    this.tasks.set(req.owner, tasks);
    if (tasks.has(req.key)) return;
    const abort = new AbortController();
    const outer = this.signal();
    const signal = outer ? AbortSignal.any([outer, abort.signal]) : abort.signal;
    const task: Task = { state: { state: 'running' }, abort, done: Promise.resolve() };
    const log = this.log.child?.({ node: req.nodeName, rollingupgrade: req.owner }) ?? this.log;
    task.done = drainNode(this.client, req.nodeName, {
      timeoutMs: req.timeoutMs,
      cordonedBy: req.cordonedBy,
      // As the original upgrade-manager (and kubectl drain --force --ignore-daemonsets
      // --delete-emptydir-data): the instance is terminated next, taking every pod and its local data
      // with it, so refusing to evict them would only turn the drain into a hard kill.
      deleteEmptyDirData: true,
      ignoreDaemonSets: true,
      force: true,
      signal,
      logger: log,
      pollIntervalMs: req.pollIntervalMs,
    })
      .then(
        (result) => {
          task.state = { state: 'succeeded', evicted: result.evicted.length };
          log.info('drain finished', { evicted: result.evicted.length });
        },
        (err: unknown) => {
          if (err instanceof AbortedError || signal.aborted) {
            // Stopped by shutdown or deletion: nothing to record; the status still says "drain".
            tasks.delete(req.key);
            return;
          }
          task.state = drainStateOf(err);
          log.warn('drain failed', { error: err instanceof Error ? err.message : String(err) });
        },
      )
      .finally(() => this.onDone(req.owner));
    tasks.set(req.key, task);
  }

  /** The plan recorded the result: drop it. */
  forget(owner: string, key: string): void {
    const tasks = this.tasks.get(owner);
    const task = tasks?.get(key);
    if (!task || task.state.state === 'running') return;
    tasks?.delete(key);
    if (tasks?.size === 0) this.tasks.delete(owner);
  }

  /** Stops the owner's drains (deletion) and waits until they have. */
  async abortAll(owner: string): Promise<void> {
    const tasks = this.tasks.get(owner);
    if (!tasks) return;
    for (const t of tasks.values()) t.abort.abort(new Error('the RollingUpgrade is being deleted'));
    await Promise.all([...tasks.values()].map((t) => t.done));
    this.tasks.delete(owner);
  }

  /** Drains running anywhere (tests, shutdown). */
  running(): number {
    let n = 0;
    for (const tasks of this.tasks.values())
      for (const t of tasks.values()) if (t.state.state === 'running') n++;
    return n;
  }
}
