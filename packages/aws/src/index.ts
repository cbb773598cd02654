// @keiko/aws: typed ports over the AWS SDK v3 with one retry/throttling policy, call metrics and short
// TTL caches. Controllers depend on the port interfaces; main.ts wires the adapters with createAwsPorts.
import { AwsAutoScaling } from './autoscaling';
import type { AutoScalingPort } from './autoscaling';
import { CachedAutoScaling, CachedEc2, DEFAULT_GROUP_CACHE_TTL_MS } from './cache';
import type { Clock } from './cache';
import type { AwsClients } from './config';
import { AwsEc2 } from './ec2';
import type { Ec2Port } from './ec2';
import { AwsSqs } from './sqs';
import type { SqsPort } from './sqs';

export * from './autoscaling';
export * from './batching';
export * from './cache';
export * from './cloudformation';
export * from './config';
export * from './drift';
export * from './ec2';
export * from './eks';
export * from './errors';
export * from './iam';
export * from './metrics';
export * from './sqs';
export * from './s3';
export * from './ssm';
export * from './terminate';

export interface AwsPorts {
  /** Cached (CachedAutoScaling) unless cacheTtlMs is 0. */
  autoScaling: AutoScalingPort;
  /** Launch template lookups cached (CachedEc2) unless cacheTtlMs is 0. */
  ec2: Ec2Port;
  sqs: SqsPort;
}

export interface CreateAwsPortsOptions {
  /** TTL of the read caches; default DEFAULT_GROUP_CACHE_TTL_MS; 0 means no caching decorators. */
  cacheTtlMs?: number;
  clock?: Clock;
}

/** The ports a controller uses, over one set of clients (see createAwsClients). */
export function createAwsPorts(clients: AwsClients, options: CreateAwsPortsOptions = {}): AwsPorts {
  const ttlMs = options.cacheTtlMs ?? DEFAULT_GROUP_CACHE_TTL_MS;
  const autoScaling = new AwsAutoScaling(clients.autoScaling);
  const ec2 = new AwsEc2(clients.ec2);
  const cacheOptions = options.clock ? { ttlMs, clock: options.clock } : { ttlMs };
  return {
    autoScaling: ttlMs > 0 ? new CachedAutoScaling(autoScaling, cacheOptions) : autoScaling,
    ec2: ttlMs > 0 ? new CachedEc2(ec2, cacheOptions) : ec2,
    sqs: new AwsSqs(clients.sqs),
  };
}
export * from './market';
