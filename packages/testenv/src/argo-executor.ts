// STAND-IN for Argo's executor (argoexec) in the step pods' containers, which cannot run under KWOK.
// Started by the test cluster beside the real workflow-controller; it never decides anything the
// controller decides (validation, DAG/steps, retries, parameters, deadlines, TTL, podGC). For each
// running step pod (label workflows.argoproj.io/workflow) that has no exit code yet, it plays what
// Argo's executor documents for the pod's template (read from the init container's ARGO_TEMPLATE, as
// argoexec reads it), as the pod's ServiceAccount:
//   - resource templates: `kubectl <action> -f <manifest> -o json` (delete: --ignore-not-found -o name;
//     patch: --type <mergeStrategy> --patch-file), the template's flags, in the pod's namespace; the
//     result must name one object (kind and name), as argoexec requires; successCondition and
//     failureCondition are evaluated on the object, polled until one holds;
//   - templates that declare outputs: a WorkflowTaskResult named after the node, labelled
//     report-outputs-completed, with exitCode and each output parameter's valueFrom.default (no
//     container ran to produce a file) — what argoexec's wait container reports;
//   - any other container: it "ran" and exited 0.
// It then annotates the pod testenv.keiko.io/exit-code (and testenv.keiko.io/message on failure); the
// KWOK Stage in packages/testenv/kwok/argo-stages.yaml terminates the pod with it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { EXIT_CODE_ANNOTATION, MESSAGE_ANNOTATION } from './argo';
import { evaluateConditions } from './argo-conditions';

const WORKFLOW_LABEL = 'workflows.argoproj.io/workflow';
const NODE_ID_ANNOTATION = 'workflows.argoproj.io/node-id';

type Obj = Record<string, unknown>;
interface Template {
  name?: string;
  resource?: {
    action: string;
    manifest?: string;
    mergeStrategy?: string;
    flags?: string[];
    successCondition?: string;
    failureCondition?: string;
  };
  outputs?: { parameters?: { name: string; valueFrom?: { default?: string } }[]; artifacts?: Obj[] };
}
interface Outcome {
  code: number;
  message?: string;
}

const log = (msg: string) => console.log(`${new Date().toISOString()} [argo executor stand-in] ${msg}`);
const kc = new k8s.KubeConfig();
let core: k8s.CoreV1Api;
const kubectlBin = process.env.KEIKO_KUBECTL ?? 'kubectl';
const inFlight = new Set<string>();

/** Reads the pod's template as argoexec does: ARGO_TEMPLATE on the init container, or its offload ConfigMap. */
async function templateOf(pod: k8s.V1Pod): Promise<Template> {
  const env = pod.spec?.initContainers?.flatMap((c) => c.env ?? []) ?? [];
  let value = env.find((e) => e.name === 'ARGO_TEMPLATE')?.value ?? '{}';
  if (value === 'offloaded') {
    const cm = await core.readNamespacedConfigMap({
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
    });
    value = cm.data?.ARGO_TEMPLATE ?? '{}';
  }
  return JSON.parse(value) as Template;
}

/** A kubeconfig file acting as the pod's ServiceAccount, as the pod's mounted token would. */
async function podKubeconfig(pod: k8s.V1Pod, dir: string): Promise<string> {
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.spec?.serviceAccountName ?? 'default';
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  const asPod = new k8s.KubeConfig();
  asPod.loadFromOptions({
    clusters: [cluster!],
    users: [{ name, token: tr.status?.token }],
    contexts: [{ name, cluster: cluster!.name, user: name, namespace }],
    currentContext: name,
  });
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, asPod.exportConfig(), { mode: 0o600 });
  return file;
}

function kubectl(kubeconfig: string, args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((resolve) =>
    execFile(kubectlBin, args, { env: { ...process.env, KUBECONFIG: kubeconfig } }, (err, out, stderr) =>
      resolve({ ok: !err, out, err: stderr.trim() || (err ? err.message : '') }),
    ),
  );
}

/** argoexec's kubectl arguments for a resource template (workflow/executor/resource.go). */
export function resourceArgs(r: NonNullable<Template['resource']>, manifestPath: string): string[] {
  const args = [r.action];
  let output = 'json';
  if (r.action === 'delete') {
    args.push('--ignore-not-found');
    output = 'name';
  }
  let fileFlag = true;
  if (r.action === 'patch') {
    const strategy = r.mergeStrategy || 'strategic';
    args.push('--type', strategy, '--patch-file', manifestPath);
    const hasKind = /^kind:/m.test(r.manifest ?? '');
    if (strategy === 'json' || ((r.flags ?? []).length && !hasKind)) fileFlag = false;
  }
  args.push(...(r.flags ?? []));
  if (r.manifest && fileFlag) args.push('-f', manifestPath);
  return [...args, '-o', output];
}

async function runResource(pod: k8s.V1Pod, r: NonNullable<Template['resource']>): Promise<Outcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-argoexec-'));
  try {
    const kubeconfig = await podKubeconfig(pod, dir);
    const manifest = path.join(dir, 'manifest.yaml');
    fs.writeFileSync(manifest, r.manifest ?? '');
    // The pod's namespace is the kubeconfig's default, as the mounted token's namespace is in-cluster
    // (no --namespace flag: a manifest naming another namespace goes there).
    const res = await kubectl(kubeconfig, resourceArgs(r, manifest));
    if (!res.ok) return { code: 1, message: res.err };
    if (r.action === 'delete') return { code: 0 };
    const obj = JSON.parse(res.out) as k8s.KubernetesObject;
    if (!obj.kind || !obj.metadata?.name || obj.kind === 'List')
      return {
        code: 1,
        message: 'Kind and name are both required but at least one of them is missing from the manifest',
      };
    if (!r.successCondition && !r.failureCondition) return { code: 0 };
    return await waitConditions(kubeconfig, obj, r);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** argoexec's WaitResource: poll the object until the failure condition (Failed) or the success condition holds. */
async function waitConditions(
  kubeconfig: string,
  obj: k8s.KubernetesObject,
  r: NonNullable<Template['resource']>,
): Promise<Outcome> {
  const ns = obj.metadata?.namespace ? ['-n', obj.metadata.namespace] : [];
  const ref = `${obj.kind}${obj.apiVersion?.includes('/') ? `.${obj.apiVersion.split('/')[1]}.${obj.apiVersion.split('/')[0]}` : ''}/${obj.metadata?.name}`;
  for (;;) {
    const got = await kubectl(kubeconfig, ['get', ref, '-o', 'json', ...ns]);
    if (got.ok) {
      const verdict = evaluateConditions(JSON.parse(got.out) as Obj, r.successCondition, r.failureCondition);
      if (verdict === 'failed') return { code: 1, message: `failure condition '${r.failureCondition}' met` };
      if (verdict === 'succeeded') return { code: 0 };
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/** What argoexec's wait container reports: a WorkflowTaskResult for the node (as the pod's ServiceAccount). */
async function reportOutputs(pod: k8s.V1Pod, t: Template, outcome: Outcome): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-argoexec-'));
  try {
    const kubeconfig = await podKubeconfig(pod, dir);
    const nodeId = pod.metadata?.annotations?.[NODE_ID_ANNOTATION] ?? '';
    const parameters = (t.outputs?.parameters ?? [])
      .filter((p) => p.valueFrom?.default !== undefined)
      .map((p) => ({ name: p.name, value: p.valueFrom?.default }));
    const result = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'WorkflowTaskResult',
      metadata: {
        name: nodeId,
        labels: {
          [WORKFLOW_LABEL]: pod.metadata?.labels?.[WORKFLOW_LABEL] ?? '',
          'workflows.argoproj.io/report-outputs-completed': 'true',
        },
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' },
        ],
      },
      outputs: { exitCode: String(outcome.code), ...(parameters.length ? { parameters } : {}) },
    };
    const file = path.join(dir, 'result.json');
    fs.writeFileSync(file, JSON.stringify(result));
    const res = await kubectl(kubeconfig, ['apply', '-f', file]);
    if (!res.ok) log(`could not report outputs of ${pod.metadata?.name}: ${res.err}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function execute(pod: k8s.V1Pod): Promise<void> {
  const t = await templateOf(pod);
  const outcome = t.resource ? await runResource(pod, t.resource) : { code: 0 };
  if (t.outputs && (t.outputs.parameters?.length || t.outputs.artifacts?.length))
    await reportOutputs(pod, t, outcome);
  await core.patchNamespacedPod(
    {
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      body: {
        metadata: {
          annotations: {
            [EXIT_CODE_ANNOTATION]: String(outcome.code),
            ...(outcome.message ? { [MESSAGE_ANNOTATION]: outcome.message.slice(0, 1024) } : {}),
          },
        },
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  log(
    `${pod.metadata?.namespace}/${pod.metadata?.name} (${t.resource ? `resource ${t.resource.action}` : 'container'}): exit ${outcome.code}${outcome.message ? ` — ${outcome.message}` : ''}`,
  );
}

function see(pod: k8s.V1Pod): void {
  const key = pod.metadata?.uid ?? '';
  if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) return;
  if (pod.metadata?.annotations?.[EXIT_CODE_ANNOTATION] !== undefined || inFlight.has(key)) return;
  inFlight.add(key);
  execute(pod).then(
    () => setTimeout(() => inFlight.delete(key), 5_000),
    (err: unknown) => {
      log(`${pod.metadata?.namespace}/${pod.metadata?.name}: ${String(err)}; trying again`);
      setTimeout(() => void retry(pod), 2_000);
    },
  );
}

/** After an error (the apiserver busy, a token refused): the pod as it is now, once more. */
async function retry(pod: k8s.V1Pod): Promise<void> {
  inFlight.delete(pod.metadata?.uid ?? '');
  const now = await core
    .readNamespacedPod({ name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '' })
    .catch(() => undefined);
  if (now) see(now);
}

async function main(): Promise<void> {
  kc.loadFromDefault();
  core = kc.makeApiClient(k8s.CoreV1Api);
  const selector = WORKFLOW_LABEL;
  const informer = k8s.makeInformer(
    kc,
    '/api/v1/pods',
    () => core.listPodForAllNamespaces({ labelSelector: selector }),
    selector,
  );
  informer.on('add', see);
  informer.on('update', see);
  informer.on('error', (err: unknown) => {
    log(`watch error: ${String(err)}; restarting`);
    setTimeout(() => void informer.start(), 1_000);
  });
  await informer.start();
  log('watching step pods (label workflows.argoproj.io/workflow)');
}

if (process.argv[1] === import.meta.filename) {
  main().catch((err: unknown) => {
    log(`fatal: ${String(err)}`);
    process.exit(1);
  });
}
