// npm run bench -- footprint [--settle-max <s>] [--measure <s>] [--only <tool,...>] [--nodes <n>]
// What each Keiko controller costs at rest. A sandbox-like cluster (the sandbox's simulated nodes, every
// CRD, every app's sandbox/seed.ts, every example under examples/) is run by every app under apps/ that has
// src/main.ts, each bundled and started with its image's own command line (the Dockerfile's ENTRYPOINT
// and ENV, with /app/ mapped to the app's dist/) plus the sandbox's flags. Each controller talks to the
// apiserver through its own counting proxy and to the AWS emulator through its own counting proxy, so
// requests are counted where they arrive, never from the controller's logs or metrics.
//
// Once the examples have settled (every Keiko resource's phase unchanged for 60 s and no controller
// writing for 60 s, or the phases unchanged for 120 s; at most --settle-max, default 600 s) the
// controllers are observed for --measure seconds (default 120; use --measure 1800 for the 30-minute
// growth figure). Prints one line per tool:
//   footprint tool=<name> idle_rss_mb=.. rss_growth_mb_per_h=.. kube_writes_per_min=.. kube_reads_per_min=.. aws_calls_per_group_per_h=..
// idle_rss_mb is the median VmRSS over the window (from /proc); rss_growth_mb_per_h the median of the
// window's last quarter minus its first's, per hour; aws_calls_per_group_per_h divides a tool's calls by the Auto Scaling groups in
// the emulator. The breakdown (requests by path, 404s, AWS calls by operation) goes to stderr.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { KubernetesObject } from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import { AutoScalingClient, paginateDescribeAutoScalingGroups } from '@aws-sdk/client-auto-scaling';
import { Command } from 'commander';
import { ALL_KINDS, kindInfo } from '@keiko/api';
import { KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import {
  ApiFaultProxy,
  applyManifests,
  createNamespace,
  emulatorConfig,
  freePort,
  kubeConfigFromEnv,
  parseManifests,
  seedDemoCluster,
  startTestEnv,
} from '@keiko/testenv';
import { AwsCallCounter } from './support/aws-counter';
import { imageCommand, median, growthPerHour } from './support/footprint-math';

const root = path.resolve(import.meta.dirname, '..');
const stateDir = (process.env.KEIKO_TESTENV_DIR ??= path.join(root, '.bench-footprint'));
const opts = new Command('footprint')
  .option('--settle-max <s>', 'longest wait for the examples to settle', '600')
  .option('--measure <s>', 'observation window at rest', '120')
  .option('--only <tools>', 'comma-separated apps to run (default: every app with src/main.ts)')
  .option('--nodes <n>', 'simulated demo nodes', '3')
  .parse(process.argv)
  .opts() as { settleMax: string; measure: string; only?: string; nodes: string };
const say = (m: string) => process.stderr.write(`[footprint] ${m}\n`);
// stdout carries only the figures: the stand-ins' console lines go to stderr.
const figures = (line: string) => process.stdout.write(`${line}\n`);
console.log = (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`);

interface Tool {
  name: string;
  kube: ApiFaultProxy;
  aws: AwsCallCounter;
  proc?: ChildProcess;
  rss: { at: number; mb: number }[];
}

function appNames(): string[] {
  const only = opts.only?.split(',');
  return fs
    .readdirSync(path.join(root, 'apps'))
    .filter((d) => fs.existsSync(path.join(root, 'apps', d, 'src', 'main.ts')))
    .filter((d) => !only || only.includes(d))
    .sort();
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function prepareCluster(): Promise<void> {
  const kc = kubeConfigFromEnv();
  await seedDemoCluster(kc, Number(opts.nodes));
  const crds = fs
    .readdirSync(path.join(root, 'charts'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.includes(`${path.sep}crds${path.sep}`) && f.endsWith('.yaml'))
    .map((f) => path.join(root, 'charts', f));
  await applyManifests(
    kc,
    crds.flatMap((f) => parseManifests(fs.readFileSync(f, 'utf8'))),
  );
  say(`installed ${crds.length} CRDs (${ALL_KINDS.length} kinds)`);
  for (const app of appNames()) {
    const seed = path.join(root, 'apps', app, 'sandbox', 'seed.ts');
    if (!fs.existsSync(seed)) continue;
    const mod = (await import(seed)) as { seed: (log: (l: string) => void) => Promise<void> };
    await mod.seed((l) => say(`${app} seed: ${l}`));
  }
}

async function applyExamples(): Promise<void> {
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  const dir = path.join(root, 'examples');
  const files = fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(dir, f));
  const objects = files.flatMap((f) => parseManifests(fs.readFileSync(f, 'utf8')));
  for (const ns of new Set(objects.map((o) => o.metadata?.namespace).filter((n): n is string => !!n))) {
    if (!(await client.get(ResourceTypes.Namespace, undefined, ns)))
      await createNamespace(ns, { kubeConfig: kc, exact: true });
  }
  await applyManifests(kc, objects);
  say(`applied ${objects.length} example resources from ${files.length} files`);
}

async function startTool(name: string, awsUpstream: string): Promise<Tool> {
  const built = spawnSync('npm', ['run', 'build', '--silent', '-w', `apps/${name}`], {
    cwd: root,
    stdio: ['ignore', 2, 2], // stdout carries only the figures
  });
  if (built.status !== 0) throw new Error(`building ${name} failed`);
  const tool: Tool = { name, kube: new ApiFaultProxy(), aws: new AwsCallCounter(awsUpstream), rss: [] };
  await tool.kube.start();
  const kubeconfig = path.join(stateDir, `kubeconfig-${name}`);
  fs.writeFileSync(kubeconfig, tool.kube.kubeconfigYaml());
  const awsUrl = await tool.aws.start();
  const dockerfile = fs.readFileSync(path.join(root, 'apps', name, 'Dockerfile'), 'utf8');
  const image = imageCommand(dockerfile, process.execPath, path.join(root, 'apps', name, 'dist') + '/');
  const args = [
    ...image.args,
    '--leader-elect=false',
    `--metrics-port=${await freePort()}`,
    `--health-port=${await freePort()}`,
    '--bind-address=127.0.0.1',
  ];
  const log = fs.openSync(path.join(stateDir, 'logs', `${name}.log`), 'w');
  tool.proc = spawn(image.command, args, {
    env: { ...process.env, ...image.env, KUBECONFIG: kubeconfig, AWS_ENDPOINT_URL: awsUrl },
    stdio: ['ignore', log, log],
  });
  tool.proc.on('exit', (code, signal) => say(`${name}: exited (${signal ?? code})`));
  say(`${name}: ${[image.command, ...args].join(' ')} (pid ${tool.proc.pid})`);
  return tool;
}

async function autoScalingGroups(): Promise<number> {
  const asg = new AutoScalingClient(emulatorConfig());
  let n = 0;
  for await (const page of paginateDescribeAutoScalingGroups({ client: asg }, {}))
    n += page.AutoScalingGroups?.length ?? 0;
  asg.destroy();
  return n;
}

const isWrite = (m: string) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(m);

/** Every Keiko resource's phase (currentState, currentStatus, status, phase...), by kind/namespace/name. */
async function phases(client: KubeClient): Promise<string> {
  const out: string[] = [];
  for (const d of ALL_KINDS) {
    const items = (await client.list<KubernetesObject & { status?: Record<string, unknown> }>(kindInfo(d)))
      .items;
    for (const o of items) {
      const s = o.status ?? {};
      const lifecycle = s.lifecycle as { installed?: string } | undefined;
      const phase = s.currentStatus ?? s.currentState ?? lifecycle?.installed ?? s.status ?? s.phase ?? '';
      out.push(`${d.kind}/${o.metadata?.namespace}/${o.metadata?.name}=${String(phase)}`);
    }
  }
  return out.sort().join(' ');
}

/**
 * Waits until the examples have settled: every Keiko resource's phase unchanged for `quietMs` and no
 * controller has written to Kubernetes for `quietMs` — or, for a tool that writes on a schedule (active-monitor
 * runs its health checks), phases unchanged for `quietMs` twice over. Gives up after `maxMs`.
 */
async function settle(tools: Tool[], quietMs: number, maxMs: number): Promise<void> {
  const client = new KubeClient(kubeConfigFromEnv());
  const start = Date.now();
  let last = '';
  let since = start;
  for (;;) {
    await new Promise((r) => setTimeout(r, 5_000));
    const now = Date.now();
    const current = await phases(client);
    if (current !== last) [last, since] = [current, now];
    const lastWrite = Math.max(
      start,
      ...tools.flatMap((t) =>
        t.kube
          .forwardedLog()
          .filter((r) => isWrite(r.method))
          .map((r) => r.at),
      ),
    );
    const stable = now - since;
    if ((stable >= quietMs && now - lastWrite >= quietMs) || stable >= 2 * quietMs) {
      say(`settled after ${((now - start) / 1000).toFixed(0)} s: ${current}`);
      return;
    }
    if (now - start >= maxMs) {
      say(`not settled after ${maxMs / 1000} s; measuring anyway: ${current}`);
      return;
    }
  }
}

function report(t: Tool, from: number, to: number, groups: number): void {
  const minutes = (to - from) / 60_000;
  const reqs = t.kube.forwardedLog().filter((r) => r.at >= from && r.at < to);
  const writes = reqs.filter((r) => isWrite(r.method));
  const reads = reqs.filter((r) => !isWrite(r.method));
  const calls = t.aws.between(from, to);
  const count = (keys: string[]) =>
    [...keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>())]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
  const shape = (p: string) => p.replace(/\?.*$/, (q) => (q.includes('watch=') ? '?watch' : ''));
  say(
    `${t.name}: kube by request: ${count(reqs.map((r) => `${r.method} ${shape(r.path)} ${r.status ?? '-'}`))}`,
  );
  say(`${t.name}: aws by operation: ${count(calls.map((c) => `${c.service}:${c.operation}`))}`);
  const samples = t.rss.filter((s) => s.at >= from && s.at <= to);
  const perGroupH = groups > 0 ? calls.length / groups / (minutes / 60) : 0;
  figures(
    `footprint tool=${t.name} idle_rss_mb=${median(samples.map((s) => s.mb)).toFixed(0)} ` +
      `rss_growth_mb_per_h=${growthPerHour(samples).toFixed(1)} kube_writes_per_min=${(writes.length / minutes).toFixed(2)} ` +
      `kube_reads_per_min=${(reads.length / minutes).toFixed(2)} aws_calls_per_group_per_h=${perGroupH.toFixed(1)}`,
  );
}

async function main(): Promise<void> {
  const env = await startTestEnv({ verbose: true });
  Object.assign(process.env, env.env);
  const tools: Tool[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    await prepareCluster();
    for (const name of appNames()) tools.push(await startTool(name, env.awsEndpoint));
    sampler = setInterval(() => {
      for (const t of tools)
        if (t.proc?.pid && t.proc.exitCode === null) t.rss.push({ at: Date.now(), mb: rssMb(t.proc.pid) });
    }, 5_000);
    await applyExamples();
    await settle(tools, 60_000, Number(opts.settleMax) * 1000);
    const groups = await autoScalingGroups();
    say(`measuring ${opts.measure} s at rest; ${groups} Auto Scaling groups in the emulator`);
    const from = Date.now();
    await new Promise((r) => setTimeout(r, Number(opts.measure) * 1000));
    const to = Date.now();
    for (const t of tools) report(t, from, to, groups);
  } finally {
    clearInterval(sampler);
    await Promise.all(tools.map((t) => stopTool(t)));
    await env.stop();
  }
}

async function stopTool(t: Tool): Promise<void> {
  if (t.proc && t.proc.exitCode === null) {
    const exited = new Promise((r) => t.proc?.once('exit', r));
    t.proc.kill('SIGTERM');
    const timer = setTimeout(() => t.proc?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  await t.kube.stop();
  await t.aws.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`footprint: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
