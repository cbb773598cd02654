// instance-manager: InstanceGroups (instancemgr.keikoproj.io/v1alpha1) -> worker node groups on AWS.
import { AwsMetrics, awsClientConfig, createAwsClients } from '@keiko/aws';
import { Manager } from '@keiko/kube-runtime';
import { instanceManagerPorts } from './aws';
import { registerInstanceGroupController } from './instancegroup/controller';
import { InstanceManagerMetrics } from './metrics';
import { parseOptions } from './options';

const { config, options } = parseOptions();
const mgr = new Manager('instance-manager', config);
const clients = createAwsClients(awsClientConfig({ userAgentAppId: 'instance-manager' }), {
  metrics: new AwsMetrics({ registry: mgr.metrics.registry }),
  signal: mgr.signal,
});
registerInstanceGroupController(mgr, {
  aws: instanceManagerPorts(clients, { cacheTtlMs: options.awsCacheTtlMs }),
  metrics: new InstanceManagerMetrics(mgr.metrics.registry),
  dryRun: config.dryRun,
  configNamespace: options.configNamespace,
  configName: options.configName,
  drain: { timeoutMs: options.drainTimeoutMs },
  templateRetention: options.templateRetention,
  resyncMs: options.resyncMs,
  driftCheckMs: options.driftCheckMs,
  disruptionLock: { namespace: options.disruptionLockNamespace, region: clients.config.region },
});
if (config.dryRun) mgr.log.info('dry run: rendering and reporting only; no AWS changes, no aws-auth writes');
mgr.onStop('aws-clients', () => clients.destroy());
await mgr.start();
