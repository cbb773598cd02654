// STAND-IN for the container runtime of a kubelet stand-in's node, for pods whose image is a Keiko app
// built here. Under KWOK no container runs: its pod-complete Stage would end a Job's pod at once
// (testenv.ts keeps that Stage off the stand-ins' nodes). For each Running pod on a kubelet stand-in's
// node whose container image is registered (`images`: image -> the app's dist/main.js, which is what the
// image's ENTRYPOINT `node /app/main.js` runs), it runs that container's own args locally with plain
// node — the container's env (values and the downward API's metadata.name, metadata.namespace,
// spec.nodeName) over this process's env (the test cluster's AWS endpoint and dummy credentials) — with
// every hostPath volume under the node's /var/lib/kubelet/checkpoints played by that kubelet stand-in's
// directory: a path under the volume's mountPath in args or env is rewritten to the directory. It then
// sets the pod's status as the kubelet reports a finished restartPolicy: Never pod: the container
// terminated with the command's exit code (the end of its output as the termination message,
// FallbackToLogsOnError), phase Succeeded on 0, else Failed. It decides nothing the app decides.
import { spawn } from 'node:child_process';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KUBELET_CHECKPOINTS_DIR, STAND_IN_NODE_PREFIX, type KubeletStandIn } from './kubelet-standin';

export interface CollectorStandInOptions {
  kc: k8s.KubeConfig;
  /** image -> the bundle its ENTRYPOINT runs (apps/<app>/dist/main.js). */
  images: Record<string, string>;
  /** The kubelet stand-ins whose nodes' pods it runs (more can be added with addKubelet). */
  kubelets?: KubeletStandIn[];
}

export interface ContainerRun {
  argv: string[];
  env: Record<string, string>;
}

/**
 * The local command of one container: `node <bundle> ...args`, env, and mountPath -> local dir rewrites.
 * Undefined when the image is not registered or the container overrides the ENTRYPOINT.
 */
export function containerRun(
  pod: k8s.V1Pod,
  c: k8s.V1Container,
  bundle: string | undefined,
  hostDirs: Record<string, string>,
  baseEnv: NodeJS.ProcessEnv,
): ContainerRun | undefined {
  if (!bundle || c.command?.length) return undefined;
  const mounts: [string, string][] = [];
  for (const m of c.volumeMounts ?? []) {
    const host = pod.spec?.volumes?.find((v) => v.name === m.name)?.hostPath?.path;
    const local = host ? hostDirs[path.posix.normalize(host)] : undefined;
    if (local) mounts.push([m.mountPath, local]);
  }
  const rewrite = (s: string) => {
    for (const [mountPath, local] of mounts) {
      const re = new RegExp(`(^|=)${mountPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|$)`, 'g');
      s = s.replace(re, `$1${local}`);
    }
    return s;
  };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined) env[k] = v;
  for (const e of c.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const value =
      e.value ??
      (field === 'metadata.name'
        ? pod.metadata?.name
        : field === 'metadata.namespace'
          ? pod.metadata?.namespace
          : field === 'spec.nodeName'
            ? pod.spec?.nodeName
            : undefined);
    if (value !== undefined) env[e.name] = rewrite(value);
  }
  return { argv: [process.execPath, bundle, ...(c.args ?? []).map(rewrite)], env };
}

export class CollectorStandIn {
  private readonly kubelets = new Map<string, KubeletStandIn>();
  private readonly core: k8s.CoreV1Api;
  private informer?: k8s.Informer<k8s.V1Pod>;
  private readonly started = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  /** Pods it ran, with the exit code: what tests look at. */
  readonly runs: { pod: string; code: number; output: string }[] = [];

  constructor(private readonly opts: CollectorStandInOptions) {
    this.core = opts.kc.makeApiClient(k8s.CoreV1Api);
    for (const k of opts.kubelets ?? []) this.addKubelet(k);
  }

  addKubelet(k: KubeletStandIn): void {
    this.kubelets.set(k.nodeName, k);
  }

  private log(msg: string): void {
    console.log(`${new Date().toISOString()} [collector stand-in] ${msg}`);
  }

  async start(): Promise<this> {
    const informer = k8s.makeInformer(this.opts.kc, '/api/v1/pods', () =>
      this.core.listPodForAllNamespaces(),
    );
    informer.on('add', (p) => this.see(p));
    informer.on('update', (p) => this.see(p));
    informer.on('error', () => {
      if (!this.stopped) setTimeout(() => void informer.start().catch(() => undefined), 1_000);
    });
    await informer.start();
    this.informer = informer;
    this.log(`running pods of ${Object.keys(this.opts.images).join(', ')} on kubelet stand-in nodes`);
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
    await Promise.allSettled([...this.running]);
  }

  private see(pod: k8s.V1Pod): void {
    const node = pod.spec?.nodeName ?? '';
    const uid = pod.metadata?.uid ?? '';
    if (this.stopped || !node.startsWith(STAND_IN_NODE_PREFIX) || this.started.has(uid)) return;
    if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) return;
    const kubelet = this.kubelets.get(node);
    const hostDirs: Record<string, string> = kubelet
      ? { [KUBELET_CHECKPOINTS_DIR]: kubelet.checkpointsDir }
      : {};
    const runs = (pod.spec?.containers ?? []).map((c) => ({
      c,
      run: containerRun(pod, c, this.opts.images[c.image ?? ''], hostDirs, process.env),
    }));
    if (!runs.some((r) => r.run)) return;
    this.started.add(uid);
    const p = this.execute(pod, runs).catch((err: unknown) =>
      this.log(`${pod.metadata?.namespace}/${pod.metadata?.name}: ${String(err)}`),
    );
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  private async execute(pod: k8s.V1Pod, runs: { c: k8s.V1Container; run?: ContainerRun }[]): Promise<void> {
    const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const results: { name: string; code: number; message: string }[] = [];
    for (const { c, run } of runs) {
      if (!run) {
        results.push({ name: c.name, code: 0, message: '' });
        continue;
      }
      this.log(`${name}/${c.name}: running ${run.argv.slice(1).join(' ')}`);
      const { code, output } = await runCommand(run);
      for (const line of output.split('\n').filter(Boolean)) this.log(`${name}/${c.name}| ${line}`);
      this.log(`${name}/${c.name}: exit ${code}`);
      results.push({ name: c.name, code, message: output.slice(-4096) });
    }
    const failed = results.some((r) => r.code !== 0);
    this.runs.push({
      pod: name,
      code: results.find((r) => r.code !== 0)?.code ?? 0,
      output: results.map((r) => r.message).join('\n'),
    });
    await this.finish(pod, results, failed);
  }

  private async finish(
    pod: k8s.V1Pod,
    results: { name: string; code: number; message: string }[],
    failed: boolean,
  ): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const containerStatuses = results.map((r) => ({
      name: r.name,
      image: pod.spec?.containers?.find((c) => c.name === r.name)?.image ?? '',
      imageID: '',
      ready: false,
      restartCount: 0,
      started: false,
      state: {
        terminated: {
          exitCode: r.code,
          reason: r.code === 0 ? 'Completed' : 'Error',
          ...(r.code !== 0 && r.message ? { message: r.message } : {}),
          startedAt: now,
          finishedAt: now,
        },
      },
    }));
    await this.core.patchNamespacedPodStatus(
      {
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        body: {
          status: {
            phase: failed ? 'Failed' : 'Succeeded',
            conditions: [
              { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
              { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
            ],
            containerStatuses,
          },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
  }
}

function runCommand(run: ContainerRun): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(run.argv[0] ?? process.execPath, run.argv.slice(1), {
      env: run.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-65536);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => resolve({ code: 127, output: `${output}${String(err)}` }));
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 137 : 1), output }));
  });
}
