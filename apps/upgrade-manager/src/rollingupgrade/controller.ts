// The RollingUpgrade controller: I/O only. It reads (the RollingUpgrade live, the group through the
// cached AWS ports, nodes from an informer), asks plan.ts what comes next, writes that into status,
// and only then acts — so every step is on record before it happens.
import {
  RollingUpgradeKind,
  specValidCondition,
  validateRollingUpgrade,
  withRollingUpgradeDefaults,
  type Condition,
  type RollingUpgrade,
  type RollingUpgradeStatus,
} from '@keiko/api';
import {
  AwsOperationError,
  hasAwsErrorCode,
  awsThrottlingPolicy,
  isThrottlingError,
  launchTemplatesToResolve,
  type ScalingGroup,
} from '@keiko/aws';
import {
  addFinalizer,
  hasFinalizer,
  isBeingDeleted,
  isConflict,
  objectKey,
  patchStatus,
  removeFinalizer,
  ResourceTypes,
  setCondition,
  type Condition as RuntimeCondition,
  type ConditionInput,
  type Controller,
  type Logger,
  type Manager,
  type ReconcileResult,
  type Request,
} from '@keiko/kube-runtime';
import {
  CORDONED_BY_ANNOTATION,
  DisruptionLocks,
  instanceIdOfNode,
  isNodeReady,
  NodeNotFoundError,
  uncordonNode,
} from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import { AwsRegions, type RegionPorts } from '../aws';
import { DrainRunner } from './drains';
import { UpgradeMetrics } from './metrics';
import {
  configuredScripts,
  decide,
  FINALIZER,
  isAtOrPastTerminate,
  isTerminal,
  nodesToUncordonOnDelete,
  ownerId,
  recordTermination,
  scalingGroupHolder,
  scalingGroupKey,
  terminateVerdict,
  type Action,
  type Decision,
  type InstanceLaunch,
  type ScalingGroupSnapshot,
} from './plan';

export interface RollingUpgradeControllerOptions {
  /** How often to look at AWS and nodes while waiting on them (ms). */
  pollIntervalMs: number;
  /** TTL of the DescribeAutoScalingGroups / launch template caches (ms). */
  awsCacheTtlMs: number;
  /** Region for RollingUpgrades without spec.region (default AWS_REGION). */
  defaultRegion?: string;
  /** --dry-run: plan every RollingUpgrade, act on none. */
  dryRun: boolean;
  /** How often an upgrade waiting for another one on its group looks again (ms). */
  lockRequeueMs?: number;
  /** Where the per-group disruption locks every node tool shares live (default kube-node-lease). */
  disruptionLockNamespace?: string;
}

export interface RollingUpgradeControllerHandle {
  controller: Controller<RollingUpgrade>;
  aws: AwsRegions;
  drains: DrainRunner;
}

const RU = RollingUpgradeKind;
type TerminateAction = Extract<Action, { type: 'terminate' }>;
interface TerminateOutcome {
  action: TerminateAction;
  outcome: 'terminated' | 'gone';
  detail: string;
  nodeName?: string;
  since?: string;
}
/** Decisions acted on in one reconcile before yielding the worker. */
const MAX_ROUNDS = 25;

function withConditionOn(status: RollingUpgradeStatus, input: ConditionInput): void {
  status.conditions = setCondition(status.conditions as RuntimeCondition[] | undefined, input) as Condition[];
}

/** Node changes that matter to an upgrade (not heartbeats): readiness, cordon, labels, providerID. */
function nodeFingerprint(n: V1Node): string {
  return JSON.stringify([
    isNodeReady(n),
    n.spec?.unschedulable ?? false,
    n.spec?.providerID ?? '',
    n.metadata?.labels ?? {},
    n.metadata?.annotations?.[CORDONED_BY_ANNOTATION] ?? '',
  ]);
}

export function addRollingUpgradeController(
  mgr: Manager,
  opts: RollingUpgradeControllerOptions,
): RollingUpgradeControllerHandle {
  const client = mgr.client;
  const log = mgr.log.child?.({ controller: 'rollingupgrade' }) ?? mgr.log;
  const aws = new AwsRegions({
    defaultRegion: opts.defaultRegion,
    cacheTtlMs: opts.awsCacheTtlMs,
    registry: mgr.metrics.registry,
    signal: mgr.signal,
  });
  const lockRequeueMs = opts.lockRequeueMs ?? 30_000;
  const locks = new DisruptionLocks(client, { namespace: opts.disruptionLockNamespace });
  const groupOf = (ru: RollingUpgrade) => ({
    region: ru.spec.region || aws.defaultRegion,
    name: ru.spec.asgName,
  });
  /** Done with the group (finished, failed or deleted): give its disruption lock back, then the finalizer. */
  const finish = async (ru: RollingUpgrade) => {
    await locks.release(groupOf(ru), ownerId(ru));
    if (hasFinalizer(ru, FINALIZER)) await removeFinalizer(client, RU, ru, FINALIZER);
  };
  /** Instances each upgrade saw in its group last time, to route node events to it. */
  const knownInstances = new Map<string, Set<string>>();

  const drains = new DrainRunner(
    client,
    log,
    () => mgr.signal,
    // Runs only once a drain finishes, long after `controller` below is initialised.
    (owner) => controller.queue.add(owner),
  );
  const metrics = new UpgradeMetrics(mgr.metrics.registry, () => controller.primary.list());

  const events = (ru: RollingUpgrade, list: Decision['events']) =>
    Promise.all(list.map((e) => mgr.events.record(ru, e.type, e.reason, e.message)));

  const controller: Controller<RollingUpgrade> = mgr.addController<RollingUpgrade>({
    name: 'rollingupgrade',
    for: RU,
    reconcile: (req, ctx) => reconcile(req, ctx.log),
    errorPolicy: awsThrottlingPolicy(),
  });

  // A node event reconciles the upgrades it concerns: those working on it, those whose group holds its
  // instance, and those waiting for replacements (a new node may be one).
  const upgradesForNode = (node: V1Node): string[] => {
    const id = instanceIdOfNode(node);
    const name = node.metadata?.name ?? '';
    const keys: string[] = [];
    for (const ru of controller.primary.list()) {
      if (isTerminal(ru) && !isBeingDeleted(ru)) continue;
      const key = objectKey(ru);
      const inFlight = Object.entries(ru.status?.inProcessingNodes ?? ru.status?.nodeInProcessing ?? {});
      const concerned =
        inFlight.some(([k, r]) => k === name || r.nodeName === name || (id && r.instanceID === id)) ||
        (id !== undefined && knownInstances.get(key)?.has(id)) ||
        inFlight.some(([, r]) => r.stepName === 'post_terminate' || r.stepName === 'desired_node_ready');
      if (concerned) keys.push(key);
    }
    return keys;
  };
  // Nodes: watched (heartbeats filtered out) and cached for the reconciler; both start and stop with the
  // controller, i.e. only while this process leads.
  controller.watches<V1Node>(ResourceTypes.Node, upgradesForNode, {
    predicates: [{ update: (o, n) => nodeFingerprint(o) !== nodeFingerprint(n) }],
  });
  const nodes = controller.cacheOf<V1Node>(ResourceTypes.Node);
  // When an upgrade finishes or goes away, the next one waiting for its group may start.
  const wakeSiblings = (ru: RollingUpgrade) => {
    const group = scalingGroupKey(ru, aws.defaultRegion);
    for (const other of controller.primary.list()) {
      if (other !== ru && scalingGroupKey(other, aws.defaultRegion) === group)
        controller.queue.add(objectKey(other));
    }
  };
  controller.primary.addEventHandler({
    onUpdate: (o, n) => {
      if (o.status?.currentStatus !== n.status?.currentStatus && isTerminal(n)) wakeSiblings(n);
    },
    onDelete: (o) => {
      knownInstances.delete(objectKey(o));
      wakeSiblings(o);
    },
  });

  async function reconcile(req: Request, rlog: Logger): Promise<ReconcileResult> {
    const cached = controller.primary.getByName(req.namespace, req.name);
    if (!cached) {
      knownInstances.delete(req.key);
      return {};
    }
    if (isTerminal(cached) && !isBeingDeleted(cached) && !hasFinalizer(cached, FINALIZER)) return {};
    // The cache may lag our own last write: decide on the live object.
    const live = await client.get<RollingUpgrade>(RU, req.namespace, req.name);
    if (!live) return {};
    let ru = withRollingUpgradeDefaults(live);

    if (isBeingDeleted(ru)) {
      await cleanUp(ru, rlog);
      return {};
    }
    if (isTerminal(ru)) {
      await finish(ru);
      return {};
    }

    // Spec checks, recorded whatever happens next.
    const status: RollingUpgradeStatus = structuredClone(ru.status ?? {});
    const problems = validateRollingUpgrade(ru);
    const specValid = specValidCondition(problems, ru.metadata.generation);
    withConditionOn(status, {
      type: specValid.type,
      status: specValid.status,
      reason: specValid.reason ?? '',
      message: specValid.message ?? '',
      observedGeneration: ru.metadata.generation,
    });
    if (problems.length > 0) {
      const message = specValid.message ?? 'invalid spec';
      status.currentStatus = 'error';
      withConditionOn(status, {
        type: 'Complete',
        status: 'False',
        reason: 'InvalidSpec',
        message,
        observedGeneration: ru.metadata.generation,
      });
      await patchStatus(client, RU, ru, status);
      await mgr.events.record(ru, 'Warning', 'InvalidSpec', message);
      await finish(await refreshed(ru));
      return {};
    }
    const scripts = configuredScripts(ru.spec);
    const hadScriptsCondition = status.conditions?.some((c) => c.type === 'ScriptsIgnored');
    if (scripts.length > 0) {
      withConditionOn(status, {
        type: 'ScriptsIgnored',
        status: 'True',
        reason: 'ScriptsNotExecuted',
        message: `${scripts.join(', ')} not run: upgrade-manager does not execute scripts (see docs/upgrade-manager.md); use PodDisruptionBudgets, postDrainDelaySeconds and readinessGates`,
        observedGeneration: ru.metadata.generation,
      });
      if (!hadScriptsCondition) {
        await mgr.events.record(
          ru,
          'Warning',
          'ScriptsNotExecuted',
          `${scripts.join(', ')} set but never run by upgrade-manager; see docs/upgrade-manager.md`,
        );
      }
    } else if (hadScriptsCondition) {
      status.conditions = status.conditions?.filter((c) => c.type !== 'ScriptsIgnored');
    }

    // One upgrade per group at a time.
    const dryRun = opts.dryRun || (ru.spec.dryRun === true && !status.startTime);
    if (!dryRun) {
      const holder = scalingGroupHolder(controller.primary.list(), ru, aws.defaultRegion, opts.dryRun);
      if (holder && objectKey(holder) !== req.key)
        return waitForGroup(
          ru,
          status,
          `RollingUpgrade ${objectKey(holder)} is rotating ASG ${ru.spec.asgName}`,
        );
      // Across tools: the group's disruption lock (renewed on every reconcile while this upgrade runs).
      const lock = await locks.acquire(groupOf(ru), ownerId(ru), `RollingUpgrade ${req.key}`);
      if (!lock.held)
        return waitForGroup(
          ru,
          status,
          `${lock.holder} is disrupting ASG ${ru.spec.asgName} (${lock.reason})`,
        );
    }
    let ports: RegionPorts;
    try {
      ports = aws.for(ru.spec.region);
    } catch (err) {
      withConditionOn(status, {
        type: 'Progressing',
        status: 'False',
        reason: 'AwsConfiguration',
        message: String(err instanceof Error ? err.message : err),
        observedGeneration: ru.metadata.generation,
      });
      await patchStatus(client, RU, ru, status);
      return { requeueAfterMs: lockRequeueMs };
    }

    // Before the first side effect, the finalizer: deletion must pass through cleanup.
    if (!dryRun && !hasFinalizer(ru, FINALIZER))
      ru = withRollingUpgradeDefaults(await addFinalizer(client, RU, ru, FINALIZER));
    // The first decision starts from the status with the conditions set above; writes compare with
    // (and are guarded by) the object as read.
    let pending: RollingUpgradeStatus | undefined = status;

    let previousActions = '';
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const snapshot = await takeSnapshot(ports, ru.spec.asgName, rlog);
      if (!snapshot) return groupNotFound(ru, dryRun);
      knownInstances.set(req.key, new Set(snapshot.group.instances.map((i) => i.id)));

      const decision = decide({
        ru: pending ? { ...ru, status: pending } : ru,
        snapshot,
        nodes: nodes.list(),
        drains: drains.states(req.key),
        now: new Date(),
        owner: ownerId(ru),
        dryRunFlag: opts.dryRun,
        pollIntervalMs: opts.pollIntervalMs,
      });
      // Record first.
      let written: RollingUpgrade | undefined;
      try {
        written = (await patchStatus(client, RU, ru, decision.status)) as RollingUpgrade | undefined;
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Someone changed the object since we read it (a spec edit): decide again on the new one.
        rlog.debug('status write conflicted; re-reading');
        ru = await refreshed(ru);
        pending = undefined;
        continue;
      }
      pending = undefined;
      ru = written ? withRollingUpgradeDefaults(written) : { ...ru, status: decision.status };
      for (const t of decision.transitions) metrics.stepFinished(t.from, t.seconds);
      metrics.nodesCompleted(decision.nodesCompleted);
      metrics.drainFailed(decision.drainFailures);
      await events(ru, decision.events);
      if (decision.events.length > 0)
        rlog.info('upgrade progressed', { events: decision.events.map((e) => `${e.reason}: ${e.message}`) });

      // Then act.
      const actionsKey = JSON.stringify(decision.actions);
      for (const action of decision.actions)
        if (action.type !== 'terminate') ru = await act(ru, action, ports, rlog);
      const terminates = decision.actions.filter((a): a is TerminateAction => a.type === 'terminate');
      if (terminates.length > 0) ru = await terminate(ru, terminates, ports, rlog);
      if (isTerminal(ru)) {
        await finish(await refreshed(ru));
        knownInstances.delete(req.key);
        return {};
      }
      const again = decision.actions.length > 0 || decision.requeueAfterMs === 0;
      if (!again)
        return decision.requeueAfterMs !== undefined
          ? { requeueAfterMs: Math.max(1, decision.requeueAfterMs) }
          : {};
      if (!written && actionsKey === previousActions) {
        // Same actions again with nothing new recorded: our last change is not in the cache yet.
        return { requeueAfterMs: Math.min(250, opts.pollIntervalMs) };
      }
      previousActions = actionsKey;
    }
    return { requeueAfterMs: Math.min(250, opts.pollIntervalMs) };
  }

  async function refreshed(ru: RollingUpgrade): Promise<RollingUpgrade> {
    const live = await client.get<RollingUpgrade>(RU, ru.metadata.namespace, ru.metadata.name ?? '');
    if (!live) throw new Error(`RollingUpgrade ${objectKey(ru)} disappeared`);
    return withRollingUpgradeDefaults(live);
  }

  async function takeSnapshot(
    ports: RegionPorts,
    asgName: string,
    rlog: Logger,
  ): Promise<ScalingGroupSnapshot | undefined> {
    const group = await ports.autoScaling.describeGroup(asgName);
    if (!group) return undefined;
    const resolved = await Promise.all(
      launchTemplatesToResolve(group).map(async (spec) => {
        const r = await ports.ec2.resolveLaunchTemplateVersion({
          id: spec.id,
          name: spec.name,
          version: spec.version ?? '$Default',
        });
        return { id: r.id, name: r.name, version: r.version };
      }),
    );
    let launches = new Map<string, InstanceLaunch>();
    try {
      launches = await ports.launches.get(group.instances.map((i) => i.id));
    } catch (err) {
      // Launch facts refine drift (forceRefresh, launch tags); without them the group's view decides.
      if (isThrottlingError(err)) throw err;
      rlog.warn('could not describe the group instances; deciding drift from the group view only', {
        error: String(err),
      });
    }
    return { group, resolved, launches };
  }

  async function groupNotFound(ru: RollingUpgrade, dryRun: boolean): Promise<ReconcileResult> {
    const message = `Auto Scaling group ${ru.spec.asgName} not found in ${ru.spec.region || aws.defaultRegion}`;
    const status = structuredClone(ru.status ?? {});
    const inFlight = Object.keys(status.inProcessingNodes ?? {}).length > 0;
    if (dryRun || inFlight) {
      // A dry run just reports; a group vanishing mid-batch is worth a retry before giving up on it.
      withConditionOn(status, {
        type: 'Progressing',
        status: 'False',
        reason: 'ScalingGroupNotFound',
        message,
        observedGeneration: ru.metadata.generation,
      });
      await patchStatus(client, RU, ru, status);
      return { requeueAfterMs: Math.max(opts.pollIntervalMs, 30_000) };
    }
    status.currentStatus = 'error';
    status.endTime = `${new Date().toISOString().slice(0, 19)}Z`;
    withConditionOn(status, {
      type: 'Complete',
      status: 'False',
      reason: 'ScalingGroupNotFound',
      message,
      observedGeneration: ru.metadata.generation,
    });
    withConditionOn(status, {
      type: 'Progressing',
      status: 'False',
      reason: 'Failed',
      message,
      observedGeneration: ru.metadata.generation,
    });
    await patchStatus(client, RU, ru, status);
    await mgr.events.record(ru, 'Warning', 'Failed', message);
    await finish(await refreshed(ru));
    return {};
  }

  /** Another upgrade or another tool is disrupting the group: say so (once) and look again later. */
  async function waitForGroup(
    ru: RollingUpgrade,
    status: RollingUpgradeStatus,
    message: string,
  ): Promise<ReconcileResult> {
    const before = status.conditions?.find((c) => c.type === 'Progressing');
    status.currentStatus = status.currentStatus ?? 'init';
    withConditionOn(status, {
      type: 'Progressing',
      status: 'False',
      reason: 'WaitingForScalingGroup',
      message,
      observedGeneration: ru.metadata.generation,
    });
    await patchStatus(client, RU, ru, status);
    if (before?.reason !== 'WaitingForScalingGroup' || before.message !== message)
      await mgr.events.record(ru, 'Normal', 'WaitingForScalingGroup', `${message}; waiting`);
    return { requeueAfterMs: lockRequeueMs };
  }

  async function act(
    ru: RollingUpgrade,
    action: Action,
    ports: RegionPorts,
    rlog: Logger,
  ): Promise<RollingUpgrade> {
    const key = objectKey(ru);
    switch (action.type) {
      case 'drain':
        drains.start({
          owner: key,
          key: action.key,
          nodeName: action.nodeName,
          cordonedBy: ownerId(ru),
          timeoutMs: action.timeoutMs,
          pollIntervalMs: Math.min(1000, opts.pollIntervalMs),
        });
        return ru;
      case 'forgetDrain':
        drains.forget(key, action.key);
        return ru;
      case 'uncordon':
        try {
          const { changed } = await uncordonNode(client, action.nodeName, { onlyIfCordonedBy: ownerId(ru) });
          if (changed) rlog.info('uncordoned node', { node: action.nodeName });
        } catch (err) {
          if (!(err instanceof NodeNotFoundError)) throw err;
        }
        return ru;
      case 'setDesiredCapacity':
        rlog.info('raising desired capacity for the surge', {
          group: ru.spec.asgName,
          desiredCapacity: action.desiredCapacity,
        });
        await ports.autoScaling.setDesiredCapacity(ru.spec.asgName, action.desiredCapacity);
        await mgr.events.record(
          ru,
          'Normal',
          'SurgeLaunched',
          `desired capacity of ${ru.spec.asgName} raised to ${action.desiredCapacity} before draining (eager)`,
        );
        return ru;
      case 'terminate':
        return terminate(ru, [action], ports, rlog);
    }
  }

  /**
   * The one place instances are terminated. The status already says "terminate" for each; one fresh
   * describe of the group decides, per instance, whether the call is made at all (terminateVerdict), so
   * a restart between the record and the call — or after the call — never terminates twice. The
   * outcomes are recorded in one status write.
   */
  async function terminate(
    ru: RollingUpgrade,
    actions: TerminateAction[],
    ports: RegionPorts,
    rlog: Logger,
  ): Promise<RollingUpgrade> {
    const todo = actions.filter((a) => ru.status?.inProcessingNodes?.[a.key]?.stepName === 'terminate');
    if (todo.length === 0) return ru;
    ports.autoScaling.invalidate(ru.spec.asgName);
    const live = await ports.autoScaling.describeGroup(ru.spec.asgName);
    const done: TerminateOutcome[] = [];
    let failure: unknown;
    // One call after another: AWS would take them concurrently, but the emulator's group bookkeeping is
    // not thread-safe (concurrent terminates in one group make moto scale in other instances).
    for (const action of todo) {
      try {
        const outcome = await terminateOne(ru, action, live, ports, rlog);
        if (outcome) done.push(outcome);
      } catch (err) {
        // What succeeded is still recorded below; the rest is retried, with backoff, after a fresh look.
        failure = err;
        break;
      }
    }
    const now = new Date();
    const updated = await writeStatus(ru, (current) => {
      let next: RollingUpgradeStatus | undefined;
      for (const d of done)
        next = recordTermination(next ?? current, d.action.key, d.outcome, now)?.status ?? next;
      return next;
    });
    for (const d of done) {
      const message =
        d.outcome === 'terminated'
          ? `terminated instance ${d.action.instanceId} (node ${d.nodeName ?? 'none'}) in ${ru.spec.asgName}${d.action.decrementDesired ? ', desired capacity decremented' : '; the group launches its replacement'}`
          : `not terminating instance ${d.action.instanceId} (node ${d.nodeName ?? 'none'}): ${d.detail || 'it left the group'}`;
      await mgr.events.record(
        updated,
        'Normal',
        d.outcome === 'terminated' ? 'NodeTerminated' : 'TerminateSkipped',
        message,
      );
      metrics.stepFinished(
        'terminate',
        Math.max(0, (now.getTime() - Date.parse(d.since ?? now.toISOString())) / 1000),
      );
    }
    if (failure) throw failure;
    return updated;
  }

  async function terminateOne(
    ru: RollingUpgrade,
    action: TerminateAction,
    live: ScalingGroup | undefined,
    ports: RegionPorts,
    rlog: Logger,
  ): Promise<TerminateOutcome | undefined> {
    const rec = ru.status?.inProcessingNodes?.[action.key];
    const verdict = terminateVerdict(live, action.instanceId);
    if (verdict.kind === 'wait') {
      rlog.info('not terminating yet', { instance: action.instanceId, reason: verdict.detail });
      return undefined;
    }
    const base = { action, nodeName: rec?.nodeName, since: rec?.stepStartTime };
    if (verdict.kind === 'gone') return { ...base, outcome: 'gone', detail: verdict.detail };
    try {
      rlog.info('terminating instance', {
        instance: action.instanceId,
        node: rec?.nodeName,
        decrementDesired: action.decrementDesired,
      });
      await ports.autoScaling.terminateInstanceInGroup(action.instanceId, {
        decrementDesired: action.decrementDesired,
      });
      return { ...base, outcome: 'terminated', detail: '' };
    } catch (err) {
      // Gone between the describe and the call: the outcome we wanted, without a second terminate.
      if (
        err instanceof AwsOperationError &&
        hasAwsErrorCode(err, 'ValidationError') &&
        /not found|not part of|no instance/i.test(err.message)
      ) {
        return { ...base, outcome: 'gone', detail: err.message };
      }
      throw err;
    }
  }

  /** Applies a status change after an action, re-reading on conflict (the action is done; its record must land). */
  async function writeStatus(
    ru: RollingUpgrade,
    change: (s: RollingUpgradeStatus) => RollingUpgradeStatus | undefined,
  ): Promise<RollingUpgrade> {
    let current = ru;
    for (let attempt = 0; ; attempt++) {
      const next = change(current.status ?? {});
      if (!next) return current;
      try {
        const written = (await patchStatus(client, RU, current, next)) as RollingUpgrade | undefined;
        return written ? withRollingUpgradeDefaults(written) : { ...current, status: next };
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
        current = await refreshed(current);
      }
    }
  }

  /** Deletion: stop drains, uncordon what this upgrade cordoned and did not terminate, release the finalizer. */
  async function cleanUp(ru: RollingUpgrade, rlog: Logger): Promise<void> {
    const key = objectKey(ru);
    if (!hasFinalizer(ru, FINALIZER)) return;
    await drains.abortAll(key);
    const owner = ownerId(ru);
    const inFlight = ru.status?.inProcessingNodes ?? ru.status?.nodeInProcessing ?? {};
    // The informer may not have seen a cordon made a moment ago; in-flight nodes are checked live too.
    const candidates = new Set([
      ...nodesToUncordonOnDelete(ru.status, nodes.list(), owner),
      ...Object.entries(inFlight)
        .filter(([, r]) => !isAtOrPastTerminate(r.stepName))
        .map(([k, r]) => r.nodeName ?? k),
    ]);
    const uncordoned: string[] = [];
    for (const name of [...candidates].sort()) {
      try {
        const { changed } = await uncordonNode(client, name, { onlyIfCordonedBy: owner });
        if (changed) uncordoned.push(name);
      } catch (err) {
        if (!(err instanceof NodeNotFoundError)) throw err;
      }
    }
    if (uncordoned.length > 0) {
      rlog.info('deleted: uncordoned nodes', { nodes: uncordoned });
      await mgr.events.record(
        ru,
        'Normal',
        'Uncordoned',
        `RollingUpgrade deleted: uncordoned ${uncordoned.join(', ')}`,
      );
    }
    const surge = ru.status?.surge;
    if (surge && surge.added > 0) {
      await mgr.events.record(
        ru,
        'Warning',
        'SurgeLeftInPlace',
        `desired capacity of ${ru.spec.asgName} was raised from ${surge.baseDesired} for the batch in progress and is left as is: lowering it would let the group terminate instances without a drain`,
      );
    }
    await finish(ru);
    knownInstances.delete(key);
  }

  mgr.onStop('aws-clients', () => aws.destroy());
  return { controller, aws, drains };
}
