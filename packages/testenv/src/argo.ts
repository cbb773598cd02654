// Argo Workflows in the test cluster: the real workflow-controller (built from the Go module
// github.com/argoproj/argo-workflows/v4 by install-tools.sh), Argo's full CRDs, the controller's
// ServiceAccount, RBAC and ConfigMap from the module's manifests — and, because no container runs
// under KWOK, the stand-ins of argo-executor.ts and kwok/argo-stages.yaml for the step pods' containers.
// KEIKO_ARGO=false leaves Argo out (a machine that cannot build it); tests that need it then fail
// through requireArgo(), never skip.
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { load } from 'js-yaml';
import { applyManifests } from './apply';
import { createSimulatedNode } from './nodes';
import { repoRoot } from './paths';
import { freePort, startProcess, waitFor, type ManagedProcess } from './process';
import { VERSIONS, type ToolPaths } from './tools';

/** Where the test cluster's workflow-controller lives (its ConfigMap, ServiceAccount, Role). */
export const ARGO_NAMESPACE = 'argo';
export const ARGO_CONFIGMAP = 'workflow-controller-configmap';
/** The simulated node every workflow pod runs on (tainted: nothing else lands there). */
export const ARGO_NODE = 'keiko-testenv-argo';
export const ARGO_NODE_TAINT = { key: 'testenv.keiko.io/argo', value: 'true', effect: 'NoSchedule' };
/**
 * The step's `main` exit code. A test sets it in a template's metadata.annotations (Argo copies them to
 * the step's pod) to make that step fail without running it; otherwise the executor stand-in sets it
 * once it has done what the executor would. KWOK's Stage then terminates the pod with it.
 */
export const EXIT_CODE_ANNOTATION = 'testenv.keiko.io/exit-code';
/** The `main` container's termination message (Argo puts it in the node's message). */
export const MESSAGE_ANNOTATION = 'testenv.keiko.io/message';
/** Set in a test process when the test cluster runs Argo: the controller's namespace. */
export const ARGO_ENV = 'KEIKO_TESTENV_ARGO_NAMESPACE';

export const ArgoWorkflows = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'workflows',
  kind: 'Workflow',
} as const;

export interface ArgoOptions {
  /** The controller's instanceID: it then runs only workflows labelled workflows.argoproj.io/controller-instanceid with it. */
  instanceID?: string;
  /** Its namespace (ConfigMap, ServiceAccount, Role); default `argo`, or `argo-<instanceID>`. */
  namespace?: string;
}

/** What the test cluster's TestEnvInfo says about Argo (absent with KEIKO_ARGO=false). */
export interface ArgoInfo {
  version: string;
  namespace: string;
  instanceID?: string;
}

export function argoEnabled(): boolean {
  return process.env.KEIKO_ARGO !== 'false';
}

/**
 * Throws, naming the cause, unless the test cluster this process uses runs Argo's workflow-controller.
 * Tests of workflows call it first: without Argo they fail with this message, never pass or skip.
 */
export function requireArgo(): void {
  if (process.env[ARGO_ENV]) return;
  throw new Error(
    "this test needs Argo's workflow-controller in the test cluster, which runs none: " +
      (argoEnabled()
        ? 'the cluster was started without it (an older `npm run testenv -- up`? run `npm run testenv -- down`)'
        : 'KEIKO_ARGO=false leaves it out (see docs/testenv.md, Argo Workflows)'),
  );
}

const manifestsDir = (tools: ToolPaths) => tools.argoManifests;

/** Installs Argo's CRDs (full schemas, server-side: they are large) and waits until they are Established. */
export async function installArgoCrds(tools: ToolPaths, kubeconfig: string): Promise<void> {
  const dir = path.join(manifestsDir(tools), 'crds');
  await run(tools.kubectl, kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', dir]);
  await run(tools.kubectl, kubeconfig, [
    'wait',
    '--for=condition=Established',
    '--timeout=120s',
    ...fs
      .readdirSync(dir)
      .map((f) => `crd/${f.replace(/^argoproj\.io_/, '').replace(/\.yaml$/, '')}.argoproj.io`),
  ]);
}

/** The controller's namespace, ServiceAccount, Role and ClusterRole bindings (Argo's cluster-install), and ConfigMap. */
export async function installArgoController(
  kc: k8s.KubeConfig,
  tools: ToolPaths,
  namespace: string,
  config: Record<string, string>,
): Promise<void> {
  const dir = path.join(manifestsDir(tools), 'controller');
  const objects = fs
    .readdirSync(dir)
    .flatMap((f) => loadAllDocs(fs.readFileSync(path.join(dir, f), 'utf8')))
    .map((o) => placeIn(o, namespace));
  await applyManifests(kc, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as k8s.KubernetesObject,
    ...objects,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ARGO_CONFIGMAP, namespace },
      data: config,
    } as k8s.KubernetesObject,
  ]);
}

/**
 * As kustomize's `namespace: argo` does for cluster-install: namespaced objects and ServiceAccount
 * subjects go to `namespace`; cluster-scoped objects of a second instance get its namespace in their name.
 */
function placeIn(o: k8s.KubernetesObject, namespace: string): k8s.KubernetesObject {
  const clusterScoped = o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding';
  const out = structuredClone(o) as k8s.KubernetesObject & {
    subjects?: { kind: string; namespace?: string }[];
    roleRef?: { kind: string; name: string };
  };
  if (!clusterScoped) out.metadata = { ...out.metadata, namespace };
  for (const s of out.subjects ?? []) if (s.kind === 'ServiceAccount') s.namespace = namespace;
  if (namespace !== ARGO_NAMESPACE && o.kind === 'ClusterRoleBinding') {
    out.metadata = { ...out.metadata, name: `${out.metadata?.name}-${namespace}` };
  }
  return out;
}

function loadAllDocs(text: string): k8s.KubernetesObject[] {
  return text
    .split(/^---\s*$/m)
    .map((d) => load(d))
    .filter((d): d is k8s.KubernetesObject => typeof d === 'object' && d !== null);
}

/**
 * The controller's configuration: its instanceID, metrics on a port of its own (plain HTTP, the
 * readiness probe), and workflow defaults that put every step pod on the Argo node.
 */
export function controllerConfig(metricsPort: number, instanceID?: string): Record<string, string> {
  return {
    ...(instanceID ? { instanceID } : {}),
    metricsConfig: JSON.stringify({ enabled: true, port: metricsPort, secure: false }),
    workflowDefaults: JSON.stringify({
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': ARGO_NODE },
        tolerations: [{ ...ARGO_NODE_TAINT, operator: 'Equal' }],
      },
    }),
  };
}

/** Registers the tainted simulated node that runs the workflows' pods, unless it is there. */
export async function ensureArgoNode(kc: k8s.KubeConfig): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const exists = await core.readNode({ name: ARGO_NODE }).then(
    () => true,
    () => false,
  );
  if (!exists)
    await createSimulatedNode(kc, {
      name: ARGO_NODE,
      taints: [ARGO_NODE_TAINT as k8s.V1Taint],
      labels: { 'testenv.keiko.io/role': 'argo-workflows' },
    });
}

/** A kubeconfig file acting as the controller's ServiceAccount (a token from the TokenRequest API). */
export async function serviceAccountKubeconfig(
  tools: ToolPaths,
  adminKubeconfig: string,
  namespace: string,
  name: string,
  file: string,
): Promise<string> {
  const token = (
    await run(tools.kubectl, adminKubeconfig, ['create', 'token', name, '-n', namespace, '--duration=8760h'])
  ).trim();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`${adminKubeconfig} names no cluster`);
  const asSa = new k8s.KubeConfig();
  asSa.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token }],
    contexts: [{ name, cluster: cluster.name, user: name, namespace }],
    currentContext: name,
  });
  fs.writeFileSync(file, asSa.exportConfig(), { mode: 0o600 });
  return file;
}

export interface ControllerProcessOptions {
  tools: ToolPaths;
  /** A kubeconfig acting as the controller's ServiceAccount. */
  kubeconfig: string;
  namespace: string;
  metricsPort: number;
  log: string;
  /** Records the started process at once (the test cluster stops it, also when it never gets ready). */
  track: (p: ManagedProcess) => void;
}

/** Starts workflow-controller (leader election off: one replica) and waits until it serves metrics. */
export async function startWorkflowController(o: ControllerProcessOptions): Promise<ManagedProcess> {
  const p = startProcess(
    'workflow-controller',
    o.tools.workflowController,
    [
      `--kubeconfig=${o.kubeconfig}`,
      `--namespace=${o.namespace}`,
      `--configmap=${ARGO_CONFIGMAP}`,
      `--executor-image=quay.io/argoproj/argoexec:${VERSIONS.argo}`,
      '--workflow-workers=4',
      '--loglevel=info',
    ],
    o.log,
    // One replica, no leader election; the workflow queue's requeue (Argo's documented
    // DEFAULT_REQUEUE_TIME, 10s) shortened so that steps follow each other within a test's patience.
    { LEADER_ELECTION_DISABLE: 'true', DEFAULT_REQUEUE_TIME: '2s' },
  );
  o.track(p);
  await waitFor('workflow-controller', () => httpOk(`http://127.0.0.1:${o.metricsPort}/metrics`), {
    timeoutMs: 120_000,
    process: p,
    log: o.log,
  });
  return p;
}

/** Starts the executor stand-in (argo-executor.ts) with the admin kubeconfig, under the repo's tsx. */
export function startExecutorStandIn(tools: ToolPaths, kubeconfig: string, log: string): ManagedProcess {
  const root = repoRoot(import.meta.dirname);
  return startProcess(
    'argo-executor-stand-in',
    process.execPath,
    ['--import', 'tsx', path.join(root, 'packages/testenv/src/argo-executor.ts')],
    log,
    { KUBECONFIG: kubeconfig, KEIKO_KUBECTL: tools.kubectl },
  );
}

export interface StartArgoOptions extends ArgoOptions {
  tools: ToolPaths;
  adminKubeconfig: string;
  /** Where the controller's ServiceAccount kubeconfig goes. */
  dataDir: string;
  logDir: string;
  /** Records each started process (the test cluster stops them). */
  track: (p: ManagedProcess) => void;
  say?: (msg: string) => void;
}

/**
 * Installs and starts Argo in the running cluster: CRDs, the Argo node, the controller's RBAC and
 * ConfigMap, the executor stand-in and the controller. A second instance (another instanceID) reuses
 * the CRDs, node and stand-in: pass `standIn: false`.
 */
export async function startArgo(o: StartArgoOptions & { standIn?: boolean }): Promise<ArgoInfo> {
  const namespace = o.namespace ?? (o.instanceID ? `argo-${o.instanceID}` : ARGO_NAMESPACE);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(o.adminKubeconfig);
  await installArgoCrds(o.tools, o.adminKubeconfig);
  await ensureArgoNode(kc);
  const metricsPort = await freePort();
  await installArgoController(kc, o.tools, namespace, controllerConfig(metricsPort, o.instanceID));
  const logFile = (name: string) => {
    const f = path.join(o.logDir, `${name}.log`);
    fs.writeFileSync(f, '');
    return f;
  };
  if (o.standIn !== false) {
    o.track(startExecutorStandIn(o.tools, o.adminKubeconfig, logFile('argo-executor-stand-in')));
    o.say?.('argo executor stand-in running (plays the step containers: resource templates, task results)');
  }
  const kubeconfig = await serviceAccountKubeconfig(
    o.tools,
    o.adminKubeconfig,
    namespace,
    'argo',
    path.join(o.dataDir, `argo-${namespace}.kubeconfig`),
  );
  const suffix = namespace === ARGO_NAMESPACE ? '' : `-${namespace}`;
  const log = logFile(`workflow-controller${suffix}`);
  await startWorkflowController({ tools: o.tools, kubeconfig, namespace, metricsPort, log, track: o.track });
  o.say?.(
    `argo workflow-controller ${VERSIONS.argo} running in namespace ${namespace}${o.instanceID ? ` (instanceID ${o.instanceID})` : ''}`,
  );
  return { version: VERSIONS.argo, namespace, ...(o.instanceID ? { instanceID: o.instanceID } : {}) };
}

function run(bin: string, kubeconfig: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      bin,
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`kubectl ${args[0]}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    ),
  );
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  return res?.ok ?? false;
}

/**
 * What a cluster admin grants the ServiceAccount a namespace's workflows run as (Argo's pods run under
 * spec.serviceAccountName, `default` when unset): ClusterRole `edit` in `namespaces` (Argo aggregates
 * workflowtaskresults into it, the executor's minimum) — or `clusterRole` cluster-wide. Idempotent.
 */
export async function grantWorkflowServiceAccount(
  kc: k8s.KubeConfig,
  namespace: string,
  o: { serviceAccount?: string; namespaces?: string[]; clusterRole?: string } = {},
): Promise<void> {
  const sa = o.serviceAccount ?? 'default';
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace }];
  const objects: k8s.KubernetesObject[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace } } as k8s.KubernetesObject,
  ];
  for (const ns of o.namespaces ?? [namespace]) {
    objects.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `workflows-${namespace}-${sa}`, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects,
    } as k8s.KubernetesObject);
  }
  if (o.clusterRole)
    objects.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `workflows-${namespace}-${sa}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: o.clusterRole },
      subjects,
    } as k8s.KubernetesObject);
  await applyManifests(kc, objects);
}
