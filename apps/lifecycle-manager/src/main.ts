// lifecycle-manager: graceful EC2 termination from Auto Scaling lifecycle hooks delivered to SQS.
// Flags -> Manager (leader election: only the leader consumes) -> Consumer -> Processor.
import { AwsMetrics, AwsAutoScaling, AwsSqs, awsClientConfig, createAwsClients } from '@keiko/aws';
import { Manager } from '@keiko/kube-runtime';
import { DisruptionLocks } from '@keiko/node-ops';
import { parseConfig, type LifecycleManagerConfig } from './config';
import { Consumer } from './consumer';
import { LifecycleMetrics } from './metrics';
import { Processor } from './processor';

let config: LifecycleManagerConfig;
try {
  config = parseConfig();
} catch (err) {
  console.error(`lifecycle-manager: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
const c = config.lifecycle;
const mgr = new Manager('lifecycle-manager', config.manager);
const clients = createAwsClients(awsClientConfig({ region: c.region, userAgentAppId: 'lifecycle-manager' }), {
  metrics: new AwsMetrics({ registry: mgr.metrics.registry }),
  signal: mgr.signal,
});
// Uncached: every decision reads the instance's lifecycle state as it is now.
const autoScaling = new AwsAutoScaling(clients.autoScaling);
const sqs = new AwsSqs(clients.sqs);
const metrics = new LifecycleMetrics(mgr.metrics.registry);
const locks = new DisruptionLocks(mgr.client, { namespace: c.disruptionLockNamespace });
if (c.withDeregister)
  mgr.log.info(
    'load balancers: the node is labelled node.kubernetes.io/exclude-from-external-load-balancers (ELB/target-group deregistration is not in this version)',
  );
const processor = new Processor({
  ...c,
  client: mgr.client,
  events: mgr.events,
  log: mgr.log,
  autoScaling,
  sqs,
  locks,
  metrics,
});
mgr.add(
  new Consumer({
    ...c,
    client: mgr.client,
    log: mgr.log,
    autoScaling,
    sqs,
    processor,
    metrics,
    resumeEveryMs: 30_000,
  }),
);
mgr.onStop('aws-clients', () => clients.destroy());
mgr.log.info('lifecycle-manager consuming', { queues: c.queueNames, region: c.region, dryRun: c.dryRun });
await mgr.start();
