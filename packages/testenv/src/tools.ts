import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './paths';

/** The one place component versions are chosen; install-tools.sh builds exactly these. */
export const VERSIONS = {
  kubernetes: 'v1.37.2',
  etcd: 'v3.6.16',
  kwok: 'v0.8.0',
  helm: 'v3.22.0',
  moto: '5.2.1',
  argo: 'v4.0.5',
} as const;

export interface ToolPaths {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  kwok: string;
  /** KWOK Stage definitions (the module's "fast" set). */
  kwokStages: string;
  helm: string;
  /** Argo's workflow-controller (absent with KEIKO_ARGO=false). */
  workflowController: string;
  /** Argo's manifests from its module: crds/ (full schemas) and controller/ (ServiceAccount, RBAC). */
  argoManifests: string;
  /** The emulator's command line (before its -H/-p flags). */
  motoServer: { command: string; args: string[] };
}

export function cacheDir(): string {
  return (
    process.env.KEIKO_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'keiko')
  );
}

export function toolPaths(): ToolPaths {
  const bin = path.join(cacheDir(), 'bin');
  const k = VERSIONS.kubernetes;
  return {
    etcd: path.join(bin, `etcd-${VERSIONS.etcd}`),
    kubeApiserver: path.join(bin, `kube-apiserver-${k}`),
    kubeControllerManager: path.join(bin, `kube-controller-manager-${k}`),
    kubeScheduler: path.join(bin, `kube-scheduler-${k}`),
    kubectl: path.join(bin, `kubectl-${k}`),
    kwok: path.join(bin, `kwok-${VERSIONS.kwok}`),
    kwokStages: path.join(bin, `kwok-stages-${VERSIONS.kwok}.yaml`),
    helm: path.join(bin, `helm-${VERSIONS.helm}`),
    workflowController: path.join(bin, `workflow-controller-${VERSIONS.argo}`),
    argoManifests: path.join(bin, `argo-manifests-${VERSIONS.argo}`),
    motoServer: findMotoServer(),
  };
}

/**
 * How to start the AWS emulator: packages/testenv/moto/server.py (moto_server plus fixes for the moto bugs
 * the tests meet) with the python that has moto, else plain moto_server (e.g. moto installed with pipx).
 */
function findMotoServer(): { command: string; args: string[] } {
  const launcher = path.join(repoRoot(import.meta.dirname), 'packages/testenv/moto/server.py');
  const python = spawnSync('python3', ['-c', 'import moto.server'], { encoding: 'utf8' });
  if (python.status === 0) return { command: 'python3', args: [launcher] };
  const found = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  return { command: found.status === 0 ? found.stdout.trim() : 'moto_server', args: [] };
}

/**
 * Builds (first time) or finds (later) every component. Slow only once per machine: binaries are
 * cached under cacheDir() keyed by version. Progress goes to stderr.
 */
export function installTools(): ToolPaths {
  const script = path.join(repoRoot(import.meta.dirname), 'packages/testenv/scripts/install-tools.sh');
  execFileSync('bash', [script], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      KEIKO_CACHE_DIR: cacheDir(),
      KEIKO_KUBE_VERSION: VERSIONS.kubernetes,
      KEIKO_ETCD_VERSION: VERSIONS.etcd,
      KEIKO_KWOK_VERSION: VERSIONS.kwok,
      KEIKO_HELM_VERSION: VERSIONS.helm,
      KEIKO_MOTO_VERSION: VERSIONS.moto,
      KEIKO_ARGO_VERSION: VERSIONS.argo,
    },
  });
  return toolPaths();
}
