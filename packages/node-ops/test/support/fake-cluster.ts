// An in-memory apiserver behind KubeClient.request, for the drain paths a real cluster will not
// produce on demand: policy/v1beta1-only servers, throttling 429s, several PDBs on one pod, pods
// replaced under the same name, permanent errors.
import * as k8s from '@kubernetes/client-node';
import { ApiError, KubeClient } from '@keiko/kube-runtime';

type RequestOptions = Parameters<KubeClient['request']>[2];

/** What the fake apiserver answers to one eviction. 'evict' deletes the pod (after `terminateAfterPolls` list calls). */
export type EvictionAnswer =
  'evict' | { status: number; reason?: string; message?: string; details?: k8s.V1StatusDetails };

export interface EvictionCall {
  pod: string;
  body: {
    apiVersion: string;
    kind: string;
    deleteOptions?: { gracePeriodSeconds?: number; preconditions?: { uid?: string } };
  };
}

function status(code: number, reason: string, message: string, details?: k8s.V1StatusDetails): k8s.V1Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code,
    reason,
    message,
    ...(details ? { details } : {}),
  };
}

function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === 'object' && !Array.isArray(v))
      out[k] = mergePatch((out[k] as Record<string, unknown>) ?? {}, v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

export class FakeCluster extends KubeClient {
  readonly nodes = new Map<string, k8s.V1Node>();
  readonly pods = new Map<string, k8s.V1Pod>();
  readonly budgets: k8s.V1PodDisruptionBudget[] = [];
  readonly daemonSets = new Set<string>();
  readonly evictions: EvictionCall[] = [];
  /** Which Eviction versions the server takes; discovery reports the first. */
  evictionVersions: string[] = ['policy/v1', 'policy/v1beta1'];
  /** Discovery answers with this (undefined: discovery fails). */
  discoveryVersion: string | undefined = 'v1';
  /** Decides each eviction; default: evict. */
  answerEviction: (pod: k8s.V1Pod, call: EvictionCall) => EvictionAnswer = () => 'evict';
  /** Evicted pods linger for this many pod LISTs (a kubelet's graceful termination). */
  terminateAfterPolls = 0;
  private readonly terminating = new Map<string, number>();
  private resourceVersion = 1;
  requests: string[] = [];

  constructor() {
    super(new k8s.KubeConfig());
  }

  addNode(name: string): void {
    this.nodes.set(name, { metadata: { name, resourceVersion: String(this.resourceVersion++) }, spec: {} });
  }

  addPod(pod: k8s.V1Pod): void {
    this.pods.set(`${pod.metadata?.namespace}/${pod.metadata?.name}`, pod);
  }

  override async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    opts.signal?.throwIfAborted();
    this.requests.push(`${method} ${path}`);
    await new Promise((r) => setImmediate(r));
    opts.signal?.throwIfAborted();
    const fail = (code: number, reason: string, message: string, details?: k8s.V1StatusDetails): never => {
      throw new ApiError(method, path, code, status(code, reason, message, details));
    };
    const url = new URL(`http://fake${path}`);
    const parts = url.pathname.split('/').filter(Boolean);

    if (method === 'GET' && url.pathname === '/api/v1') {
      if (this.discoveryVersion === undefined) fail(503, 'ServiceUnavailable', 'discovery down');
      return {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { name: 'pods', kind: 'Pod', namespaced: true, singularName: '', verbs: [] },
          {
            name: 'pods/eviction',
            kind: 'Eviction',
            group: 'policy',
            version: this.discoveryVersion,
            namespaced: true,
            singularName: '',
            verbs: [],
          },
        ],
      } as T;
    }
    // /api/v1/nodes/{name}
    if (parts[2] === 'nodes' && parts[3]) {
      const name = decodeURIComponent(parts[3]);
      const node =
        this.nodes.get(name) ?? fail(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
      if (method === 'GET') return structuredClone(node) as T;
      if (method === 'PATCH') {
        const patch = opts.body as { metadata?: { resourceVersion?: string } };
        if (
          patch.metadata?.resourceVersion &&
          patch.metadata.resourceVersion !== node.metadata?.resourceVersion
        ) {
          fail(409, 'Conflict', 'the object has been modified');
        }
        const updated = mergePatch(
          node as Record<string, unknown>,
          opts.body as Record<string, unknown>,
        ) as k8s.V1Node;
        updated.metadata = { ...updated.metadata, resourceVersion: String(this.resourceVersion++) };
        this.nodes.set(name, updated);
        return structuredClone(updated) as T;
      }
    }
    // /api/v1/pods?fieldSelector=spec.nodeName=X
    if (method === 'GET' && url.pathname === '/api/v1/pods') {
      const fieldSelector = String(opts.query?.fieldSelector ?? '');
      const nodeName = fieldSelector.replace(/^spec\.nodeName=/, '');
      for (const [key, polls] of this.terminating) {
        if (polls <= 0) {
          this.pods.delete(key);
          this.terminating.delete(key);
        } else this.terminating.set(key, polls - 1);
      }
      const items = [...this.pods.values()].filter((p) => p.spec?.nodeName === nodeName);
      return { metadata: {}, items: structuredClone(items) } as T;
    }
    // /api/v1/namespaces/{ns}/pods/{name}[/eviction]
    if (parts[2] === 'namespaces' && parts[4] === 'pods' && parts[5]) {
      const key = `${parts[3]}/${parts[5]}`;
      const pod = this.pods.get(key);
      if (method === 'GET' && !parts[6]) {
        return structuredClone(
          pod ?? fail(404, 'NotFound', `pods "${parts[5]}" not found`, { name: parts[5], kind: 'pods' }),
        ) as T;
      }
      if (method === 'POST' && parts[6] === 'eviction') {
        const call: EvictionCall = { pod: key, body: opts.body as EvictionCall['body'] };
        this.evictions.push(call);
        if (!this.evictionVersions.includes(call.body.apiVersion)) {
          fail(400, 'BadRequest', `no kind "Eviction" is registered for version "${call.body.apiVersion}"`);
        }
        if (!pod) fail(404, 'NotFound', `pods "${parts[5]}" not found`, { name: parts[5], kind: 'pods' });
        const uid = call.body.deleteOptions?.preconditions?.uid;
        if (uid && uid !== pod?.metadata?.uid) {
          fail(
            409,
            'Conflict',
            `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${pod?.metadata?.uid}`,
          );
        }
        const answer = this.answerEviction(pod as k8s.V1Pod, call);
        if (answer !== 'evict')
          fail(answer.status, answer.reason ?? 'Failure', answer.message ?? 'refused', answer.details);
        (pod as k8s.V1Pod).metadata!.deletionTimestamp = new Date().toISOString() as unknown as Date;
        this.terminating.set(key, this.terminateAfterPolls);
        return { kind: 'Status', status: 'Success' } as T;
      }
    }
    // /apis/apps/v1/namespaces/{ns}/daemonsets/{name}
    if (method === 'GET' && parts[0] === 'apis' && parts[1] === 'apps' && parts[5] === 'daemonsets') {
      const key = `${parts[4]}/${parts[6]}`;
      if (!this.daemonSets.has(key)) fail(404, 'NotFound', `daemonsets.apps "${parts[6]}" not found`);
      return { metadata: { name: parts[6], namespace: parts[4] } } as T;
    }
    // /apis/policy/v1/namespaces/{ns}/poddisruptionbudgets
    if (
      method === 'GET' &&
      parts[0] === 'apis' &&
      parts[1] === 'policy' &&
      parts[5] === 'poddisruptionbudgets'
    ) {
      return { metadata: {}, items: this.budgets.filter((b) => b.metadata?.namespace === parts[4]) } as T;
    }
    return fail(404, 'NotFound', `fake apiserver has no route for ${method} ${path}`);
  }
}
