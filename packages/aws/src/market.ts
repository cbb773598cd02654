// Market data for spot decisions: on-demand list prices (Pricing GetProducts) and a group's recent scaling
// activities (DescribeScalingActivities: capacity failures show there). Spot prices are Ec2Port's
// describeSpotPriceHistory.
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DescribeScalingActivitiesCommand, type Activity as SdkActivity } from '@aws-sdk/client-auto-scaling';
import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import type { AwsClientConfig } from './config';
import { callAws } from './errors';

/** The Pricing API is served from us-east-1 (also eu-central-1, ap-south-1) whatever region is priced. */
export const PRICING_API_REGION = 'us-east-1';

export interface PricingPort {
  /** On-demand USD/hour of each instance type in `region` (Linux, shared tenancy); types without a price are left out. */
  onDemandPrices(region: string, instanceTypes: readonly string[]): Promise<Map<string, number>>;
}

export interface ScalingActivity {
  id: string;
  groupName: string;
  /** `Successful`, `Failed`, `InProgress`, `Cancelled`... */
  statusCode: string;
  statusMessage?: string;
  description?: string;
  startTime?: Date;
}

export interface ScalingActivitiesPort {
  /** The group's most recent activities, newest first. */
  recentActivities(groupName: string, maxRecords?: number): Promise<ScalingActivity[]>;
}

/** A Pricing client for `config`'s credentials and endpoint, in the Pricing API's region. */
export function createPricingClient(config: AwsClientConfig): PricingClient {
  return new PricingClient({ ...config, region: PRICING_API_REGION });
}

/** The USD price per hour of one GetProducts PriceList entry (a JSON string), or undefined. */
export function onDemandPriceOf(entry: string): { instanceType?: string; price?: number } {
  let doc: {
    product?: { attributes?: Record<string, string> };
    terms?: {
      OnDemand?: Record<string, { priceDimensions?: Record<string, { pricePerUnit?: { USD?: string } }> }>;
    };
  };
  try {
    doc = JSON.parse(entry) as typeof doc;
  } catch {
    return {};
  }
  const dims = Object.values(doc.terms?.OnDemand ?? {}).flatMap((t) =>
    Object.values(t.priceDimensions ?? {}),
  );
  const prices = dims.map((d) => Number(d.pricePerUnit?.USD)).filter((p) => Number.isFinite(p) && p > 0);
  return { instanceType: doc.product?.attributes?.instanceType, price: prices[0] };
}

/** GetProducts filters for one instance type's on-demand Linux price in a region (upstream's filter set). */
export function onDemandFilters(region: string, instanceType: string) {
  const match = (Field: string, Value: string) => ({ Type: 'TERM_MATCH' as const, Field, Value });
  return [
    match('regionCode', region),
    match('instanceType', instanceType),
    match('operatingSystem', 'Linux'),
    match('preInstalledSw', 'NA'),
    match('tenancy', 'Shared'),
    match('capacitystatus', 'Used'),
    match('marketoption', 'OnDemand'),
  ];
}

export class AwsPricing implements PricingPort {
  constructor(private readonly client: PricingClient) {}

  async onDemandPrices(region: string, instanceTypes: readonly string[]): Promise<Map<string, number>> {
    const prices = new Map<string, number>();
    for (const instanceType of new Set(instanceTypes)) {
      const out = await callAws(
        {
          service: 'pricing',
          operation: 'GetProducts',
          subject: `on-demand price of ${instanceType} in ${region}`,
        },
        () =>
          this.client.send(
            new GetProductsCommand({
              ServiceCode: 'AmazonEC2',
              Filters: onDemandFilters(region, instanceType),
              MaxResults: 10,
            }),
          ),
      );
      for (const entry of out.PriceList ?? []) {
        const found = onDemandPriceOf(String(entry));
        if (found.price !== undefined && (found.instanceType ?? instanceType) === instanceType) {
          prices.set(instanceType, found.price);
          break;
        }
      }
    }
    return prices;
  }
}

function fromSdkActivity(a: SdkActivity): ScalingActivity {
  return {
    id: a.ActivityId ?? '',
    groupName: a.AutoScalingGroupName ?? '',
    statusCode: String(a.StatusCode ?? ''),
    ...(a.StatusMessage ? { statusMessage: a.StatusMessage } : {}),
    ...(a.Description ? { description: a.Description } : {}),
    ...(a.StartTime ? { startTime: a.StartTime } : {}),
  };
}

export class AwsScalingActivities implements ScalingActivitiesPort {
  constructor(private readonly client: AutoScalingClient) {}

  async recentActivities(groupName: string, maxRecords = 20): Promise<ScalingActivity[]> {
    const out = await callAws(
      { service: 'autoscaling', operation: 'DescribeScalingActivities', subject: `group ${groupName}` },
      () =>
        this.client.send(
          new DescribeScalingActivitiesCommand({ AutoScalingGroupName: groupName, MaxRecords: maxRecords }),
        ),
    );
    return (out.Activities ?? []).map(fromSdkActivity);
  }
}
