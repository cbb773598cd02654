// Sandbox seed for active-monitor: the examples' workflows carry Argo's controller-instanceid
// `activemonitor-workflows` (upstream's default), which the test cluster's default workflow-controller
// ignores — so this starts a second one with that instanceID (upstream's install runs one too), killed
// when the sandbox exits. cron-dns.yaml reads its workflow from a file: --workflow-dir points here.
import path from 'node:path';
import { startArgoInstance } from '@keiko/testenv';

export async function seed(log: (line: string) => void): Promise<void> {
  const argo = await startArgoInstance('activemonitor-workflows', { stopOnExit: true });
  process.env.KEIKO_WORKFLOW_DIR = path.join(import.meta.dirname, 'workflows');
  log(`Argo workflow-controller with instanceID ${argo.instanceID} running in namespace ${argo.namespace}`);
}
