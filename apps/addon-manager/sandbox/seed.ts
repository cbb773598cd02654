// Sandbox seed for the addon-manager: the Argo Workflow CRD and, in place of Argo's workflow-controller
// (a Go module this project cannot build), the workflow simulator, running inside the sandbox process
// for as long as it runs. The example Addons then go Pending -> Succeeded as their workflows "run".
import fs from 'node:fs';
import path from 'node:path';
import { applyManifests, kubeConfigFromEnv, parseManifests } from '@keiko/testenv';
import { WorkflowSimulator } from '../test/support/workflow-simulator';

export async function seed(log: (line: string) => void): Promise<void> {
  const kc = kubeConfigFromEnv();
  const crd = fs.readFileSync(path.join(import.meta.dirname, 'argo-workflow-crd.yaml'), 'utf8');
  await applyManifests(kc, parseManifests(crd));
  log('installed the Argo Workflow CRD (workflows.argoproj.io, minimal schema)');
  const simulator = new WorkflowSimulator({
    kubeConfig: kc,
    startDelayMs: 500,
    runMs: 2_000,
    log: (line) => log(`workflow simulator: ${line}`),
  });
  await simulator.start();
  log(
    "workflow simulator started in place of Argo's workflow-controller: workflows go Running, then Succeeded (or Failed when annotated workflows.keiko.io/simulate: fail)",
  );
}
