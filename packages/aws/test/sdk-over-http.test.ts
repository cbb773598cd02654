// The real SDK clients, built by createAwsClients, against a loopback server that throttles and pages on
// demand: retries, throttle metrics, batching and pagination as they happen on the wire.
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry, register as globalRegistry } from 'prom-client';
import {
  AwsAutoScaling,
  AwsEc2,
  AwsMetrics,
  AwsOperationError,
  awsClientConfig,
  createAwsClients,
  type AwsClients,
} from '../src/index';
import {
  FakeAwsServer,
  asgError,
  describeGroupsReply,
  describeInstancesReply,
  ec2Error,
  listParam,
  type FakeRequest,
} from './support/fake-aws';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

let server: FakeAwsServer | undefined;
let clients: AwsClients | undefined;

afterEach(async () => {
  clients?.destroy();
  clients = undefined;
  await server?.stop();
  server = undefined;
});

/** Existing groups are named `g-*`; the server pages its answers `pageSize` at a time. */
function asgHandler(pageSize: number) {
  return (req: FakeRequest) => {
    if (req.action !== 'DescribeAutoScalingGroups')
      return asgError('InvalidAction', `unexpected ${req.action}`);
    const names = listParam(req.params, 'AutoScalingGroupNames').filter((n) => n.startsWith('g-'));
    const start = Number(req.params.get('NextToken') ?? '0');
    const page = names.slice(start, start + pageSize);
    const next = start + pageSize < names.length ? String(start + pageSize) : undefined;
    return describeGroupsReply(page, next);
  };
}

async function setup(handler: (req: FakeRequest) => ReturnType<typeof asgError>, maxAttempts = 3) {
  server = new FakeAwsServer(handler);
  const endpoint = await server.start();
  const registry = new Registry();
  const metrics = new AwsMetrics({ registry });
  clients = createAwsClients(awsClientConfig({ region: 'us-west-2', endpoint, maxAttempts, credentials }), {
    metrics,
  });
  return { server, registry, metrics, clients };
}

/** A sample's value; `name` may be a histogram's `_count` / `_sum` series. */
async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = registry.getSingleMetric(name.replace(/_(count|sum)$/, ''));
  if (!metric) return 0;
  const data = await metric.get();
  const match = data.values.find(
    (v) =>
      (('metricName' in v ? v.metricName : undefined) ?? data.name) === name &&
      Object.entries(labels).every(([k, val]) => v.labels[k] === val),
  );
  return match?.value ?? 0;
}

describe('retry and throttle metrics over HTTP', () => {
  it('retries a throttled call with backoff and counts every attempt', async () => {
    const { server, registry, metrics, clients } = await setup(asgHandler(100));
    server.script('DescribeAutoScalingGroups', asgError('Throttling', 'Rate exceeded'));

    const groups = await new AwsAutoScaling(clients.autoScaling).describeGroups(['g-a']);

    expect(groups.map((g) => g.name)).toEqual(['g-a']);
    const [first, retry] = server.requestsFor('DescribeAutoScalingGroups');
    expect(retry).toBeDefined();
    // Backed off (jittered backoff plus the adaptive token bucket) instead of retrying at once.
    expect((retry?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThan(200);
    expect(metrics.callCount()).toBe(2);
    expect(metrics.throttleCount()).toBe(1);
    const labels = { service: 'autoscaling', operation: 'DescribeAutoScalingGroups' };
    expect(
      await metricValue(registry, 'keiko_aws_api_calls_total', { ...labels, outcome: 'throttled' }),
    ).toBe(1);
    expect(await metricValue(registry, 'keiko_aws_api_calls_total', { ...labels, outcome: 'success' })).toBe(
      1,
    );
    expect(await metricValue(registry, 'keiko_aws_throttles_total', labels)).toBe(1);
    expect(await metricValue(registry, 'keiko_aws_api_call_duration_seconds_count', labels)).toBe(2);
    // The runtime's registry gets the metrics; the process-global one never does.
    expect(globalRegistry.getSingleMetric('keiko_aws_api_calls_total')).toBeUndefined();
  });

  it('gives up after maxAttempts with an error naming the operation and marked throttled', async () => {
    const { server, metrics, clients } = await setup(
      () => ec2Error('RequestLimitExceeded', 'Request limit exceeded.'),
      2,
    );

    const err = await new AwsEc2(clients.ec2).describeInstances(['i-1']).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(AwsOperationError);
    const opErr = err as AwsOperationError;
    expect(opErr.throttled).toBe(true);
    expect(opErr.code).toBe('RequestLimitExceeded');
    expect(opErr.message).toMatch(/^ec2 DescribeInstances instances i-1: RequestLimitExceeded, HTTP 400/);
    expect(server.requestsFor('DescribeInstances')).toHaveLength(2);
    expect(metrics.throttleCount()).toBe(2);
  });

  it('counts an HTTP 429 without a known code as a throttle', async () => {
    const { server, metrics, clients } = await setup(asgHandler(100));
    server.script('DescribeAutoScalingGroups', asgError('SomethingNew', 'slow down', 429));

    await new AwsAutoScaling(clients.autoScaling).describeGroups(['g-a']);

    expect(metrics.throttleCount()).toBe(1);
    expect(metrics.callCount()).toBe(2);
  });

  it('does not retry a client error and reports it with context', async () => {
    const { server, registry, metrics, clients } = await setup(() =>
      asgError('ValidationError', 'Instance Id not found - No managed instance found for instance ID: i-404'),
    );

    const err = await new AwsAutoScaling(clients.autoScaling)
      .terminateInstanceInGroup('i-404', { decrementDesired: false })
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(AwsOperationError);
    expect((err as AwsOperationError).message).toContain(
      'autoscaling TerminateInstanceInAutoScalingGroup instance i-404: ValidationError',
    );
    expect((err as AwsOperationError).throttled).toBe(false);
    expect(server.requests).toHaveLength(1);
    expect(metrics.throttleCount()).toBe(0);
    expect(
      await metricValue(registry, 'keiko_aws_api_calls_total', {
        service: 'autoscaling',
        operation: 'TerminateInstanceInAutoScalingGroup',
        outcome: 'error',
      }),
    ).toBe(1);
  });
});

describe('batching and pagination over HTTP', () => {
  it('describes groups at most 50 names a call, follows NextToken, and keeps the asked order', async () => {
    const { server, metrics, clients } = await setup(asgHandler(20));
    const names = Array.from({ length: 120 }, (_, i) => `g-${String(i).padStart(3, '0')}`).reverse();

    const groups = await new AwsAutoScaling(clients.autoScaling).describeGroups([
      ...names,
      'missing',
      names[0] ?? '',
    ]);

    expect(groups.map((g) => g.name)).toEqual(names);
    const calls = server.requestsFor('DescribeAutoScalingGroups');
    const namesPerCall = calls.map((c) => listParam(c.params, 'AutoScalingGroupNames').length);
    expect(Math.max(...namesPerCall)).toBeLessThanOrEqual(50);
    // 121 distinct names -> batches of 50, 50, 21 (20 of them exist); pages of 20: 3 + 3 + 1 requests.
    expect(calls).toHaveLength(7);
    expect(metrics.callCount()).toBe(7);
    expect(groups[0]?.instances[0]).toEqual({
      id: `i-${names[0]}`,
      availabilityZone: 'us-west-2a',
      lifecycleState: 'InService',
      healthStatus: 'Healthy',
      protectedFromScaleIn: false,
      launchTemplate: { id: 'lt-1', name: 'tpl', version: '2' },
    });
    expect(groups[0]?.subnetIds).toEqual(['subnet-1', 'subnet-2']);
    expect(groups[0]?.tags).toEqual({ team: 'a' });
  });

  it('never sends an empty name list (that would describe every group in the region)', async () => {
    const { server, clients } = await setup(asgHandler(20));
    expect(await new AwsAutoScaling(clients.autoScaling).describeGroups([])).toEqual([]);
    expect(server.requests).toHaveLength(0);
  });

  it('describes instances 200 ids a call through an instance-id filter and returns those that exist', async () => {
    const known = new Set(Array.from({ length: 450 }, (_, i) => `i-${i}`).filter((_, i) => i % 3 !== 0));
    const { server, clients } = await setup((req) => {
      const ids = listParam(req.params, 'Filter.1.Value').filter((id) => known.has(id));
      return describeInstancesReply(ids);
    });
    const ids = Array.from({ length: 450 }, (_, i) => `i-${i}`);

    const instances = await new AwsEc2(clients.ec2).describeInstances(ids);

    const calls = server.requestsFor('DescribeInstances');
    expect(calls.map((c) => listParam(c.params, 'Filter.1.Value').length)).toEqual([200, 200, 50]);
    expect(calls[0]?.params.get('Filter.1.Name')).toBe('instance-id');
    expect(instances).toHaveLength(known.size);
    expect(instances[0]).toMatchObject({
      id: 'i-1',
      state: 'running',
      launchTemplate: { id: 'lt-1', version: '3' },
    });
  });
});
