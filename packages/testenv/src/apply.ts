import type * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { repoRoot } from './paths';
import { toolPaths } from './tools';

export const FIELD_MANAGER = 'keiko-testenv';

/** Splits a multi-document YAML text into objects, skipping empty documents. */
export function parseManifests(text: string): k8s.KubernetesObject[] {
  return loadAll(text).filter((d): d is k8s.KubernetesObject => typeof d === 'object' && d !== null);
}

/**
 * Applies objects exactly as a user would: `kubectl apply --server-side` (the objects go to the
 * apiserver as written — client-node's typed serializer would drop keys such as
 * x-kubernetes-preserve-unknown-fields from CRD schemas). CRDs go first and are awaited until
 * Established, so instances of the new kinds apply right after.
 */
export async function applyManifests(kc: k8s.KubeConfig, objects: k8s.KubernetesObject[]): Promise<string> {
  const isCrd = (o: k8s.KubernetesObject) => o.kind === 'CustomResourceDefinition';
  const crds = objects.filter(isCrd);
  const rest = objects.filter((o) => !isCrd(o));
  let out = '';
  if (crds.length) {
    out += await kubectl(
      kc,
      ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
      crds,
    );
    out += await kubectl(kc, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...crds.map((c) => `crd/${c.metadata?.name}`),
    ]);
  }
  if (rest.length) {
    out += await kubectl(
      kc,
      ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
      rest,
    );
  }
  return out;
}

/** Runs the test cluster's kubectl against `kc`; rejects with kubectl's own error text. */
export async function kubectl(
  kc: k8s.KubeConfig,
  args: string[],
  stdinObjects?: k8s.KubernetesObject[],
): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-kubectl-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = execFile(
        toolPaths().kubectl,
        args,
        { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`kubectl ${args[0]}: ${stderr.trim() || err.message}`)) : resolve(stdout),
      );
      if (stdinObjects) child.stdin?.end(stdinObjects.map((o) => JSON.stringify(o)).join('\n---\n'));
      else child.stdin?.end();
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function waitForCrdEstablished(
  kc: k8s.KubeConfig,
  name: string,
  timeoutSeconds = 60,
): Promise<void> {
  await kubectl(kc, ['wait', '--for=condition=Established', `--timeout=${timeoutSeconds}s`, `crd/${name}`]);
}

/**
 * Installs the CRDs a tool's chart ships (charts/<chart>/crds/*.yaml), as `kubectl apply -f` would,
 * and waits until they are Established. Idempotent: suites call it in their setup.
 */
export async function installChartCrds(kc: k8s.KubeConfig, ...charts: string[]): Promise<void> {
  const objects = charts.flatMap((chart) => {
    const dir = path.join(repoRoot(import.meta.dirname), 'charts', chart, 'crds');
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseManifests(fs.readFileSync(path.join(dir, f), 'utf8')));
  });
  await applyManifests(kc, objects);
}
