// The HealthCheck controller: reads a check and its Workflows from caches (Workflow completion arrives
// through the informer's watch — no worker ever polls), asks plan.ts what to do, creates the RBAC and
// Workflows it says, writes the status and records Events and metrics. A schedule lives in the status
// (nextRunAt, currentWorkflow, lastSlot) and a run's name is derived from its slot, so a restarted or new
// leader adopts running workflows and never submits a slot twice. Timers are the work queue's delayed
// adds, keyed namespace/name.
import type { KubernetesObject } from '@kubernetes/client-node';
import { HealthCheckKind, type HealthCheck, type HealthCheckStatus } from '@keiko/api';
import {
  addFinalizer,
  annotationsChanged,
  anyOf,
  apiVersionOf,
  ArgoWorkflowResource,
  argoOutcome,
  errorText,
  generationChanged,
  hasFinalizer,
  isAlreadyExists,
  isBeingDeleted,
  isConflict,
  patchStatus,
  removeFinalizer,
  type ArgoWorkflow,
  type Controller,
  type Informer,
  type Logger,
  type Manager,
  type ReconcileResult,
  type Request,
} from '@keiko/kube-runtime';
import { DEFAULT_INSTANCE_ID, FINALIZER, PAUSED_ANNOTATION, WorkflowLabels } from './constants';
import { HealthCheckMetrics } from './metrics';
import {
  planHealthCheck,
  retryDelayMs,
  submissionFailedStatus,
  type HealthCheckPlan,
  type Submission,
} from './plan';
import { RbacEnsurer } from './rbac-apply';
import { rbacFor, rbacPolicyProblem } from './rbac';
import { readSource } from './source';
import { observeRun, parseWorkflowDocument, renderWorkflow, type ObservedRun } from './workflow';

export interface HealthCheckControllerOptions {
  /** Argo controller instanceID put on workflows (default activemonitor-workflows). */
  instanceId?: string;
  /** Time zone of cron schedules (IANA name; default UTC). */
  timeZone?: string;
  /** Namespaces whose checks may use custom rbacRules, level cluster, or another namespace ('*': all). */
  privilegedNamespaces?: string[];
  /** A run starting later than this after its slot is reported (default 30s). */
  lateAfterMs?: number;
  /** Where `source.file.path`s resolve (a mounted ConfigMap of workflows; unset: file sources fail). */
  workflowDir?: string;
  /** Report instead of creating workflows and RBAC (default: the manager's --dry-run). */
  dryRun?: boolean;
}

const BY_CHECK = 'healthcheck';

export function registerHealthCheckController(mgr: Manager, opts: HealthCheckControllerOptions = {}) {
  const metrics = new HealthCheckMetrics(mgr.metrics.registry);
  const workflows: Informer<ArgoWorkflow> = mgr.cache.informer<ArgoWorkflow>(ArgoWorkflowResource, {
    namespace: mgr.config.namespace || undefined,
    labelSelector: WorkflowLabels.healthCheck,
    optional: { pollMs: 30_000 },
    transform: slimWorkflow,
    indexers: { [BY_CHECK]: (wf) => [checkKeyOf(wf)] },
  });
  // The reconciler reads the controller's cache, which exists once the controller is registered.
  const reconciler = new HealthCheckReconciler(mgr, opts, metrics, workflows, () => controller);
  const controller: Controller<HealthCheck> = mgr.addController<HealthCheck>({
    name: 'healthcheck',
    for: HealthCheckKind,
    // Our own status writes need no second look: completions come from the Workflow watch.
    forOptions: { predicates: [anyOf(generationChanged, annotationsChanged)] },
    reconcile: (req) => reconciler.reconcile(req),
  });
  const enqueue = (wf: ArgoWorkflow) => controller.queue.add(checkKeyOf(wf));
  // Argo updates a running workflow many times; the plan only cares when it finishes (or goes). A new
  // running workflow is one we just created (its check's status says so) — or, after a restart, one the
  // initial reconcile of every check adopts — so its ADD would only race our own status write.
  workflows.addEventHandler({
    onAdd: (wf) => {
      if (argoOutcome(wf.status?.phase) !== 'Running') enqueue(wf);
    },
    onUpdate: (o, n) => {
      if (argoOutcome(o.status?.phase) !== argoOutcome(n.status?.phase)) enqueue(n);
    },
    onDelete: enqueue,
  });
  return { controller, workflows, metrics };
}

class HealthCheckReconciler {
  private readonly instanceId: string;
  private readonly timeZone: string;
  private readonly privileged: string[];
  private readonly lateAfterMs: number;
  private readonly dryRun: boolean;
  private readonly workflowDir: string | undefined;
  private readonly log: Logger;
  private readonly rbac: RbacEnsurer;
  // Refused submissions per check, for the retry backoff (reset when a submission goes through).
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly mgr: Manager,
    opts: HealthCheckControllerOptions,
    private readonly metrics: HealthCheckMetrics,
    private readonly workflows: Informer<ArgoWorkflow>,
    private readonly controller: () => Controller<HealthCheck>,
  ) {
    this.instanceId = opts.instanceId ?? DEFAULT_INSTANCE_ID;
    this.timeZone = opts.timeZone ?? 'UTC';
    this.privileged = opts.privilegedNamespaces ?? [];
    this.lateAfterMs = opts.lateAfterMs ?? 30_000;
    this.dryRun = opts.dryRun ?? mgr.config.dryRun;
    this.workflowDir = opts.workflowDir;
    this.log = mgr.log.child?.({ controller: 'healthcheck' }) ?? mgr.log;
    this.rbac = new RbacEnsurer(mgr.client, this.log);
  }

  async observe(hc: HealthCheck): Promise<{ runs: ObservedRun[]; gone: string[] }> {
    const key = `${hc.metadata.namespace}/${hc.metadata.name}`;
    const cached = this.workflows.state() === 'available' ? this.workflows.byIndex(BY_CHECK, key) : [];
    const runs = cached.map(observeRun);
    const gone: string[] = [];
    const s = hc.status ?? {};
    for (const [name, wf] of [
      [s.currentWorkflow, hc.spec.workflow],
      [s.currentRemedyWorkflow, hc.spec.remedyworkflow],
    ] as const) {
      if (!name || runs.some((r) => r.name === name)) continue;
      // Not cached yet (just created) or gone: ask the apiserver.
      const live = await this.mgr.client.get<ArgoWorkflow>(
        ArgoWorkflowResource,
        wf?.resource?.namespace ?? hc.metadata.namespace,
        name,
      );
      if (live) runs.push(observeRun(live));
      else gone.push(name);
    }
    return { runs, gone };
  }

  async reconcile(req: Request): Promise<ReconcileResult | void> {
    let hc = this.controller().primary.getByName(req.namespace, req.name);
    if (!hc) return;
    const rlog = this.log.child?.({ key: req.key }) ?? this.log;
    if (isBeingDeleted(hc)) return this.cleanup(hc, rlog);
    if (!this.dryRun && !hasFinalizer(hc, FINALIZER))
      hc = await addFinalizer(this.mgr.client, HealthCheckKind, hc, FINALIZER);
    const { runs, gone } = await this.observe(hc);
    const plan = planHealthCheck({
      hc,
      now: new Date(),
      timeZone: this.timeZone,
      paused: hc.metadata.annotations?.[PAUSED_ANNOTATION] === 'true',
      runs,
      gone,
      problem: rbacPolicyProblem(hc, this.privileged),
      lateAfterMs: this.lateAfterMs,
    });
    let status = plan.status;
    let result: ReconcileResult | undefined =
      plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
    for (const sub of plan.submissions) {
      const refused = await this.submit(hc, sub, rlog);
      if (!refused) continue;
      status = submissionFailedStatus(status, hc.status ?? {}, sub, refused);
      plan.events.push({ type: 'Warning', reason: 'SubmitFailed', message: refused });
      if (sub.kind === 'healthCheck') {
        const n = this.attempts.get(req.key) ?? 0;
        this.attempts.set(req.key, n + 1);
        result = { requeueAfterMs: retryDelayMs(hc.spec, n) };
        break;
      }
    }
    if (status.currentWorkflow) this.attempts.delete(req.key);
    return this.finish(hc, plan, status, result, rlog);
  }

  async finish(
    hc: HealthCheck,
    plan: HealthCheckPlan,
    status: HealthCheckStatus,
    result: ReconcileResult | undefined,
    rlog: Logger,
  ): Promise<ReconcileResult | void> {
    try {
      await patchStatus(this.mgr.client, HealthCheckKind, hc, status);
    } catch (err) {
      if (!isConflict(err)) throw err;
      rlog.debug('status changed since it was read; planning again');
      return { requeue: true };
    }
    const name = hc.metadata.name ?? '';
    const ns = hc.metadata.namespace ?? '';
    for (const o of plan.outcomes) this.metrics.record(name, ns, o);
    for (const e of plan.events) {
      rlog.info(e.message, { reason: e.reason, healthcheck: `${ns}/${name}` });
      // Not awaited: an Event write must not hold a worker (and the next slot) back; record() never throws.
      void this.mgr.events.record(withKind(hc), e.type, e.reason, e.message);
    }
    return result;
  }

  /** Reads the source, ensures RBAC and creates the Workflow; returns why it could not, or undefined. */
  async submit(hc: HealthCheck, sub: Submission, rlog: Logger): Promise<string | undefined> {
    const field = sub.kind === 'remedy' ? 'spec.remedyworkflow' : 'spec.workflow';
    try {
      const parsed = parseWorkflowDocument(
        await readSource(sub.workflow, field, this.workflowDir),
        `${field}.resource.source`,
      );
      if (!parsed.doc) return parsed.problem;
      const wf = renderWorkflow({
        hc,
        kind: sub.kind,
        wf: sub.workflow,
        doc: parsed.doc,
        name: sub.name,
        slot: sub.slot,
        instanceId: this.instanceId,
      });
      if (this.dryRun) {
        rlog.info('dry run: would submit workflow', { workflow: sub.name, kind: sub.kind });
        return undefined;
      }
      const rb = rbacFor(hc, sub.workflow);
      if (rb) await this.rbac.ensure(rb);
      await this.mgr.client.create<ArgoWorkflow>(ArgoWorkflowResource, {
        ...wf,
        apiVersion: apiVersionOf(ArgoWorkflowResource),
      });
      this.metrics.submissions.inc({ workflow: sub.kind });
      rlog.info('submitted workflow', { workflow: sub.name, kind: sub.kind, slot: sub.slot.toISOString() });
      return undefined;
    } catch (err) {
      // Created before (by us, before a restart): the slot's run exists, which is all we wanted.
      if (isAlreadyExists(err)) return undefined;
      return `could not submit ${sub.kind === 'remedy' ? 'remedy' : 'health check'} workflow ${sub.name}: ${errorText(err)}`;
    }
  }

  /** A deleted check: its workflows elsewhere and its RBAC (unless another check uses it) go; then the finalizer. */
  async cleanup(hc: HealthCheck, rlog: Logger): Promise<void> {
    if (!hasFinalizer(hc, FINALIZER)) return;
    const key = `${hc.metadata.namespace}/${hc.metadata.name}`;
    if (!this.dryRun) {
      for (const wf of this.workflows.state() === 'available' ? this.workflows.byIndex(BY_CHECK, key) : [])
        if (wf.metadata?.namespace !== hc.metadata.namespace)
          await this.mgr.client.delete(
            ArgoWorkflowResource,
            wf.metadata?.namespace,
            wf.metadata?.name ?? '',
            {
              propagationPolicy: 'Background',
            },
          );
      const others = this.controller()
        .primary.list()
        .filter((o) => o.metadata.uid !== hc.metadata.uid && !isBeingDeleted(o));
      for (const wf of [hc.spec.workflow, hc.spec.remedyworkflow]) {
        const rb = rbacFor(hc, wf);
        if (rb) await this.rbac.release(rb, others);
      }
    }
    await removeFinalizer(this.mgr.client, HealthCheckKind, hc, FINALIZER);
    this.attempts.delete(key);
    this.metrics.forget(hc.metadata.name ?? '', hc.metadata.namespace ?? '');
    rlog.info('health check deleted: workflows and RBAC cleaned up');
  }
}

function checkKeyOf(wf: ArgoWorkflow): string {
  const labels = wf.metadata?.labels ?? {};
  return `${labels[WorkflowLabels.healthCheckNamespace] ?? ''}/${labels[WorkflowLabels.healthCheck] ?? ''}`;
}

/** The cache keeps what the plan reads: no spec, and of the nodes only their output parameters. */
function slimWorkflow(wf: ArgoWorkflow): ArgoWorkflow {
  const nodes: NonNullable<ArgoWorkflow['status']>['nodes'] = {};
  for (const [id, n] of Object.entries(wf.status?.nodes ?? {}))
    if (n.outputs?.parameters?.some((p) => p.value?.includes('"metrics"')))
      nodes[id] = { outputs: n.outputs };
  const { managedFields: _m, ...metadata } = wf.metadata ?? {};
  return {
    apiVersion: wf.apiVersion,
    kind: wf.kind,
    metadata,
    status: {
      phase: wf.status?.phase,
      message: wf.status?.message,
      startedAt: wf.status?.startedAt,
      finishedAt: wf.status?.finishedAt,
      nodes,
    },
  };
}

/** Objects from a LIST may lack apiVersion/kind; Events need them. */
function withKind(hc: HealthCheck): KubernetesObject {
  return { ...hc, apiVersion: HealthCheckKind.apiVersion, kind: HealthCheckKind.kind } as KubernetesObject;
}
