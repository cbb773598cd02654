// The chaos suites' harness: a seed (printed, reproducible with KEIKO_CHAOS_SEED), the controller as the
// chart's ServiceAccount in two replicas with leader election on the chart's Lease, a killer that SIGKILLs
// the leader at seeded points (the killed replica comes back, as its Deployment would bring it), AWS faults
// scoped to the controller's access key (testenv's AwsFaults), a node watcher sampling the cluster from
// outside, and the figures line each scenario prints (also appended to .testenv/chaos-figures.jsonl, from
// which docs/reliability.md's table is written).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  AwsFaults,
  ControllerProcess,
  restartApiserver,
  eventually,
  freePort,
  kubeConfigFromEnv,
  repoRoot,
  stateDir,
  type AwsFaultSummary,
} from '@keiko/testenv';
import { writeKubeConfigAs } from '../../../charts/test/support/impersonate';
import { installChartRbac, type ChartRbac } from '../../../charts/test/support/rbac';

/** KEIKO_CHAOS=full: the heavier scenarios (more kills, apiserver restart, CPU load, fault-free baselines). */
export const FULL = process.env.KEIKO_CHAOS === 'full';
export const CORDONED_BY = 'keiko.io/cordoned-by';
/** Leader SIGKILLs per chaos run. */
export const KILLS = FULL ? 5 : 3;

/** The faults of a chaos run, in words (the figures' "faults injected"). */
export function faultWords(aws = 'AWS'): string {
  const extra = FULL
    ? '; kube-apiserver killed and restarted once (down 5 s); CPU busy (1 spinning process)'
    : '';
  return `${aws} throttle 20 %, HTTP 500 5 %, latency 5-60 ms; ${KILLS} leader SIGKILLs (2 replicas)${extra}`;
}

/** Starts the machine's load in FULL mode (a no-op otherwise). */
export function fullLoad(): { stop: () => void } {
  return FULL ? cpuLoad(1) : { stop: () => undefined };
}

/** The run's seed: KEIKO_CHAOS_SEED, else random; printed so a run can be replayed. */
export function chaosSeed(scenario: string): number {
  const given = Number(process.env.KEIKO_CHAOS_SEED);
  const seed = Number.isInteger(given) && given > 0 ? given : Math.floor(Math.random() * 2 ** 31);
  console.log(`chaos ${scenario}: seed ${seed} (replay with KEIKO_CHAOS_SEED=${seed})`);
  return seed;
}

/** mulberry32: a small seeded generator (kill timing, which replica, delays). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChartController {
  rbac: ChartRbac;
  kubeconfig: string;
  leaseNamespace: string;
  leaseName: string;
  tmp: string;
  uninstall(): Promise<void>;
}

/** The chart's ServiceAccount and RBAC installed in `namespace`, and a kubeconfig impersonating it. */
export async function chartController(
  chart: string,
  namespace: string,
  opts: { args?: string[] } = {},
): Promise<ChartController> {
  const rbac = await installChartRbac(chart, { namespace, ...(opts.args ? { args: opts.args } : {}) });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `chaos-${chart}-`));
  const kubeconfig = writeKubeConfigAs(rbac.serviceAccount, path.join(tmp, 'kubeconfig'));
  return {
    rbac,
    kubeconfig,
    tmp,
    leaseNamespace: rbac.serviceAccount.namespace,
    leaseName: rbac.leaseName ?? '',
    uninstall: async () => {
      await rbac.uninstall();
    },
  };
}

export interface ReplicaOptions {
  bundle: string;
  chart: ChartController;
  /** The tool's flags (leader election and ports are added). */
  args: string[];
  /** Identity flags that come first (e.g. the chart's --config-name). */
  identityArgs?: string[];
  faults?: AwsFaults;
  env?: Record<string, string>;
  name: string;
}

/** Two replicas with leader election on the chart's Lease; the leader can be SIGKILLed and comes back. */
export class Replicas {
  readonly procs = new Map<string, ControllerProcess>();
  private readonly coordination = kubeConfigFromEnv().makeApiClient(k8s.CoordinationV1Api);
  private restarts = 0;
  private stopping = false;
  /** Replicas that exited on their own (e.g. leadership lost: the process stops) and were started again. */
  selfExits = 0;

  constructor(private readonly opts: ReplicaOptions) {}

  private async start(id: string): Promise<ControllerProcess> {
    const { chart, faults } = this.opts;
    const p = new ControllerProcess({
      bundle: this.opts.bundle,
      identity: {
        kubeconfig: chart.kubeconfig,
        namespace: chart.leaseNamespace,
        ...(this.opts.identityArgs ? { args: this.opts.identityArgs } : {}),
      },
      args: [
        ...this.opts.args,
        '--leader-elect=true',
        `--leader-election-namespace=${chart.leaseNamespace}`,
        `--leader-election-id=${chart.leaseName}`,
        `--leader-election-identity=${id}`,
        '--lease-duration=4',
        '--renew-deadline=3',
        '--retry-period=1',
        `--metrics-port=${await freePort()}`,
        '--health-port=0',
        '--bind-address=127.0.0.1',
      ],
      env: { ...(faults?.env ?? {}), ...(this.opts.env ?? {}) },
      logFile: path.join(chart.tmp, `${this.opts.name}-${id}-${this.restarts++}.log`),
    }).start();
    this.procs.set(id, p);
    // As a Deployment does: a replica that exits on its own (a lost lease stops the process) comes back.
    p.proc.once('exit', () => {
      if (this.stopping || this.procs.get(id) !== p) return;
      this.procs.delete(id);
      this.selfExits++;
      setTimeout(() => {
        if (!this.stopping) void this.start(`${id.replace(/-\d+$/, '')}-${this.restarts}`);
      }, 1_000);
    });
    return p;
  }

  async up(): Promise<this> {
    await this.start('replica-a');
    await this.start('replica-b');
    return this;
  }

  async holder(): Promise<string | undefined> {
    const lease = await this.coordination
      .readNamespacedLease({ name: this.opts.chart.leaseName, namespace: this.opts.chart.leaseNamespace })
      .catch(() => undefined);
    return lease?.spec?.holderIdentity ?? undefined;
  }

  async leader(timeoutMs = 60_000): Promise<string> {
    return eventually(
      'a leader holding the Lease',
      async () => {
        const h = await this.holder();
        return h && this.procs.has(h) && this.procs.get(h)?.proc.exitCode === null ? h : undefined;
      },
      timeoutMs,
      200,
    );
  }

  /**
   * SIGKILL the current leader (no lease release) and start a replacement under a new identity, as a
   * Deployment's new pod would come; returns the killed id. The next leader is whoever takes the Lease
   * once it expires.
   */
  async killLeader(): Promise<string> {
    const id = await this.leader();
    const p = this.procs.get(id);
    this.procs.delete(id);
    await p?.kill9();
    await this.start(`${id.replace(/-\d+$/, '')}-${this.restarts}`);
    return id;
  }

  /** Log lines of every replica (for failure messages only: invariants never read them). */
  tail(lines = 20): string {
    return [...this.procs].map(([id, p]) => `--- ${id}\n${p.log.slice(-lines).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const p of this.procs.values()) await p.stop(5_000).catch(() => undefined);
  }
}

/**
 * Kills the leader `count` times: the first as soon as `trigger()` holds (mid-operation, e.g. a node
 * cordoned by the tool), the others after seeded delays in [minMs, maxMs] once a new leader holds the Lease.
 * With `apiserverRestart`, the kube-apiserver is also killed and restarted (down `apiserverDownMs`) a seeded
 * moment after the first kill. Runs in the background; `done` resolves with the kill times (ms since start)
 * and the apiserver's outages.
 */
export function killer(
  replicas: Replicas,
  rand: () => number,
  opts: {
    count: number;
    trigger: () => Promise<boolean>;
    minMs?: number;
    maxMs?: number;
    stop: () => boolean;
    apiserverRestart?: boolean;
    apiserverDownMs?: number;
  },
): { done: Promise<number[]>; outages: number[] } {
  const started = Date.now();
  const outages: number[] = [];
  const done = (async () => {
    const at: number[] = [];
    while (!opts.stop() && !(await opts.trigger().catch(() => false))) await sleep(100);
    for (let i = 0; i < opts.count && !opts.stop(); i++) {
      if (i > 0) {
        await replicas.leader(120_000);
        const min = opts.minMs ?? 1_000;
        await sleep(min + rand() * ((opts.maxMs ?? 6_000) - min));
        if (opts.stop()) break;
      }
      const id = await replicas.killLeader();
      at.push(Date.now() - started);
      console.log(`chaos: SIGKILL ${id} at +${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (i === 0 && opts.apiserverRestart) {
        await sleep(500 + rand() * 3_000);
        const { downMs } = await restartApiserver({ downMs: opts.apiserverDownMs ?? 5_000 });
        outages.push(downMs);
        console.log(`chaos: kube-apiserver killed and restarted, down ${(downMs / 1000).toFixed(1)} s`);
      }
    }
    return at;
  })();
  return { done, outages };
}

/**
 * The machine's own load (KEIKO_CHAOS=full): one busy process per `cpus` spinning until stop(), so the
 * controllers, the apiserver and the kubelet stand-in compete for the CPU.
 */
export function cpuLoad(cpus = 1): { stop: () => void } {
  const procs: ChildProcess[] = [];
  // Each spinner ends by itself after 15 minutes, and with this process: a failed scenario never leaves one.
  const spin = 'const end = Date.now() + 900000; while (Date.now() < end) {}';
  for (let i = 0; i < cpus; i++) procs.push(spawn(process.execPath, ['-e', spin], { stdio: 'ignore' }));
  const stop = () => procs.forEach((p) => p.kill('SIGKILL'));
  process.once('exit', stop);
  return { stop };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const isReady = (n: k8s.V1Node) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export interface NodeSample {
  at: number;
  nodes: { name: string; ready: boolean; unschedulable: boolean; cordonedBy?: string }[];
}

/** Samples the nodes matching `selector` every ~150 ms, from outside the controller. */
export class NodeWatch {
  readonly samples: NodeSample[] = [];
  private on = true;
  private loop?: Promise<void>;
  private readonly core = kubeConfigFromEnv().makeApiClient(k8s.CoreV1Api);

  constructor(private readonly selector: string | (() => Promise<k8s.V1Node[]>)) {}

  start(): this {
    this.loop = (async () => {
      while (this.on) {
        const nodes = await this.list().catch(() => undefined); // an apiserver restart: no sample
        if (nodes)
          this.samples.push({
            at: Date.now(),
            nodes: nodes.map((n) => ({
              name: n.metadata?.name ?? '',
              ready: isReady(n),
              unschedulable: !!n.spec?.unschedulable,
              cordonedBy: n.metadata?.annotations?.[CORDONED_BY],
            })),
          });
        await sleep(150);
      }
    })();
    return this;
  }

  private async list(): Promise<k8s.V1Node[]> {
    if (typeof this.selector === 'function') return this.selector();
    return (await this.core.listNode({ labelSelector: this.selector })).items;
  }

  async stop(): Promise<NodeSample[]> {
    this.on = false;
    await this.loop;
    return this.samples;
  }

  /**
   * Peak of nodes the tool took out of service at once: capacity − (Ready and schedulable), leaving out nodes
   * that had been Ready and went NotReady uncordoned (the simulated kubelets lag on a busy machine; the
   * tool never makes a node NotReady).
   */
  peakDown(capacity: number): number {
    const everReady = new Set<string>();
    let peak = 0;
    for (const s of this.samples) {
      for (const n of s.nodes) if (n.ready) everReady.add(n.name);
      const available = s.nodes.filter((n) => n.ready && !n.unschedulable).length;
      const lagging = s.nodes.filter((n) => !n.ready && !n.unschedulable && everReady.has(n.name)).length;
      peak = Math.max(peak, capacity - available - lagging);
    }
    return peak;
  }

  /** Peak of nodes cordoned at once by an owner matching `owner`. */
  peakCordoned(owner: RegExp): number {
    return Math.max(
      0,
      ...this.samples.map(
        (s) => s.nodes.filter((n) => n.unschedulable && owner.test(n.cordonedBy ?? '')).length,
      ),
    );
  }
}

/** Nodes still cordoned by the tool (annotation keiko.io/cordoned-by) that exist now. */
export async function leftCordoned(owner: RegExp, selector?: string): Promise<string[]> {
  const core = kubeConfigFromEnv().makeApiClient(k8s.CoreV1Api);
  const nodes = (await core.listNode(selector ? { labelSelector: selector } : {})).items;
  return nodes
    .filter((n) => n.spec?.unschedulable && owner.test(n.metadata?.annotations?.[CORDONED_BY] ?? ''))
    .map((n) => n.metadata?.name ?? '');
}

export interface Figures {
  scenario: string;
  seed: number;
  faults: string;
  operations: string;
  kills: number;
  aws?: AwsFaultSummary;
  seconds: number;
  baselineSeconds?: number;
  violations: string[];
}

/** Prints the scenario's figures (one line) and appends them to .testenv/chaos-figures.jsonl. */
export function report(f: Figures): void {
  const aws = f.aws ? ` aws-calls=${f.aws.calls} throttled=${f.aws.throttled} http500=${f.aws.errors}` : '';
  const base = f.baselineSeconds !== undefined ? ` fault-free=${f.baselineSeconds.toFixed(1)}s` : '';
  console.log(
    `chaos ${f.scenario}: seed=${f.seed} faults="${f.faults}" completed="${f.operations}" kills=${f.kills}${aws} ` +
      `converged=${f.seconds.toFixed(1)}s${base} violations=${f.violations.length}` +
      (f.violations.length ? `\n  ${f.violations.join('\n  ')}` : ''),
  );
  const file = path.join(stateDir(), 'chaos-figures.jsonl');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${JSON.stringify({ ...f, at: new Date().toISOString() })}\n`);
}

/** Collects invariant checks: each failed check is a violation with its figures. */
export class Invariants {
  readonly violations: string[] = [];
  check(ok: boolean, what: string): void {
    if (!ok) this.violations.push(what);
  }
}

export const root = repoRoot();
export { AwsFaults };
