// The AWS ports instance-manager uses, over one set of SDK clients (one retry policy, one rate limiter,
// every call counted on the manager's registry), with short-lived caches in front of the describes.
import {
  AwsCloudFormation,
  AwsEks,
  AwsIam,
  AwsSsm,
  CachedCloudFormation,
  CachedEks,
  CachedSsm,
  createAwsPorts,
  type AwsClients,
} from '@keiko/aws';
import type { AwsPortsForGroups } from './provisioners/types';

export function instanceManagerPorts(clients: AwsClients, opts: { cacheTtlMs: number }): AwsPortsForGroups {
  const { autoScaling, ec2 } = createAwsPorts(clients, { cacheTtlMs: opts.cacheTtlMs });
  const cloudFormation = new AwsCloudFormation(clients.cloudFormation);
  const eks = new AwsEks(clients.eks);
  const ssm = new AwsSsm(clients.ssm);
  return {
    autoScaling,
    ec2,
    cloudFormation:
      opts.cacheTtlMs > 0
        ? new CachedCloudFormation(cloudFormation, { ttlMs: opts.cacheTtlMs })
        : cloudFormation,
    iam: new AwsIam(clients.iam),
    eks: opts.cacheTtlMs > 0 ? new CachedEks(eks) : eks,
    ssm: opts.cacheTtlMs > 0 ? new CachedSsm(ssm) : ssm,
  };
}
