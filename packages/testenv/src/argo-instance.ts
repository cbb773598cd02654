// A second Argo workflow-controller with its own instanceID, started from a test, an e2e suite, a bench or
// the sandbox into the running test cluster (active-monitor's workflows carry
// workflows.argoproj.io/controller-instanceid, which the cluster's default controller ignores). It shares
// the cluster's CRDs, Argo node and executor stand-in; stop() ends it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireArgo, startArgo } from './argo';
import { stateDir } from './paths';
import { stopProcess, type ManagedProcess } from './process';
import { toolPaths } from './tools';

export interface ArgoInstance {
  instanceID: string;
  namespace: string;
  stop(): Promise<void>;
}

/**
 * Starts a workflow-controller for `instanceID` (namespace `argo-<instanceID>`). Use a unique ID per
 * test run: two controllers of one ID would both run its workflows. With `stopOnExit` the controller is
 * killed when this process exits (the sandbox).
 */
export async function startArgoInstance(
  instanceID: string,
  o: { stopOnExit?: boolean } = {},
): Promise<ArgoInstance> {
  requireArgo();
  const kubeconfig = process.env.KUBECONFIG ?? path.join(stateDir(), 'kubeconfig');
  const logDir = path.join(stateDir(), 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `keiko-argo-${instanceID}-`));
  const processes: ManagedProcess[] = [];
  const info = await startArgo({
    tools: toolPaths(),
    adminKubeconfig: kubeconfig,
    dataDir,
    logDir,
    track: (p) => processes.push(p),
    instanceID,
    standIn: false,
  });
  if (o.stopOnExit)
    process.on('exit', () => {
      for (const p of processes)
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
    });
  return {
    instanceID,
    namespace: info.namespace,
    async stop() {
      for (const p of processes) await stopProcess(p);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
