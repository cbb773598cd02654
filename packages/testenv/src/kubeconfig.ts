import * as k8s from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import { stateDir } from './paths';

/**
 * The KubeConfig of the test cluster: $KUBECONFIG when set (jest's global setup sets it for every
 * worker), else .testenv/kubeconfig. Fails with a hint when no test cluster is running.
 */
export function kubeConfigFromEnv(): k8s.KubeConfig {
  const file = process.env.KUBECONFIG ?? path.join(stateDir(), 'kubeconfig');
  if (!fs.existsSync(file)) {
    throw new Error(`no kubeconfig at ${file}: start the test cluster with \`npm run testenv -- up\``);
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(file);
  return kc;
}
