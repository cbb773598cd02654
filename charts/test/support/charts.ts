// Helm and the charts under test: which charts exist, a private helm home, charts prepared with their
// keiko-lib dependency, rendering, and the RBAC checks every chart must pass.
import type * as k8s from '@kubernetes/client-node';
import { kubeConfigFromEnv, parseManifests, toolPaths } from '@keiko/testenv';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';

/** charts/ in the repository. */
export const chartsDir = path.resolve(import.meta.dirname, '..', '..');
export const LIBRARY_CHART = 'keiko-lib';

export interface ChartInfo {
  name: string;
  /** The chart's directory in the repository (not the prepared copy). */
  dir: string;
  type: 'application' | 'library';
  version: string;
  appVersion?: string;
}

interface ChartYaml {
  name: string;
  type?: 'application' | 'library';
  version: string;
  appVersion?: string;
  dependencies?: { name: string; version: string; repository: string }[];
}

export function readChartYaml(dir: string): ChartYaml {
  return load(fs.readFileSync(path.join(dir, 'Chart.yaml'), 'utf8')) as ChartYaml;
}

/** Every chart: a directory of charts/ with a Chart.yaml (charts/<tool>/ holding only crds/ is not one yet). */
export function listCharts(): ChartInfo[] {
  return fs
    .readdirSync(chartsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(chartsDir, d.name, 'Chart.yaml')))
    .map((d) => {
      const dir = path.join(chartsDir, d.name);
      const c = readChartYaml(dir);
      return {
        name: c.name,
        dir,
        type: c.type ?? 'application',
        version: c.version,
        appVersion: c.appVersion,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The installable charts: one per tool. */
export function toolCharts(): ChartInfo[] {
  return listCharts().filter((c) => c.type === 'application');
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; never rejects on a non-zero exit (negative tests look at the result). */
export function run(
  bin: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      { env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err); // could not start at all
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    // A program that exits before reading its input (helm refusing its values at once) closes the pipe:
    // the write then fails with EPIPE, which is the program's business, reported through its exit code.
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin?.end(opts.input ?? '');
  });
}

let workspaceDir: string | undefined;

/**
 * A private directory per test file: its own helm home (so tests neither read nor write the user's
 * repositories, registry logins or cache), the admin kubeconfig, and prepared chart copies.
 */
export function workspace(): string {
  if (!workspaceDir) {
    workspaceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-charts-'));
    for (const d of ['helm/cache', 'helm/config', 'helm/data', 'charts'])
      fs.mkdirSync(path.join(workspaceDir, d), { recursive: true });
  }
  return workspaceDir;
}

/** Removes this test file's workspace; call from afterAll. */
export function cleanupWorkspace(): void {
  if (workspaceDir) fs.rmSync(workspaceDir, { recursive: true, force: true });
  workspaceDir = undefined;
  prepared.clear();
}

/** The admin kubeconfig of the test cluster as a file, for helm and kubectl. */
export function adminKubeconfigFile(): string {
  const file = path.join(workspace(), 'kubeconfig');
  if (!fs.existsSync(file)) fs.writeFileSync(file, kubeConfigFromEnv().exportConfig(), { mode: 0o600 });
  return file;
}

function helmEnv(kubeconfig: boolean): NodeJS.ProcessEnv {
  const ws = workspace();
  return {
    ...process.env,
    HELM_CACHE_HOME: path.join(ws, 'helm/cache'),
    HELM_CONFIG_HOME: path.join(ws, 'helm/config'),
    HELM_DATA_HOME: path.join(ws, 'helm/data'),
    ...(kubeconfig ? { KUBECONFIG: adminKubeconfigFile() } : {}),
  };
}

/** Runs the test cluster's helm (testenv builds it); `cluster` points it at the test cluster. */
export function helmResult(args: string[], opts: { cluster?: boolean } = {}): Promise<RunResult> {
  return run(toolPaths().helm, args, { env: helmEnv(opts.cluster ?? false) });
}

/** Like helmResult, but resolves to stdout and rejects with helm's own message on failure. */
export async function helm(args: string[], opts: { cluster?: boolean } = {}): Promise<string> {
  const r = await helmResult(args, opts);
  if (r.code !== 0)
    throw new Error(`helm ${args.join(' ')}: exit ${r.code}\n${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

const prepared = new Map<string, Promise<string>>();

/**
 * A copy of charts/<name> with its dependencies packed into its charts/ directory, as a user gets
 * after `helm dependency update`. Copies keep the tests from writing into the repository and from
 * racing other test files over the same charts/<tool>/charts/. A packed dependency left in the
 * repository by hand is not copied, so the tests always see the current charts/keiko-lib.
 */
export function preparedChart(name: string): Promise<string> {
  let p = prepared.get(name);
  if (!p) {
    p = (async () => {
      const dest = path.join(workspace(), 'charts');
      for (const chart of [name, LIBRARY_CHART]) {
        const target = path.join(dest, chart);
        if (fs.existsSync(target)) continue;
        const src = path.join(chartsDir, chart);
        fs.cpSync(src, target, {
          recursive: true,
          filter: (f) => f !== path.join(src, 'charts') && f !== path.join(src, 'Chart.lock'),
        });
      }
      const dir = path.join(dest, name);
      if (readChartYaml(dir).dependencies?.length)
        await helm(['dependency', 'update', '--skip-refresh', dir]);
      return dir;
    })();
    prepared.set(name, p);
  }
  return p;
}

/** The values file that turns every optional feature of a chart on. */
export function allFeaturesValues(chartDir: string): string {
  return path.join(chartDir, 'ci', 'all-features-values.yaml');
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  /** --set-string pairs: values keep the type the chart's values.yaml gives them. */
  set?: Record<string, string>;
  /** Raw extra helm arguments, e.g. ['--set', 'replicas=3']. */
  args?: string[];
}

export function renderArgs(chartDir: string, opts: RenderOptions = {}): string[] {
  return [
    opts.release ?? 'keiko-test',
    chartDir,
    '--namespace',
    opts.namespace ?? 'keiko-system',
    ...(opts.valuesFiles ?? []).flatMap((f) => ['--values', f]),
    ...Object.entries(opts.set ?? {}).flatMap(([k, v]) => ['--set-string', `${k}=${v}`]),
    ...(opts.args ?? []),
  ];
}

/** `helm template` of a prepared chart, parsed into objects. */
export async function renderChart(
  chartDir: string,
  opts: RenderOptions = {},
): Promise<k8s.KubernetesObject[]> {
  return parseManifests(await helm(['template', ...renderArgs(chartDir, opts)]));
}

export function findObject<T extends k8s.KubernetesObject>(
  objects: k8s.KubernetesObject[],
  kind: string,
  name?: string,
): T {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (!found) {
    const have = objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ');
    throw new Error(`no ${kind}${name ? `/${name}` : ''} among ${have}`);
  }
  return found as T;
}

/** The controller container of the chart's Deployment. */
export function containerOf(objects: k8s.KubernetesObject[]): k8s.V1Container {
  return findObject<k8s.V1Deployment>(objects, 'Deployment').spec!.template.spec!.containers[0]!;
}

interface PolicyRuleLike {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  nonResourceURLs?: string[];
}

interface RbacObject extends k8s.KubernetesObject {
  rules?: PolicyRuleLike[];
  aggregationRule?: unknown;
  roleRef?: { kind: string; name: string };
}

/**
 * Every way a rendered chart grants more than it lists: "*" anywhere in a rule's apiGroups,
 * resources, verbs or nonResourceURLs; a ClusterRole that aggregates others (its rules are not in the
 * chart); a binding to a role the chart does not render (cluster-admin, edit...). Empty: least privilege.
 */
export function rbacViolations(objects: k8s.KubernetesObject[]): string[] {
  const out: string[] = [];
  const rendered = new Set(
    objects
      .filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
      .map((o) => `${o.kind}/${o.metadata?.name}`),
  );
  for (const o of objects as RbacObject[]) {
    const id = `${o.kind}/${o.metadata?.name}`;
    if (o.kind === 'Role' || o.kind === 'ClusterRole') {
      if (o.aggregationRule) out.push(`${id} aggregates other ClusterRoles: list its rules instead`);
      (o.rules ?? []).forEach((rule, i) => {
        for (const field of ['apiGroups', 'resources', 'verbs', 'nonResourceURLs'] as const) {
          for (const v of rule[field] ?? [])
            if (v.includes('*')) out.push(`${id} rule ${i} grants "${v}" in ${field}`);
        }
      });
    }
    if ((o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') && o.roleRef) {
      const ref = `${o.roleRef.kind}/${o.roleRef.name}`;
      if (!rendered.has(ref)) out.push(`${id} binds ${ref}, which the chart does not define`);
    }
  }
  return out;
}
