// Every decision of the RollingUpgrade controller, as pure functions of what was observed: the
// RollingUpgrade (its spec and the progress recorded in its status), a snapshot of the Auto Scaling
// group, the nodes, the state of drains this process runs, and the time. controller.ts does the I/O:
// it writes the status a decision returns BEFORE it performs the decision's actions, so whatever it
// was about to do is on record when a restart or a new leader picks the upgrade up.
import type { PlannedEvent } from '@keiko/kube-runtime';
import {
  metadataTimestamp,
  nodesInProcessing,
  resolveRollingUpgrade,
  RollingUpgradeScriptFields,
  validateRollingUpgrade,
  type Condition,
  type NodeInProcessing,
  type ResolvedRollingUpgrade,
  type RollingUpgrade,
  type RollingUpgradeStatus,
  type RollingUpgradeStep,
  type UpgradeStrategyType,
} from '@keiko/api';
import {
  instanceDrift,
  isSymbolicVersion,
  isTerminatingState,
  type GroupInstance,
  type LaunchTemplateSpec,
  type ResolvedLaunchTemplateVersion,
  type ScalingGroup,
} from '@keiko/aws';
import { setCondition, type Condition as RuntimeCondition, type ConditionInput } from '@keiko/kube-runtime';
import {
  budgetNodes,
  cordonedBy,
  instanceIdOfNode,
  isCordoned,
  isNodeReady,
  MAX_DRAIN_ATTEMPTS,
  planAllBatches,
  selectBatch,
  unmetReadinessGates,
  type Candidate,
  type CandidateOrder,
  type DrainState,
  type FailedDrain,
} from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import { formatGoDuration, parseGoDurationMs } from './durations';
import { scriptAttempt, scriptStateKey, type ScriptPhase, type ScriptState } from './scripts';

// ---------------------------------------------------------------------------------------------------
// Inputs and outputs
// ---------------------------------------------------------------------------------------------------

/** What EC2 says about how an instance was launched; immutable for the instance's life. */
export interface InstanceLaunch {
  /** RFC 3339. */
  launchTime?: string;
  /** From the aws:ec2launchtemplate:id / :version tags EC2 puts on an instance launched from a template. */
  launchTemplate?: { id: string; version?: string };
}

export interface ScalingGroupSnapshot {
  group: ScalingGroup;
  /** The group's $Latest/$Default template references resolved to numbers (see launchTemplatesToResolve). */
  resolved: readonly ResolvedLaunchTemplateVersion[];
  /** By instance id; instances EC2 has not described (yet) are absent. */
  launches: ReadonlyMap<string, InstanceLaunch>;
}

export interface PlanOptions {
  /** The value of the keiko.io/cordoned-by annotation this upgrade writes: `upgrade-manager/<ns>/<name>`. */
  owner: string;
  /** The controller's --dry-run flag. */
  dryRunFlag: boolean;
  /** How soon to look again while waiting on AWS or on nodes. */
  pollIntervalMs: number;
}

export interface PlanInput extends PlanOptions {
  /** With schema defaults applied. */
  ru: RollingUpgrade;
  snapshot: ScalingGroupSnapshot;
  nodes: readonly V1Node[];
  drains: ReadonlyMap<string, DrainState>;
  /** The script Jobs of the in-flight nodes, by scriptStateKey(key, phase); absent: no Job (yet). */
  scripts: ReadonlyMap<string, ScriptState>;
  now: Date;
}

export type Action =
  /** Cordon (annotated with the owner) and drain the node, in the background. */
  | { type: 'drain'; key: string; nodeName: string; instanceId: string; timeoutMs: number }
  /** The drain's result has been recorded in status; drop it from memory. */
  | { type: 'forgetDrain'; key: string }
  /** Uncordon the node if (and only if) this upgrade cordoned it. */
  | { type: 'uncordon'; nodeName: string }
  /** Terminate through the group, after confirming with a fresh describe that the instance is still InService. */
  | { type: 'terminate'; key: string; instanceId: string; decrementDesired: boolean }
  /** eager mode: raise the group's desired capacity to this absolute value. */
  | { type: 'setDesiredCapacity'; desiredCapacity: number }
  /** Create the script's Job (idempotent: its name is a function of the upgrade, node, phase and attempt). */
  | {
      type: 'runScript';
      key: string;
      phase: ScriptPhase;
      nodeName?: string;
      instanceId: string;
      script: string;
      attempt: number;
    };

export type { PlannedEvent };

export interface StepTransition {
  /** The in-flight key (node name, or instance id for an instance without a node). */
  node: string;
  from: RollingUpgradeStep;
  to: RollingUpgradeStep;
  seconds: number;
}

export interface Decision {
  /** The status to write before any action runs (unchanged when nothing is to be recorded). */
  status: RollingUpgradeStatus;
  actions: Action[];
  /** Emitted once the status is written. */
  events: PlannedEvent[];
  /** For the step-duration metric, once the status is written. */
  transitions: StepTransition[];
  /** Look again after this long (undefined: only when something changes). */
  requeueAfterMs?: number;
  /** Nodes whose batch completed in this decision (the nodes-processed metric). */
  nodesCompleted: number;
  /** Drains that failed in this decision (the drain-failures metric). */
  drainFailures: number;
}

// ---------------------------------------------------------------------------------------------------
// Names, constants, small helpers
// ---------------------------------------------------------------------------------------------------

export const FINALIZER = 'upgrademgr.keikoproj.io/finalizer';

/** Who an upgrade cordons nodes as (the keiko.io/cordoned-by annotation). */
export function ownerId(ru: { metadata?: { namespace?: string; name?: string } }): string {
  return `upgrade-manager/${ru.metadata?.namespace ?? ''}/${ru.metadata?.name ?? ''}`;
}

export function isTerminal(ru: Pick<RollingUpgrade, 'status'>): boolean {
  const s = ru.status?.currentStatus;
  return s === 'completed' || s === 'error';
}

const STEP_ORDER: readonly RollingUpgradeStep[] = [
  'kickoff',
  'desired_node_ready',
  'predrain_script',
  'drain',
  'postdrain_script',
  'post_wait',
  'terminate',
  'post_terminate',
  'completed',
];

/** Steps at which the instance may already be terminated: the node is never uncordoned from here on. */
export function isAtOrPastTerminate(step: RollingUpgradeStep | undefined): boolean {
  return STEP_ORDER.indexOf(step ?? 'kickoff') >= STEP_ORDER.indexOf('terminate');
}

/** RFC 3339 with milliseconds, for per-node step times. */
const isoMs = (d: Date): string => d.toISOString();
/** RFC 3339 to the second, as the original wrote startTime/endTime. */
const isoS = (d: Date): string => `${d.toISOString().slice(0, 19)}Z`;

function timeMs(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

function withCondition(status: RollingUpgradeStatus, input: ConditionInput, now: Date): void {
  status.conditions = setCondition(
    status.conditions as RuntimeCondition[] | undefined,
    input,
    now,
  ) as Condition[];
}

function nodeName(node: V1Node): string {
  return node.metadata?.name ?? '';
}

// ---------------------------------------------------------------------------------------------------
// maxUnavailable
// ---------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------
// Drift
// ---------------------------------------------------------------------------------------------------

export interface DriftFinding {
  drifted: boolean;
  /** One line for events and logs. */
  detail: string;
}

/** The version a template spec of the group means, as a number, using the resolutions; undefined if unknown. */
function wantedVersionNumber(
  spec: LaunchTemplateSpec,
  resolved: readonly ResolvedLaunchTemplateVersion[],
): { id?: string; version?: number } {
  const hit = resolved.find(
    (r) => (spec.id && r.id === spec.id) || (spec.name && r.name.toLowerCase() === spec.name.toLowerCase()),
  );
  const id = spec.id ?? hit?.id;
  if (!isSymbolicVersion(spec.version)) {
    const n = Number(spec.version);
    return { id, version: Number.isInteger(n) ? n : undefined };
  }
  return { id, version: hit?.version };
}

/**
 * Drift as EC2 recorded it at launch: the aws:ec2launchtemplate:version tag against the version the
 * group wants from that same template. On AWS it agrees with the group's own per-instance view; it is
 * checked as well because an instance view that reports the template's current default for every
 * instance (as the moto emulator does) would otherwise hide every drifted instance. Only a template the
 * group uses is compared — a template change itself is the group view's to judge.
 */
export function launchTagDrift(
  group: ScalingGroup,
  instanceId: string,
  launch: InstanceLaunch | undefined,
  resolved: readonly ResolvedLaunchTemplateVersion[],
): DriftFinding | undefined {
  const tag = launch?.launchTemplate;
  if (!tag?.version || group.launchConfigurationName) return undefined;
  const specs: LaunchTemplateSpec[] = group.launchTemplate
    ? [group.launchTemplate]
    : group.mixedInstancesPolicy
      ? [
          group.mixedInstancesPolicy.launchTemplate,
          ...group.mixedInstancesPolicy.overrides.flatMap((o) =>
            o.launchTemplate ? [o.launchTemplate] : [],
          ),
        ]
      : [];
  for (const spec of specs) {
    const wanted = wantedVersionNumber(spec, resolved);
    if (wanted.id !== tag.id || wanted.version === undefined) continue;
    const has = Number(tag.version);
    if (has !== wanted.version) {
      return {
        drifted: true,
        detail: `instance ${instanceId} was launched from ${spec.name ?? tag.id} version ${tag.version}; group ${group.name} wants version ${wanted.version}`,
      };
    }
    return {
      drifted: false,
      detail: `instance ${instanceId} was launched from ${spec.name ?? tag.id} version ${tag.version}`,
    };
  }
  return undefined;
}

/**
 * Whether the instance must be replaced: the group launches something else now (packages/aws
 * instanceDrift: launch configuration, template, version, mixed policy), or EC2's launch tag says it
 * runs another version of the group's template, or — with forceRefresh — it was launched before the
 * upgrade started. Terminating instances are never drifted. Throws (from instanceDrift) when a
 * $Latest/$Default template was not resolved: deciding on a guess would replace nodes for nothing.
 */
export function instanceDriftFinding(
  ru: RollingUpgrade,
  group: ScalingGroup,
  instance: GroupInstance,
  resolved: readonly ResolvedLaunchTemplateVersion[],
  launch: InstanceLaunch | undefined,
  startTime: string | undefined,
): DriftFinding {
  if (isTerminatingState(instance.lifecycleState))
    return { drifted: false, detail: `instance ${instance.id} is ${instance.lifecycleState}` };
  const verdict = instanceDrift(group, instance, [...resolved]);
  if (verdict.drifted) return { drifted: true, detail: verdict.detail };
  const tag = launchTagDrift(group, instance.id, launch, resolved);
  if (tag?.drifted) return tag;
  if (ru.spec.forceRefresh) {
    const launched = timeMs(launch?.launchTime);
    const started = timeMs(startTime);
    if (launched !== undefined && started !== undefined && launched < started) {
      return {
        drifted: true,
        detail: `instance ${instance.id} launched ${launch?.launchTime}, before the upgrade started (forceRefresh)`,
      };
    }
  }
  return { drifted: false, detail: verdict.detail };
}

// ---------------------------------------------------------------------------------------------------
// The group as the plan sees it
// ---------------------------------------------------------------------------------------------------

export interface InstanceView {
  instance: GroupInstance;
  id: string;
  zone: string;
  /** The node whose providerID names the instance; undefined when none (or more than one) does. */
  node?: V1Node;
  /** More than one node claims the instance: it is never touched. */
  ambiguous: boolean;
  inService: boolean;
  terminating: boolean;
  drifted: boolean;
  driftDetail: string;
  /** InService, with a Ready, schedulable node. */
  available: boolean;
  /** Why it is not available, for messages. */
  unavailableReason?: string;
}

export interface GroupView {
  group: ScalingGroup;
  instances: InstanceView[];
  byId: Map<string, InstanceView>;
}

export function buildGroupView(
  ru: RollingUpgrade,
  snapshot: ScalingGroupSnapshot,
  nodes: readonly V1Node[],
  startTime: string | undefined,
): GroupView {
  const claims = new Map<string, V1Node[]>();
  for (const node of nodes) {
    const id = instanceIdOfNode(node);
    if (!id) continue;
    const list = claims.get(id) ?? [];
    list.push(node);
    claims.set(id, list);
  }
  const instances = snapshot.group.instances.map((instance): InstanceView => {
    const claimed = claims.get(instance.id) ?? [];
    const node = claimed.length === 1 ? claimed[0] : undefined;
    const terminating = isTerminatingState(instance.lifecycleState);
    const inService = instance.lifecycleState === 'InService';
    const finding = instanceDriftFinding(
      ru,
      snapshot.group,
      instance,
      snapshot.resolved,
      snapshot.launches.get(instance.id),
      startTime,
    );
    let unavailableReason: string | undefined;
    if (!inService) unavailableReason = `instance ${instance.id} is ${instance.lifecycleState}`;
    else if (claimed.length > 1)
      unavailableReason = `nodes ${claimed.map(nodeName).join(', ')} all claim instance ${instance.id}`;
    else if (!node) unavailableReason = `instance ${instance.id} has no node`;
    else if (!isNodeReady(node)) unavailableReason = `node ${nodeName(node)} is NotReady`;
    else if (isCordoned(node))
      unavailableReason = `node ${nodeName(node)} is cordoned${cordonedBy(node) ? ` by ${cordonedBy(node)}` : ''}`;
    return {
      instance,
      id: instance.id,
      zone: instance.availabilityZone,
      node,
      ambiguous: claimed.length > 1,
      inService,
      terminating,
      drifted: finding.drifted,
      driftDetail: finding.detail,
      available: unavailableReason === undefined,
      unavailableReason,
    };
  });
  return { group: snapshot.group, instances, byId: new Map(instances.map((i) => [i.id, i])) };
}

/** InService instances whose node is Ready and carries every readiness gate label. */
export function readyInServiceCount(
  view: GroupView,
  gates: RollingUpgrade['spec']['readinessGates'],
): number {
  return view.instances.filter(
    (i) =>
      i.inService && i.node && isNodeReady(i.node) && unmetReadinessGates(i.node, gates ?? []).length === 0,
  ).length;
}

// ---------------------------------------------------------------------------------------------------
// Batch selection: the engine's (node-ops), in the order the upgrade's strategy names
// ---------------------------------------------------------------------------------------------------

/** randomUpdate and uniformAcrossAzUpdate, as the engine's candidate orders. */
export function candidateOrder(strategy: UpgradeStrategyType): CandidateOrder {
  return strategy === 'uniformAcrossAzUpdate' ? 'uniformAcrossAz' : 'random';
}

// ---------------------------------------------------------------------------------------------------
// One RollingUpgrade per group
// ---------------------------------------------------------------------------------------------------

export function scalingGroupKey(ru: Pick<RollingUpgrade, 'spec'>, defaultRegion: string): string {
  return `${ru.spec.region || defaultRegion}/${ru.spec.asgName}`;
}

function contendsForGroup(ru: RollingUpgrade, dryRunFlag: boolean, finalizer: string): boolean {
  if (dryRunFlag || isTerminal(ru)) return false;
  // A dry run never acts, so it neither holds the group nor waits for it.
  if (ru.spec.dryRun && !ru.status?.startTime) return false;
  // Being deleted: it still holds the group until its cleanup (uncordons) is done, if it ever started.
  if (metadataTimestamp(ru, 'deletionTimestamp') && !(ru.metadata.finalizers ?? []).includes(finalizer))
    return false;
  return validateRollingUpgrade(ru).length === 0;
}

/**
 * Which RollingUpgrade may act on `me`'s group now: among those that are not finished (nor dry runs,
 * nor invalid) and name the same group and region, the oldest by creationTimestamp (ties: namespace/
 * name). Undefined when `me` does not contend (it is a dry run, finished or invalid).
 */
export function scalingGroupHolder(
  all: readonly RollingUpgrade[],
  me: RollingUpgrade,
  defaultRegion: string,
  dryRunFlag: boolean,
): RollingUpgrade | undefined {
  const key = scalingGroupKey(me, defaultRegion);
  const contenders = all.filter(
    (r) => scalingGroupKey(r, defaultRegion) === key && contendsForGroup(r, dryRunFlag, FINALIZER),
  );
  const mine = contenders.some(
    (r) =>
      r.metadata.uid === me.metadata.uid &&
      r.metadata.name === me.metadata.name &&
      r.metadata.namespace === me.metadata.namespace,
  );
  if (!mine && !contendsForGroup(me, dryRunFlag, FINALIZER)) return undefined;
  if (!mine) contenders.push(me);
  const created = (r: RollingUpgrade) =>
    timeMs(metadataTimestamp(r, 'creationTimestamp')) ?? Number.MAX_SAFE_INTEGER;
  const id = (r: RollingUpgrade) => `${r.metadata.namespace}/${r.metadata.name}`;
  contenders.sort((a, b) => created(a) - created(b) || id(a).localeCompare(id(b)));
  return contenders[0];
}

// ---------------------------------------------------------------------------------------------------
// Deletion and stray cordons
// ---------------------------------------------------------------------------------------------------

/**
 * Nodes to uncordon when the upgrade is deleted: every node this upgrade cordoned (its annotation names
 * the owner) except those recorded at terminate or later — their instances may already be gone.
 */
export function nodesToUncordonOnDelete(
  status: RollingUpgradeStatus | undefined,
  nodes: readonly V1Node[],
  owner: string,
): string[] {
  const inFlight = nodesInProcessing(status);
  const terminating = new Set(
    Object.entries(inFlight)
      .filter(([, r]) => isAtOrPastTerminate(r.stepName))
      .map(([key, r]) => r.nodeName ?? key),
  );
  return nodes
    .filter((n) => cordonedBy(n) === owner && !terminating.has(nodeName(n)))
    .map(nodeName)
    .sort();
}

/** Nodes cordoned by this upgrade that it no longer works on, whose instances are still in service. */
export function strayCordons(
  inFlight: Record<string, NodeInProcessing>,
  view: GroupView,
  owner: string,
): string[] {
  const tracked = new Set(Object.entries(inFlight).map(([key, r]) => r.nodeName ?? key));
  return view.instances
    .filter((i) => i.node && !i.terminating && cordonedBy(i.node) === owner && !tracked.has(nodeName(i.node)))
    .map((i) => nodeName(i.node as V1Node))
    .sort();
}

// ---------------------------------------------------------------------------------------------------
// Terminate: the engine confirms each against live state (@keiko/aws terminateConfirmed); this records it
// ---------------------------------------------------------------------------------------------------

/**
 * The status after the terminate step ran: the node moves to post_terminate, with lastTerminationTime
 * when this process terminated it. Returns undefined when the node is not (any more) at terminate.
 */
export function recordTermination(
  status: RollingUpgradeStatus,
  key: string,
  outcome: 'terminated' | 'gone',
  now: Date,
): { status: RollingUpgradeStatus; transition: StepTransition } | undefined {
  const next = structuredClone(status);
  const inFlight = { ...nodesInProcessing(next) };
  const rec = inFlight[key];
  if (!rec || rec.stepName !== 'terminate') return undefined;
  const acc: Accumulator = { statistics: next.statistics ?? [], transitions: [] };
  inFlight[key] = moveTo(rec, key, 'post_terminate', now, acc);
  next.inProcessingNodes = inFlight;
  delete next.nodeInProcessing;
  next.statistics = acc.statistics;
  if (outcome === 'terminated') next.lastTerminationTime = isoMs(now);
  return { status: next, transition: acc.transitions[0] as StepTransition };
}

// ---------------------------------------------------------------------------------------------------
// Step bookkeeping
// ---------------------------------------------------------------------------------------------------

type Statistic = NonNullable<RollingUpgradeStatus['statistics']>[number];

interface Accumulator {
  statistics: Statistic[];
  transitions: StepTransition[];
}

export function addStatistic(
  statistics: readonly Statistic[],
  step: NonNullable<Statistic['stepName']>,
  ms: number,
): Statistic[] {
  const out = statistics.map((s) => ({ ...s }));
  const existing = out.find((s) => s.stepName === step);
  if (existing) {
    existing.durationSum = formatGoDuration(parseGoDurationMs(existing.durationSum) + ms);
    existing.durationCount = (existing.durationCount ?? 0) + 1;
  } else {
    out.push({ stepName: step, durationSum: formatGoDuration(ms), durationCount: 1 });
  }
  return out;
}

function moveTo(
  rec: NodeInProcessing,
  key: string,
  to: RollingUpgradeStep,
  now: Date,
  acc: Accumulator,
): NodeInProcessing {
  const from = rec.stepName ?? 'kickoff';
  const since = timeMs(rec.stepStartTime) ?? timeMs(rec.upgradeStartTime) ?? now.getTime();
  const ms = Math.max(0, now.getTime() - since);
  acc.statistics = addStatistic(acc.statistics, from, ms);
  acc.transitions.push({ node: key, from, to, seconds: ms / 1000 });
  if (to === 'completed') {
    const started = timeMs(rec.upgradeStartTime) ?? now.getTime();
    acc.statistics = addStatistic(acc.statistics, 'total', Math.max(0, now.getTime() - started));
  }
  return { ...rec, stepName: to, stepStartTime: isoMs(now), stepEndTime: isoMs(now) };
}

function percentage(processed: number, total: number): string {
  if (total <= 0) return '100%';
  return `${Math.min(100, Math.round((processed / total) * 100))}%`;
}

// ---------------------------------------------------------------------------------------------------
// The decision
// ---------------------------------------------------------------------------------------------------

function candidatesOf(
  view: GroupView,
  inFlight: Record<string, NodeInProcessing>,
  status: RollingUpgradeStatus,
): { selectable: Candidate[]; exhausted: InstanceView[]; blocked: InstanceView[] } {
  const busy = new Set(Object.values(inFlight).map((r) => r.instanceID));
  const attempts = new Map((status.drainFailures ?? []).map((f) => [f.instanceID ?? '', f.attempts ?? 1]));
  const selectable: Candidate[] = [];
  const exhausted: InstanceView[] = [];
  const blocked: InstanceView[] = [];
  for (const i of view.instances) {
    if (!i.drifted || busy.has(i.id)) continue;
    if (!i.inService || i.ambiguous) {
      blocked.push(i);
      continue;
    }
    const failed = attempts.get(i.id) ?? 0;
    if (failed >= MAX_DRAIN_ATTEMPTS) exhausted.push(i);
    else selectable.push({ id: i.id, zone: i.zone, unavailable: !i.available, failedDrains: failed });
  }
  return { selectable, exhausted, blocked };
}

/** Nodes of the group unavailable for reasons other than this upgrade's batch. */
function unavailableOthers(
  view: GroupView,
  inFlight: Record<string, NodeInProcessing>,
): { count: number; reasons: string[] } {
  const busy = new Set(Object.values(inFlight).map((r) => r.instanceID));
  const live = view.instances.filter((i) => !i.terminating);
  const reasons = live.filter((i) => !busy.has(i.id) && !i.available).map((i) => i.unavailableReason ?? i.id);
  const missing = Math.max(0, view.group.desiredCapacity - live.length);
  if (missing > 0)
    reasons.push(`${missing} instance(s) short of desired capacity ${view.group.desiredCapacity}`);
  return { count: reasons.length - (missing > 0 ? 1 : 0) + missing, reasons };
}

function displayName(i: { node?: V1Node; id: string }): string {
  return i.node ? nodeName(i.node) : i.id;
}

/**
 * The next step of the upgrade: how the status changes (recorded first), what to do, what to say.
 * Called with a status that is running or about to start; terminal, deleted, invalid and waiting
 * upgrades are handled before (see the controller).
 */
export function decide(input: PlanInput): Decision {
  const { ru, now } = input;
  const status: RollingUpgradeStatus = structuredClone(ru.status ?? {});
  const decision: Decision = {
    status,
    actions: [],
    events: [],
    transitions: [],
    nodesCompleted: 0,
    drainFailures: 0,
  };
  const wait = (ms: number) => {
    decision.requeueAfterMs =
      decision.requeueAfterMs === undefined ? ms : Math.min(decision.requeueAfterMs, ms);
  };
  const generation = ru.metadata.generation;
  const condition = (type: string, s: 'True' | 'False', reason: string, message: string) =>
    withCondition(status, { type, status: s, reason, message, observedGeneration: generation }, now);

  const spec = resolveRollingUpgrade(ru.spec);
  const strategy = spec.strategy;
  const started = Boolean(status.startTime);
  const dryRun = input.dryRunFlag || (spec.dryRun && !started);
  const view = buildGroupView(ru, input.snapshot, input.nodes, status.startTime ?? isoS(now));
  const maxUnavailable = budgetNodes(strategy.maxUnavailable, view.group.desiredCapacity);

  if (dryRun) return decideDryRun(input, decision, view, maxUnavailable, strategy.type, condition);
  // spec.dryRun set after the upgrade started is ignored (documented): stopping half way would leave
  // nodes cordoned; deleting the RollingUpgrade is the way to stop it cleanly.
  markRunning(
    status,
    decision,
    view,
    now,
    `at most ${maxUnavailable} at a time (${strategy.type}, ${strategy.mode})`,
  );

  const inFlight: Record<string, NodeInProcessing> = { ...nodesInProcessing(status) };
  const ctx: DecideContext = {
    input,
    ru,
    spec,
    now,
    decision,
    status,
    view,
    inFlight,
    acc: { statistics: status.statistics ?? [], transitions: decision.transitions },
    gates: spec.readinessGates,
    eager: strategy.mode === 'eager',
    surge: status.surge,
    readyCount: readyInServiceCount(view, spec.readinessGates),
    postDrainWaitMs: spec.postDrainWaitSeconds * 1000,
    // 0: no limit (asked for with a negative drainTimeout).
    drainTimeoutMs: (strategy.drainTimeoutSeconds ?? 0) * 1000,
    progress: [],
    scriptFailures: [],
    wait,
    condition,
  };
  reapplySurge(ctx);
  for (const key of Object.keys(inFlight).sort()) advanceNode(ctx, key);
  status.statistics = ctx.acc.statistics;
  status.inProcessingNodes = inFlight;
  delete status.nodeInProcessing;
  if (ctx.scriptFailures.length > 0) return failOnScripts(ctx);
  const uncordoning = uncordonStrays(ctx);

  const { selectable, exhausted, blocked } = candidatesOf(view, inFlight, status);
  const processed = status.nodesProcessed ?? 0;
  status.totalNodes = Math.max(
    status.totalNodes ?? 0,
    processed + Object.keys(inFlight).length + selectable.length + exhausted.length + blocked.length,
  );
  if (!closeBatchIfDone(ctx)) {
    status.completePercentage = percentage(processed, status.totalNodes);
    return reportInFlight(ctx);
  }

  // Nothing in flight: finished, failed, waiting, or the next batch. A node being uncordoned right now
  // still looks cordoned in this snapshot; choose the next batch once that is done and observed.
  if (uncordoning.size > 0) {
    wait(0);
    return decision;
  }
  if (selectable.length === 0) return finishOrWait(ctx, blocked, exhausted);
  if (waitNodeInterval(ctx)) return decision;
  return startBatch(ctx, selectable, maxUnavailable, strategy.type);
}

/** The first decision of an upgrade starts it; every later one keeps it running. */
function markRunning(
  status: RollingUpgradeStatus,
  decision: Decision,
  view: GroupView,
  now: Date,
  limits: string,
): void {
  if (!status.startTime) {
    status.startTime = isoS(now);
    const groupSize = view.instances.filter((i) => !i.terminating).length;
    decision.events.push({
      type: 'Normal',
      reason: 'Started',
      message: `rotating drifted instances of ${view.group.name}: ${view.instances.filter((i) => i.drifted).length} of ${groupSize}, ${limits}`,
    });
  }
  status.currentStatus = 'running';
  delete status.plan;
}

/**
 * eager: the surge recorded for this batch, raised once. Desired capacity is an absolute value, and
 * it is only (re)applied while no node of the batch has got as far as being drained.
 */
function reapplySurge(c: DecideContext): void {
  const surge = c.surge;
  if (!surge || surge.added <= 0) return;
  const target = surge.baseDesired + surge.added;
  const anyPastWaiting = Object.values(c.inFlight).some(
    (r) => !['kickoff', 'desired_node_ready'].includes(r.stepName ?? 'kickoff'),
  );
  if (!anyPastWaiting && c.view.group.desiredCapacity < target)
    c.decision.actions.push({
      type: 'setDesiredCapacity',
      desiredCapacity: Math.min(target, c.view.group.maxSize),
    });
}

/** Nodes this upgrade cordoned that no record holds (a crash between cordon and record): given back. */
function uncordonStrays(c: DecideContext): Set<string> {
  const uncordoning = new Set(c.decision.actions.flatMap((a) => (a.type === 'uncordon' ? [a.nodeName] : [])));
  for (const stray of strayCordons(c.inFlight, c.view, c.input.owner)) {
    if (!uncordoning.has(stray)) c.decision.actions.push({ type: 'uncordon', nodeName: stray });
    uncordoning.add(stray);
  }
  return uncordoning;
}

/**
 * The batch is done when every node of it is: count it, clear the record, start the interval — and
 * go on to what comes next on the same snapshot (the batch's old instances are gone from it, its
 * replacements Ready in it). True when nothing is in flight any more.
 */
function closeBatchIfDone(c: DecideContext): boolean {
  const keys = Object.keys(c.inFlight);
  const status = c.status;
  if (keys.length === 0) {
    status.completePercentage = percentage(status.nodesProcessed ?? 0, status.totalNodes ?? 0);
    return true;
  }
  if (!keys.every((k) => c.inFlight[k]?.stepName === 'completed')) return false;
  status.nodesProcessed = (status.nodesProcessed ?? 0) + keys.length;
  status.completePercentage = percentage(status.nodesProcessed, status.totalNodes ?? 0);
  status.inProcessingNodes = {};
  status.lastBatchEndTime = isoMs(c.now);
  delete status.surge;
  c.decision.nodesCompleted = keys.length;
  c.decision.events.push({
    type: 'Normal',
    reason: 'BatchCompleted',
    message: `replaced ${keys.join(', ')}; ${status.nodesProcessed}/${status.totalNodes} nodes done`,
  });
  c.condition(
    'Progressing',
    'True',
    'BatchCompleted',
    `${status.nodesProcessed}/${status.totalNodes} nodes replaced`,
  );
  return true;
}

/** A batch in flight: say where each node is; look again when something is due. */
function reportInFlight(c: DecideContext): Decision {
  c.condition(
    'Progressing',
    'True',
    'RotatingNodes',
    c.progress.length
      ? c.progress.join('; ')
      : `batch: ${Object.keys(c.inFlight)
          .map((k) => `${k} (${c.inFlight[k]?.stepName})`)
          .join(', ')}`,
  );
  // A finished drain requeues by itself; the poll is a safety net for everything else.
  if (c.decision.requeueAfterMs === undefined) {
    const draining = Object.values(c.inFlight).some((r) => r.stepName === 'drain');
    c.wait(draining ? Math.max(30_000, c.input.pollIntervalMs) : c.input.pollIntervalMs);
  }
  return c.decision;
}

/** nodeIntervalSeconds between batches: true while it runs. */
function waitNodeInterval(c: DecideContext): boolean {
  const intervalMs = c.spec.nodeIntervalSeconds * 1000;
  const lastEnd = timeMs(c.status.lastBatchEndTime);
  if (lastEnd === undefined || c.now.getTime() - lastEnd >= intervalMs) return false;
  const left = lastEnd + intervalMs - c.now.getTime();
  c.condition(
    'Progressing',
    'True',
    'WaitingNodeInterval',
    `next batch in ${Math.ceil(left / 1000)}s (nodeIntervalSeconds ${c.spec.nodeIntervalSeconds})`,
  );
  c.wait(left);
  return true;
}

interface ScriptFailure {
  key: string;
  node?: string;
  phase: ScriptPhase;
  job: string;
  reason: string;
  message: string;
}

/** What one decision shares while it steps each in-flight node. */
interface DecideContext {
  input: PlanInput;
  ru: RollingUpgrade;
  /** The spec, resolved once: what the decision reads instead of ru.spec. */
  spec: ResolvedRollingUpgrade;
  now: Date;
  decision: Decision;
  status: RollingUpgradeStatus;
  view: GroupView;
  inFlight: Record<string, NodeInProcessing>;
  acc: Accumulator;
  gates: NonNullable<RollingUpgrade['spec']['readinessGates']>;
  eager: boolean;
  surge: RollingUpgradeStatus['surge'];
  readyCount: number;
  postDrainWaitMs: number;
  drainTimeoutMs: number;
  progress: string[];
  /** Scripts whose Job failed in this decision: the upgrade stops (failOnScripts). */
  scriptFailures: ScriptFailure[];
  wait: (ms: number) => void;
  condition: (type: string, s: 'True' | 'False', reason: string, message: string) => void;
}

/** A failed drain: recorded, the node uncordoned and left in service; the upgrade goes on, retrying it last. */
function onDrainFailed(
  c: DecideContext,
  key: string,
  rec: NodeInProcessing,
  node: string,
  d: FailedDrain,
): void {
  // Record the failure, leave the node in service, and go on with the others; it is retried last.
  c.acc.statistics = addStatistic(
    c.acc.statistics,
    'drain',
    Math.max(0, c.now.getTime() - (timeMs(rec.stepStartTime) ?? c.now.getTime())),
  );
  delete c.inFlight[key];
  const failures = (c.status.drainFailures ?? []).filter((f) => f.instanceID !== rec.instanceID);
  const previous = (c.status.drainFailures ?? []).find((f) => f.instanceID === rec.instanceID);
  const attempts = (previous?.attempts ?? 0) + 1;
  failures.push({
    nodeName: node,
    instanceID: rec.instanceID,
    reason: d.reason,
    message: d.message,
    pods: d.pods,
    podDisruptionBudgets: d.podDisruptionBudgets,
    attempts,
    lastFailureTime: isoMs(c.now),
  });
  c.status.drainFailures = failures;
  c.decision.actions.push({ type: 'uncordon', nodeName: node });
  c.decision.events.push({
    type: 'Warning',
    reason: 'DrainFailed',
    message: `${d.message}; node ${node} uncordoned and left in service${attempts < MAX_DRAIN_ATTEMPTS ? ', will retry it after the other nodes' : ''}`,
  });
}

/** Nothing left to start: wait for instances that cannot be rotated yet, fail on drains that failed twice, or complete. */
function finishOrWait(
  c: DecideContext,
  blocked: readonly InstanceView[],
  exhausted: readonly InstanceView[],
): Decision {
  if (blocked.length > 0) {
    c.condition(
      'Progressing',
      'False',
      'WaitingForInstances',
      `drifted instances that cannot be rotated yet: ${blocked.map((i) => i.unavailableReason ?? i.id).join('; ')}`,
    );
    c.wait(c.input.pollIntervalMs);
    return c.decision;
  }
  if (exhausted.length > 0) {
    const messages = (c.status.drainFailures ?? [])
      .filter((f) => exhausted.some((i) => i.id === f.instanceID))
      .map((f) => f.message ?? `drain of ${f.nodeName} failed`);
    const message = `drain failed twice for ${exhausted.map(displayName).join(', ')}: ${messages.join('; ')}`;
    return failUpgrade(c, 'DrainFailed', message);
  }
  c.status.currentStatus = 'completed';
  c.status.endTime = isoS(c.now);
  c.status.totalProcessingTime = formatGoDuration(
    c.now.getTime() - (timeMs(c.status.startTime) ?? c.now.getTime()),
  );
  c.status.completePercentage = '100%';
  c.status.totalNodes = Math.max(c.status.totalNodes ?? 0, c.status.nodesProcessed ?? 0);
  c.status.nodesProcessed = c.status.nodesProcessed ?? 0;
  c.condition(
    'Complete',
    'True',
    'Completed',
    `all ${c.status.nodesProcessed} drifted node(s) of ${c.view.group.name} replaced`,
  );
  c.condition('Progressing', 'False', 'Completed', 'nothing left to rotate');
  c.decision.events.push({
    type: 'Normal',
    reason: 'Completed',
    message: `upgrade of ${c.view.group.name} completed: ${c.status.nodesProcessed} node(s) replaced in ${c.status.totalProcessingTime}`,
  });
  return c.decision;
}

/** The upgrade stops in error: currentStatus, endTime, Complete=False/<reason>, a Warning Failed event. */
function failUpgrade(c: DecideContext, reason: string, message: string): Decision {
  c.status.currentStatus = 'error';
  c.status.endTime = isoS(c.now);
  c.status.totalProcessingTime = formatGoDuration(
    c.now.getTime() - (timeMs(c.status.startTime) ?? c.now.getTime()),
  );
  c.condition('Complete', 'False', reason, message);
  c.condition('Progressing', 'False', 'Failed', message);
  c.decision.events.push({
    type: 'Warning',
    reason: 'Failed',
    message: `upgrade of ${c.view.group.name} failed: ${message}`,
  });
  return c.decision;
}

/**
 * A script failed: the upgrade stops. Nothing new starts (this decision's drains and scripts are
 * dropped; the controller stops the drains running); every in-flight node not yet at terminate is
 * uncordoned (if this upgrade cordoned it) and left in service; a node already recorded at terminate is
 * terminated as recorded. A Warning ScriptFailed event names each Job, its phase and its reason.
 */
function failOnScripts(c: DecideContext): Decision {
  const lines = c.scriptFailures.map(
    (f) =>
      `${f.phase} script (${RollingUpgradeScriptFields[f.phase]}) of node ${f.node ?? f.key} failed: Job ${f.job}: ${f.reason}: ${f.message}`,
  );
  c.decision.actions = c.decision.actions.filter((a) => a.type === 'terminate' || a.type === 'forgetDrain');
  const uncordon = [
    ...Object.values(c.inFlight)
      .filter((r) => r.nodeName && !isAtOrPastTerminate(r.stepName))
      .map((r) => r.nodeName as string),
    ...strayCordons(c.inFlight, c.view, c.input.owner),
  ];
  for (const nodeName of uncordon) c.decision.actions.push({ type: 'uncordon', nodeName });
  for (const line of lines)
    c.decision.events.push({
      type: 'Warning',
      reason: 'ScriptFailed',
      message: `${line}; the upgrade stops${uncordon.length ? `, ${uncordon.join(', ')} uncordoned and left in service` : ''}`,
    });
  c.decision.requeueAfterMs = undefined;
  return failUpgrade(c, 'ScriptFailed', lines.join('; '));
}

/** Starts the next batch (within the budget, surging first in eager mode), or waits when there is no room. */
function startBatch(
  c: DecideContext,
  selectable: readonly Candidate[],
  maxUnavailable: number,
  strategyType: UpgradeStrategyType,
): Decision {
  const others = unavailableOthers(c.view, c.inFlight);
  let batchLimit = maxUnavailable;
  let added = 0;
  if (c.eager) {
    const room = c.view.group.maxSize - c.view.group.desiredCapacity;
    if (room > 0) batchLimit = Math.min(maxUnavailable, room);
    else
      c.decision.events.push({
        type: 'Warning',
        reason: 'NoRoomForSurge',
        message: `group ${c.view.group.name} is at maxSize ${c.view.group.maxSize}: this batch runs without c.surge (as lazy)`,
      });
  }
  const batch = selectBatch({
    candidates: selectable,
    order: candidateOrder(strategyType),
    maxBatch: batchLimit,
    budget: batchLimit - others.count,
    seed: c.ru.metadata.uid ?? c.ru.metadata.name ?? '',
  });
  if (batch.length === 0) {
    c.condition(
      'Progressing',
      'False',
      'NodesUnavailable',
      `maxUnavailable ${maxUnavailable} leaves no room: ${others.count} node(s) of ${c.view.group.name} unavailable for other reasons (${others.reasons.join('; ')}); waiting`,
    );
    c.wait(c.input.pollIntervalMs);
    return c.decision;
  }
  if (c.eager && c.view.group.maxSize - c.view.group.desiredCapacity > 0) added = batch.length;

  const next: Record<string, NodeInProcessing> = {};
  for (const candidate of batch) {
    const inst = c.view.byId.get(candidate.id) as InstanceView;
    const key = inst.node ? nodeName(inst.node) : inst.id;
    next[key] = {
      nodeName: inst.node ? nodeName(inst.node) : undefined,
      instanceID: inst.id,
      stepName: 'kickoff',
      upgradeStartTime: isoMs(c.now),
      stepStartTime: isoMs(c.now),
    };
    if (!inst.node) delete next[key]?.nodeName;
  }
  c.status.inProcessingNodes = next;
  c.status.lastBatchNodes = Object.keys(next);
  if (c.eager && added > 0) c.status.surge = { baseDesired: c.view.group.desiredCapacity, added };
  else delete c.status.surge;
  const names = Object.keys(next).join(', ');
  c.decision.events.push({
    type: 'Normal',
    reason: 'BatchStarted',
    message: `rotating ${names}${added > 0 ? ` after adding ${added} instance(s) to ${c.view.group.name}` : ''}`,
  });
  c.condition('Progressing', 'True', 'RotatingNodes', `batch: ${names}`);
  c.wait(0);
  return c.decision;
}

/** One in-flight node while a decision steps it: its record, its instance and what it may do next. */
interface NodeStep {
  c: DecideContext;
  key: string;
  rec: NodeInProcessing;
  step: RollingUpgradeStep;
  /** The instance left the group or is on its way out. */
  gone: boolean;
  node: string | undefined;
  move(to: RollingUpgradeStep): void;
  /** Asks for a terminate (again after a restart: the controller confirms against a fresh describe). */
  terminate(): void;
  /** Drains the node, or terminates an instance without one. */
  startDrainOrTerminate(): void;
}

function nodeStep(c: DecideContext, key: string): NodeStep {
  const rec = c.inFlight[key] as NodeInProcessing;
  const inst = rec.instanceID ? c.view.byId.get(rec.instanceID) : undefined;
  const n: NodeStep = {
    c,
    key,
    rec,
    step: rec.stepName ?? 'kickoff',
    gone: !inst || inst.terminating,
    node: rec.nodeName,
    move: (to) => {
      c.inFlight[key] = moveTo(c.inFlight[key] as NodeInProcessing, key, to, c.now, c.acc);
    },
    terminate: () =>
      c.decision.actions.push({
        type: 'terminate',
        key,
        instanceId: rec.instanceID ?? '',
        decrementDesired: (c.surge?.added ?? 0) > 0,
      }),
    startDrainOrTerminate: () => {
      if (!n.node) {
        n.move('terminate');
        n.terminate();
      } else if (c.spec.scripts.preDrain) {
        n.move('predrain_script');
        preDrainScript(n);
      } else {
        n.move('drain');
        drainAction(n, n.node);
      }
    },
  };
  return n;
}

/** The drain action carries the resolved timeout (the plan's values, never the raw spec's). */
function drainAction(n: NodeStep, nodeName: string): void {
  n.c.decision.actions.push({
    type: 'drain',
    key: n.key,
    nodeName,
    instanceId: n.rec.instanceID ?? '',
    timeoutMs: n.c.drainTimeoutMs,
  });
}

/** Steps one in-flight node as far as it can go now (its recorded step, the group, the node, its drain). */
function advanceNode(c: DecideContext, key: string): void {
  const n = nodeStep(c, key);
  if (!isAtOrPastTerminate(n.step) && n.gone) return skipToPostTerminate(n);
  switch (n.step) {
    case 'kickoff':
      if (c.eager && (c.surge?.added ?? 0) > 0) n.move('desired_node_ready');
      else n.startDrainOrTerminate();
      break;
    case 'desired_node_ready': {
      const target = (c.surge?.baseDesired ?? 0) + (c.surge?.added ?? 0);
      if (!c.surge || c.readyCount >= target) n.startDrainOrTerminate();
      else {
        c.progress.push(`${key} waiting for ${target - c.readyCount} new node(s) to be Ready`);
        c.wait(c.input.pollIntervalMs);
      }
      break;
    }
    case 'predrain_script':
      return preDrainScript(n);
    case 'drain':
      return followDrain(n);
    case 'postdrain_script':
      return postDrainScript(n);
    case 'post_wait':
      return afterDrainWait(n);
    case 'terminate':
      // Recorded but maybe not done (a restart): the controller confirms against a fresh describe.
      return n.terminate();
    case 'post_terminate':
      return awaitReplacement(n);
    case 'completed':
      break;
  }
}

/** The instance left the group before this upgrade terminated it: never terminate it. */
function skipToPostTerminate(n: NodeStep): void {
  const { c } = n;
  if (c.input.drains.has(n.key)) c.decision.actions.push({ type: 'forgetDrain', key: n.key });
  n.move('post_terminate');
  c.decision.events.push({
    type: 'Normal',
    reason: 'InstanceGone',
    message: `instance ${n.rec.instanceID} (node ${n.node ?? 'none'}) left group ${c.view.group.name} before it was terminated; not terminating it`,
  });
}

/**
 * Whether the phase's script lets the node go on: true when it has none or its Job succeeded. Otherwise
 * it asks for the Job (none yet) or waits for it, or — the Job failed — records the failure, which stops
 * the upgrade (failOnScripts).
 */
function scriptPassed(n: NodeStep, phase: ScriptPhase): boolean {
  const { c, key, rec } = n;
  const script = c.spec.scripts[phase];
  if (!script) return true;
  const s = c.input.scripts.get(scriptStateKey(key, phase));
  if (s?.state === 'succeeded') return true;
  if (s?.state === 'failed') {
    c.scriptFailures.push({ key, node: n.node, phase, job: s.job, reason: s.reason, message: s.message });
    return false;
  }
  if (!s)
    c.decision.actions.push({
      type: 'runScript',
      key,
      phase,
      ...(n.node ? { nodeName: n.node } : {}),
      instanceId: rec.instanceID ?? '',
      script,
      attempt: scriptAttempt(c.status, rec.instanceID),
    });
  c.progress.push(`${key} running its ${phase} script${s ? ` (Job ${s.job})` : ''}`);
  c.wait(c.input.pollIntervalMs);
  return false;
}

/** The event of a script that succeeded (none when the phase has no script). */
function scriptSucceeded(n: NodeStep, phase: ScriptPhase): void {
  const s = n.c.input.scripts.get(scriptStateKey(n.key, phase));
  if (!n.c.spec.scripts[phase] || !s) return;
  n.c.decision.events.push({
    type: 'Normal',
    reason: 'ScriptSucceeded',
    message: `${phase} script of node ${n.node ?? n.rec.instanceID} succeeded (Job ${s.job})`,
  });
}

/** predrain_script: the preDrain script, then the drain. */
function preDrainScript(n: NodeStep): void {
  if (!n.node) return n.startDrainOrTerminate();
  if (!scriptPassed(n, 'preDrain')) return;
  scriptSucceeded(n, 'preDrain');
  n.move('drain');
  drainAction(n, n.node);
}

/** drain: (re)start the drain, wait for it, or record its outcome. */
function followDrain(n: NodeStep): void {
  const { c, key, rec, node } = n;
  const d = c.input.drains.get(key);
  if (!node) return n.startDrainOrTerminate();
  if (!d) {
    // Recorded as draining but no drain runs here (a restart, a new leader): start it again.
    // Cordon and eviction are idempotent; pods already gone are simply not found.
    if (n.step !== 'drain') n.move('drain');
    drainAction(n, node);
    c.progress.push(`${key} draining`);
  } else if (d.state === 'running') {
    c.progress.push(`${key} draining`);
  } else if (d.state === 'succeeded') {
    drained(
      n,
      'Normal',
      'NodeDrained',
      `drained node ${node} (instance ${rec.instanceID}): ${d.evicted} pod(s) evicted`,
    );
  } else {
    c.decision.drainFailures++;
    if (c.spec.ignoreDrainFailures)
      drained(
        n,
        'Warning',
        'DrainFailed',
        `${d.message}; ignoreDrainFailures is set: terminating instance ${rec.instanceID} anyway`,
      );
    else {
      c.decision.actions.push({ type: 'forgetDrain', key });
      onDrainFailed(c, key, rec, node, d);
    }
  }
}

/** The drain is over (or its failure ignored): on to the postDrain script, or the post-drain wait. */
function drained(n: NodeStep, type: 'Normal' | 'Warning', reason: string, message: string): void {
  const { c } = n;
  c.status.lastDrainTime = isoMs(c.now);
  c.decision.actions.push({ type: 'forgetDrain', key: n.key });
  c.decision.events.push({ type, reason, message });
  if (!c.spec.scripts.postDrain) return startPostWait(n);
  n.move('postdrain_script');
  postDrainScript(n);
}

/** postdrain_script: the postDrain script, then the post-drain wait. */
function postDrainScript(n: NodeStep): void {
  if (!scriptPassed(n, 'postDrain')) return;
  scriptSucceeded(n, 'postDrain');
  startPostWait(n);
}

function startPostWait(n: NodeStep): void {
  n.move('post_wait');
  n.c.wait(n.c.postDrainWaitMs);
}

/** post_wait: postDrainDelaySeconds + postDrain.waitSeconds, then the postWaitScript, then terminate. */
function afterDrainWait(n: NodeStep): void {
  const { c, key } = n;
  const since = timeMs(n.rec.stepStartTime) ?? c.now.getTime();
  const left = since + c.postDrainWaitMs - c.now.getTime();
  if (left > 0) {
    c.progress.push(`${key} waiting ${Math.ceil(left / 1000)}s after drain`);
    c.wait(left);
    return;
  }
  if (!scriptPassed(n, 'postWait')) return;
  scriptSucceeded(n, 'postWait');
  n.move('terminate');
  n.terminate();
}

/**
 * post_terminate: the postTerminate script, then done once the instance is gone and the group has its
 * desired Ready nodes again.
 */
function awaitReplacement(n: NodeStep): void {
  const { c, key, rec } = n;
  if (!scriptPassed(n, 'postTerminate')) return;
  const desired = c.view.group.desiredCapacity;
  if (n.gone && c.readyCount >= desired) {
    scriptSucceeded(n, 'postTerminate');
    n.move('completed');
    c.decision.events.push({
      type: 'Normal',
      reason: 'NodeReplaced',
      message: `node ${n.node ?? rec.instanceID} replaced: group ${c.view.group.name} has ${c.readyCount}/${desired} InService instances with Ready nodes${c.gates.length ? ' passing the readiness gates' : ''}`,
    });
    return;
  }
  c.progress.push(
    n.gone
      ? `${key} waiting for replacement (${c.readyCount}/${desired} Ready)`
      : `${key} waiting for instance ${rec.instanceID} to leave the group`,
  );
  c.wait(c.input.pollIntervalMs);
}

function decideDryRun(
  input: PlanInput,
  decision: Decision,
  view: GroupView,
  maxUnavailable: number,
  strategy: UpgradeStrategyType,
  condition: (type: string, s: 'True' | 'False', reason: string, message: string) => void,
): Decision {
  const { ru } = input;
  const status = decision.status;
  const { selectable, exhausted, blocked } = candidatesOf(view, nodesInProcessing(status), status);
  const candidates = [
    ...selectable,
    ...exhausted.map((i) => ({ id: i.id, zone: i.zone, unavailable: !i.available, failedDrains: 0 })),
  ];
  const batches = planAllBatches({
    candidates,
    order: candidateOrder(strategy),
    maxBatch: maxUnavailable,
    seed: ru.metadata.uid ?? ru.metadata.name ?? '',
  });
  const plan = batches.map((b, i) => ({
    batch: i + 1,
    nodes: b.map((c) => displayName(view.byId.get(c.id) as InstanceView)),
  }));
  const changed = JSON.stringify(plan) !== JSON.stringify(status.plan ?? []);
  status.plan = plan;
  status.currentStatus = status.currentStatus ?? 'init';
  status.totalNodes = candidates.length + blocked.length;
  status.nodesProcessed = status.nodesProcessed ?? 0;
  const total = plan.reduce((n, b) => n + b.nodes.length, 0);
  const message =
    `dry run${input.dryRunFlag ? ' (--dry-run)' : ''}: ${total} drifted node(s) of ${view.group.name} in ${plan.length} batch(es) of at most ${maxUnavailable}` +
    `${blocked.length ? `; not plannable now: ${blocked.map((i) => i.unavailableReason ?? i.id).join('; ')}` : ''}; nothing is cordoned, drained or terminated`;
  condition('Progressing', 'False', 'DryRun', message);
  if (changed)
    decision.events.push({
      type: 'Normal',
      reason: 'DryRun',
      message: `${message}. Plan: ${plan.map((b) => `[${b.nodes.join(', ')}]`).join(' ') || 'nothing to do'}`,
    });
  decision.requeueAfterMs = 60_000;
  return decision;
}
