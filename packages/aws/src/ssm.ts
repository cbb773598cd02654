// SSM port: parameter reads, for resolving node images published as SSM parameters (EKS-optimized AMIs
// under /aws/service/eks/optimized-ami/..., or a team's own). CachedSsm keeps values for a while: AMI
// parameters change a few times a month, and every reconcile of every group would otherwise ask.
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { systemClock, TtlCache } from './cache';
import type { Clock } from './cache';
import { callAws, hasAwsErrorCode } from './errors';

const SERVICE = 'ssm';

export interface SsmPort {
  /** The parameter's value (decrypted), or undefined when there is no such parameter. */
  getParameter(name: string): Promise<string | undefined>;
}

export class AwsSsm implements SsmPort {
  constructor(private readonly client: SSMClient) {}

  async getParameter(name: string): Promise<string | undefined> {
    try {
      const out = await callAws(
        { service: SERVICE, operation: 'GetParameter', subject: `parameter ${name}` },
        () => this.client.send(new GetParameterCommand({ Name: name, WithDecryption: true })),
      );
      return out.Parameter?.Value;
    } catch (err) {
      if (hasAwsErrorCode(err, 'ParameterNotFound')) return undefined;
      throw err;
    }
  }
}

/** Default freshness of parameter values: new AMIs are picked up within this long. */
export const DEFAULT_SSM_CACHE_TTL_MS = 5 * 60_000;

export class CachedSsm implements SsmPort {
  private readonly values: TtlCache<string | undefined>;

  constructor(
    private readonly inner: SsmPort,
    options: { ttlMs?: number; clock?: Clock } = {},
  ) {
    this.values = new TtlCache({
      ttlMs: options.ttlMs ?? DEFAULT_SSM_CACHE_TTL_MS,
      clock: options.clock ?? systemClock,
    });
  }

  async getParameter(name: string): Promise<string | undefined> {
    const value = await this.values.get(name, () => this.inner.getParameter(name));
    // A missing parameter is not remembered: it may be put any moment.
    if (value === undefined) this.values.invalidate(name);
    return value;
  }
}
