// A stand-in for Argo's workflow-controller, for tests and the sandbox. The real one is a Go module
// (github.com/argoproj/argo-workflows/v3) that this project's module proxy does not serve, so it cannot
// be built here; this plays its part against the real apiserver:
//
//   - every Workflow it sees goes Pending -> Running (status.startedAt) -> Succeeded or Failed
//     (status.finishedAt, status.message), written through the status subresource;
//   - on the way it applies what the workflow would have applied: `resource` templates (apply, create,
//     replace, delete) and raw artifacts handed to a `kubectl apply|delete -f` container, after
//     substituting {{workflow.parameters.*}}, {{workflow.name}} and {{workflow.namespace}};
//   - activeDeadlineSeconds is enforced (Failed, "Max duration limit exceeded");
//   - a test steers a workflow with annotations on its template's metadata (the addon-manager keeps
//     them): workflows.keiko.io/simulate: fail | hang, .../simulate-message, .../simulate-duration (ms).
//
// It does not run containers, scripts or DAG logic, and it accepts any spec — an empty one succeeds.
import type * as k8s from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { Informer, KubeClient, isNotFound, type ResourceType } from '@keiko/kube-runtime';

export const SIMULATE_ANNOTATION = 'workflows.keiko.io/simulate';
export const SIMULATE_MESSAGE_ANNOTATION = 'workflows.keiko.io/simulate-message';
export const SIMULATE_DURATION_ANNOTATION = 'workflows.keiko.io/simulate-duration';

export const ARGO_WORKFLOWS: ResourceType = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'workflows',
  kind: 'Workflow',
  namespaced: true,
};

const FIELD_MANAGER = 'argo-workflow-simulator';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface SimWorkflow extends k8s.KubernetesObject {
  spec?: Obj;
  status?: { phase?: string; startedAt?: string; finishedAt?: string; message?: string };
}

export interface WorkflowSimulatorOptions {
  kubeConfig: k8s.KubeConfig;
  /** Which kind to run (default argoproj.io/v1alpha1 workflows). */
  resource?: ResourceType;
  /** Watch one namespace only. */
  namespace?: string;
  /** Only workflows matching this label selector. */
  labelSelector?: string;
  /** Pending -> Running after this long (default 100 ms). */
  startDelayMs?: number;
  /** Running -> finished after this long, unless the workflow says otherwise (default 500 ms). */
  runMs?: number;
  /** Apply the manifests of resource templates and kubectl artifacts (default true). */
  applyManifests?: boolean;
  log?: (line: string) => void;
}

/** One run of a workflow: what it applied (or would have), for tests. */
export interface SimulatedRun {
  namespace: string;
  name: string;
  phase: 'Succeeded' | 'Failed';
  message?: string;
  /** "apply Namespace/x", "delete Deployment ns/y" */
  operations: string[];
}

export class WorkflowSimulator {
  readonly runs: SimulatedRun[] = [];
  private readonly client: KubeClient;
  private readonly rt: ResourceType;
  private readonly informer: Informer<SimWorkflow>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly discovery = new Map<
    string,
    Promise<{ name: string; kind: string; namespaced: boolean }[]>
  >();
  private stopped = false;

  constructor(private readonly opts: WorkflowSimulatorOptions) {
    this.client = new KubeClient(opts.kubeConfig);
    this.rt = opts.resource ?? ARGO_WORKFLOWS;
    this.informer = new Informer<SimWorkflow>(this.client, this.rt, {
      namespace: opts.namespace,
      labelSelector: opts.labelSelector,
    });
    const see = (wf: SimWorkflow) => this.see(wf);
    this.informer.addEventHandler({
      onAdd: see,
      onUpdate: (_o, n) => see(n),
      onDelete: (wf) => this.cancel(wf),
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.informer.stop();
  }

  private key(wf: SimWorkflow): string {
    return `${wf.metadata?.namespace}/${wf.metadata?.name}/${wf.metadata?.uid}`;
  }

  private cancel(wf: SimWorkflow): void {
    const key = this.key(wf);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  private schedule(wf: SimWorkflow, ms: number, fn: () => Promise<void>): void {
    const key = this.key(wf);
    if (this.timers.has(key) || this.stopped) return;
    const t = setTimeout(
      () => {
        this.timers.delete(key);
        if (this.stopped) return;
        fn().catch((err: unknown) => this.opts.log?.(`workflow ${key}: ${String(err)}`));
      },
      Math.max(0, ms),
    );
    t.unref();
    this.timers.set(key, t);
  }

  private see(wf: SimWorkflow): void {
    if (wf.metadata?.deletionTimestamp) return this.cancel(wf);
    const phase = wf.status?.phase ?? '';
    if (phase === '' || phase === 'Pending') {
      this.schedule(wf, this.opts.startDelayMs ?? 100, () =>
        this.setStatus(wf, { phase: 'Running', startedAt: now() }),
      );
      return;
    }
    if (phase !== 'Running') return;
    const annotations = wf.metadata?.annotations ?? {};
    const startedAt = Date.parse(wf.status?.startedAt ?? '') || Date.now();
    const deadlineSeconds =
      typeof wf.spec?.activeDeadlineSeconds === 'number' ? wf.spec.activeDeadlineSeconds : undefined;
    const deadlineAt = deadlineSeconds !== undefined ? startedAt + deadlineSeconds * 1000 : Infinity;
    const mode = annotations[SIMULATE_ANNOTATION] ?? 'succeed';
    const runMs = Number(annotations[SIMULATE_DURATION_ANNOTATION] ?? this.opts.runMs ?? 500);
    const finishAt = mode === 'hang' ? Infinity : startedAt + runMs;
    if (deadlineAt <= finishAt) {
      if (deadlineAt === Infinity) return; // hangs until deleted
      this.schedule(wf, deadlineAt - Date.now(), () =>
        this.finish(wf, 'Failed', 'Max duration limit exceeded', []),
      );
      return;
    }
    this.schedule(wf, finishAt - Date.now(), async () => {
      if (mode === 'fail')
        return this.finish(wf, 'Failed', annotations[SIMULATE_MESSAGE_ANNOTATION] ?? 'simulated failure', []);
      const operations: string[] = [];
      try {
        if (this.opts.applyManifests !== false) await this.execute(wf, operations);
      } catch (err) {
        return this.finish(wf, 'Failed', err instanceof Error ? err.message : String(err), operations);
      }
      return this.finish(wf, 'Succeeded', undefined, operations);
    });
  }

  private async finish(
    wf: SimWorkflow,
    phase: 'Succeeded' | 'Failed',
    message: string | undefined,
    operations: string[],
  ): Promise<void> {
    // The workflow may be gone or finished by now (deleted while running): only a running one finishes.
    const live = await this.client.get<SimWorkflow>(this.rt, wf.metadata?.namespace, wf.metadata?.name ?? '');
    if (!live || live.metadata?.uid !== wf.metadata?.uid || live.status?.phase !== 'Running') return;
    await this.setStatus(wf, { phase, finishedAt: now(), ...(message ? { message } : {}) });
    this.runs.push({
      namespace: wf.metadata?.namespace ?? '',
      name: wf.metadata?.name ?? '',
      phase,
      ...(message ? { message } : {}),
      operations,
    });
    this.opts.log?.(
      `workflow ${wf.metadata?.namespace}/${wf.metadata?.name}: ${phase}${message ? ` (${message})` : ''}`,
    );
  }

  private async setStatus(wf: SimWorkflow, status: Obj): Promise<void> {
    try {
      await this.client.patch(
        this.rt,
        wf.metadata?.namespace,
        wf.metadata?.name ?? '',
        { status },
        { type: 'merge', subresource: 'status' },
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Applies (or deletes) what the workflow's resource templates and kubectl artifacts hold. */
  private async execute(wf: SimWorkflow, operations: string[]): Promise<void> {
    const spec = wf.spec ?? {};
    const params = new Map<string, string>();
    const args = isObj(spec.arguments) ? spec.arguments : {};
    for (const p of Array.isArray(args.parameters) ? args.parameters : []) {
      if (isObj(p) && typeof p.name === 'string')
        params.set(`workflow.parameters.${p.name}`, String(p.value ?? ''));
    }
    params.set('workflow.name', wf.metadata?.name ?? '');
    params.set('workflow.namespace', wf.metadata?.namespace ?? '');
    const substitute = (text: string) =>
      text.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, (m, key: string) => params.get(key) ?? m);

    const work: { action: 'apply' | 'delete'; text: string }[] = [];
    const templates = (Array.isArray(spec.templates) ? spec.templates : []).filter(isObj);
    const byName = new Map(templates.map((t) => [String(t.name), t]));
    const kubectlAction = (templateName: unknown): 'apply' | 'delete' | undefined => {
      const t = byName.get(String(templateName));
      const c = t && isObj(t.container) ? t.container : undefined;
      const line = c
        ? [...(Array.isArray(c.command) ? c.command : []), ...(Array.isArray(c.args) ? c.args : [])].join(' ')
        : '';
      return /kubectl\s+apply/.test(line)
        ? 'apply'
        : /kubectl\s+delete\s+-f/.test(line)
          ? 'delete'
          : undefined;
    };
    for (const t of templates) {
      if (isObj(t.resource) && typeof t.resource.manifest === 'string') {
        const action = String(t.resource.action ?? 'apply');
        if (['apply', 'create', 'replace'].includes(action))
          work.push({ action: 'apply', text: t.resource.manifest });
        else if (action === 'delete') work.push({ action: 'delete', text: t.resource.manifest });
      }
      const calls = [
        ...(Array.isArray(t.steps) ? t.steps.flatMap((g) => (Array.isArray(g) ? g : [g])) : []),
        ...(isObj(t.dag) && Array.isArray(t.dag.tasks) ? t.dag.tasks : []),
      ].filter(isObj);
      for (const call of calls) {
        const action = kubectlAction(call.template);
        const artifacts =
          isObj(call.arguments) && Array.isArray(call.arguments.artifacts) ? call.arguments.artifacts : [];
        for (const a of artifacts)
          if (action && isObj(a) && isObj(a.raw) && typeof a.raw.data === 'string')
            work.push({ action, text: a.raw.data });
      }
    }
    for (const item of work) {
      const docs = loadAll(substitute(item.text)).filter(
        (d): d is k8s.KubernetesObject => isObj(d) && typeof d.kind === 'string',
      );
      // Namespaces first when applying, last when deleting, as kubectl users order them.
      const ordered = [...docs].sort(
        (a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'),
      );
      if (item.action === 'delete') ordered.reverse();
      for (const obj of ordered)
        await this.operate(item.action, obj, wf.metadata?.namespace ?? 'default', operations);
    }
  }

  private async operate(
    action: 'apply' | 'delete',
    obj: k8s.KubernetesObject,
    defaultNamespace: string,
    operations: string[],
  ): Promise<void> {
    const [group, version] = (obj.apiVersion ?? '').includes('/')
      ? (obj.apiVersion ?? '').split('/')
      : ['', obj.apiVersion ?? ''];
    const resources = await this.resources(group ?? '', version ?? '');
    const r = resources.find((x) => x.kind === obj.kind && !x.name.includes('/'));
    if (!r) throw new Error(`no matches for kind "${obj.kind}" in version "${obj.apiVersion}"`);
    const rt: ResourceType = {
      group: group ?? '',
      version: version ?? '',
      plural: r.name,
      kind: r.kind,
      namespaced: r.namespaced,
    };
    const namespace = r.namespaced ? (obj.metadata?.namespace ?? defaultNamespace) : undefined;
    const name = obj.metadata?.name ?? '';
    const what = `${obj.kind}/${namespace ? `${namespace}/` : ''}${name}`;
    if (action === 'delete') {
      await this.client.delete(rt, namespace, name, { propagationPolicy: 'Background' });
      operations.push(`delete ${what}`);
      return;
    }
    const body = { ...obj, metadata: { ...obj.metadata, ...(namespace ? { namespace } : {}) } };
    await this.client.patch(rt, namespace, name, body, {
      type: 'apply',
      fieldManager: FIELD_MANAGER,
      force: true,
    });
    operations.push(`apply ${what}`);
  }

  private resources(
    group: string,
    version: string,
  ): Promise<{ name: string; kind: string; namespaced: boolean }[]> {
    const key = `${group}/${version}`;
    let found = this.discovery.get(key);
    if (!found) {
      const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
      found = this.client
        .request<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>('GET', path)
        .then((l) => l.resources ?? [])
        .catch((err: unknown) => {
          this.discovery.delete(key);
          if (isNotFound(err)) return [];
          throw err;
        });
      this.discovery.set(key, found);
    }
    return found;
  }
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
