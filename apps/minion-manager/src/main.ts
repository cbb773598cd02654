// minion-manager: spot savings with on-demand fallback for Auto Scaling groups opted in by upstream's tags.
// Flags -> Manager (leader election: only the leader acts) -> SpotController (refresh loop) -> Replacer.
import {
  AwsAutoScaling,
  AwsEc2,
  AwsMetrics,
  AwsPricing,
  AwsScalingActivities,
  awsClientConfig,
  createAwsClients,
  createPricingClient,
} from '@keiko/aws';
import { Manager } from '@keiko/kube-runtime';
import { DisruptionLocks } from '@keiko/node-ops';
import { parseConfig, type MinionManagerConfig } from './config';
import { MinionMetrics } from './metrics';
import { SpotController } from './spot/controller';
import { MarketFacts } from './spot/facts';
import { Replacer } from './spot/replace';
import { StatusWriter } from './spot/status';

let config: MinionManagerConfig;
try {
  config = parseConfig();
} catch (err) {
  console.error(`minion-manager: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
const s = config.spot;
const mgr = new Manager('minion-manager', config.manager);
const awsConfig = awsClientConfig({ region: s.region, userAgentAppId: 'minion-manager' });
const awsMetrics = new AwsMetrics({ registry: mgr.metrics.registry });
const clients = createAwsClients(awsConfig, { metrics: awsMetrics, signal: mgr.signal });
const pricingClient = createPricingClient(awsConfig);
awsMetrics.instrument(pricingClient, 'pricing');
// Uncached: each refresh reads the groups as they are now.
const autoScaling = new AwsAutoScaling(clients.autoScaling);
const ec2 = new AwsEc2(clients.ec2);
const metrics = new MinionMetrics(mgr.metrics.registry);
const replacer = new Replacer({
  client: mgr.client,
  autoScaling,
  locks: new DisruptionLocks(mgr.client, { namespace: s.disruptionLockNamespace }),
  events: mgr.events,
  log: mgr.log,
  metrics,
  identity: `minion-manager/${config.manager.leaderElectionIdentity}`,
  region: s.region,
  drainTimeoutMs: s.drainTimeoutMs,
  signal: mgr.signal,
});
const facts = new MarketFacts({
  autoScaling,
  ec2,
  pricing: new AwsPricing(pricingClient),
  activities: new AwsScalingActivities(clients.autoScaling),
  region: s.region,
  clusterName: s.clusterName,
  onDemandPriceTtlMs: s.onDemandPriceTtlMs,
});
mgr.add(
  new SpotController({
    settings: s,
    facts,
    autoScaling,
    ec2,
    client: mgr.client,
    events: mgr.events,
    log: mgr.log,
    metrics,
    replacer,
    status: new StatusWriter(mgr.client, s.statusNamespace, s.statusConfigMap),
  }),
);
mgr.onStop('aws-clients', () => {
  clients.destroy();
  pricingClient.destroy();
});
mgr.log.info('minion-manager watching prices', {
  cluster: s.clusterName,
  region: s.region,
  refreshIntervalSeconds: s.refreshIntervalSeconds,
  eventsOnly: s.eventsOnly,
  dryRun: s.dryRun,
});
await mgr.start();
