// upgrade-manager's test scenarios: packages/testenv's AsgScenario (groups whose instances appear as nodes
// through the kubelet stand-in, drift, workloads, RollingUpgrades) with this app's typed clients on top.
import { RollingUpgradeKind, type RollingUpgrade } from '@keiko/api';
import {
  awsClientConfig,
  createAwsClients,
  createAwsPorts,
  type AwsClients,
  type AwsPorts,
} from '@keiko/aws';
import { KubeClient, type ResourceType } from '@keiko/kube-runtime';
import { AsgScenario, installChartCrds, kubeConfigFromEnv } from '@keiko/testenv';

export const RU: ResourceType = RollingUpgradeKind;

/** Installs (or updates) the RollingUpgrade CRD from the chart, as `kubectl apply` would. */
export async function installCrd(): Promise<void> {
  await installChartCrds(kubeConfigFromEnv(), 'upgrade-manager');
}

export class Scenario extends AsgScenario<RollingUpgrade> {
  readonly client = new KubeClient(this.kc);
  readonly clients: AwsClients = createAwsClients(awsClientConfig());
  readonly aws: AwsPorts = createAwsPorts(this.clients, { cacheTtlMs: 0 });

  override async cleanUp(): Promise<void> {
    await super.cleanUp();
    this.clients.destroy();
  }
}
