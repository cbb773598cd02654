// npm run sandbox — the main job: a local control plane with simulated nodes and a simulated AWS, every
// CRD, every controller as its own process (from its bundle, as in its container), the example
// resources applied, and a running account of what they are doing.
//
//   npm run sandbox                       run until Ctrl-C
//   npm run sandbox -- --until <regex>    exit 0 once a printed line matches (CI, e2e); 1 on --timeout.
//                                         Repeatable: exit 0 once every regex has matched a line.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import type * as k8s from '@kubernetes/client-node';
import { ALL_KINDS, kindInfo } from '@keiko/api';
import { Informer, KubeClient, ResourceTypes, type ResourceType } from '@keiko/kube-runtime';
import {
  applyManifests,
  createNamespace,
  freePort,
  kubeConfigFromEnv,
  parseManifests,
  seedDemoCluster,
  startTestEnv,
  type TestEnv,
} from '@keiko/testenv';
import { build } from 'tsup';
import { bundleOptions } from '../tsup.app';

const root = path.resolve(import.meta.dirname, '..');
// The sandbox's cluster is its own (.sandbox/), never the one `npm test` or `npm run testenv -- up` use:
// its controllers watch every namespace, and would act on the tests' objects.
const stateDir = (process.env.KEIKO_TESTENV_DIR ??= path.join(root, '.sandbox'));
const opts = new Command('sandbox')
  .option(
    '--until <regex>',
    'exit 0 once a printed line matches (repeatable: once every one has matched)',
    (v: string, all: string[]) => [...all, v],
    [] as string[],
  )
  .option('--timeout <s>', 'with --until: give up (exit 1) after this many seconds', '300')
  .option('--nodes <n>', 'simulated nodes to start with', '3')
  .parse(process.argv)
  .opts() as { until: string[]; timeout: string; nodes: string };
/** The --until patterns not matched yet. */
const waitingFor = opts.until.map((u) => new RegExp(u));

interface Controller {
  name: string;
  bundle: string;
  proc?: ChildProcess;
}

const controllers: Controller[] = [];
const informers: Informer<k8s.KubernetesObject>[] = [];
let env: TestEnv | undefined;
let finishing = false;

function say(line: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const before = waitingFor.length;
  for (let i = waitingFor.length - 1; i >= 0; i--) if (waitingFor[i]?.test(line)) waitingFor.splice(i, 1);
  if (before > 0 && waitingFor.length === 0) void finish(0);
}

async function main(): Promise<void> {
  env = await startTestEnv({ verbose: true });
  Object.assign(process.env, env.env);
  const kc = kubeConfigFromEnv();
  const client = new KubeClient(kc);
  await seedDemoCluster(kc, Number(opts.nodes));
  say(
    `cluster: Kubernetes ${env.kubernetesVersion}, ${opts.nodes} simulated nodes; AWS emulator at ${env.awsEndpoint}`,
  );

  const crds = listFiles(
    path.join(root, 'charts'),
    (f) => f.includes(`${path.sep}crds${path.sep}`) && f.endsWith('.yaml'),
  );
  await applyManifests(
    kc,
    crds.flatMap((f) => parseManifests(fs.readFileSync(f, 'utf8'))),
  );
  say(`installed ${crds.length} CRDs: ${ALL_KINDS.map((k) => k.kind).join(', ')}`);

  await seedApps();
  await startControllers();
  watchResources(client);
  await applyExamples(kc, client);
  say('watching; Ctrl-C to stop. kubectl: export KUBECONFIG=' + path.relative(process.cwd(), env.kubeconfig));
}

/** Apps that need cloud state first (an ASG to upgrade...) seed it from apps/<tool>/sandbox/seed.ts. */
async function seedApps(): Promise<void> {
  for (const app of appDirs()) {
    const seed = path.join(app, 'sandbox', 'seed.ts');
    if (!fs.existsSync(seed)) continue;
    const mod = (await import(seed)) as { seed: (log: (l: string) => void) => Promise<void> };
    await mod.seed((l) => say(`${path.basename(app)}: ${l}`));
  }
}

async function startControllers(): Promise<void> {
  for (const app of appDirs()) {
    const name = path.basename(app);
    const built = spawnSync('npm', ['run', 'build', '--silent', '-w', `apps/${name}`], {
      cwd: root,
      stdio: 'inherit',
    });
    if (built.status !== 0) throw new Error(`building ${name} failed`);
    controllers.push({ name, bundle: path.join(app, 'dist', 'main.js') });
  }
  if (controllers.length === 0) {
    // No tool yet: the runtime's example controller stands in, bundled like an app.
    const outDir = path.join(stateDir, 'bundles');
    await build({
      ...bundleOptions(
        { 'hello-controller': path.join(root, 'packages/kube-runtime/examples/hello-controller.ts') },
        outDir,
      ),
      silent: true,
    });
    controllers.push({ name: 'hello-controller', bundle: path.join(outDir, 'hello-controller.js') });
  }
  for (const c of controllers) {
    const log = path.join(stateDir, 'logs', `${c.name}.log`);
    const out = fs.openSync(log, 'w');
    c.proc = spawn(
      process.execPath,
      [
        c.bundle,
        '--leader-elect=false',
        `--metrics-port=${await freePort()}`,
        `--health-port=${await freePort()}`,
        '--bind-address=127.0.0.1',
      ],
      { env: process.env, stdio: ['ignore', out, out] },
    );
    c.proc.on('exit', (code, signal) => {
      if (!finishing)
        say(`${c.name}: exited (${signal ?? code}); its log: ${path.relative(process.cwd(), log)}`);
    });
    say(`${c.name}: started (pid ${c.proc.pid}), logging to ${path.relative(process.cwd(), log)}`);
  }
}

/** Prints a line whenever a Keiko resource's state changes, and every Event about one. */
function watchResources(client: KubeClient): void {
  const kinds: ResourceType[] = ALL_KINDS.map((d) => kindInfo(d));
  for (const rt of kinds) {
    const last = new Map<string, string>();
    const informer = new Informer<k8s.KubernetesObject>(client, rt);
    const report = (o: k8s.KubernetesObject) => {
      const key = `${o.metadata?.namespace}/${o.metadata?.name}`;
      const state = summarize(o);
      if (last.get(key) === state) return;
      last.set(key, state);
      say(`${rt.kind} ${key}: ${state}`);
    };
    informer.addEventHandler({
      onAdd: report,
      onUpdate: (_o, n) => report(n),
      onDelete: (o) => say(`${rt.kind} ${o.metadata?.namespace}/${o.metadata?.name}: deleted`),
    });
    informers.push(informer);
  }
  const watched = new Set([...kinds.map((k) => k.kind), 'ConfigMap']);
  const events = new Informer<k8s.CoreV1Event>(client, ResourceTypes.Event);
  const started = new Date();
  events.addEventHandler({
    onAdd: (e) => {
      const when = new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0);
      if (!watched.has(e.involvedObject.kind ?? '') || when < started) return;
      say(
        `  event ${e.type} ${e.reason} ${e.involvedObject.kind} ${e.involvedObject.namespace}/${e.involvedObject.name}: ${e.message}`,
      );
    },
    onUpdate: (o, e) => {
      if (o === e || !watched.has(e.involvedObject.kind ?? '')) return;
      say(
        `  event ${e.type} ${e.reason} ${e.involvedObject.kind} ${e.involvedObject.namespace}/${e.involvedObject.name}: ${e.message} (x${e.count})`,
      );
    },
  });
  informers.push(events as unknown as Informer<k8s.KubernetesObject>);
  if (controllers.some((c) => c.name === 'hello-controller')) {
    const greetings = new Informer<k8s.V1ConfigMap>(client, ResourceTypes.ConfigMap, {
      labelSelector: 'keiko.io/hello=true',
    });
    const report = (cm: k8s.V1ConfigMap) =>
      cm.data?.greeting &&
      say(`ConfigMap ${cm.metadata?.namespace}/${cm.metadata?.name}: greeting "${cm.data.greeting}"`);
    greetings.addEventHandler({
      onAdd: report,
      onUpdate: (o, n) => o.data?.greeting !== n.data?.greeting && report(n),
    });
    informers.push(greetings as unknown as Informer<k8s.KubernetesObject>);
  }
  for (const i of informers) i.start();
}

/** A one-line state of any Keiko resource: its phase field, progress and Ready-like condition. */
function summarize(o: k8s.KubernetesObject & { status?: Record<string, unknown> }): string {
  const s = o.status ?? {};
  const lifecycle = s.lifecycle as { installed?: string } | undefined;
  const phase =
    s.currentStatus ?? s.currentState ?? lifecycle?.installed ?? s.status ?? s.phase ?? 'no status yet';
  const parts = [String(phase)];
  if (typeof s.totalNodes === 'number') parts.push(`nodes ${String(s.nodesProcessed ?? 0)}/${s.totalNodes}`);
  if (s.reason) parts.push(`reason: ${String(s.reason)}`);
  const conditions = (s.conditions as { type: string; status: string; reason?: string }[] | undefined) ?? [];
  const failing = conditions
    .filter((c) => c.status === 'False')
    .map((c) => `${c.type}=False(${c.reason ?? ''})`);
  if (failing.length) parts.push(failing.join(' '));
  return parts.join(', ');
}

async function applyExamples(kc: ReturnType<typeof kubeConfigFromEnv>, client: KubeClient): Promise<void> {
  const files = listFiles(path.join(root, 'examples'), (f) => f.endsWith('.yaml'));
  if (controllers.some((c) => c.name === 'hello-controller'))
    files.push(path.join(root, 'packages/kube-runtime/examples/hello.yaml'));
  const objects = files.flatMap((f) => parseManifests(fs.readFileSync(f, 'utf8')));
  // The examples name the namespaces they live in (the talk's: instance-manager, addon-manager-system).
  for (const ns of new Set(objects.map((o) => o.metadata?.namespace).filter((n): n is string => !!n))) {
    if (!(await client.get(ResourceTypes.Namespace, undefined, ns)))
      await createNamespace(ns, { kubeConfig: kc, exact: true });
  }
  await applyManifests(kc, objects);
  say(`applied ${objects.length} example resources from ${files.length} files`);
}

function appDirs(): string[] {
  const apps = path.join(root, 'apps');
  if (!fs.existsSync(apps)) return [];
  return fs
    .readdirSync(apps)
    .map((d) => path.join(apps, d))
    .filter(
      (d) => fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'src', 'main.ts')),
    );
}

function listFiles(dir: string, keep: (f: string) => boolean): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile() && keep(f))
    .sort();
}

async function finish(code: number): Promise<void> {
  if (finishing) return;
  finishing = true;
  say('stopping');
  await Promise.all(
    controllers.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (!c.proc || c.proc.exitCode !== null) return resolve();
          c.proc.once('exit', () => resolve());
          c.proc.kill('SIGTERM');
          setTimeout(() => c.proc?.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
  await Promise.all(informers.map((i) => i.stop()));
  await env?.stop();
  process.exit(code);
}

process.on('SIGINT', () => void finish(0));
process.on('SIGTERM', () => void finish(0));
if (waitingFor.length > 0) {
  setTimeout(
    () => {
      console.error(
        `sandbox: within ${opts.timeout}s no line matched ${waitingFor.map((r) => `/${r.source}/`).join(', ')}`,
      );
      void finish(1);
    },
    Number(opts.timeout) * 1000,
  ).unref();
}
main().catch((err: unknown) => {
  console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
  void finish(1);
});
