// The Addon controller: reads an Addon, its workflows, the other Addons and its workloads from caches,
// asks plan.ts what to do, does it (finalizer, workflow submissions and deletions), writes the status
// and records Events and metrics.
import type { KubernetesObject } from '@kubernetes/client-node';
import { AddonKind, metadataTimestamp, normalizeAddon, type Addon } from '@keiko/api';
import {
  addFinalizer,
  apiVersionOf,
  generationChanged,
  isAlreadyExists,
  isConflict,
  patchStatus,
  removeFinalizer,
  ResourceTypes,
  type Controller,
  type Logger,
  type Manager,
  type ReconcileResult,
  type Request,
  type ResourceType,
  type Store,
  type Informer,
} from '@keiko/kube-runtime';
import { addonChecksum } from './checksum';
import {
  ADDON_FINALIZER,
  ADDON_GROUP,
  ArgoWorkflowResource,
  DefaultLabels,
  WorkflowLabels,
  WorkloadResources,
} from './constants';
import { addonNode, dependents, type AddonNode } from './dependencies';
import { AddonMetrics } from './metrics';
import { planAddon, secretsToCheck, type AddonPlan } from './plan';
import { belongsToAddon, objectStatuses, type ObservedObject } from './resources';
import { observeWorkflow, type Workflow } from './workflow';
import { WorkflowSource } from './workflow-source';

export interface AddonControllerOptions {
  /** Render and report the workflows instead of submitting them (default: the manager's --dry-run). */
  dryRun?: boolean;
  /** Where Workflows live (default argoproj.io/v1alpha1 workflows); tests point it elsewhere. */
  workflowResource?: ResourceType;
  /** How often to look for a missing Workflow CRD (default 30s). */
  crdPollMs?: number;
  /** How long a failed delete workflow shows Delete Failed before it runs again (default 60s). */
  deleteRetryMs?: number;
}

export interface AddonControllerHandle {
  controller: Controller<Addon>;
  workflows: WorkflowSource;
  metrics: AddonMetrics;
}

const BY_NAME = 'name';

type Workload = ObservedObject['obj'];

/** Registers the Addon controller on `mgr`; call before mgr.start(). */
export function registerAddonController(
  mgr: Manager,
  opts: AddonControllerOptions = {},
): AddonControllerHandle {
  const dryRun = opts.dryRun ?? mgr.config.dryRun;
  const wfRt = opts.workflowResource ?? ArgoWorkflowResource;
  const crdPollMs = opts.crdPollMs ?? 30_000;
  const deleteRetryMs = opts.deleteRetryMs ?? 60_000;
  const log: Logger = mgr.log.child?.({ controller: 'addon' }) ?? mgr.log;

  const controller: Controller<Addon> = mgr.addController<Addon>({
    name: 'addon',
    for: AddonKind,
    forOptions: {
      indexers: { [BY_NAME]: (a) => [a.metadata.name ?? ''] },
      // Our own status writes need no second look; dependents are enqueued by the handler below.
      predicates: [generationChanged],
    },
    reconcile: (req) => reconcile(req),
  });
  const enqueue = (key: string) => controller.queue.add(key);

  // Nodes for dependency resolution, memoized by resourceVersion (normalizing is not free).
  const nodes = new Map<string, { rv: string | undefined; node: AddonNode }>();
  const allNodes = (): AddonNode[] =>
    controller.primary.list().map((a) => {
      const key = `${a.metadata.namespace}/${a.metadata.name}`;
      const hit = nodes.get(key);
      if (hit && hit.rv === a.metadata.resourceVersion) return hit.node;
      const node = addonNode(a);
      nodes.set(key, { rv: a.metadata.resourceVersion, node });
      return node;
    });
  const enqueueDependents = (a: Addon) => {
    for (const d of dependents(addonNode(a), allNodes())) enqueue(d.key);
  };
  controller.primary.addEventHandler({
    onAdd: enqueueDependents,
    onUpdate: (o, n) => {
      if (o === n) return;
      const phase = (a: Addon) => a.status?.lifecycle?.installed;
      if (
        phase(o) !== phase(n) ||
        o.metadata.generation !== n.metadata.generation ||
        !!metadataTimestamp(o, 'deletionTimestamp') !== !!metadataTimestamp(n, 'deletionTimestamp')
      ) {
        enqueueDependents(o);
        enqueueDependents(n);
      }
    },
    onDelete: (a) => {
      nodes.delete(`${a.metadata.namespace}/${a.metadata.name}`);
      enqueueDependents(a);
    },
  });

  const workflows = new WorkflowSource(mgr.cache, wfRt, {
    namespace: mgr.config.namespace,
    pollMs: crdPollMs,
    onWorkflow: enqueue,
    onStateChange: () => controller.primary.keys().forEach(enqueue),
  });

  const workloads = watchWorkloads(mgr, controller.primary, enqueue);

  const metrics = new AddonMetrics(mgr.metrics.registry, () => controller.primary.list());

  function observeResources(addon: Addon) {
    if (!workloads.every((w) => w.informer.hasSynced())) return undefined;
    const scope = addonScope(addon);
    const namespaces = [
      ...new Set([scope.namespace, scope.installNamespace].filter((n): n is string => !!n)),
    ];
    const objects: ObservedObject[] = [];
    for (const { rt, informer } of workloads) {
      for (const ns of namespaces)
        for (const obj of informer.list(ns)) if (belongsToAddon(scope, obj)) objects.push({ rt, obj });
    }
    return objectStatuses(objects);
  }

  async function secretsPresent(addon: Addon, names: string[]): Promise<Record<string, boolean>> {
    const ns = normalizeAddon(addon).spec.params?.namespace;
    const found: Record<string, boolean> = {};
    if (!ns) return found;
    for (const n of names) found[n] = !!(await mgr.client.get(ResourceTypes.Secret, ns, n));
    return found;
  }

  async function reconcile(req: Request): Promise<ReconcileResult | void> {
    const addon = controller.primary.getByName(req.namespace, req.name);
    if (!addon) return;
    const ns = addon.metadata.namespace ?? '';
    const name = addon.metadata.name ?? '';
    const rlog = log.child?.({ key: req.key }) ?? log;

    const secrets = secretsToCheck(addon);
    const plan = planAddon({
      addon,
      all: allNodes(),
      workflows: workflows.forAddon(ns, name).map(observeWorkflow),
      workflowApi: workflows.state,
      resources: observeResources(addon),
      secrets: secrets.length ? await secretsPresent(addon, secrets) : undefined,
      now: new Date(),
      dryRun,
      deleteRetryMs,
      crdPollMs,
    });
    rlog.debug('planned', {
      installed: plan.status.lifecycle?.installed,
      reason: plan.status.reason,
      actions: plan.actions.map((a) => a.type),
    });

    const acted = await executeAddonActions({ mgr, wfRt, metrics, log }, addon, plan, rlog);
    if (acted.end) return acted.result;
    const current = acted.current;
    if (plan.writeStatus) {
      try {
        await patchStatus(mgr.client, AddonKind, current, plan.status);
      } catch (err) {
        if (!isConflict(err)) throw err;
        rlog.debug('status changed since it was read; planning again');
        return { requeue: true };
      }
    }
    for (const o of plan.outcomes) metrics.finished(o.step, o.outcome, o.durationSeconds);
    for (const e of plan.events) await mgr.events.record(withKind(addon), e.type, e.reason, e.message);
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }

  return { controller, workflows, metrics };
}

/** What resource observation needs of an Addon. */
function addonScope(a: Addon) {
  const spec = normalizeAddon(a).spec;
  return {
    name: a.metadata.name ?? '',
    namespace: a.metadata.namespace ?? '',
    installNamespace: spec.params?.namespace,
    selector: spec.selector,
  };
}

/** Objects from a LIST may lack apiVersion/kind; Events need them. */
function withKind(a: Addon): KubernetesObject {
  return { ...a, apiVersion: AddonKind.apiVersion, kind: AddonKind.kind } as KubernetesObject;
}

interface ActionDeps {
  mgr: Manager;
  wfRt: ResourceType;
  metrics: AddonMetrics;
  log: Logger;
}

/**
 * Carries out a plan's actions in order (finalizer, workflow deletions and submissions, finalizer
 * removal), confirming each one-time step against a live read. Returns the object as it now is, or the
 * result to end the reconcile with (plan again, or nothing more to do).
 */
async function executeAddonActions(
  deps: ActionDeps,
  addon: Addon,
  plan: AddonPlan,
  rlog: Logger,
): Promise<{ end: false; current: Addon } | { end: true; result?: ReconcileResult }> {
  const { mgr, wfRt, metrics } = deps;
  const ns = addon.metadata.namespace ?? '';
  const name = addon.metadata.name ?? '';
  let current: Addon = addon;
  for (const action of plan.actions) {
    switch (action.type) {
      case 'addFinalizer':
        current = await addFinalizer(mgr.client, AddonKind, current, ADDON_FINALIZER);
        break;
      case 'deleteWorkflows': {
        // Deleting workflows is decided from the cache: confirm the spec really is the one planned for.
        const live = await mgr.client.get<Addon>(AddonKind, ns, name);
        if (
          !live ||
          live.metadata.uid !== addon.metadata.uid ||
          addonChecksum(normalizeAddon(live).spec) !== plan.checksum
        ) {
          rlog.info('addon changed since it was read; planning again');
          return { end: true, result: { requeue: true } };
        }
        for (const wf of action.names) {
          await mgr.client.delete(wfRt, ns, wf, { propagationPolicy: 'Background' });
          rlog.info('deleted workflow', { workflow: wf });
        }
        break;
      }
      case 'submitWorkflow': {
        const wfName = action.workflow.metadata?.name ?? '';
        try {
          await mgr.client.create<Workflow>(wfRt, { ...action.workflow, apiVersion: apiVersionOf(wfRt) });
          metrics.submitted(action.step);
          rlog.info('submitted workflow', { workflow: wfName, step: action.step });
        } catch (err) {
          if (!isAlreadyExists(err))
            return { end: true, result: await submitFailed(deps, current, plan, action.step, wfName, err) };
        }
        break;
      }
      case 'removeFinalizer': {
        const live = await mgr.client.get<Addon>(AddonKind, ns, name);
        if (!live || live.metadata.uid !== addon.metadata.uid) return { end: true };
        if (action.confirmWorkflow) {
          const wf = await mgr.client.get<Workflow>(wfRt, ns, action.confirmWorkflow);
          const uid = wf?.metadata?.labels?.[WorkflowLabels.addonUid];
          if (wf?.status?.phase !== 'Succeeded' || (uid && uid !== addon.metadata.uid))
            return { end: true, result: { requeue: true } };
        }
        await removeFinalizer(mgr.client, AddonKind, live, ADDON_FINALIZER);
        rlog.info('finalizer removed');
        break;
      }
    }
  }
  return { end: false, current };
}

/** A submission the apiserver refused: said in the status and an Event, then retried with backoff. */
async function submitFailed(
  deps: ActionDeps,
  addon: Addon,
  plan: AddonPlan,
  step: string,
  wfName: string,
  err: unknown,
): Promise<ReconcileResult> {
  const message = `could not submit ${step} workflow ${wfName}: ${err instanceof Error ? err.message : String(err)}`;
  deps.log.warn(message, { key: `${addon.metadata.namespace}/${addon.metadata.name}` });
  try {
    await patchStatus(deps.mgr.client, AddonKind, addon, { ...plan.status, reason: message });
  } catch (patchErr) {
    if (!isConflict(patchErr)) throw patchErr;
  }
  await deps.mgr.events.record(withKind(addon), 'Warning', 'SubmitFailed', message);
  return { requeue: true };
}

// Workloads the addons' workflows applied carry app.kubernetes.io/managed-by=addonmgr.keikoproj.io:
// watching only those keeps these caches small. They live in each addon's params.namespace, not the
// Addon's, so they are watched in every namespace even when --namespace scopes the Addons.
function watchWorkloads(
  mgr: Manager,
  addons: Store<Addon>,
  enqueue: (key: string) => void,
): { rt: ResourceType; informer: Informer<Workload> }[] {
  return Object.values(WorkloadResources).map((rt) => {
    const informer = mgr.cache.informer<Workload>(rt, {
      labelSelector: `${DefaultLabels.managedBy}=${ADDON_GROUP}`,
    });
    const toOwners = (obj: Workload) => {
      const partOf = obj.metadata?.labels?.[DefaultLabels.partOf];
      if (!partOf) return;
      for (const a of addons.byIndex(BY_NAME, partOf)) {
        if (belongsToAddon(addonScope(a), obj)) enqueue(`${a.metadata.namespace}/${a.metadata.name}`);
      }
    };
    informer.addEventHandler({
      onAdd: toOwners,
      onUpdate: (o, n) => {
        toOwners(o);
        toOwners(n);
      },
      onDelete: toOwners,
    });
    return { rt, informer };
  });
}
