import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import {
  isNotFound,
  noopLogger,
  resourcePath,
  ResourceTypes,
  type KubeClient,
  type KubeList,
  type Logger,
  type ResourceType,
} from '@keiko/kube-runtime';
import { AbortedError, sleep, throwIfAborted } from './abort';
import { ConcurrencyLimit } from './concurrency';
import { cordonNode, NodeNotFoundError } from './cordon';
import { formatDuration } from './duration';
import {
  discoverEvictionApiVersion,
  evictPod,
  type EvictionApiVersion,
  type EvictionOutcome,
} from './eviction';
import { matchesLabelSelector } from './labels';
import { assertNodeName, controllerOf, objectKey, timestampMs } from './objects';
import { PodDeletionTracker } from './pod-deletion';
import { listPodsOnNode } from './pods';

/** Set by the kubelet on the API copy ("mirror") of a static pod. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

// ---------------------------------------------------------------------------------------------
// The plan: which pods a drain evicts, which it leaves, which stop it. Pure.
// ---------------------------------------------------------------------------------------------

/** Why a pod stays on the node without stopping the drain. */
export type SkipRule = 'NotOnNode' | 'DeletionTimedOut' | 'Terminated' | 'DaemonSet' | 'MirrorPod';
/** Why a pod stops the drain (nothing is evicted while any pod is refused). */
export type RefuseRule = 'DaemonSet' | 'OrphanedDaemonSet' | 'LocalStorage' | 'Unmanaged';

export interface SkippedPod {
  /** `namespace/name` */
  pod: string;
  rule: SkipRule;
  reason: string;
}

export interface RefusedPod {
  /** `namespace/name` */
  pod: string;
  rules: RefuseRule[];
  reason: string;
}

export interface DrainPlan {
  evict: V1Pod[];
  skipped: SkippedPod[];
  /** Non-empty: the drain must not start. Lists every refusing pod with all its reasons. */
  refused: RefusedPod[];
  /** What evicting will cost that the caller allowed with force/deleteEmptyDirData. */
  warnings: string[];
}

/** The choices of `kubectl drain`'s flags, with the same meaning. */
export interface DrainPolicy {
  /** --delete-emptydir-data: evict pods with emptyDir volumes (their data is lost). */
  deleteEmptyDirData: boolean;
  /** --ignore-daemonsets: leave DaemonSet pods in place; when false, a DaemonSet pod refuses the drain. */
  ignoreDaemonSets: boolean;
  /** --force: evict pods no controller will recreate, and pods of a DaemonSet that no longer exists. */
  force: boolean;
  /** --skip-wait-for-delete-timeout: pods deleting for longer than this are skipped / no longer waited for. 0 or unset: never. */
  skipWaitForDeleteTimeoutSeconds?: number;
}

export interface PlanDrainOptions extends DrainPolicy {
  /** `namespace/name` of DaemonSets that pods on the node reference but that no longer exist. */
  missingDaemonSets?: ReadonlySet<string>;
  /** Now, in ms since the epoch (for deletionTimestamp ages); defaults to Date.now(). */
  now?: number;
}

function emptyDirVolumes(pod: V1Pod): string[] {
  return (pod.spec?.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name);
}

/**
 * Sorts the pods of a node the way `kubectl drain` does, in its order (first matching rule wins):
 *  1. bound to another node (or none) → skipped: never touch what is not on this node;
 *  2. deleting for longer than skipWaitForDeleteTimeoutSeconds → skipped;
 *  3. Succeeded/Failed → skipped: nothing runs, nothing to move (kubectl deletes them; we leave them
 *     to the pod garbage collector);
 *  4. controlled by a DaemonSet → skipped with ignoreDaemonSets, else refused; if the DaemonSet no
 *     longer exists → evicted with force, else refused;
 *  5. mirror pod (annotation kubernetes.io/config.mirror) → skipped: only its kubelet can remove it;
 *  6. has emptyDir volumes → refused unless deleteEmptyDirData;
 *  7. no controller ownerReference → refused unless force;
 *  everything else is evicted. Rules 6 and 7 both apply, so a refused pod lists all its reasons.
 */
export function planDrain(pods: readonly V1Pod[], nodeName: string, opts: PlanDrainOptions): DrainPlan {
  const plan: DrainPlan = { evict: [], skipped: [], refused: [], warnings: [] };
  const now = opts.now ?? Date.now();
  const skipAfterMs = (opts.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000;
  for (const pod of pods) {
    const key = objectKey(pod.metadata);
    const skip = (rule: SkipRule, reason: string): void => {
      plan.skipped.push({ pod: key, rule, reason });
    };

    const boundTo = pod.spec?.nodeName;
    if (boundTo !== nodeName) {
      skip('NotOnNode', boundTo ? `bound to node ${boundTo}, not ${nodeName}` : 'not bound to any node');
      continue;
    }
    const deletingSince = timestampMs(pod.metadata?.deletionTimestamp);
    if (skipAfterMs > 0 && deletingSince !== undefined && now - deletingSince > skipAfterMs) {
      skip('DeletionTimedOut', `deleting for more than ${opts.skipWaitForDeleteTimeoutSeconds}s`);
      continue;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      skip('Terminated', `already ${phase}`);
      continue;
    }
    const controller = controllerOf(pod.metadata);
    if (controller?.kind === 'DaemonSet') {
      const daemonSet = `${pod.metadata?.namespace}/${controller.name}`;
      if (opts.missingDaemonSets?.has(daemonSet)) {
        if (opts.force) {
          plan.evict.push(pod);
          plan.warnings.push(`evicting pod ${key}: its DaemonSet ${daemonSet} no longer exists`);
        } else {
          plan.refused.push({
            pod: key,
            rules: ['OrphanedDaemonSet'],
            reason: `pod ${key} belongs to DaemonSet ${daemonSet}, which no longer exists (force evicts it)`,
          });
        }
      } else if (opts.ignoreDaemonSets) {
        skip('DaemonSet', `managed by DaemonSet ${daemonSet}`);
      } else {
        plan.refused.push({
          pod: key,
          rules: ['DaemonSet'],
          reason: `pod ${key} is managed by DaemonSet ${daemonSet} (ignoreDaemonSets leaves it in place)`,
        });
      }
      continue;
    }
    if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) {
      skip('MirrorPod', 'mirror pod of a static pod; only its kubelet can remove it');
      continue;
    }

    const rules: RefuseRule[] = [];
    const reasons: string[] = [];
    const emptyDirs = emptyDirVolumes(pod);
    if (emptyDirs.length > 0) {
      if (opts.deleteEmptyDirData) {
        plan.warnings.push(
          `evicting pod ${key} deletes the data of its emptyDir volume(s) ${emptyDirs.join(', ')}`,
        );
      } else {
        rules.push('LocalStorage');
        reasons.push(
          `uses emptyDir volume(s) ${emptyDirs.join(', ')} whose data would be lost (deleteEmptyDirData allows it)`,
        );
      }
    }
    if (!controller) {
      if (opts.force) {
        plan.warnings.push(`evicting pod ${key}, which no controller will recreate`);
      } else {
        rules.push('Unmanaged');
        reasons.push('has no controller to recreate it (force evicts it)');
      }
    }
    if (rules.length > 0) {
      plan.refused.push({ pod: key, rules, reason: `pod ${key} ${reasons.join(' and ')}` });
    } else {
      plan.evict.push(pod);
    }
  }
  return plan;
}

/**
 * The PodDisruptionBudgets that guard the pod, as the eviction API picks them: same namespace,
 * selector matching the pod's labels (policy/v1: an empty selector matches every pod).
 */
export function podDisruptionBudgetsFor(
  pod: V1Pod,
  budgets: readonly V1PodDisruptionBudget[],
): V1PodDisruptionBudget[] {
  return budgets.filter(
    (pdb) =>
      pdb.metadata?.namespace === pod.metadata?.namespace &&
      matchesLabelSelector(pdb.spec?.selector, pod.metadata?.labels),
  );
}

// ---------------------------------------------------------------------------------------------
// The drain itself.
// ---------------------------------------------------------------------------------------------

/** How a pod kept a drain from completing. */
export type DrainFailureReason =
  /** planDrain refused the pod; nothing was evicted. */
  | 'Refused'
  /** A PodDisruptionBudget kept refusing the eviction until the timeout. */
  | 'DisruptionBudget'
  /** The eviction kept failing transiently (apiserver errors, throttling) until the timeout. */
  | 'EvictionRetriesExhausted'
  /** The apiserver rejected the eviction for good (forbidden, invalid). */
  | 'EvictionFailed'
  /** Evicted, but the pod was still on the node at the timeout. */
  | 'NotTerminated'
  /** The drain timed out before the pod's eviction was even tried. */
  | 'NotAttempted'
  /** The node does not exist. */
  | 'NodeNotFound';

export interface PodDrainFailure {
  /** `namespace/name`; empty for NodeNotFound. */
  pod: string;
  reason: DrainFailureReason;
  /** `namespace/name` of the PodDisruptionBudgets selecting the pod, when the reason is DisruptionBudget. */
  disruptionBudgets: string[];
  /** One clause of the DrainError message, e.g. `eviction of pod shop/web-7d9 blocked by ...`. */
  message: string;
}

/**
 * A drain that did not complete. The message names every pod that stopped it and why, e.g.
 * `drain node ip-10-0-1-5: eviction of pod shop/web-7d9 blocked by PodDisruptionBudget shop/web-pdb for 5m0s`.
 */
export class DrainError extends Error {
  constructor(
    readonly nodeName: string,
    readonly failures: PodDrainFailure[],
    /** Pods evicted (and gone) before the drain stopped. */
    readonly evicted: string[],
  ) {
    super(`drain node ${nodeName}: ${failures.map((f) => f.message).join('; ')}`);
    this.name = 'DrainError';
  }

  /** The failures' reasons, deduplicated — a compact condition reason for callers. */
  get reasons(): DrainFailureReason[] {
    return [...new Set(this.failures.map((f) => f.reason))];
  }
}

/** What drainNode reports as it goes, for events and status updates. */
export type DrainProgress =
  | { type: 'Planned'; nodeName: string; evict: string[]; skipped: SkippedPod[]; warnings: string[] }
  | { type: 'Evicting'; pod: string }
  | { type: 'EvictionBlocked'; pod: string; disruptionBudgets: string[]; message: string }
  | { type: 'Evicted'; pod: string }
  | { type: 'PodGone'; pod: string };

export interface DrainOptions extends DrainPolicy {
  /**
   * How long the whole drain may take (cordon, evictions, waiting for pods to go). A value <= 0 or
   * Infinity waits forever, like kubectl's --timeout=0.
   */
  timeoutMs: number;
  /** Overrides each pod's terminationGracePeriodSeconds; unset keeps the pod's own (kubectl's -1). */
  gracePeriodSeconds?: number;
  /** Value of the keiko.io/cordoned-by annotation when this drain is what cordons the node. */
  cordonedBy?: string;
  /** Stops the drain promptly; drainNode then rejects with an AbortedError. */
  signal?: AbortSignal;
  logger?: Logger;
  onProgress?: (event: DrainProgress) => void;
  /** Eviction requests in flight at once (default 10). */
  maxConcurrentEvictions?: number;
  /** Pause before retrying an eviction a PDB or the apiserver refused (default 5s, as kubectl). */
  evictionRetryIntervalMs?: number;
  /** How often to check that evicted pods are gone (default 1s, as kubectl). */
  pollIntervalMs?: number;
}

export interface DrainResult {
  nodeName: string;
  /** `namespace/name` of every pod evicted and gone from the node. */
  evicted: string[];
  skipped: SkippedPod[];
  warnings: string[];
}

const DaemonSetType: ResourceType = {
  group: 'apps',
  version: 'v1',
  plural: 'daemonsets',
  kind: 'DaemonSet',
  namespaced: true,
};
const PodDisruptionBudgetV1beta1: ResourceType = { ...ResourceTypes.PodDisruptionBudget, version: 'v1beta1' };

// A later pass only finds pods that arrived while the drain ran (bound just before the cordon, or
// created with spec.nodeName, which bypasses the scheduler and so the cordon). Bounded, so a
// controller that keeps pinning pods to the node cannot keep the drain busy forever.
const MAX_PASSES = 5;

type PodOutcome = { ok: true; pod: string } | { ok: false; failure: PodDrainFailure };

/**
 * Cordons the node, then evicts its pods through the Eviction API, as `kubectl drain` does: pods are
 * sorted by planDrain (a refused pod stops the drain before anything is evicted); evictions run
 * concurrently (at most maxConcurrentEvictions requests at a time); an eviction a PodDisruptionBudget
 * refuses is retried every evictionRetryIntervalMs; each evicted pod is then waited for until no pod
 * with its uid is on the node. Everything shares one deadline, timeoutMs from the call.
 *
 * Resolves when every evictable pod is gone. Rejects with a DrainError naming each pod that kept the
 * drain from completing (and, for a PDB, the budget), or an AbortedError when the signal fires.
 * A failed drain leaves the node cordoned, as kubectl does.
 */
export async function drainNode(
  client: KubeClient,
  nodeName: string,
  opts: DrainOptions,
): Promise<DrainResult> {
  return new NodeDrain(client, nodeName, opts).run();
}

/** One drain of one node: its settings, what it has learnt (Eviction version, caches) and its result. */
class NodeDrain {
  private readonly what: string;
  private readonly started = Date.now();
  private readonly deadline: number;
  private readonly logger: Logger;
  private readonly retryIntervalMs: number;
  /** Our own controller too: whatever way the drain exits, work it started stops with it. */
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;
  private readonly limit: ConcurrencyLimit;
  private readonly daemonSetExists = new Map<string, Promise<boolean>>();
  private readonly budgetsByNamespace = new Map<string, Promise<V1PodDisruptionBudget[]>>();
  private readonly seen = new Set<string>();
  private readonly result: DrainResult;
  private evictionVersion: EvictionApiVersion = 'policy/v1';
  private tracker!: PodDeletionTracker;

  constructor(
    private readonly client: KubeClient,
    private readonly nodeName: string,
    private readonly opts: DrainOptions,
  ) {
    this.what = `drain node ${nodeName}`;
    assertNodeName(nodeName, this.what);
    this.deadline =
      opts.timeoutMs > 0 && Number.isFinite(opts.timeoutMs) ? this.started + opts.timeoutMs : Infinity;
    this.logger = opts.logger?.child?.({ node: nodeName }) ?? opts.logger ?? noopLogger;
    this.retryIntervalMs = opts.evictionRetryIntervalMs ?? 5000;
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.stop.signal]) : this.stop.signal;
    this.limit = new ConcurrencyLimit(opts.maxConcurrentEvictions ?? 10);
    this.result = { nodeName, evicted: [], skipped: [], warnings: [] };
  }

  async run(): Promise<DrainResult> {
    try {
      throwIfAborted(this.opts.signal, this.what);
      await this.cordon();
      this.evictionVersion = (await discoverEvictionApiVersion(this.client, this.signal)) ?? 'policy/v1';
      this.tracker = new PodDeletionTracker(this.client, this.nodeName, {
        pollIntervalMs: this.opts.pollIntervalMs ?? 1000,
        signal: this.signal,
        skipWaitForDeleteTimeoutSeconds: this.opts.skipWaitForDeleteTimeoutSeconds,
        logger: this.logger,
      });
      for (let pass = 1; ; pass++) if (!(await this.pass(pass))) break;
      this.logger.info('drained node', {
        evicted: this.result.evicted.length,
        skipped: this.result.skipped.length,
        tookMs: Date.now() - this.started,
      });
      return this.result;
    } catch (err) {
      // Whatever failed, an abort by the caller is what they should see.
      if (this.opts.signal?.aborted && !(err instanceof DrainError)) throw this.aborted();
      if (err instanceof DrainError || err instanceof AbortedError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(message.startsWith(this.what) ? message : `${this.what}: ${message}`, { cause: err });
    } finally {
      this.stop.abort();
    }
  }

  private progress(event: DrainProgress): void {
    try {
      this.opts.onProgress?.(event);
    } catch (err) {
      this.logger.warn('drain progress callback failed', { error: String(err) });
    }
  }

  private aborted(): AbortedError {
    return new AbortedError(`${this.what}: aborted`, { cause: this.opts.signal?.reason });
  }

  private async cordon(): Promise<void> {
    try {
      const { changed } = await cordonNode(this.client, this.nodeName, { by: this.opts.cordonedBy });
      if (changed) this.logger.info('cordoned node', { cordonedBy: this.opts.cordonedBy });
    } catch (err) {
      if (err instanceof NodeNotFoundError) {
        throw new DrainError(
          this.nodeName,
          [{ pod: '', reason: 'NodeNotFound', disruptionBudgets: [], message: 'node not found' }],
          [],
        );
      }
      throw err;
    }
  }

  /**
   * One pass: the pods on the node not seen before, planned (skipped, refused, to evict) and evicted.
   * Returns whether another pass is needed (pods may arrive while the drain runs).
   */
  private async pass(pass: number): Promise<boolean> {
    const pods = (await listPodsOnNode(this.client, this.nodeName, { signal: this.signal })).filter(
      (p) => !this.seen.has(p.metadata?.uid ?? objectKey(p.metadata)),
    );
    for (const p of pods) this.seen.add(p.metadata?.uid ?? objectKey(p.metadata));
    const missingDaemonSets = await this.missingDaemonSets(pods);
    if (this.signal.aborted) throw this.aborted();

    const plan = planDrain(pods, this.nodeName, { ...policyOf(this.opts), missingDaemonSets });
    this.result.skipped.push(...plan.skipped);
    this.result.warnings.push(...plan.warnings);
    for (const warning of plan.warnings) this.logger.warn(warning);
    if (plan.refused.length > 0) {
      throw new DrainError(
        this.nodeName,
        plan.refused.map((r) => ({
          pod: r.pod,
          reason: 'Refused',
          disruptionBudgets: [],
          message: r.reason,
        })),
        this.result.evicted,
      );
    }
    if (pass === 1) {
      this.progress({
        type: 'Planned',
        nodeName: this.nodeName,
        evict: plan.evict.map((p) => objectKey(p.metadata)),
        skipped: plan.skipped,
        warnings: plan.warnings,
      });
      this.logger.info('draining node', { evict: plan.evict.length, skipped: plan.skipped.length });
    }
    if (plan.evict.length === 0) return false;
    if (pass > MAX_PASSES) {
      throw new DrainError(
        this.nodeName,
        plan.evict.map((p) => ({
          pod: objectKey(p.metadata),
          reason: 'NotAttempted',
          disruptionBudgets: [],
          message: `pod ${objectKey(p.metadata)} arrived on the node after ${MAX_PASSES} drain passes (is something pinning pods to it with spec.nodeName?)`,
        })),
        this.result.evicted,
      );
    }
    if (pass > 1)
      this.logger.info('more pods arrived during the drain; evicting them too', {
        pass,
        evict: plan.evict.length,
      });

    const outcomes = await Promise.all(plan.evict.map((p) => this.drainPod(p)));
    const failures: PodDrainFailure[] = [];
    for (const outcome of outcomes) {
      if (outcome.ok) this.result.evicted.push(outcome.pod);
      else failures.push(outcome.failure);
    }
    if (this.signal.aborted) throw this.aborted();
    if (failures.length > 0) throw new DrainError(this.nodeName, failures, this.result.evicted);
    return true;
  }

  /** DaemonSets (of running pods) that no longer exist: their pods are orphans, evicted only with force. */
  private async missingDaemonSets(pods: V1Pod[]): Promise<Set<string>> {
    const missing = new Set<string>();
    await Promise.all(
      pods.map(async (p) => {
        const controller = controllerOf(p.metadata);
        const phase = p.status?.phase;
        if (controller?.kind !== 'DaemonSet' || phase === 'Succeeded' || phase === 'Failed') return;
        const namespace = p.metadata?.namespace ?? '';
        if (!(await this.lookUpDaemonSet(namespace, controller.name)))
          missing.add(`${namespace}/${controller.name}`);
      }),
    );
    return missing;
  }

  private lookUpDaemonSet(namespace: string, name: string): Promise<boolean> {
    const key = `${namespace}/${name}`;
    let found = this.daemonSetExists.get(key);
    if (!found) {
      found = this.client
        .request('GET', resourcePath(DaemonSetType, namespace, name), { signal: this.signal })
        .then(() => true)
        .catch((err: unknown) => {
          if (isNotFound(err)) return false;
          // Unknown is treated as present: the pod is then skipped or refused, never evicted on a guess.
          this.logger.warn('cannot read DaemonSet; treating it as present', {
            daemonSet: key,
            error: String(err),
          });
          return true;
        });
      this.daemonSetExists.set(key, found);
    }
    return found;
  }

  private async budgetsSelecting(pod: V1Pod): Promise<string[]> {
    const namespace = pod.metadata?.namespace ?? '';
    let budgets = this.budgetsByNamespace.get(namespace);
    if (!budgets) {
      budgets = listBudgets(this.client, namespace, this.evictionVersion, this.signal).catch(
        (err: unknown) => {
          this.logger.warn('cannot list PodDisruptionBudgets', { namespace, error: String(err) });
          return [];
        },
      );
      this.budgetsByNamespace.set(namespace, budgets);
    }
    return podDisruptionBudgetsFor(pod, await budgets).map((pdb) => objectKey(pdb.metadata));
  }

  /** Evicts one pod (retrying while refused, until the deadline), then waits until it is gone. */
  private async drainPod(pod: V1Pod): Promise<PodOutcome> {
    const key = objectKey(pod.metadata);
    this.progress({ type: 'Evicting', pod: key });
    this.logger.info('evicting pod', { pod: key });
    const evicted = await this.evictUntilAccepted(pod, key);
    if (evicted !== 'Evicted') return evicted;

    this.progress({ type: 'Evicted', pod: key });
    const gone = await this.tracker.waitGone(pod, this.deadline);
    if (gone === 'TimedOut') {
      return podFailure(
        key,
        'NotTerminated',
        `pod ${key} was evicted but still on the node after ${formatDuration(Date.now() - this.started)}`,
      );
    }
    if (gone === 'DeletionTimedOut') {
      this.result.warnings.push(
        `pod ${key} still deleting after skipWaitForDeleteTimeoutSeconds; not waiting for it`,
      );
    }
    this.progress({ type: 'PodGone', pod: key });
    this.logger.info('pod evicted', { pod: key });
    return { ok: true, pod: key };
  }

  /** Asks for the eviction until it is accepted ('Evicted'), the pod is gone, or it fails for good. */
  private async evictUntilAccepted(pod: V1Pod, key: string): Promise<PodOutcome | 'Evicted'> {
    let blockedSince: number | undefined;
    let lastRefusal: Refusal | undefined;
    for (;;) {
      if (this.signal.aborted) throw this.aborted();
      if (Date.now() >= this.deadline) return this.timedOut(key, lastRefusal, blockedSince);
      const { outcome, version } = await this.evictOnce(pod);
      if (outcome.kind === 'Evicted') return 'Evicted';
      if (outcome.kind === 'Gone') {
        this.progress({ type: 'PodGone', pod: key });
        return { ok: true, pod: key };
      }
      if (outcome.kind === 'Unsupported') {
        if (version === 'policy/v1') continue;
        return podFailure(key, 'EvictionFailed', `eviction of pod ${key} failed: ${outcome.message}`);
      }
      if (outcome.kind === 'Failed')
        return podFailure(key, 'EvictionFailed', `eviction of pod ${key} failed: ${outcome.message}`);

      const firstRefusal = blockedSince === undefined;
      blockedSince ??= Date.now();
      lastRefusal = await this.refused(pod, key, outcome, firstRefusal);
      await sleep(
        Math.min(this.retryIntervalMs, Math.max(0, this.deadline - Date.now())),
        this.signal,
        this.what,
      );
    }
  }

  /** One Eviction request; switches the whole drain to policy/v1beta1 on an apiserver that needs it. */
  private evictOnce(pod: V1Pod): Promise<{ outcome: EvictionOutcome; version: EvictionApiVersion }> {
    return this.limit.run(async () => {
      // Read and switch the version while holding the slot, so the next request already uses what
      // this one learnt.
      const sentVersion = this.evictionVersion;
      const answer = await evictPod(this.client, pod, {
        version: sentVersion,
        gracePeriodSeconds: this.opts.gracePeriodSeconds,
        signal: this.signal,
        timeoutMs: Math.max(1000, Math.min(30_000, this.deadline - Date.now())),
      });
      if (
        answer.kind === 'Unsupported' &&
        sentVersion === 'policy/v1' &&
        this.evictionVersion === 'policy/v1'
      ) {
        // An older apiserver (< 1.22) only takes policy/v1beta1 Evictions; switch the whole drain.
        this.logger.info('policy/v1 Eviction not served; using policy/v1beta1', { reason: answer.message });
        this.evictionVersion = 'policy/v1beta1';
      }
      return { outcome: answer, version: sentVersion };
    }, this.signal);
  }

  /** A refused eviction (a budget, or the apiserver): remembered for the timeout's message, reported. */
  private async refused(
    pod: V1Pod,
    key: string,
    outcome: Extract<EvictionOutcome, { kind: 'Blocked' | 'Retry' }>,
    firstRefusal: boolean,
  ): Promise<Refusal> {
    if (outcome.kind !== 'Blocked') {
      (firstRefusal ? this.logger.warn : this.logger.debug).call(this.logger, 'eviction failed, will retry', {
        pod: key,
        error: outcome.message,
      });
      return { message: outcome.message, budgets: [], multipleBudgets: false, byBudget: false };
    }
    const budgets = await this.budgetsSelecting(pod);
    const named = budgets.length > 0 ? budgets : budgetNamedIn(pod, outcome.budgetCause);
    this.progress({
      type: 'EvictionBlocked',
      pod: key,
      disruptionBudgets: named,
      message: outcome.budgetCause ?? outcome.message,
    });
    // Said once at info; the retries every few seconds only at debug.
    (firstRefusal ? this.logger.info : this.logger.debug).call(
      this.logger,
      'eviction blocked by PodDisruptionBudget, will retry',
      { pod: key, disruptionBudgets: named, message: outcome.budgetCause ?? outcome.message },
    );
    return {
      message: outcome.message,
      budgetCause: outcome.budgetCause,
      budgets: named,
      multipleBudgets: outcome.multipleBudgets,
      // A 429 without a DisruptionBudget cause and no PDB selecting the pod is apiserver throttling,
      // not a budget.
      byBudget: named.length > 0 || outcome.budgetCause !== undefined || outcome.multipleBudgets,
    };
  }

  /** The deadline passed: why this pod is not out, naming the budget that blocked it if one did. */
  private timedOut(
    key: string,
    lastRefusal: Refusal | undefined,
    blockedSince: number | undefined,
  ): PodOutcome {
    if (!lastRefusal)
      return podFailure(key, 'NotAttempted', `pod ${key} was not evicted before the drain timed out`);
    const blockedFor = formatDuration(Date.now() - (blockedSince ?? this.started));
    if (lastRefusal.byBudget)
      return podFailure(
        key,
        'DisruptionBudget',
        budgetMessage(key, lastRefusal, blockedFor),
        lastRefusal.budgets,
      );
    return podFailure(
      key,
      'EvictionRetriesExhausted',
      `eviction of pod ${key} not accepted for ${blockedFor}: ${lastRefusal.message}`,
    );
  }
}

function podFailure(
  pod: string,
  reason: DrainFailureReason,
  message: string,
  disruptionBudgets: string[] = [],
): PodOutcome {
  return { ok: false, failure: { pod, reason, disruptionBudgets, message } };
}

function policyOf(opts: DrainOptions): DrainPolicy {
  return {
    deleteEmptyDirData: opts.deleteEmptyDirData,
    ignoreDaemonSets: opts.ignoreDaemonSets,
    force: opts.force,
    skipWaitForDeleteTimeoutSeconds: opts.skipWaitForDeleteTimeoutSeconds,
  };
}

async function listBudgets(
  client: KubeClient,
  namespace: string,
  evictionVersion: EvictionApiVersion,
  signal: AbortSignal,
): Promise<V1PodDisruptionBudget[]> {
  // Clusters that only serve policy/v1beta1 Evictions predate policy/v1 PDBs as well.
  const type =
    evictionVersion === 'policy/v1' ? ResourceTypes.PodDisruptionBudget : PodDisruptionBudgetV1beta1;
  const list = await client.request<KubeList<V1PodDisruptionBudget>>('GET', resourcePath(type, namespace), {
    signal,
  });
  return list.items.map((pdb) => ({
    ...pdb,
    metadata: { ...pdb.metadata, namespace: pdb.metadata?.namespace ?? namespace },
  }));
}

/** The PDB the apiserver's 429 cause names ("The disruption budget web-pdb needs ..."), when listing them failed. */
function budgetNamedIn(pod: V1Pod, cause: string | undefined): string[] {
  const name = cause?.match(/disruption budget (\S+) /)?.[1];
  return name ? [`${pod.metadata?.namespace}/${name}`] : [];
}

/** The last reason an eviction was turned away, kept for the timeout message. */
interface Refusal {
  message: string;
  budgetCause?: string;
  budgets: string[];
  multipleBudgets: boolean;
  byBudget: boolean;
}

function budgetMessage(pod: string, refusal: Refusal, blockedFor: string): string {
  const budgets = refusal.budgets;
  if (refusal.multipleBudgets) {
    return `eviction of pod ${pod} blocked for ${blockedFor}: it is selected by more than one PodDisruptionBudget (${budgets.join(', ')}), which the eviction API does not support`;
  }
  const named = budgets.length === 0 ? 'a PodDisruptionBudget' : `PodDisruptionBudget ${budgets.join(', ')}`;
  const health = refusal.budgetCause?.match(/needs (\d+) healthy pods and has (\d+) currently/);
  const detail = health
    ? ` (needs ${health[1]} healthy pods, has ${health[2]})`
    : refusal.budgetCause
      ? ` (${refusal.budgetCause})`
      : '';
  return `eviction of pod ${pod} blocked by ${named} for ${blockedFor}${detail}`;
}
