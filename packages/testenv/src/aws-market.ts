// Test controls of the emulator's market extensions (packages/testenv/moto/server.py, docs/testenv.md):
// spot prices per AZ and instance type, on-demand list prices, capacity failures of a group's launches.
// Tests drive the AWS side with these; the product reads it only through the AWS APIs.

export type Market = 'spot' | 'on-demand';

export interface SpotPriceSetting {
  availabilityZone: string;
  instanceType: string;
  /** USD per hour. */
  price: number;
}

export interface CapacityFailure {
  groupName: string;
  /** Which launches fail; default spot. */
  market?: Market;
  /** The error code the failed scaling activity reports; default InsufficientInstanceCapacity. */
  code?: string;
}

async function post(path: string, body: unknown, endpoint = process.env.AWS_ENDPOINT_URL): Promise<void> {
  if (!endpoint)
    throw new Error(`emulator control ${path}: AWS_ENDPOINT_URL is not set (no test environment)`);
  const res = await fetch(new URL(path, endpoint), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`emulator control ${path}: HTTP ${res.status} ${await res.text()}`);
}

/** Sets the current spot price of each (AZ, type); DescribeSpotPriceHistory answers it from now on. */
export function setSpotPrices(prices: readonly SpotPriceSetting[], endpoint?: string): Promise<void> {
  return post('/moto-api/testenv/spot-prices', { prices }, endpoint);
}

/** Sets on-demand list prices (USD per hour) that Pricing GetProducts answers. */
export function setOnDemandPrices(
  prices: ReadonlyArray<{ instanceType: string; price: number }>,
  endpoint?: string,
): Promise<void> {
  return post('/moto-api/testenv/on-demand-prices', { prices }, endpoint);
}

/** From now on the group's launches in that market fail with a Failed scaling activity. */
export function injectCapacityFailure(failure: CapacityFailure, endpoint?: string): Promise<void> {
  return post('/moto-api/testenv/capacity-failures', { market: 'spot', ...failure }, endpoint);
}

/** Ends an injected capacity failure. */
export function clearCapacityFailure(
  groupName: string,
  market: Market = 'spot',
  endpoint?: string,
): Promise<void> {
  return post('/moto-api/testenv/capacity-failures', { groupName, market, clear: true }, endpoint);
}
