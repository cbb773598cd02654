// STAND-IN for a kubelet's HTTPS API (KWOK serves none). It registers a simulated node whose
// InternalIP is 127.0.0.1 and whose status.daemonEndpoints.kubeletEndpoint.Port is this server's port,
// annotated kwok.x-k8s.io/status=custom so KWOK leaves the node alone — KWOK then plays neither its
// status nor its pods, so this stand-in does what a kubelet does for them: posts the node's Ready status
// every 10 s, reports a pod bound to it Running (its containers running, restartCount from the
// test's testenv.keiko.io/restart-count annotation, default 0), and removes a pod being deleted (a
// container runtime with nothing to stop). Pods whose image the collector stand-in runs are ended by it.
// On the HTTPS port it plays only what the kubelet documents for:
//   - webhook authentication and authorization: the bearer token is checked with a TokenReview and the
//     request with a SubjectAccessReview against the real apiserver (resource nodes, name = the node;
//     subresource checkpoint for /checkpoint/..., proxy for everything else; verb create for POST, get
//     for GET) — 401 / 403 otherwise, so RBAC is really exercised;
//   - POST /checkpoint/{namespace}/{pod}/{container}?timeout=<s> (ContainerCheckpoint): 200
//     {"items":["/var/lib/kubelet/checkpoints/checkpoint-<pod>_<namespace>-<container>-<timestamp>.tar"]},
//     the archive written (root-only mode 0600) into this stand-in's directory that plays the node's
//     /var/lib/kubelet/checkpoints; 404 when the feature gate is "off" (the handler is not registered);
//     500 when the "runtime" does not support checkpointing;
//   - GET /containerLogs/{namespace}/{pod}/{container}[?previous=true&limitBytes=N]: the container's log
//     text; previous=true answers 400 when the container never restarted, as the kubelet does.
// The pod and container must exist on this node (404 otherwise). Every line it logs says "kubelet stand-in".
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';

/** Every kubelet stand-in's node name starts with this. */
export const STAND_IN_NODE_PREFIX = 'kubelet-stand-in-';

/** Test input on a pod: the restart count the stand-in reports for its containers (for previous logs). */
export const RESTART_COUNT_ANNOTATION = 'testenv.keiko.io/restart-count';

/** Where a real kubelet writes checkpoint archives; this stand-in's `checkpointsDir` plays it. */
export const KUBELET_CHECKPOINTS_DIR = '/var/lib/kubelet/checkpoints';

/** How the node's container runtime answers a checkpoint request. */
export type CheckpointSupport = 'supported' | 'gate-off' | 'unsupported';

export interface KubeletStandInOptions {
  /** Admin access to the test cluster (TokenReview, SubjectAccessReview, the node). */
  kc: k8s.KubeConfig;
  /** The node's name after the prefix (default: random). */
  suffix?: string;
  /** The serving pair (default: the test cluster's apiserver pair, which its kubeconfig trusts). */
  certFile: string;
  keyFile: string;
  /** Default 'supported'. */
  checkpoint?: CheckpointSupport;
  /** Bytes of container state in each archive (default 64 KiB). */
  archiveBytes?: number;
  /** Labels on the node. */
  labels?: Record<string, string>;
}

interface Route {
  kind: 'checkpoint' | 'logs';
  namespace: string;
  pod: string;
  container: string;
}

/** The kubelet path of a request, or undefined for paths this stand-in does not serve. */
export function parseKubeletPath(pathname: string): Route | undefined {
  const m = /^\/(checkpoint|containerLogs)\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(pathname);
  if (!m) return undefined;
  const [kind, namespace, pod, container] = m.slice(1).map((s) => decodeURIComponent(s ?? ''));
  return {
    kind: kind === 'checkpoint' ? 'checkpoint' : 'logs',
    namespace: namespace ?? '',
    pod: pod ?? '',
    container: container ?? '',
  };
}

/** The SubjectAccessReview a kubelet with webhook authorization makes for a path and method. */
export function kubeletAttributes(
  pathname: string,
  method: string,
  node: string,
): { verb: string; resource: 'nodes'; subresource: string; name: string } {
  const verb =
    method === 'POST' ? 'create' : method === 'GET' || method === 'HEAD' ? 'get' : method.toLowerCase();
  const sub = pathname.startsWith('/checkpoint/') ? 'checkpoint' : 'proxy';
  return { verb, resource: 'nodes', subresource: sub, name: node };
}

export class KubeletStandIn {
  readonly nodeName: string;
  /** Plays the node's /var/lib/kubelet/checkpoints. */
  readonly checkpointsDir: string;
  checkpoint: CheckpointSupport;
  /** How long a checkpoint takes (a real one freezes the container for a while): tests kill the caller meanwhile. */
  checkpointDelayMs = 0;
  /** Requests answered, by path kind and status code: what tests count. */
  readonly served: { kind: string; path: string; status: number; user?: string }[] = [];
  private server?: https.Server;
  private pods?: k8s.Informer<k8s.V1Pod>;
  private stopped = false;
  private heartbeat?: NodeJS.Timeout;
  private readonly core: k8s.CoreV1Api;
  private readonly authn: k8s.AuthenticationV1Api;
  private readonly authz: k8s.AuthorizationV1Api;

  constructor(private readonly opts: KubeletStandInOptions) {
    this.nodeName = `${STAND_IN_NODE_PREFIX}${opts.suffix ?? crypto.randomBytes(3).toString('hex')}`;
    this.checkpointsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-kubelet-checkpoints-'));
    this.checkpoint = opts.checkpoint ?? 'supported';
    this.core = opts.kc.makeApiClient(k8s.CoreV1Api);
    this.authn = opts.kc.makeApiClient(k8s.AuthenticationV1Api);
    this.authz = opts.kc.makeApiClient(k8s.AuthorizationV1Api);
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  private log(msg: string): void {
    console.log(`${new Date().toISOString()} [kubelet stand-in ${this.nodeName}] ${msg}`);
  }

  /** Serves on 127.0.0.1 and registers the node (Ready, InternalIP 127.0.0.1, kubeletEndpoint = the port). */
  async start(): Promise<this> {
    const server = https.createServer(
      { cert: fs.readFileSync(this.opts.certFile), key: fs.readFileSync(this.opts.keyFile) },
      (req, res) => void this.handle(req, res),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    await this.core.createNode({ body: this.nodeManifest() });
    await this.writeStatus();
    // A kubelet posts its status every 10 s; without it the node lifecycle controller would mark it Unknown.
    this.heartbeat = setInterval(() => void this.writeStatus().catch(() => undefined), 10_000);
    await this.playPods();
    this.log(
      `serving on https://127.0.0.1:${this.port} (checkpoint: ${this.checkpoint}), archives in ${this.checkpointsDir}`,
    );
    return this;
  }

  async stop(opts: { deleteNode?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    await this.pods?.stop();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    if (opts.deleteNode ?? true) await this.core.deleteNode({ name: this.nodeName }).catch(() => undefined);
    fs.rmSync(this.checkpointsDir, { recursive: true, force: true });
  }

  /** The archives currently in the checkpoints directory. */
  archives(): string[] {
    return fs.readdirSync(this.checkpointsDir).filter((f) => f.endsWith('.tar'));
  }

  /** The kubelet's part for the pods bound to this node (KWOK plays none of them). */
  private async playPods(): Promise<void> {
    const fieldSelector = `spec.nodeName=${this.nodeName}`;
    const informer = k8s.makeInformer(this.opts.kc, '/api/v1/pods', () =>
      this.core.listPodForAllNamespaces({ fieldSelector }),
    );
    const see = (pod: k8s.V1Pod) =>
      pod.spec?.nodeName === this.nodeName &&
      void this.playPod(pod).catch((err: unknown) =>
        this.log(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: ${String(err)}`),
      );
    informer.on('add', see);
    informer.on('update', see);
    informer.on('error', () => {
      if (!this.stopped) setTimeout(() => void informer.start().catch(() => undefined), 1_000);
    });
    await informer.start();
    this.pods = informer;
  }

  private async playPod(pod: k8s.V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    if (pod.metadata?.deletionTimestamp) {
      await this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
      return;
    }
    if (pod.status?.phase !== 'Pending' || pod.status.containerStatuses?.length) return;
    await this.core.patchNamespacedPodStatus(
      { name, namespace, body: { status: runningStatus(pod) } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    this.log(`pod ${namespace}/${name} running`);
  }

  private nodeManifest(): k8s.V1Node {
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.nodeName,
        labels: {
          'kubernetes.io/hostname': this.nodeName,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          type: 'kwok',
          ...this.opts.labels,
        },
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'kwok.x-k8s.io/status': 'custom' },
      },
      spec: {},
    };
  }

  private async writeStatus(): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status: k8s.V1NodeStatus = {
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: this.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.port } },
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet stand-in is posting ready status',
          lastHeartbeatTime: now as unknown as Date,
          lastTransitionTime: now as unknown as Date,
        },
      ],
      nodeInfo: {
        architecture: 'amd64',
        bootID: '',
        containerRuntimeVersion: 'containerd://2.1.0',
        kernelVersion: '',
        kubeProxyVersion: '',
        kubeletVersion: 'v1.37.2-stand-in',
        machineID: '',
        operatingSystem: 'linux',
        osImage: 'kubelet stand-in',
        systemUUID: '',
      },
    };
    await this.core.patchNodeStatus(
      { name: this.nodeName, body: { status } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const route = parseKubeletPath(url.pathname);
    const answer = (status: number, body: string, user?: string, type = 'text/plain') => {
      this.served.push({ kind: route?.kind ?? url.pathname, path: url.pathname, status, user });
      res.writeHead(status, { 'Content-Type': type }).end(body);
      this.log(`${req.method} ${url.pathname}${url.search} -> ${status}${user ? ` (${user})` : ''}`);
    };
    try {
      const user = await this.authenticate(req.headers.authorization);
      if (!user) return answer(401, 'Unauthorized');
      const attrs = kubeletAttributes(url.pathname, req.method ?? 'GET', this.nodeName);
      const denied = await this.authorize(user, attrs);
      if (denied)
        return answer(
          403,
          `Forbidden (user=${user.username}, verb=${attrs.verb}, resource=nodes, subresource=${attrs.subresource})`,
          user.username,
        );
      if (!route) return answer(404, '404 page not found', user.username);
      if (route.kind === 'checkpoint') {
        if (req.method !== 'POST') return answer(405, 'Method Not Allowed', user.username);
        if (this.checkpoint === 'gate-off') return answer(404, '404 page not found', user.username);
      }
      const pod = await this.podOnNode(route);
      if (typeof pod === 'string') return answer(404, pod, user.username);
      if (route.kind === 'logs') {
        const [status, text] = this.logs(pod, route, url.searchParams);
        return answer(status, text, user.username);
      }
      if (this.checkpoint === 'unsupported')
        return answer(
          500,
          'checkpointing of ' +
            `${route.namespace}/${route.pod}/${route.container} failed (rpc error: code = Unimplemented desc = method CheckpointContainer not implemented)`,
          user.username,
        );
      if (this.checkpointDelayMs) await new Promise((r) => setTimeout(r, this.checkpointDelayMs));
      // Stopped meanwhile (the test is over, its checkpoints directory gone): nothing to write.
      if (this.stopped) return answer(503, 'kubelet stand-in stopped');
      const file = await this.writeArchive(route);
      return answer(
        200,
        JSON.stringify({ items: [path.posix.join(KUBELET_CHECKPOINTS_DIR, file)] }),
        user.username,
        'application/json',
      );
    } catch (err) {
      answer(500, `kubelet stand-in: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async authenticate(header: string | undefined): Promise<k8s.V1UserInfo | undefined> {
    const token = /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1];
    if (!token) return undefined;
    const review = await this.authn.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    return review.status?.authenticated ? review.status.user : undefined;
  }

  /** undefined when allowed, else the reason. */
  private async authorize(
    user: k8s.V1UserInfo,
    attrs: ReturnType<typeof kubeletAttributes>,
  ): Promise<string | undefined> {
    const review = await this.authz.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          groups: user.groups,
          uid: user.uid,
          extra: user.extra,
          resourceAttributes: { group: '', version: 'v1', ...attrs },
        },
      },
    });
    return review.status?.allowed ? undefined : review.status?.reason || 'denied';
  }

  /** The pod when it runs on this node with that container; else the kubelet's 404 text. */
  private async podOnNode(route: Route): Promise<k8s.V1Pod | string> {
    const pod = await this.core
      .readNamespacedPod({ name: route.pod, namespace: route.namespace })
      .catch(() => undefined);
    if (!pod || pod.spec?.nodeName !== this.nodeName)
      return `pod does not exist: ${route.namespace}/${route.pod}`;
    const names = [
      ...(pod.spec?.containers ?? []),
      ...(pod.spec?.initContainers ?? []),
      ...(pod.spec?.ephemeralContainers ?? []),
    ].map((c) => c.name);
    if (!names.includes(route.container))
      return `container ${route.container} not found in pod ${route.namespace}/${route.pod}`;
    return pod;
  }

  /** What the container "printed": one line per second of its life so far, deterministic per container. */
  private logs(pod: k8s.V1Pod, route: Route, q: URLSearchParams): [number, string] {
    const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
    const restarts = statuses.find((s) => s.name === route.container)?.restartCount ?? 0;
    const previous = q.get('previous') === 'true';
    if (previous && restarts === 0)
      return [400, `previous terminated container "${route.container}" in pod "${route.pod}" not found`];
    const run = previous ? restarts - 1 : restarts;
    const lines = Array.from(
      { length: 5 },
      (_, i) => `${route.namespace}/${route.pod}/${route.container} run ${run} line ${i + 1}`,
    );
    let text = `${lines.join('\n')}\n`;
    const limit = Number(q.get('limitBytes') ?? '');
    if (limit > 0) text = text.slice(0, limit);
    return [200, text];
  }

  /** A tar archive (one file of container state) under the kubelet's naming, mode 0600. */
  private async writeArchive(route: Route): Promise<string> {
    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const file = `checkpoint-${route.pod}_${route.namespace}-${route.container}-${stamp}.tar`;
    const target = path.join(this.checkpointsDir, file);
    await writeTar(target, 'pages-1.img', this.opts.archiveBytes ?? 64 * 1024);
    this.log(`checkpointed ${route.namespace}/${route.pod}/${route.container} into ${target}`);
    return file;
  }
}

/** What a kubelet reports for a pod whose containers all started. */
function runningStatus(pod: k8s.V1Pod): object {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const restarts = Number(pod.metadata?.annotations?.[RESTART_COUNT_ANNOTATION] ?? '0') || 0;
  const status = (c: k8s.V1Container) => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    containerID: `containerd://${crypto.createHash('sha256').update(`${pod.metadata?.uid}/${c.name}`).digest('hex')}`,
    ready: true,
    started: true,
    restartCount: restarts,
    state: { running: { startedAt: now } },
    ...(restarts > 0
      ? { lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: now, finishedAt: now } } }
      : {}),
  });
  const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
  return {
    phase: 'Running',
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: '127.0.0.1',
    podIPs: [{ ip: '127.0.0.1' }],
    startTime: now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(condition),
    containerStatuses: (pod.spec?.containers ?? []).map(status),
  };
}

/** A ustar archive holding one file of `size` pseudo-random bytes, written in 1 MiB chunks. */
export async function writeTar(target: string, name: string, size: number): Promise<void> {
  const out = fs.createWriteStream(target, { mode: 0o600 });
  // An open or write failure rejects the write below; without a listener it would be an uncaught error
  // surfacing in whatever test runs next in the process.
  out.on('error', () => undefined);
  const write = (b: Buffer) =>
    new Promise<void>((resolve, reject) => out.write(b, (err) => (err ? reject(err) : resolve())));
  await write(tarHeader(name, size));
  const chunk = crypto.randomBytes(1024 * 1024);
  for (let left = size; left > 0; left -= chunk.length)
    await write(left >= chunk.length ? chunk : chunk.subarray(0, left));
  const pad = (512 - (size % 512)) % 512;
  await write(Buffer.alloc(pad + 1024));
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  const field = (value: string, offset: number, length: number) => h.write(value, offset, length, 'ascii');
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0') + '\0';
  field(name, 0, 100);
  field(octal(0o600, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(size, 12), 124, 12);
  field(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\u000000', 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  field(octal(sum, 7) + ' ', 148, 8);
  return h;
}
