// The InstanceGroup controller: reads a group, applies the cluster's managed defaults, validates, runs its
// provisioner, keeps aws-auth, runs the upgrade strategy on drifted instances, and writes .status,
// conditions and Events. Every decision lives in plan.ts, fleet.ts, the provisioners' renderers and the
// strategies' plans; this file is the I/O around them.
import {
  formatProblems,
  instanceGroupStrategyType,
  InstanceGroupKind,
  hasProvisioner,
  normalizeInstanceGroup,
  type ProvisionedInstanceGroup,
  type FieldProblem,
  type InstanceGroup,
  type InstanceGroupStatus,
  type Provisioner as ProvisionerName,
} from '@keiko/api';
import { AwsOperationError, type AutoScalingPort } from '@keiko/aws';
import {
  addFinalizer,
  ApiError,
  annotationsChanged,
  anyOf,
  generationChanged,
  hasFinalizer,
  isBeingDeleted,
  isConflict,
  objectKey,
  patchStatus,
  removeFinalizer,
  ResourceTypes,
  type Controller,
  type Informer,
  type KubeClient,
  type Logger,
  type Manager,
  type ReconcileResult,
  type Request,
} from '@keiko/kube-runtime';
import { DisruptionLocks, DrainRunner, instanceIdOfNode, isNodeReady } from '@keiko/node-ops';
import type { V1ConfigMap, V1Namespace, V1Node } from '@kubernetes/client-node';
import { AwsAuth } from '../awsauth/apply';
import { AWS_AUTH_NAME, AWS_AUTH_NAMESPACE, AwsAuthParseError, normalizeRoleArn } from '../awsauth/merge';
import { applyManagedConfig, ManagedConfigError, parseManagedConfig } from '../config/managed-config';
import type { InstanceManagerMetrics } from '../metrics';
import { EksCfProvisioner } from '../provisioners/eks-cf/provisioner';
import { EksFargateProvisioner } from '../provisioners/eks-fargate/provisioner';
import { EksManagedProvisioner, NODEGROUP_LABEL } from '../provisioners/eks-managed/provisioner';
import { EksProvisioner } from '../provisioners/eks/provisioner';
import type {
  AwsPortsForGroups,
  Fleet,
  GroupContext,
  ProvisionOutcome,
  Provisioner,
  ReconcileState,
} from '../provisioners/types';
import { crdStrategyStep } from '../strategies/crd';
import { planRotation, ROLLING_UPDATE_CONDITION, type RotationInstance } from '../strategies/rolling-update';
import { executeRotation, type DrainSettings } from '../strategies/rotation';
import { nodesReadiness, rotationInstances, type NodesReadiness } from './fleet';
import { restDecision, restFingerprint, type RestMark } from './rest';
import { CONFIG_EXCLUDED_ANNOTATION, FINALIZER, groupKey, ownerOf, ROLE_LABEL } from '../names';
import {
  composeStatus,
  decideGroupState,
  findRuntimeCondition,
  isUpgradeLocked,
  rotationPolicy,
  type GroupDecision,
  type UpgradeStage,
} from './plan';
import { validateGroup } from './validation';

export interface InstanceGroupControllerOptions {
  aws: AwsPortsForGroups;
  metrics: InstanceManagerMetrics;
  dryRun: boolean;
  /** Where the managed defaults/boundaries ConfigMap lives. */
  configNamespace: string;
  configName: string;
  drain: DrainSettings;
  templateRetention?: number;
  /** Informer resync (the periodic wake-up of every group; a settled group's is cheap, see rest.ts). */
  resyncMs?: number;
  /** Longest time between full passes (AWS describes) of a settled Ready group; 0: every resync is full. */
  driftCheckMs?: number;
  /** The per-group disruption locks every node tool shares: their namespace, and this process's region. */
  disruptionLock?: { namespace?: string; region?: string };
}

/** Where a group's upgrade stands after one pass, and what goes into its status. */
interface StageResult {
  upgrade: UpgradeStage;
  nodes: NodesReadiness;
  rollingCondition?: { status: 'True' | 'False'; reason: string; message: string };
  fields: Partial<InstanceGroupStatus>;
}

/** Provisioners whose nodes need their role mapped in aws-auth (EKS maps managed node groups and Fargate itself). */
const AWS_AUTH_PROVISIONERS: ReadonlySet<ProvisionerName> = new Set(['eks', 'eks-cf']);

type Stored = InstanceGroup;

/** The cached object was older than the stored one: not a failure, the reconcile is redone. */
class StaleObjectError extends Error {}

export class InstanceGroupReconciler {
  readonly controller: Controller<Stored>;
  private readonly provisioners: Record<ProvisionerName, Provisioner>;
  private readonly awsAuth: AwsAuth;
  private readonly drains: DrainRunner;
  private readonly locks: DisruptionLocks;
  private readonly client: KubeClient;
  private readonly log: Logger;
  /** Per group: what its last full pass that ended Ready saw (rest.ts). */
  private readonly rest = new Map<string, RestMark>();
  private managedConfigCache?: Informer<V1ConfigMap>;

  constructor(
    private readonly mgr: Manager,
    private readonly opts: InstanceGroupControllerOptions,
  ) {
    this.client = mgr.client;
    this.log = mgr.log;
    this.locks = new DisruptionLocks(this.client, { namespace: opts.disruptionLock?.namespace });
    this.drains = new DrainRunner({
      client: this.client,
      log: this.log,
      signal: () => mgr.signal,
      onDone: (owner, _node, state) => {
        if (state.state !== 'running')
          opts.metrics.drained(state.state, (state.finishedAt - state.startedAt) / 1000);
        // Runs only once a drain finishes, long after `controller` below is initialised.
        this.controller.queue.add(owner);
      },
    });
    this.provisioners = {
      'eks-cf': new EksCfProvisioner(),
      eks: new EksProvisioner({ templateRetention: opts.templateRetention ?? 2 }),
      'eks-managed': new EksManagedProvisioner(),
      'eks-fargate': new EksFargateProvisioner(),
    };
    this.awsAuth = new AwsAuth(this.client, {
      dryRun: opts.dryRun,
      logger: this.log,
      onWrite: (m) => opts.metrics.awsAuthWrite(m),
    });
    this.controller = mgr.addController<Stored>({
      name: 'instancegroup',
      for: InstanceGroupKind,
      // Our own status writes do not wake the group up again (requeueAfter and the resync do).
      forOptions: {
        resyncPeriodMs: opts.resyncMs ?? 60_000,
        predicates: [anyOf<Stored>(generationChanged, annotationsChanged)],
      },
      reconcile: async (req, ctx) => {
        try {
          return await this.reconcile(req, ctx.log, ctx.signal);
        } catch (err) {
          if (err instanceof StaleObjectError) {
            ctx.log.debug(err.message);
            return { requeue: true };
          }
          throw err;
        }
      },
    });
    const everyGroup = () => this.controller.primary.keys();
    // aws-auth changed (someone removed a mapping?): every group re-asserts its role — a full pass, even
    // for a group at rest (aws-auth is not part of its rest fingerprint).
    const reassertEveryGroup = () => {
      this.rest.clear();
      return everyGroup();
    };
    this.controller.watches<V1ConfigMap>(ResourceTypes.ConfigMap, reassertEveryGroup, {
      namespace: AWS_AUTH_NAMESPACE,
      fieldSelector: `metadata.name=${AWS_AUTH_NAME}`,
      predicates: [{ update: (o, n) => JSON.stringify(o.data ?? {}) !== JSON.stringify(n.data ?? {}) }],
    });
    // Nodes: read from this cache (never listed per reconcile). A node joining, leaving, turning Ready or
    // NotReady, or being cordoned wakes its group (nodes carry node.kubernetes.io/role=<group name>); the
    // rest is covered by the requeues and the resync.
    this.controller.watches<V1Node>(
      ResourceTypes.Node,
      (node) => {
        const group = node.metadata?.labels?.[ROLE_LABEL];
        return group ? everyGroup().filter((key) => key.endsWith(`/${group}`)) : [];
      },
      {
        predicates: [
          {
            update: (o, n) =>
              isNodeReady(o) !== isNodeReady(n) || !!o.spec?.unschedulable !== !!n.spec?.unschedulable,
          },
        ],
      },
    );
    // The managed defaults changed: every group is re-rendered with them.
    this.controller.watches<V1ConfigMap>(ResourceTypes.ConfigMap, everyGroup, {
      namespace: opts.configNamespace,
      fieldSelector: `metadata.name=${opts.configName}`,
    });
    // Read from this watch's cache, never GET per reconcile (it usually does not exist: a 404 each time).
    this.managedConfigCache = this.controller.informers().at(-1) as unknown as Informer<V1ConfigMap>;
  }

  private async reconcile(req: Request, log: Logger, signal: AbortSignal): Promise<ReconcileResult | void> {
    const cached = this.controller.primary.getByName(req.namespace, req.name);
    if (!cached) {
      this.opts.metrics.setState(req.key, '', undefined);
      return;
    }
    let current: Stored = cached;
    const namespace = current.metadata.namespace ?? 'default';
    const name = current.metadata.name ?? '';
    const managed = await this.managedView(current);
    const fingerprint = restFingerprint(current, managed.hash, this.nodesOfGroup(name));
    const rest = restDecision({
      mark: this.rest.get(req.key),
      fingerprint,
      state: current.status?.currentState,
      deleting: isBeingDeleted(current),
      now: Date.now(),
      driftCheckMs: this.opts.driftCheckMs ?? 0,
    });
    if (rest.skip) return { requeueAfterMs: rest.requeueAfterMs };
    this.rest.delete(req.key);
    const ig = normalizeInstanceGroup(managed.object);
    // From the manifest or, as upstream's shortened GitOps groups expect, the cluster defaults. Deleting,
    // the one that made the cloud resources (status): a default changed meanwhile must not leak them.
    const kind = (isBeingDeleted(current) ? current.status?.provisioner : undefined) ?? ig.spec.provisioner;
    const provisionerName = kind ?? '';
    const provisioner = kind
      ? (this.provisioners[kind as ProvisionerName] as Provisioner | undefined)
      : undefined;

    const write = async (status: InstanceGroupStatus): Promise<void> => {
      try {
        const updated = await patchStatus(this.client, InstanceGroupKind, current, status);
        if (updated) current = updated as Stored;
      } catch (err) {
        // Our cached copy is older than the object (our own finalizer patch, or someone's edit): the key is
        // requeued and redone on the fresh object.
        if (isConflict(err))
          throw new StaleObjectError(
            `status of ${req.key} changed meanwhile; redoing the reconcile on the fresh object`,
          );
        throw err;
      }
      this.opts.metrics.setState(req.key, provisionerName, status.currentState);
    };
    const ctx = this.context(ig, namespace, name, log, async (state, message) => {
      if (current.status?.currentState === state) return;
      log.info('entering state', { state, message });
      await write({ ...(current.status ?? {}), currentState: state, provisioner: provisionerName });
    });

    if (isBeingDeleted(current))
      return this.finalize(
        current,
        ctx,
        write,
        provisioner && { impl: provisioner, name: kind as ProvisionerName },
      );

    // Validation: schema rules (as the apiserver has them) plus rules across fields.
    const problems: FieldProblem[] = validateGroup(managed.object, ig);
    if (managed.error) problems.push({ field: 'metadata.namespace', message: managed.error });
    if (problems.length > 0 || !provisioner || !hasProvisioner(ig)) {
      const message = formatProblems(problems.length > 0 ? problems : [this.provisionerProblem(ig)]);
      this.mgr.events.record(current, 'Warning', 'InvalidSpec', message);
      await write(
        composeStatus({
          previous: current.status,
          ig,
          decision: { state: 'Error', ready: false, reason: 'InvalidSpec', message },
          fields: {},
          specValid: { ok: false, message },
          ...(managed.hash !== undefined ? { configHash: managed.hash } : {}),
          now: new Date(),
        }),
      );
      return; // nothing to do until the spec changes
    }
    for (const field of managed.overridden)
      this.mgr.events.record(
        current,
        'Warning',
        'FieldRestricted',
        `${field} is set by the cluster configuration ${this.opts.configNamespace}/${this.opts.configName}; the group's own value is ignored`,
      );

    current = await this.ensureFinalizer(current, req.key, log);

    let outcome: ProvisionOutcome;
    try {
      outcome = await provisioner.reconcile(ctx);
    } catch (err) {
      await this.reportFailure(current, ig, write, err, provisionerName);
      throw err;
    }
    for (const w of outcome.warnings ?? []) log.debug('unsupported field', { warning: w });

    // Node bootstrap access: the role in aws-auth, reference-counted.
    if (outcome.roleArn && AWS_AUTH_PROVISIONERS.has(ig.spec.provisioner))
      outcome = await this.mapNodeRole(current, outcome, outcome.roleArn, groupKey(namespace, name), write);

    // Upgrade stage and node readiness.
    let upgrade: UpgradeStage = { phase: 'none', message: '' };
    let nodes: NodesReadiness | undefined;
    let rollingCondition: { status: 'True' | 'False'; reason: string; message: string } | undefined;
    const fields: Partial<InstanceGroupStatus> = { ...outcome.status };
    if (outcome.phase === 'provisioned' && outcome.fleet) {
      const r = await this.upgradeStage(ig, current, outcome.fleet, ctx, signal, (partial) =>
        write({ ...(current.status ?? {}), ...partial }),
      );
      upgrade = r.upgrade;
      nodes = r.nodes;
      rollingCondition = r.rollingCondition;
      Object.assign(fields, r.fields);
    } else if (outcome.phase === 'provisioned' && ig.spec.provisioner === 'eks-managed') {
      nodes = await this.managedNodesReadiness(ig, outcome);
    }
    const decision: GroupDecision = decideGroupState(outcome, upgrade, nodes);
    const problemMessage =
      outcome.problems && outcome.problems.length > 0 ? formatProblems(outcome.problems) : undefined;
    if (problemMessage) decision.message = problemMessage;
    const previousState = current.status?.currentState;
    await write(
      composeStatus({
        previous: current.status,
        ig,
        decision,
        fields,
        ...(nodes ? { nodes } : {}),
        specValid: { ok: true, message: 'spec passed validation' },
        ...(rollingCondition ? { rollingUpdate: rollingCondition } : {}),
        ...(managed.hash !== undefined ? { configHash: managed.hash } : {}),
        now: new Date(),
      }),
    );
    this.announceState(current, cached, previousState, decision);
    if (decision.state === 'Ready' && decision.requeueAfterMs === undefined && !problemMessage)
      this.rest.set(req.key, { fingerprint, at: Date.now() });
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : undefined;
  }

  /** Maps the group's node role in aws-auth (recorded in status first); an unreadable aws-auth fails the pass. */
  private async mapNodeRole(
    current: Stored,
    outcome: ProvisionOutcome,
    roleArn: string,
    owner: string,
    write: (status: InstanceGroupStatus) => Promise<void>,
  ): Promise<ProvisionOutcome> {
    // Recorded before it is mapped, so a deletion always knows what to release.
    if (current.status?.nodesInstanceRoleArn !== roleArn)
      await write({ ...(current.status ?? {}), nodesInstanceRoleArn: roleArn });
    try {
      const mapping = await this.awsAuth.ensure(roleArn, owner);
      if (mapping === 'added' || mapping === 'restored')
        this.mgr.events.record(
          current,
          'Normal',
          mapping === 'added' ? 'RoleMapped' : 'RoleMappingRestored',
          `${roleArn} ${mapping === 'added' ? 'mapped' : 'mapped again'} in ${AWS_AUTH_NAMESPACE}/${AWS_AUTH_NAME} for nodes`,
        );
    } catch (err) {
      if (!(err instanceof AwsAuthParseError)) throw err;
      // Never rewrite what cannot be read: the group says so, and nodes may not join until a person fixes it.
      return {
        ...outcome,
        phase: 'failed',
        state: 'Error',
        message: err.message,
        failureReason: 'AwsAuthUnreadable',
        requeueAfterMs: 60_000,
      };
    }
    return outcome;
  }

  /** Events for a change of state, and for an Error whose reason changed. */
  private announceState(
    current: Stored,
    cached: Stored,
    previousState: string | undefined,
    decision: GroupDecision,
  ): void {
    if (previousState !== decision.state) {
      if (decision.state === 'Ready')
        this.mgr.events.record(current, 'Normal', 'Ready', `InstanceGroup is Ready: ${decision.message}`);
      else if (decision.state === 'Error')
        this.mgr.events.record(current, 'Warning', decision.reason, decision.message);
      else if (decision.state === 'Locked')
        this.mgr.events.record(current, 'Normal', 'UpgradeLocked', decision.message);
    } else if (
      decision.state === 'Error' &&
      decision.reason !== findRuntimeCondition(cached.status, 'Ready')?.reason
    ) {
      this.mgr.events.record(current, 'Warning', decision.reason, decision.message);
    }
  }

  /** The group with the platform team's managed defaults and boundaries applied (or why they cannot be). */
  private async managedView(
    current: Stored,
  ): Promise<{ object: Stored; hash?: string; overridden: string[]; error?: string }> {
    try {
      return await this.applyManagedConfig(current);
    } catch (err) {
      if (!(err instanceof ManagedConfigError)) throw err;
      return {
        object: current,
        overridden: [],
        error: `${this.opts.configNamespace}/${this.opts.configName}: ${err.message}`,
      };
    }
  }

  /** The group's nodes (labelled with its name, as the node watch maps them), from the cache. */
  private nodesOfGroup(name: string): V1Node[] {
    return this.controller
      .cacheOf<V1Node>(ResourceTypes.Node)
      .list()
      .filter((n) => n.metadata?.labels?.[ROLE_LABEL] === name);
  }

  /** Before the first cloud side effect: deletion must always pass through cleanup. */
  private async ensureFinalizer(current: Stored, key: string, log: Logger): Promise<Stored> {
    if (hasFinalizer(current, FINALIZER)) return current;
    if (this.opts.dryRun) {
      log.info('dry run: would add the finalizer');
      return current;
    }
    try {
      return await addFinalizer(this.client, InstanceGroupKind, current, FINALIZER);
    } catch (err) {
      // The patch tests what it read: our cached copy is older than the object.
      if (err instanceof ApiError && (err.statusCode === 409 || err.statusCode === 422))
        throw new StaleObjectError(`${key} changed since it was cached; redoing the reconcile`);
      throw err;
    }
  }

  private async upgradeStage(
    ig: ProvisionedInstanceGroup,
    current: Stored,
    fleet: Fleet,
    ctx: GroupContext,
    signal: AbortSignal,
    recordFields: (fields: Partial<InstanceGroupStatus>) => Promise<void>,
  ): Promise<StageResult> {
    const { group } = fleet;
    const ids = new Set(group.instances.map((i) => i.id));
    const nodesOf = (list: V1Node[]) => {
      const byInstance = new Map<string, V1Node>();
      for (const n of list) {
        const id = instanceIdOfNode(n);
        if (id && ids.has(id)) byInstance.set(id, n);
      }
      return byInstance;
    };
    let nodes = nodesOf(this.controller.cacheOf<V1Node>(ResourceTypes.Node).list());
    const ec2 = new Map((await this.opts.aws.ec2.describeInstances([...ids])).map((i) => [i.id, i]));
    const round = String(ig.metadata.generation ?? 0);
    let instances = rotationInstances({
      group,
      ec2,
      nodes,
      resolved: fleet.resolved,
      owner: ctx.owner,
      round,
    });
    if (instances.some((i) => i.drifted)) {
      // A rotation decides from node readiness how many more nodes it may take down: it reads the nodes
      // fresh, not from a cache a stalled watch could leave behind (the cache wakes the group up; it does
      // not decide what to drain).
      nodes = nodesOf((await this.client.listAll<V1Node>(ResourceTypes.Node)).items);
      instances = rotationInstances({ group, ec2, nodes, resolved: fleet.resolved, owner: ctx.owner, round });
    }
    const drifted = instances.filter((i) => i.drifted && i.lifecycleState === 'InService');
    const readiness = nodesReadiness(group, nodes);
    const strategy = instanceGroupStrategyType(ig) ?? 'rollingUpdate';
    const fields: Partial<InstanceGroupStatus> = {};

    if (drifted.length > 0 && isUpgradeLocked(ig)) {
      return {
        upgrade: {
          phase: 'locked',
          message: `${drifted.length} instance(s) run an older launch ${group.launchConfigurationName ? 'configuration' : 'template'}; upgrades are locked by the ${'instancemgr.keikoproj.io/lock-upgrades'} annotation`,
        },
        nodes: readiness,
        rollingCondition: {
          status: 'False',
          reason: 'Locked',
          message: 'upgrades locked by annotation instancemgr.keikoproj.io/lock-upgrades',
        },
        fields,
      };
    }

    if (strategy === 'crd')
      return this.crdStage(ig, current, fleet, ctx, drifted.length, readiness, recordFields);
    return this.rollingUpdateStage({ ig, current, fleet, ctx, instances, readiness, round });
  }

  /** The crd strategy: a RollingUpgrade (or another kind) per rotation, rendered from the spec's template. */
  private async crdStage(
    ig: InstanceGroup,
    current: Stored,
    fleet: Fleet,
    ctx: GroupContext,
    driftedCount: number,
    readiness: NodesReadiness,
    recordFields: (fields: Partial<InstanceGroupStatus>) => Promise<void>,
  ): Promise<StageResult> {
    const { group } = fleet;
    const fields: Partial<InstanceGroupStatus> = {};
    if (driftedCount === 0) return { upgrade: { phase: 'none', message: '' }, nodes: readiness, fields };
    const crd = ig.spec.strategy?.crd;
    if (!crd)
      return {
        upgrade: { phase: 'failed', message: 'spec.strategy.crd is required' },
        nodes: readiness,
        fields,
      };
    await ctx.record('InitUpgrade', `upgrading ${driftedCount} instance(s) through ${crd.crdName}`);
    const igForTemplate: InstanceGroup = {
      ...ig,
      status: { ...(ig.status ?? {}), ...current.status, activeScalingGroupName: group.name },
    };
    const step = await crdStrategyStep(this.client, {
      ig: igForTemplate,
      strategy: crd,
      scalingGroupName: group.name,
      launchVersion: fleet.launchVersion,
      dryRun: this.opts.dryRun,
      record: (s) => recordFields(s),
    });
    Object.assign(fields, step.status);
    if (step.phase === 'succeeded') {
      this.opts.metrics.upgradeFinished('crd', 'succeeded');
      return { upgrade: { phase: 'succeeded', message: step.message }, nodes: readiness, fields };
    }
    if (step.phase === 'failed') {
      this.opts.metrics.upgradeFinished('crd', 'failed');
      return { upgrade: { phase: 'failed', message: step.message }, nodes: readiness, fields };
    }
    return {
      upgrade: { phase: step.phase, message: step.message, requeueAfterMs: 10_000 },
      nodes: readiness,
      fields,
    };
  }

  /** The rollingUpdate strategy: drain, then terminate, a batch at a time, holding the group's disruption lock. */
  private async rollingUpdateStage(input: {
    ig: ProvisionedInstanceGroup;
    current: Stored;
    fleet: Fleet;
    ctx: GroupContext;
    instances: RotationInstance[];
    readiness: NodesReadiness;
    round: string;
  }): Promise<StageResult> {
    const { ig, current, fleet, ctx, instances, readiness, round } = input;
    const { group } = fleet;
    const fields: Partial<InstanceGroupStatus> = {};
    // rollingUpdate: drain, then terminate, a batch at a time.
    const previous = findRuntimeCondition(current.status, ROLLING_UPDATE_CONDITION);
    const plan = planRotation({
      instances,
      desiredCapacity: group.desiredCapacity,
      policy: rotationPolicy(ig, group.desiredCapacity),
      drains: this.drains.states(objectKey(ig)),
      seed: ig.metadata.uid ?? objectKey(ig),
      ...(previous ? { previous } : {}),
      now: Date.now(),
    });
    // Across tools: the group's disruption lock, held while the rotation has work, given back when not.
    const lockRef = { region: this.opts.disruptionLock?.region, name: group.name };
    if (plan.done || plan.failed || this.opts.dryRun) {
      if (!this.opts.dryRun) await this.locks.release(lockRef, ctx.owner);
    } else {
      const lock = await this.locks.acquire(
        lockRef,
        ctx.owner,
        `InstanceGroup ${ctx.namespace}/${ctx.name} rolling update`,
      );
      if (!lock.held) {
        const message = `${lock.holder} is disrupting ${group.name} (${lock.reason}); the rolling update waits`;
        return {
          upgrade: { phase: 'waiting', message, requeueAfterMs: 30_000 },
          nodes: readiness,
          rollingCondition: { status: 'False', reason: 'WaitingForScalingGroup', message },
          fields,
        };
      }
    }
    if (plan.drain.length > 0 || plan.terminate.length > 0)
      await ctx.record('InitUpgrade', plan.condition.message);
    const nodeOfInstance = new Map(instances.filter((i) => i.node).map((i) => [i.id, i.node?.name ?? '']));
    await executeRotation(plan, {
      kube: this.client,
      autoScaling: this.opts.aws.autoScaling as AutoScalingPort,
      drains: this.drains,
      settings: this.opts.drain,
      owner: ctx.owner,
      key: objectKey(ig),
      round,
      groupName: group.name,
      log: ctx.log,
      dryRun: this.opts.dryRun,
      event: ctx.event,
      nodeOfInstance,
      onTerminated: () => this.opts.metrics.nodeReplaced(ig.spec.provisioner),
    });
    if (plan.done && (previous?.status === 'True' || previous?.reason === 'Paused')) {
      this.opts.metrics.upgradeFinished('rollingUpdate', 'succeeded');
      ctx.event(
        'Normal',
        'UpgradeComplete',
        group.launchConfigurationName
          ? `every instance of ${group.name} runs launch configuration ${group.launchConfigurationName}`
          : `every instance of ${group.name} runs launch template version ${fleet.launchVersion}`,
      );
    }
    if (plan.failed) {
      if (previous?.reason !== 'DrainFailed') {
        this.opts.metrics.upgradeFinished('rollingUpdate', 'failed');
        ctx.event('Warning', 'UpgradeFailed', plan.condition.message);
      }
      return {
        upgrade: { phase: 'failed', message: plan.condition.message, requeueAfterMs: plan.requeueAfterMs },
        nodes: readiness,
        rollingCondition: plan.condition,
        fields,
      };
    }
    const active = plan.drain.length + plan.terminate.length > 0 || !plan.done;
    return {
      upgrade: plan.done
        ? { phase: 'none', message: '' }
        : {
            phase: active ? 'running' : 'waiting',
            message: plan.condition.message,
            ...(plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {}),
          },
      nodes: readiness,
      rollingCondition: plan.condition,
      fields,
    };
  }

  /** Why a group has no provisioner to act on: named as the field, with where it could have come from. */
  private provisionerProblem(ig: InstanceGroup): FieldProblem {
    const config = `${this.opts.configNamespace}/${this.opts.configName}`;
    return ig.spec.provisioner === undefined
      ? {
          field: 'spec.provisioner',
          message: `not set by the group, nor by the cluster defaults (ConfigMap ${config})`,
        }
      : { field: 'spec.provisioner', message: `unknown provisioner ${ig.spec.provisioner}` };
  }

  /** A managed node group's nodes carry eks.amazonaws.com/nodegroup=<name>; as many as its minimum must be Ready. */
  private async managedNodesReadiness(ig: InstanceGroup, outcome: ProvisionOutcome): Promise<NodesReadiness> {
    const name = outcome.status.activeScalingGroupName ?? '';
    const want = outcome.status.currentMin ?? ig.spec['eks-managed']?.minSize ?? 0;
    if (want === 0) return { ready: true, reason: 'NoInstances', message: 'the node group wants no nodes' };
    const nodes = this.controller
      .cacheOf<V1Node>(ResourceTypes.Node)
      .list()
      .filter((n) => n.metadata?.labels?.[NODEGROUP_LABEL] === name);
    const ready = nodes.filter((n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
    return ready >= want
      ? { ready: true, reason: 'NodesReady', message: `${ready} node(s) Ready` }
      : {
          ready: false,
          reason: 'NodesNotReady',
          message: `${ready} of ${want} node(s) of managed node group ${name} Ready`,
        };
  }

  private async finalize(
    current: Stored,
    ctx: GroupContext,
    write: (status: InstanceGroupStatus) => Promise<void>,
    provisioner: { impl: Provisioner; name: ProvisionerName } | undefined,
  ): Promise<ReconcileResult | void> {
    if (!hasFinalizer(current, FINALIZER)) return;
    if (!provisioner) {
      // Nothing this controller knows how to clean up: let the object go.
      await removeFinalizer(this.client, InstanceGroupKind, current, FINALIZER);
      return;
    }
    await ctx.record('Deleting', 'deleting cloud resources');
    await this.drains.abortAll(objectKey(current), 'the InstanceGroup is being deleted');
    let result;
    try {
      result = await provisioner.impl.delete(ctx);
    } catch (err) {
      await this.reportFailure(current, ctx.ig, write, err, provisioner.name, 'Deleting');
      throw err;
    }
    if (!result.done) {
      if (result.failure) this.mgr.events.record(current, 'Warning', 'DeleteFailed', result.failure);
      await write({ ...(current.status ?? {}), currentState: 'Deleting' });
      return { requeueAfterMs: result.requeueAfterMs ?? 5_000 };
    }
    // The cloud resources are gone: release the node role (only if no other group uses it) — the one the
    // status names, and any aws-auth still counts this group for.
    const me = groupKey(ctx.namespace, ctx.name);
    const roles = new Set<string>();
    if (current.status?.nodesInstanceRoleArn)
      roles.add(normalizeRoleArn(current.status.nodesInstanceRoleArn));
    if (AWS_AUTH_PROVISIONERS.has(provisioner.name)) {
      try {
        for (const arn of await this.awsAuth.rolesOwnedBy(me)) roles.add(arn);
      } catch (err) {
        if (!(err instanceof AwsAuthParseError)) throw err;
      }
    }
    for (const roleArn of AWS_AUTH_PROVISIONERS.has(provisioner.name) ? roles : []) {
      const others = this.controller.primary
        .list()
        .filter(
          (g) =>
            groupKey(g.metadata.namespace ?? '', g.metadata.name ?? '') !== me &&
            !isBeingDeleted(g) &&
            normalizeRoleArn(g.status?.nodesInstanceRoleArn ?? '') === roleArn,
        )
        .map((g) => groupKey(g.metadata.namespace ?? '', g.metadata.name ?? ''));
      let mapping;
      try {
        mapping = await this.awsAuth.release(roleArn, me, others);
      } catch (err) {
        await this.reportFailure(current, ctx.ig, write, err, provisioner.name, 'Deleting');
        throw err;
      }
      if (mapping === 'removed')
        this.mgr.events.record(
          current,
          'Normal',
          'RoleUnmapped',
          `${roleArn} removed from ${AWS_AUTH_NAMESPACE}/${AWS_AUTH_NAME}`,
        );
      else if (mapping === 'kept' && others.length > 0)
        this.mgr.events.record(
          current,
          'Normal',
          'RoleKept',
          `${roleArn} stays in ${AWS_AUTH_NAMESPACE}/${AWS_AUTH_NAME}: used by ${others.join(', ')}`,
        );
    }
    this.mgr.events.record(current, 'Normal', 'Deleted', result.message);
    if (this.opts.dryRun) return;
    const groupName = current.status?.activeScalingGroupName;
    if (groupName)
      await this.locks.release({ region: this.opts.disruptionLock?.region, name: groupName }, ctx.owner);
    // One-time step: confirm against a live read before letting the object go.
    const live = await this.client.get<Stored>(InstanceGroupKind, ctx.namespace, ctx.name);
    if (live && hasFinalizer(live, FINALIZER))
      await removeFinalizer(this.client, InstanceGroupKind, live, FINALIZER);
    this.opts.metrics.setState(`${ctx.namespace}/${ctx.name}`, provisioner.name, undefined);
  }

  /** A failed call (AWS error, throttling) goes into the Ready condition before the key backs off. */
  private async reportFailure(
    current: Stored,
    ig: InstanceGroup,
    write: (status: InstanceGroupStatus) => Promise<void>,
    err: unknown,
    provisioner: string,
    state?: ReconcileState,
  ): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    const throttled = err instanceof AwsOperationError && err.throttled;
    if (throttled) this.opts.metrics.throttled(provisioner);
    try {
      await write(
        composeStatus({
          previous: current.status,
          ig,
          decision: {
            state: state ?? (current.status?.currentState as ReconcileState | undefined) ?? 'Init',
            ready: false,
            reason: throttled ? 'AwsThrottled' : 'CloudError',
            message,
          },
          fields: {},
          specValid: { ok: true, message: 'spec passed validation' },
          now: new Date(),
        }),
      );
    } catch (writeErr) {
      this.log.debug('could not record the failure in status', { error: String(writeErr) });
    }
    this.mgr.events.record(current, 'Warning', throttled ? 'AwsThrottled' : 'ReconcileFailed', message);
  }

  private context(
    ig: InstanceGroup,
    namespace: string,
    name: string,
    log: Logger,
    record: (state: ReconcileState, message?: string) => Promise<void>,
  ): GroupContext {
    const provisioner = ig.spec.provisioner ?? '';
    return {
      ig,
      namespace,
      name,
      owner: ownerOf(namespace, name),
      log,
      aws: this.opts.aws,
      kube: this.client,
      dryRun: this.opts.dryRun,
      now: () => new Date(),
      record,
      act: async <T>(
        operation: string,
        description: string,
        run: () => Promise<T>,
      ): Promise<T | undefined> => {
        if (this.opts.dryRun) {
          log.info(`dry run: would ${description}`, { operation });
          this.opts.metrics.cloudOperation(provisioner, operation, 'dry_run');
          this.mgr.events.record(this.eventTarget(ig), 'Normal', 'DryRun', `would ${description}`);
          return undefined;
        }
        try {
          const out = await run();
          this.opts.metrics.cloudOperation(provisioner, operation, 'success');
          log.info(description, { operation });
          return out;
        } catch (err) {
          this.opts.metrics.cloudOperation(provisioner, operation, 'error');
          throw err;
        }
      },
      event: (type, reason, message) => {
        void this.mgr.events.record(this.eventTarget(ig), type, reason, message);
      },
    };
  }

  private eventTarget(ig: InstanceGroup): InstanceGroup {
    return this.controller.primary.getByName(ig.metadata.namespace, ig.metadata.name ?? '') ?? ig;
  }

  /** Defaults and boundaries from the ConfigMap, unless the group's namespace opted out. */
  private async applyManagedConfig(
    ig: Stored,
  ): Promise<{ object: Stored; hash?: string; overridden: string[] }> {
    const cm = this.managedConfigCache?.getByName(this.opts.configNamespace, this.opts.configName);
    const config = parseManagedConfig(cm?.data);
    if (!config) return { object: ig, overridden: [] };
    const ns = await this.client.get<V1Namespace>(
      ResourceTypes.Namespace,
      undefined,
      ig.metadata.namespace ?? 'default',
    );
    if ((ns?.metadata?.annotations?.[CONFIG_EXCLUDED_ANNOTATION] ?? '').toLowerCase() === 'true')
      return { object: ig, overridden: [] };
    const applied = applyManagedConfig(ig, config);
    return { object: applied.object, hash: config.hash, overridden: applied.overridden };
  }
}

export function registerInstanceGroupController(
  mgr: Manager,
  opts: InstanceGroupControllerOptions,
): InstanceGroupReconciler {
  return new InstanceGroupReconciler(mgr, opts);
}
