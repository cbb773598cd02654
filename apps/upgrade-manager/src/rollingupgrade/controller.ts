// The RollingUpgrade controller: I/O only. It reads (the RollingUpgrade live, the group through the
// cached AWS ports, nodes from an informer), asks plan.ts what comes next, writes that into status,
// and only then acts — so every step is on record before it happens.
import {
  configuredScripts,
  resolveRollingUpgrade,
  RollingUpgradeKind,
  RollingUpgradeScriptFields,
  specValidCondition,
  validateRollingUpgrade,
  withRollingUpgradeDefaults,
  type Condition,
  type RollingUpgrade,
  type RollingUpgradeStatus,
} from '@keiko/api';
import {
  awsThrottlingPolicy,
  isThrottlingError,
  launchTemplatesToResolve,
  terminateConfirmed,
  type TerminateOutcome,
} from '@keiko/aws';
import {
  addFinalizer,
  hasFinalizer,
  isAlreadyExists,
  isBeingDeleted,
  isNotFound,
  isConflict,
  objectKey,
  patchStatus,
  removeFinalizer,
  ResourceTypes,
  setCondition,
  type Condition as RuntimeCondition,
  type ConditionInput,
  type Controller,
  type KubeClient,
  type Logger,
  type Manager,
  type ReconcileResult,
  type Request,
  type ResourceType,
  type Store,
} from '@keiko/kube-runtime';
import {
  CORDONED_BY_ANNOTATION,
  DisruptionLocks,
  DrainRunner,
  instanceIdOfNode,
  isNodeReady,
  NodeNotFoundError,
  uncordonNode,
} from '@keiko/node-ops';
import type { V1Job, V1Node } from '@kubernetes/client-node';
import { AwsRegions, type RegionPorts } from '../aws';
import { UpgradeMetrics } from './metrics';
import {
  decide,
  FINALIZER,
  isAtOrPastTerminate,
  isTerminal,
  nodesToUncordonOnDelete,
  ownerId,
  recordTermination,
  scalingGroupHolder,
  scalingGroupKey,
  type Action,
  type Decision,
  type InstanceLaunch,
  type ScalingGroupSnapshot,
} from './plan';
import {
  expectedScriptJobs,
  SCRIPT_JOB_SELECTOR,
  SCRIPT_OWNER_UID_LABEL,
  scriptJob,
  scriptStateOf,
  type ScriptPhase,
  type ScriptsOptions,
  type ScriptState,
} from './scripts';

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
  /** How scripts run as Jobs; undefined: scripts are disabled (upgrades that set them wait). */
  scripts?: ScriptsOptions;
}

export interface RollingUpgradeControllerHandle {
  controller: Controller<RollingUpgrade>;
  aws: AwsRegions;
  drains: DrainRunner;
}

const RU = RollingUpgradeKind;
const JOB: ResourceType = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true };
type TerminateAction = Extract<Action, { type: 'terminate' }>;
type RunScriptAction = Extract<Action, { type: 'runScript' }>;
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

/** The spec fields that hold scripts, for messages. */
function scriptFields(ru: RollingUpgrade): string[] {
  return (Object.keys(configuredScripts(ru.spec)) as ScriptPhase[]).map((p) => RollingUpgradeScriptFields[p]);
}

export function addRollingUpgradeController(
  mgr: Manager,
  opts: RollingUpgradeControllerOptions,
): RollingUpgradeControllerHandle {
  const r = new RollingUpgradeReconciler(mgr, opts);
  mgr.onStop('aws-clients', () => r.aws.destroy());
  return { controller: r.controller, aws: r.aws, drains: r.drains };
}

/**
 * The controller's state and steps. One reconcile: read the live object, check the spec, claim the
 * group (one upgrade per group, then the cross-tool disruption lock), then rounds of decide -> record
 * -> act until nothing more can happen now.
 */
class RollingUpgradeReconciler {
  readonly controller: Controller<RollingUpgrade>;
  readonly aws: AwsRegions;
  readonly drains: DrainRunner;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly lockRequeueMs: number;
  private readonly locks: DisruptionLocks;
  /** Instances each upgrade saw in its group last time, to route node events to it. */
  private readonly knownInstances = new Map<string, Set<string>>();
  private readonly metrics: UpgradeMetrics;
  private readonly nodes: Store<V1Node>;
  /** The script Jobs (only watched when scripts are enabled: no RBAC on Jobs is needed otherwise). */
  private readonly jobs?: Store<V1Job>;

  constructor(
    private readonly mgr: Manager,
    private readonly opts: RollingUpgradeControllerOptions,
  ) {
    this.client = mgr.client;
    this.log = mgr.log.child?.({ controller: 'rollingupgrade' }) ?? mgr.log;
    this.aws = new AwsRegions({
      defaultRegion: opts.defaultRegion,
      cacheTtlMs: opts.awsCacheTtlMs,
      registry: mgr.metrics.registry,
      signal: mgr.signal,
    });
    this.lockRequeueMs = opts.lockRequeueMs ?? 30_000;
    this.locks = new DisruptionLocks(this.client, { namespace: opts.disruptionLockNamespace });
    this.drains = new DrainRunner({
      client: this.client,
      log: this.log,
      signal: () => mgr.signal,
      // Runs only once a drain finishes, long after `controller` below is initialised.
      onDone: (owner) => this.controller.queue.add(owner),
    });
    this.metrics = new UpgradeMetrics(mgr.metrics.registry, () => this.controller.primary.list());
    this.controller = mgr.addController<RollingUpgrade>({
      name: 'rollingupgrade',
      for: RU,
      reconcile: (req, ctx) => this.reconcile(req, ctx.log),
      errorPolicy: awsThrottlingPolicy(),
    });
    // Nodes: watched (heartbeats filtered out) and cached for the reconciler; both start and stop with
    // the controller, i.e. only while this process leads.
    this.controller.watches<V1Node>(ResourceTypes.Node, (node) => this.upgradesForNode(node), {
      predicates: [{ update: (o, n) => nodeFingerprint(o) !== nodeFingerprint(n) }],
    });
    this.nodes = this.controller.cacheOf<V1Node>(ResourceTypes.Node);
    if (opts.scripts) {
      // Owned by their RollingUpgrade: a Job's change reconciles it. Labels select ours only.
      this.controller.owns<V1Job>(JOB, { labelSelector: SCRIPT_JOB_SELECTOR });
      this.jobs = this.controller.cacheOf<V1Job>(JOB);
    }
    this.controller.primary.addEventHandler({
      onUpdate: (o, n) => {
        if (o.status?.currentStatus !== n.status?.currentStatus && isTerminal(n)) this.wakeSiblings(n);
      },
      onDelete: (o) => {
        this.knownInstances.delete(objectKey(o));
        this.wakeSiblings(o);
      },
    });
  }

  private groupOf(ru: RollingUpgrade): { region: string; name: string } {
    return { region: ru.spec.region || this.aws.defaultRegion, name: ru.spec.asgName };
  }

  /** Done with the group (finished, failed or deleted): give its disruption lock back, then the finalizer. */
  private async finish(ru: RollingUpgrade): Promise<void> {
    await this.locks.release(this.groupOf(ru), ownerId(ru));
    if (hasFinalizer(ru, FINALIZER)) await removeFinalizer(this.client, RU, ru, FINALIZER);
  }

  private events(ru: RollingUpgrade, list: Decision['events']): Promise<void[]> {
    return Promise.all(list.map((e) => this.mgr.events.record(ru, e.type, e.reason, e.message)));
  }

  /**
   * A node event reconciles the upgrades it concerns: those working on it, those whose group holds its
   * instance, and those waiting for replacements (a new node may be one).
   */
  private upgradesForNode(node: V1Node): string[] {
    const id = instanceIdOfNode(node);
    const name = node.metadata?.name ?? '';
    const keys: string[] = [];
    for (const ru of this.controller.primary.list()) {
      if (isTerminal(ru) && !isBeingDeleted(ru)) continue;
      const key = objectKey(ru);
      const inFlight = Object.entries(ru.status?.inProcessingNodes ?? ru.status?.nodeInProcessing ?? {});
      const concerned =
        inFlight.some(([k, r]) => k === name || r.nodeName === name || (id && r.instanceID === id)) ||
        (id !== undefined && this.knownInstances.get(key)?.has(id)) ||
        inFlight.some(([, r]) => r.stepName === 'post_terminate' || r.stepName === 'desired_node_ready');
      if (concerned) keys.push(key);
    }
    return keys;
  }

  /** When an upgrade finishes or goes away, the next one waiting for its group may start. */
  private wakeSiblings(ru: RollingUpgrade): void {
    const group = scalingGroupKey(ru, this.aws.defaultRegion);
    for (const other of this.controller.primary.list()) {
      if (other !== ru && scalingGroupKey(other, this.aws.defaultRegion) === group)
        this.controller.queue.add(objectKey(other));
    }
  }

  private async reconcile(req: Request, rlog: Logger): Promise<ReconcileResult> {
    const cached = this.controller.primary.getByName(req.namespace, req.name);
    if (!cached) {
      this.knownInstances.delete(req.key);
      return {};
    }
    if (isTerminal(cached) && !isBeingDeleted(cached) && !hasFinalizer(cached, FINALIZER)) return {};
    // The cache may lag our own last write: decide on the live object.
    const live = await this.client.get<RollingUpgrade>(RU, req.namespace, req.name);
    if (!live) return {};
    const ru = withRollingUpgradeDefaults(live);

    if (isBeingDeleted(ru)) {
      await this.cleanUp(ru, rlog);
      return {};
    }
    if (isTerminal(ru)) {
      await this.finish(ru);
      return {};
    }

    const status = await this.checkSpec(ru);
    if (!status) return {};
    const dryRun = this.opts.dryRun || (ru.spec.dryRun === true && !status.startTime);
    if (!dryRun && (await this.waitForScripts(ru, status))) return {};
    const waiting = await this.claimGroup(req, ru, status, dryRun);
    if (waiting) return waiting;
    const ports = await this.portsFor(ru, status);
    if (!('autoScaling' in ports)) return ports;
    return this.rotate(req, ru, status, ports, dryRun, rlog);
  }

  /** Spec checks, recorded whatever happens next: the status to continue with, or undefined (invalid: done). */
  private async checkSpec(ru: RollingUpgrade): Promise<RollingUpgradeStatus | undefined> {
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
      await patchStatus(this.client, RU, ru, status);
      await this.mgr.events.record(ru, 'Warning', 'InvalidSpec', message);
      await this.finish(await this.refreshed(ru));
      return undefined;
    }
    await this.scriptsIgnored(ru, status);
    return status;
  }

  /** spec.ignoreScripts with scripts set: condition ScriptsIgnored (and one Warning event) says they never run. */
  private async scriptsIgnored(ru: RollingUpgrade, status: RollingUpgradeStatus): Promise<void> {
    const fields = scriptFields(ru);
    const had = status.conditions?.some((c) => c.type === 'ScriptsIgnored');
    if (fields.length === 0 || ru.spec.ignoreScripts !== true) {
      if (had) status.conditions = status.conditions?.filter((c) => c.type !== 'ScriptsIgnored');
      return;
    }
    withConditionOn(status, {
      type: 'ScriptsIgnored',
      status: 'True',
      reason: 'IgnoreScripts',
      message: `${fields.join(', ')} not run: spec.ignoreScripts is set`,
      observedGeneration: ru.metadata.generation,
    });
    if (!had)
      await this.mgr.events.record(
        ru,
        'Warning',
        'ScriptsNotExecuted',
        `${fields.join(', ')} set but never run: spec.ignoreScripts is set`,
      );
  }

  /**
   * Scripts set, scripts disabled here, and no spec.ignoreScripts: the upgrade does not go on without
   * them. It waits (Progressing=False/ScriptsDisabled, one Warning event) until scripts are enabled or
   * ignoreScripts is set (a spec change, or a restart with scripts enabled, reconciles it again).
   */
  private async waitForScripts(ru: RollingUpgrade, status: RollingUpgradeStatus): Promise<boolean> {
    const fields = scriptFields(ru);
    if (fields.length === 0 || ru.spec.ignoreScripts === true || this.opts.scripts) return false;
    const message = `${fields.join(', ')} set but scripts are disabled in upgrade-manager: enable them (chart values scripts.enabled, scripts.image, scripts.serviceAccountName) or set spec.ignoreScripts: true to proceed without them; waiting`;
    await this.holdProgressing(ru, status, 'ScriptsDisabled', message, 'Warning', message);
    return true;
  }

  /** What the in-flight nodes' script Jobs say, by script state key (absent: no Job yet). */
  private scriptStates(ru: RollingUpgrade): Map<string, ScriptState> {
    const out = new Map<string, ScriptState>();
    if (!this.jobs) return out;
    const phases = Object.keys(resolveRollingUpgrade(ru.spec).scripts) as ScriptPhase[];
    for (const [key, name] of expectedScriptJobs(ru, phases)) {
      const job = this.jobs.getByName(ru.metadata.namespace, name);
      if (job) out.set(key, scriptStateOf(job));
    }
    return out;
  }

  /** Creates the script's Job; one that already exists (a restart, a lagging cache) is the one we made. */
  private async runScript(ru: RollingUpgrade, action: RunScriptAction, rlog: Logger): Promise<void> {
    if (!this.opts.scripts) throw new Error('a script was to run with scripts disabled');
    const job = scriptJob(ru, action, this.opts.scripts);
    const name = `${job.metadata?.namespace}/${job.metadata?.name}`;
    try {
      await this.client.create<V1Job>(JOB, job);
    } catch (err) {
      if (isAlreadyExists(err)) return;
      throw err;
    }
    rlog.info('started script Job', { job: name, phase: action.phase, node: action.nodeName });
    await this.mgr.events.record(
      ru,
      'Normal',
      'ScriptStarted',
      `${action.phase} script of node ${action.nodeName ?? action.instanceId} started: Job ${name}`,
    );
  }

  /** Deletion: the upgrade's script Jobs go (a running script stops); the garbage collector would too. */
  private async deleteScriptJobs(ru: RollingUpgrade): Promise<void> {
    const uid = ru.metadata.uid;
    const jobs = (this.jobs?.list(ru.metadata.namespace) ?? []).filter(
      (j) => uid && j.metadata?.labels?.[SCRIPT_OWNER_UID_LABEL] === uid,
    );
    for (const j of jobs) {
      try {
        await this.client.delete(JOB, j.metadata?.namespace, j.metadata?.name ?? '', {
          propagationPolicy: 'Background',
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /**
   * One upgrade per group at a time, then the group's disruption lock across tools (renewed on every
   * reconcile while this upgrade runs): undefined when this upgrade may act, else the wait to return.
   */
  private async claimGroup(
    req: Request,
    ru: RollingUpgrade,
    status: RollingUpgradeStatus,
    dryRun: boolean,
  ): Promise<ReconcileResult | undefined> {
    if (!dryRun) {
      const holder = scalingGroupHolder(
        this.controller.primary.list(),
        ru,
        this.aws.defaultRegion,
        this.opts.dryRun,
      );
      if (holder && objectKey(holder) !== req.key)
        return this.waitForGroup(
          ru,
          status,
          `RollingUpgrade ${objectKey(holder)} is rotating ASG ${ru.spec.asgName}`,
        );
      const lock = await this.locks.acquire(this.groupOf(ru), ownerId(ru), `RollingUpgrade ${req.key}`);
      if (!lock.held)
        return this.waitForGroup(
          ru,
          status,
          `${lock.holder} is disrupting ASG ${ru.spec.asgName} (${lock.reason})`,
        );
    }
    return undefined;
  }

  /** The AWS ports of the upgrade's region, or (recorded in status) the wait to return. */
  private async portsFor(
    ru: RollingUpgrade,
    status: RollingUpgradeStatus,
  ): Promise<RegionPorts | ReconcileResult> {
    try {
      return this.aws.for(ru.spec.region);
    } catch (err) {
      withConditionOn(status, {
        type: 'Progressing',
        status: 'False',
        reason: 'AwsConfiguration',
        message: String(err instanceof Error ? err.message : err),
        observedGeneration: ru.metadata.generation,
      });
      await patchStatus(this.client, RU, ru, status);
      return { requeueAfterMs: this.lockRequeueMs };
    }
  }

  /** Rounds of decide -> record -> act, until nothing more can happen now. */
  private async rotate(
    req: Request,
    start: RollingUpgrade,
    status: RollingUpgradeStatus,
    ports: RegionPorts,
    dryRun: boolean,
    rlog: Logger,
  ): Promise<ReconcileResult> {
    let ru = start;
    // Before the first side effect, the finalizer: deletion must pass through cleanup.
    if (!dryRun && !hasFinalizer(ru, FINALIZER))
      ru = withRollingUpgradeDefaults(await addFinalizer(this.client, RU, ru, FINALIZER));
    // The first decision starts from the status with the conditions set above; writes compare with
    // (and are guarded by) the object as read.
    let pending: RollingUpgradeStatus | undefined = status;

    let previousActions = '';
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const snapshot = await this.takeSnapshot(ports, ru.spec.asgName, rlog);
      if (!snapshot) return this.groupNotFound(ru, dryRun);
      this.knownInstances.set(req.key, new Set(snapshot.group.instances.map((i) => i.id)));

      const decision = decide({
        ru: pending ? { ...ru, status: pending } : ru,
        snapshot,
        nodes: this.nodes.list(),
        drains: this.drains.states(req.key),
        scripts: this.scriptStates(pending ? { ...ru, status: pending } : ru),
        now: new Date(),
        owner: ownerId(ru),
        dryRunFlag: this.opts.dryRun,
        pollIntervalMs: this.opts.pollIntervalMs,
      });
      // Record first.
      let written: RollingUpgrade | undefined;
      try {
        written = (await patchStatus(this.client, RU, ru, decision.status)) as RollingUpgrade | undefined;
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Someone changed the object since we read it (a spec edit): decide again on the new one.
        rlog.debug('status write conflicted; re-reading');
        ru = await this.refreshed(ru);
        pending = undefined;
        continue;
      }
      pending = undefined;
      ru = written ? withRollingUpgradeDefaults(written) : { ...ru, status: decision.status };
      for (const t of decision.transitions) this.metrics.stepFinished(t.from, t.seconds);
      this.metrics.nodesCompleted(decision.nodesCompleted);
      this.metrics.drainFailed(decision.drainFailures);
      await this.events(ru, decision.events);
      if (decision.events.length > 0)
        rlog.info('upgrade progressed', { events: decision.events.map((e) => `${e.reason}: ${e.message}`) });

      // Then act. An upgrade that just stopped (failed) first stops its drains, then gives nodes back.
      if (isTerminal(ru)) await this.drains.abortAll(req.key, 'the upgrade stopped');
      const actionsKey = JSON.stringify(decision.actions);
      for (const action of decision.actions)
        if (action.type !== 'terminate') ru = await this.act(ru, action, ports, rlog);
      const terminates = decision.actions.filter((a): a is TerminateAction => a.type === 'terminate');
      if (terminates.length > 0) ru = await this.terminate(ru, terminates, ports, rlog);
      if (isTerminal(ru)) {
        await this.finish(await this.refreshed(ru));
        this.knownInstances.delete(req.key);
        return {};
      }
      const again = decision.actions.length > 0 || decision.requeueAfterMs === 0;
      if (!again)
        return decision.requeueAfterMs !== undefined
          ? { requeueAfterMs: Math.max(1, decision.requeueAfterMs) }
          : {};
      if (!written && actionsKey === previousActions) {
        // Same actions again with nothing new recorded: our last change is not in the cache yet.
        return { requeueAfterMs: Math.min(250, this.opts.pollIntervalMs) };
      }
      previousActions = actionsKey;
    }
    return { requeueAfterMs: Math.min(250, this.opts.pollIntervalMs) };
  }

  private async refreshed(ru: RollingUpgrade): Promise<RollingUpgrade> {
    const live = await this.client.get<RollingUpgrade>(RU, ru.metadata.namespace, ru.metadata.name ?? '');
    if (!live) throw new Error(`RollingUpgrade ${objectKey(ru)} disappeared`);
    return withRollingUpgradeDefaults(live);
  }

  private async takeSnapshot(
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

  private async groupNotFound(ru: RollingUpgrade, dryRun: boolean): Promise<ReconcileResult> {
    const message = `Auto Scaling group ${ru.spec.asgName} not found in ${ru.spec.region || this.aws.defaultRegion}`;
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
      await patchStatus(this.client, RU, ru, status);
      return { requeueAfterMs: Math.max(this.opts.pollIntervalMs, 30_000) };
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
    await patchStatus(this.client, RU, ru, status);
    await this.mgr.events.record(ru, 'Warning', 'Failed', message);
    await this.finish(await this.refreshed(ru));
    return {};
  }

  /**
   * The upgrade waits before it starts: Progressing=False/<reason> recorded, and one Event — only when
   * the condition's reason or message changed, so a wait that lasts says so once.
   */
  private async holdProgressing(
    ru: RollingUpgrade,
    status: RollingUpgradeStatus,
    reason: string,
    message: string,
    eventType: 'Normal' | 'Warning',
    eventMessage: string,
  ): Promise<void> {
    const before = status.conditions?.find((c) => c.type === 'Progressing');
    status.currentStatus = status.currentStatus ?? 'init';
    withConditionOn(status, {
      type: 'Progressing',
      status: 'False',
      reason,
      message,
      observedGeneration: ru.metadata.generation,
    });
    await patchStatus(this.client, RU, ru, status);
    if (before?.reason !== reason || before.message !== message)
      await this.mgr.events.record(ru, eventType, reason, eventMessage);
  }

  /** Another upgrade or another tool is disrupting the group: say so (once) and look again later. */
  private async waitForGroup(
    ru: RollingUpgrade,
    status: RollingUpgradeStatus,
    message: string,
  ): Promise<ReconcileResult> {
    await this.holdProgressing(
      ru,
      status,
      'WaitingForScalingGroup',
      message,
      'Normal',
      `${message}; waiting`,
    );
    return { requeueAfterMs: this.lockRequeueMs };
  }

  private async act(
    ru: RollingUpgrade,
    action: Action,
    ports: RegionPorts,
    rlog: Logger,
  ): Promise<RollingUpgrade> {
    const key = objectKey(ru);
    switch (action.type) {
      case 'drain':
        this.drains.start({
          owner: key,
          key: action.key,
          nodeName: action.nodeName,
          cordonedBy: ownerId(ru),
          timeoutMs: action.timeoutMs,
          pollIntervalMs: Math.min(1000, this.opts.pollIntervalMs),
        });
        return ru;
      case 'forgetDrain':
        this.drains.forget(key, action.key);
        return ru;
      case 'uncordon':
        try {
          const { changed } = await uncordonNode(this.client, action.nodeName, {
            onlyIfCordonedBy: ownerId(ru),
          });
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
        await this.mgr.events.record(
          ru,
          'Normal',
          'SurgeLaunched',
          `desired capacity of ${ru.spec.asgName} raised to ${action.desiredCapacity} before draining (eager)`,
        );
        return ru;
      case 'terminate':
        return this.terminate(ru, [action], ports, rlog);
      case 'runScript':
        await this.runScript(ru, action, rlog);
        return ru;
    }
  }

  /**
   * The one place instances are terminated. The status already says "terminate" for each; the engine's
   * terminateConfirmed makes one fresh describe of the group and calls AWS only for instances InService
   * in it, so a restart between the record and the call — or after the call — never terminates twice.
   * The outcomes are recorded in one status write, before a failure is rethrown (retried with backoff).
   */
  private async terminate(
    ru: RollingUpgrade,
    actions: TerminateAction[],
    ports: RegionPorts,
    rlog: Logger,
  ): Promise<RollingUpgrade> {
    const todo = actions.filter((a) => ru.status?.inProcessingNodes?.[a.key]?.stepName === 'terminate');
    if (todo.length === 0) return ru;
    rlog.info('terminating instances', { instances: todo.map((a) => a.instanceId) });
    const { outcomes, error } = await terminateConfirmed(ports.autoScaling, ru.spec.asgName, todo);
    const done = outcomes.flatMap((o) => {
      const action = todo.find((a) => a.instanceId === o.instanceId) as TerminateAction;
      if (o.outcome === 'wait')
        rlog.info('not terminating yet', { instance: o.instanceId, reason: o.detail });
      return o.outcome === 'wait' ? [] : [{ action, o, rec: ru.status?.inProcessingNodes?.[action.key] }];
    });
    const now = new Date();
    const updated = await this.writeStatus(ru, (current) => {
      let next: RollingUpgradeStatus | undefined;
      for (const d of done)
        next =
          recordTermination(
            next ?? current,
            d.action.key,
            d.o.outcome === 'terminated' ? 'terminated' : 'gone',
            now,
          )?.status ?? next;
      return next;
    });
    for (const d of done) await this.terminated(updated, d.o, d.rec?.nodeName, d.rec?.stepStartTime, now);
    if (error) throw error;
    return updated;
  }

  /** The Event and step metric of one terminate outcome. */
  private async terminated(
    ru: RollingUpgrade,
    o: TerminateOutcome,
    nodeName: string | undefined,
    since: string | undefined,
    now: Date,
  ): Promise<void> {
    const message =
      o.outcome === 'terminated'
        ? `terminated instance ${o.instanceId} (node ${nodeName ?? 'none'}) in ${ru.spec.asgName}${o.decrementDesired ? ', desired capacity decremented' : '; the group launches its replacement'}`
        : `not terminating instance ${o.instanceId} (node ${nodeName ?? 'none'}): ${o.detail || 'it left the group'}`;
    await this.mgr.events.record(
      ru,
      'Normal',
      o.outcome === 'terminated' ? 'NodeTerminated' : 'TerminateSkipped',
      message,
    );
    this.metrics.stepFinished(
      'terminate',
      Math.max(0, (now.getTime() - Date.parse(since ?? now.toISOString())) / 1000),
    );
  }

  /** Applies a status change after an action, re-reading on conflict (the action is done; its record must land). */
  private async writeStatus(
    ru: RollingUpgrade,
    change: (s: RollingUpgradeStatus) => RollingUpgradeStatus | undefined,
  ): Promise<RollingUpgrade> {
    let current = ru;
    for (let attempt = 0; ; attempt++) {
      const next = change(current.status ?? {});
      if (!next) return current;
      try {
        const written = (await patchStatus(this.client, RU, current, next)) as RollingUpgrade | undefined;
        return written ? withRollingUpgradeDefaults(written) : { ...current, status: next };
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
        current = await this.refreshed(current);
      }
    }
  }

  /** Deletion: stop this.drains, uncordon what this upgrade cordoned and did not this.terminate, release the finalizer. */
  private async cleanUp(ru: RollingUpgrade, rlog: Logger): Promise<void> {
    const key = objectKey(ru);
    if (!hasFinalizer(ru, FINALIZER)) return;
    await this.drains.abortAll(key, 'the RollingUpgrade is being deleted');
    await this.deleteScriptJobs(ru);
    const owner = ownerId(ru);
    const inFlight = ru.status?.inProcessingNodes ?? ru.status?.nodeInProcessing ?? {};
    // The informer may not have seen a cordon made a moment ago; in-flight nodes are checked live too.
    const candidates = new Set([
      ...nodesToUncordonOnDelete(ru.status, this.nodes.list(), owner),
      ...Object.entries(inFlight)
        .filter(([, r]) => !isAtOrPastTerminate(r.stepName))
        .map(([k, r]) => r.nodeName ?? k),
    ]);
    const uncordoned: string[] = [];
    for (const name of [...candidates].sort()) {
      try {
        const { changed } = await uncordonNode(this.client, name, { onlyIfCordonedBy: owner });
        if (changed) uncordoned.push(name);
      } catch (err) {
        if (!(err instanceof NodeNotFoundError)) throw err;
      }
    }
    if (uncordoned.length > 0) {
      rlog.info('deleted: uncordoned nodes', { nodes: uncordoned });
      await this.mgr.events.record(
        ru,
        'Normal',
        'Uncordoned',
        `RollingUpgrade deleted: uncordoned ${uncordoned.join(', ')}`,
      );
    }
    const surge = ru.status?.surge;
    if (surge && surge.added > 0) {
      await this.mgr.events.record(
        ru,
        'Warning',
        'SurgeLeftInPlace',
        `desired capacity of ${ru.spec.asgName} was raised from ${surge.baseDesired} for the batch in progress and is left as is: lowering it would let the group terminate instances without a drain`,
      );
    }
    await this.finish(ru);
    this.knownInstances.delete(key);
  }
}
