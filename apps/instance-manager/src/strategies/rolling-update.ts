// The rollingUpdate strategy: which drifted instances to replace next, and when. Pure.
//
// Unlike the original (which terminated instances and let pods fall where they may), a node is drained
// (node-ops: cordon, PDB-aware evictions) before its instance is terminated. What this plan works from is
// all observable, so a restart continues where it stopped:
//  - a node cordoned by this group (keiko.io/cordoned-by = instance-manager/<ns>/<name>) is in flight: its
//    drain is (re)started or awaited, then its instance terminated — once (the terminate is confirmed
//    against a live read of the group first, by the caller);
//  - availability counts what Kubernetes can use: instances InService whose node is Ready and not cordoned.
//    Pending replacements, terminating instances and in-flight nodes are all unavailable;
//  - the pause after a batch is measured from the RollingUpdate condition's lastTransitionTime (it turns
//    False/Paused when a batch finishes);
//  - a drain that fails (a PodDisruptionBudget still refusing at the drain timeout, a refused pod) gives
//    the node back: it is uncordoned and stays in service, the failure is recorded on the node (so a
//    restart knows), and the rotation goes on with the other nodes. A node that failed once is tried
//    again after every other node; after MAX_DRAIN_ATTEMPTS failures the rotation stops with
//    RollingUpdate=False, reason DrainFailed, naming the nodes and why — never a node left cordoned.
//
// Two ways to bound a batch, as the API has them:
//  - maxUnavailable (eks): at most that many nodes unavailable at once, in flight included;
//  - minInstancesInService + maxBatchSize (eks-cf, the talk's example): at most maxBatchSize in flight,
//    and never fewer than minInstancesInService available.
import type { Condition } from '@keiko/kube-runtime';
import { isTerminatingState } from '@keiko/aws';
import {
  DRAIN_FAILURE_ANNOTATION,
  MAX_DRAIN_ATTEMPTS,
  selectBatch,
  type Candidate,
  type DrainState,
} from '@keiko/node-ops';

export const ROLLING_UPDATE_CONDITION = 'RollingUpdate';

export interface RotationNode {
  name: string;
  ready: boolean;
  /** spec.unschedulable. */
  cordoned: boolean;
  /** Cordoned by this group (the cordoned-by annotation names it). */
  cordonedByUs: boolean;
  /** Failed drains of this node in the current rotation (recorded on the node). */
  drainFailure?: { attempts: number; message: string };
}

export interface RotationInstance {
  id: string;
  /** The instance's Availability Zone. */
  zone?: string;
  /** Epoch ms EC2 launched it: the oldest drifted instances are replaced first. */
  launchedAt?: number;
  /** The Auto Scaling lifecycle state: InService, Pending, Terminating... */
  lifecycleState: string;
  drifted: boolean;
  node?: RotationNode;
}

export interface RotationPolicy {
  mode: 'maxUnavailable' | 'minInService';
  /** maxUnavailable mode: resolved to a count. */
  maxUnavailable: number;
  /** minInService mode. */
  minInstancesInService: number;
  maxBatchSize: number;
  pauseMs: number;
}

export interface RotationInput {
  instances: readonly RotationInstance[];
  desiredCapacity: number;
  policy: RotationPolicy;
  /** Drains known to this process, by node name (none after a restart). */
  drains: ReadonlyMap<string, DrainState>;
  /** Breaks ties in the candidate order reproducibly: the InstanceGroup's uid. */
  seed?: string;
  previous?: Condition;
  now: number;
}

export interface RotationPlan {
  /** Nothing drifted and nothing in flight. */
  done: boolean;
  /** Nodes to cordon (marked as ours) and drain. */
  drain: string[];
  /** Instances to terminate (drained, or never joined). The caller confirms each with a live read. */
  terminate: string[];
  /** Nodes we cordoned whose instance is no longer drifted (the spec went back): give them back. */
  uncordon: string[];
  /** How the RollingUpdate condition should read now. */
  condition: { status: 'True' | 'False'; reason: string; message: string };
  /** Come back this soon to make progress (undefined when done). */
  requeueAfterMs?: number;
  /** Drains that failed just now: record the failure on the node, then give the node back (uncordon). */
  drainFailures: Array<{ node: string; error: string; attempts: number }>;
  /** The rotation cannot finish: nodes whose drains failed MAX_DRAIN_ATTEMPTS times block it. */
  failed?: boolean;
}

const IN_SERVICE = 'InService';

function isAvailable(i: RotationInstance): boolean {
  return i.lifecycleState === IN_SERVICE && !!i.node && i.node.ready && !i.node.cordoned;
}

function asCandidate(i: RotationInstance): Candidate {
  return {
    id: i.id,
    zone: i.zone ?? '',
    unavailable: !i.node || !i.node.ready,
    // chooseCandidates already holds retries back until nothing else is left.
    failedDrains: 0,
    ...(i.launchedAt !== undefined ? { launchedAt: i.launchedAt } : {}),
  };
}

function describe(ids: readonly string[], max = 5): string {
  return ids.length <= max ? ids.join(', ') : `${ids.slice(0, max).join(', ')} (+${ids.length - max} more)`;
}

/** Why the rotation stopped: each node that failed for good and its latest reason. */
function drainFailedCondition(
  driftedCount: number,
  givenUp: readonly RotationInstance[],
  justFailed: RotationPlan['drainFailures'],
): RotationPlan['condition'] {
  const reason = (i: RotationInstance) =>
    justFailed.find((f) => f.node === i.node?.name)?.error ?? i.node?.drainFailure?.message ?? 'drain failed';
  const nodes = describe(
    givenUp.map((i) => `${i.node?.name} (${reason(i)})`),
    3,
  );
  return {
    status: 'False',
    reason: 'DrainFailed',
    message: `${driftedCount} drifted instance(s) left; the drains of ${nodes} failed ${MAX_DRAIN_ATTEMPTS} times; the nodes are back in service. Fix what blocks them (kubectl get pdb -A), then change the group (or remove the ${DRAIN_FAILURE_ANNOTATION} annotation from the nodes) to try again`,
  };
}

/** What the nodes in flight (cordoned by us) need next: drain (again), wait, terminate, or give back. */
function followInFlight(
  inFlight: readonly RotationInstance[],
  drains: ReadonlyMap<string, DrainState>,
): Pick<RotationPlan, 'drain' | 'terminate' | 'drainFailures'> & { progress: string[] } {
  const drain: string[] = [];
  const terminate: string[] = [];
  const drainFailures: RotationPlan['drainFailures'] = [];
  const progress: string[] = [];
  for (const i of inFlight) {
    const node = i.node?.name ?? '';
    const d = drains.get(node);
    if (!d) {
      drain.push(node); // cordoned before a restart: drain again (idempotent)
      progress.push(`${i.id} (draining ${node})`);
    } else if (d.state === 'running') {
      progress.push(`${i.id} (draining ${node})`);
    } else if (d.state === 'succeeded') {
      terminate.push(i.id);
      progress.push(`${i.id} (terminating)`);
    } else {
      const attempts = (i.node?.drainFailure?.attempts ?? 0) + 1;
      drainFailures.push({ node, error: d.message, attempts });
      progress.push(`${i.id} (drain of ${node} failed; node given back)`);
    }
  }
  return { drain, terminate, drainFailures, progress };
}

/**
 * Which drifted nodes may start next: those never tried first; a node whose drain failed once only
 * when nothing else is left (and not the moment it failed); after MAX_DRAIN_ATTEMPTS, none (given up).
 */
function chooseCandidates(
  inService: readonly RotationInstance[],
  inFlight: readonly RotationInstance[],
  justFailed: ReadonlySet<string>,
): {
  candidates: RotationInstance[];
  givenUp: RotationInstance[];
  settledInFlight: RotationInstance[];
  /** Drifted nodes that may still be tried (now or later). */
  waitingCount: number;
} {
  const attemptsOf = (i: RotationInstance) => i.node?.drainFailure?.attempts ?? 0;
  const failedNow = (i: RotationInstance) => justFailed.has(i.node?.name ?? '');
  const waiting = inService.filter((i) => i.drifted && !i.node?.cordonedByUs);
  const fresh = waiting.filter((i) => attemptsOf(i) === 0);
  const retryable = waiting.filter((i) => attemptsOf(i) > 0 && attemptsOf(i) < MAX_DRAIN_ATTEMPTS);
  const givenUp = inService.filter(
    (i) =>
      i.drifted &&
      (attemptsOf(i) >= MAX_DRAIN_ATTEMPTS || (failedNow(i) && attemptsOf(i) + 1 >= MAX_DRAIN_ATTEMPTS)),
  );
  const settledInFlight = inFlight.filter((i) => !failedNow(i));
  const candidates =
    fresh.length > 0 || settledInFlight.length > 0 ? fresh : retryable.filter((i) => !failedNow(i));
  return { candidates, givenUp, settledInFlight, waitingCount: fresh.length + retryable.length };
}

/** Nothing drifted: Complete after a rotation, UpToDate when there was none. */
function upToDate(previous: Condition | undefined): RotationPlan['condition'] {
  const rotated =
    previous?.status === 'True' || previous?.reason === 'Paused' || previous?.reason === 'Complete';
  return {
    status: 'False',
    reason: rotated ? 'Complete' : 'UpToDate',
    message: 'every instance runs the current launch template',
  };
}

/** What one plan observed of the group, counted once. */
interface GroupCounts {
  driftedCount: number;
  availableCount: number;
  /** Desired capacity minus the nodes Kubernetes can use. */
  unavailable: number;
  /** Live instances not InService (launching replacements, Standby...). */
  pending: number;
}

function countGroup(input: RotationInput, live: readonly RotationInstance[]): GroupCounts {
  const availableCount = live.filter(isAvailable).length;
  return {
    driftedCount: live.filter((i) => i.lifecycleState === IN_SERVICE && i.drifted).length,
    availableCount,
    unavailable: Math.max(0, input.desiredCapacity - availableCount),
    pending: live.filter((i) => i.lifecycleState !== IN_SERVICE).length,
  };
}

/**
 * Batches run one after another: when one is over (nothing in flight), wait until every node is back,
 * then pause, then start the next. The condition to hold meanwhile, or undefined when the next batch
 * may start.
 */
function betweenBatches(
  input: RotationInput,
  counts: GroupCounts,
): { condition: RotationPlan['condition']; requeueAfterMs: number } | undefined {
  const { policy, previous } = input;
  if (previous?.status === 'True' && previous.reason === 'InProgress') {
    if (counts.unavailable > 0 || counts.pending > 0)
      return {
        condition: {
          status: 'True',
          reason: 'InProgress',
          message: `${counts.driftedCount} drifted instance(s) left; waiting for replacements (${counts.unavailable} node(s) unavailable)`,
        },
        requeueAfterMs: 5_000,
      };
    if (policy.pauseMs > 0)
      return {
        condition: {
          status: 'False',
          reason: 'Paused',
          message: `batch done; ${counts.driftedCount} drifted instance(s) left; next batch after a pause of ${policy.pauseMs / 1000}s`,
        },
        requeueAfterMs: policy.pauseMs,
      };
  }
  if (previous?.reason === 'Paused' && policy.pauseMs > 0) {
    const since = Date.parse(previous.lastTransitionTime);
    const left = Number.isFinite(since) ? since + policy.pauseMs - input.now : 0;
    if (left > 0)
      return {
        condition: { status: 'False', reason: 'Paused', message: previous.message },
        requeueAfterMs: Math.min(left, 60_000),
      };
  }
  return undefined;
}

/**
 * The engine's selection within the policy's limits: oldest first; instances Kubernetes cannot use
 * anyway (no node, node not Ready) cost no availability and go first.
 */
function nextBatch(
  input: RotationInput,
  candidates: readonly RotationInstance[],
  inFlight: number,
  counts: GroupCounts,
): RotationInstance[] {
  const { policy } = input;
  const batchLimit =
    (policy.mode === 'minInService' ? Math.max(1, policy.maxBatchSize) : Math.max(1, policy.maxUnavailable)) -
    inFlight;
  const availabilityLimit =
    policy.mode === 'minInService'
      ? counts.availableCount - policy.minInstancesInService
      : policy.maxUnavailable - counts.unavailable;
  const byId = new Map(candidates.map((i) => [i.id, i]));
  return selectBatch({
    candidates: candidates.map(asCandidate),
    order: 'oldestFirst',
    seed: input.seed ?? '',
    maxBatch: batchLimit,
    budget: availabilityLimit,
  }).map((c) => byId.get(c.id) as RotationInstance);
}

/** The RollingUpdate condition while a rotation runs: what is replaced, or what it waits for. */
function progressCondition(
  policy: RotationPolicy,
  counts: GroupCounts,
  progress: readonly string[],
  moving: boolean,
): RotationPlan['condition'] {
  const waitingFor = moving
    ? ''
    : policy.mode === 'minInService'
      ? `waiting: ${counts.availableCount} instance(s) available, minInstancesInService is ${policy.minInstancesInService}`
      : `waiting: ${counts.unavailable} node(s) unavailable, maxUnavailable is ${policy.maxUnavailable}`;
  const message = [
    `${counts.driftedCount} drifted instance(s)`,
    progress.length > 0 ? `replacing ${describe(progress)}` : '',
    waitingFor,
  ]
    .filter(Boolean)
    .join('; ');
  return { status: 'True', reason: moving ? 'InProgress' : 'Waiting', message };
}

export function planRotation(input: RotationInput): RotationPlan {
  const live = input.instances.filter((i) => !isTerminatingState(i.lifecycleState));
  const inService = live.filter((i) => i.lifecycleState === IN_SERVICE);
  const uncordon = inService.filter((i) => !i.drifted && i.node?.cordonedByUs).map((i) => i.node?.name ?? '');
  const inFlight = inService.filter((i) => i.drifted && i.node?.cordonedByUs);
  const { drain, terminate, drainFailures, progress } = followInFlight(inFlight, input.drains);
  const justFailed = new Set(drainFailures.map((f) => f.node));
  const { candidates, givenUp, settledInFlight, waitingCount } = chooseCandidates(
    inService,
    inFlight,
    justFailed,
  );
  const counts = countGroup(input, live);
  if (counts.driftedCount === 0)
    return {
      done: true,
      drain: [],
      terminate: [],
      uncordon,
      condition: upToDate(input.previous),
      drainFailures,
    };

  const notDone = (condition: RotationPlan['condition'], requeueAfterMs: number): RotationPlan => ({
    done: false,
    drain,
    terminate,
    uncordon,
    drainFailures,
    condition,
    requeueAfterMs,
  });
  if (givenUp.length > 0 && settledInFlight.length === 0 && waitingCount === 0)
    return {
      ...notDone(drainFailedCondition(counts.driftedCount, givenUp, drainFailures), 300_000),
      failed: true,
    };
  const hold = settledInFlight.length > 0 ? undefined : betweenBatches(input, counts);
  if (hold) return notDone(hold.condition, hold.requeueAfterMs);

  const start = nextBatch(input, candidates, settledInFlight.length, counts);
  for (const i of start) {
    if (i.node) {
      drain.push(i.node.name);
      progress.push(`${i.id} (draining ${i.node.name})`);
    } else {
      terminate.push(i.id);
      progress.push(`${i.id} (no node; terminating)`);
    }
  }
  const moving = start.length > 0 || settledInFlight.length > 0;
  return notDone(progressCondition(input.policy, counts, progress, moving), 5_000);
}
