// The one place AWS SDK clients are configured and constructed. Every Keiko controller gets the same
// region/endpoint resolution, the same retry policy and the same metrics middleware from here.
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EKSClient } from '@aws-sdk/client-eks';
import { IAMClient } from '@aws-sdk/client-iam';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { AwsMetrics } from './metrics';

/**
 * Attempts per API call (first try + retries) unless overridden. The SDK default is 3; 5 gives a throttled
 * call up to four jittered backoffs (throttling base 1 s, doubling, capped at 20 s) before the error
 * reaches the controller, whose work queue then backs the key off on its own.
 */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** Appended to the SDK's user agent so CloudTrail and AWS support can tell Keiko's calls apart. */
export const USER_AGENT_SUFFIX = 'keiko';

export interface AwsClientOptions {
  /** Region; default AWS_REGION, then AWS_DEFAULT_REGION. */
  region?: string;
  /** Endpoint for every service (the test emulator); default AWS_ENDPOINT_URL; unset means real AWS. */
  endpoint?: string;
  /** Attempts per call including the first; default DEFAULT_MAX_ATTEMPTS. */
  maxAttempts?: number;
  /** Static credentials; default the SDK's chain (env, web identity / IRSA, pod identity, IMDS...). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Extra user-agent suffix after `keiko`, e.g. the tool name `upgrade-manager`. */
  userAgentAppId?: string;
}

/** The configuration shared by every SDK client Keiko builds. Spread into any `new XxxClient(...)`. */
export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  maxAttempts: number;
  /**
   * `adaptive`: standard retries (exponential backoff with full jitter, retry-quota) plus a client-side
   * token bucket that lowers the sending rate when AWS throttles. See the package README for why.
   */
  retryMode: 'adaptive';
  customUserAgent: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export function awsClientConfig(
  options: AwsClientOptions = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): AwsClientConfig {
  const region = options.region || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new Error(
      'AWS region is not set: pass region or set AWS_REGION (IRSA and EKS pod identity set it for you)',
    );
  }
  const endpoint = options.endpoint || env.AWS_ENDPOINT_URL || undefined;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new Error(`AWS maxAttempts must be a positive integer, got ${maxAttempts}`);
  }
  return {
    region,
    ...(endpoint ? { endpoint } : {}),
    maxAttempts,
    retryMode: 'adaptive',
    customUserAgent: options.userAgentAppId
      ? `${USER_AGENT_SUFFIX}/${options.userAgentAppId}`
      : USER_AGENT_SUFFIX,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
}

/** Every SDK client a Keiko controller may use, built from one config. */
export interface AwsClients {
  readonly config: AwsClientConfig;
  readonly autoScaling: AutoScalingClient;
  readonly ec2: EC2Client;
  readonly sqs: SQSClient;
  readonly cloudFormation: CloudFormationClient;
  readonly iam: IAMClient;
  readonly eks: EKSClient;
  readonly ssm: SSMClient;
  /** Closes the clients' keep-alive sockets (on shutdown, and in tests so jest can exit). */
  destroy(): void;
}

export interface CreateAwsClientsOptions {
  /** Counts every attempt of every call (see metrics.ts). Without it calls are not measured. */
  metrics?: AwsMetrics;
  /**
   * Every call is aborted when this aborts (a call after it fails at once): the controller's leadership
   * signal, so a deposed leader's terminate or update in flight never lands.
   */
  signal?: AbortSignal;
}

/** Joins `signal` to every `send` of `client` (the SDK takes an abortSignal per call only). */
function bindSignal(client: { send: (...args: never[]) => unknown }, signal: AbortSignal): void {
  const send = client.send.bind(client) as (
    command: unknown,
    options?: { abortSignal?: AbortSignal },
  ) => unknown;
  (client as { send: unknown }).send = (command: unknown, options?: { abortSignal?: AbortSignal }) => {
    if (signal.aborted)
      return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const abortSignal = options?.abortSignal ? AbortSignal.any([options.abortSignal, signal]) : signal;
    return send(command, { ...options, abortSignal });
  };
}

/**
 * Builds each client once. Construct one set per process and share it: the adaptive retry mode's rate
 * limiter lives in the client, so a shared client is what makes all reconcilers slow down together.
 */
export function createAwsClients(config: AwsClientConfig, options: CreateAwsClientsOptions = {}): AwsClients {
  const { metrics } = options;
  const clients = {
    autoScaling: new AutoScalingClient(config),
    ec2: new EC2Client(config),
    sqs: new SQSClient(config),
    cloudFormation: new CloudFormationClient(config),
    iam: new IAMClient(config),
    eks: new EKSClient(config),
    ssm: new SSMClient(config),
  };
  if (metrics) {
    metrics.instrument(clients.autoScaling, 'autoscaling');
    metrics.instrument(clients.ec2, 'ec2');
    metrics.instrument(clients.sqs, 'sqs');
    metrics.instrument(clients.cloudFormation, 'cloudformation');
    metrics.instrument(clients.iam, 'iam');
    metrics.instrument(clients.eks, 'eks');
    metrics.instrument(clients.ssm, 'ssm');
  }
  if (options.signal) for (const client of Object.values(clients)) bindSignal(client, options.signal);
  return {
    config,
    ...clients,
    destroy() {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}
