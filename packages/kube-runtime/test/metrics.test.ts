import { describe, expect, it } from '@jest/globals';
import { RECONCILE_TIME_BUCKETS, RuntimeMetrics } from '../src/metrics';
import { ItemExponentialFailureRateLimiter, ManualClock, WorkQueue } from '../src/workqueue';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into samples; enough of the format for these tests. */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels are exactly `labels`. */
function valueOf(text: string, name: string, labels: Record<string, string>): number | undefined {
  const matching = parseSamples(text).filter(
    (sample) =>
      sample.name === name &&
      Object.keys(sample.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (matching.length > 1)
    throw new Error(`${name} ${JSON.stringify(labels)} matches ${matching.length} samples`);
  return matching[0]?.value;
}

function bucketBounds(text: string, name: string, labels: Record<string, string>): string[] {
  return parseSamples(text)
    .filter(
      (sample) =>
        sample.name === `${name}_bucket` &&
        Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )
    .map((sample) => sample.labels.le!);
}

const nodes = { name: 'nodes', controller: 'nodes' };
const nodesDepth = { ...nodes, priority: '' };

function setup() {
  const clock = new ManualClock();
  const metrics = new RuntimeMetrics({ clock, processMetrics: false });
  const queue = new WorkQueue({
    name: 'nodes',
    clock,
    metrics: metrics.workQueueMetrics('nodes', 'nodes'),
    rateLimiter: new ItemExponentialFailureRateLimiter(5, 1000),
  });
  return { clock, metrics, queue };
}

async function take(queue: WorkQueue): Promise<string> {
  const result = await queue.get();
  if (result.shutdown) throw new Error('queue unexpectedly shut down');
  return result.item;
}

describe('RuntimeMetrics: work queue', () => {
  it("shows a new queue's series at zero before it is used", async () => {
    const { metrics } = setup();
    const text = await metrics.metrics();
    expect(text).toContain('workqueue_depth{name="nodes",controller="nodes",priority=""} 0');
    expect(text).toContain('workqueue_adds_total{name="nodes",controller="nodes"} 0');
    expect(valueOf(text, 'workqueue_retries_total', nodes)).toBe(0);
    expect(valueOf(text, 'workqueue_queue_duration_seconds_count', nodes)).toBe(0);
    expect(valueOf(text, 'workqueue_work_duration_seconds_count', nodes)).toBe(0);
    expect(valueOf(text, 'workqueue_unfinished_work_seconds', nodes)).toBe(0);
    expect(valueOf(text, 'workqueue_longest_running_processor_seconds', nodes)).toBe(0);
  });

  it('counts adds, depth, latency, work time and retries like client-go', async () => {
    const { clock, metrics, queue } = setup();

    queue.add('a');
    queue.add('b');
    queue.add('a');
    let text = await metrics.metrics();
    expect(valueOf(text, 'workqueue_adds_total', nodes)).toBe(2);
    expect(valueOf(text, 'workqueue_depth', nodesDepth)).toBe(2);

    clock.advance(2000);
    expect(await take(queue)).toBe('a');
    // Added again while a worker holds it: a new add that counts toward depth until handed out.
    queue.add('a');
    clock.advance(500);
    text = await metrics.metrics();
    expect(valueOf(text, 'workqueue_adds_total', nodes)).toBe(3);
    expect(valueOf(text, 'workqueue_depth', nodesDepth)).toBe(2);
    expect(valueOf(text, 'workqueue_unfinished_work_seconds', nodes)).toBe(0.5);
    expect(valueOf(text, 'workqueue_longest_running_processor_seconds', nodes)).toBe(0.5);

    queue.done('a');
    expect(await take(queue)).toBe('b');
    expect(await take(queue)).toBe('a');
    clock.advance(250);
    text = await metrics.metrics();
    expect(valueOf(text, 'workqueue_depth', nodesDepth)).toBe(0);
    expect(valueOf(text, 'workqueue_unfinished_work_seconds', nodes)).toBe(0.5);
    expect(valueOf(text, 'workqueue_longest_running_processor_seconds', nodes)).toBe(0.25);
    queue.done('b');
    queue.done('a');

    queue.addRateLimited('a');
    clock.advance(5);
    expect(await take(queue)).toBe('a');
    queue.done('a');

    text = await metrics.metrics();
    expect(valueOf(text, 'workqueue_adds_total', nodes)).toBe(4);
    expect(valueOf(text, 'workqueue_depth', nodesDepth)).toBe(0);
    expect(valueOf(text, 'workqueue_retries_total', nodes)).toBe(1);
    expect(valueOf(text, 'workqueue_unfinished_work_seconds', nodes)).toBe(0);
    expect(valueOf(text, 'workqueue_longest_running_processor_seconds', nodes)).toBe(0);

    // Waits: a 2s, b 2.5s, a (re-added at 2000ms, taken at 2500ms) 0.5s, and a again 0s: a delayed
    // item's wait starts when its delay is over, not when addRateLimited was called.
    expect(valueOf(text, 'workqueue_queue_duration_seconds_count', nodes)).toBe(4);
    expect(valueOf(text, 'workqueue_queue_duration_seconds_sum', nodes)).toBeCloseTo(5, 9);
    expect(valueOf(text, 'workqueue_queue_duration_seconds_bucket', { ...nodes, le: '0.01' })).toBe(1);
    expect(valueOf(text, 'workqueue_queue_duration_seconds_bucket', { ...nodes, le: '1' })).toBe(2);
    expect(valueOf(text, 'workqueue_queue_duration_seconds_bucket', { ...nodes, le: '10' })).toBe(4);

    // Work: a 0.5s, then b, a and a again 0.25s, 0.25s and 0s.
    expect(valueOf(text, 'workqueue_work_duration_seconds_count', nodes)).toBe(4);
    expect(valueOf(text, 'workqueue_work_duration_seconds_sum', nodes)).toBeCloseTo(1, 9);
    expect(valueOf(text, 'workqueue_work_duration_seconds_bucket', { ...nodes, le: '1e-8' })).toBe(1);
    expect(valueOf(text, 'workqueue_work_duration_seconds_bucket', { ...nodes, le: '0.1' })).toBe(1);
    expect(valueOf(text, 'workqueue_work_duration_seconds_bucket', { ...nodes, le: '1' })).toBe(4);
  });

  it('counts every delayed add as a retry', async () => {
    const { clock, metrics, queue } = setup();
    queue.addAfter('a', 100);
    queue.addAfter('b', 0);
    queue.addRateLimited('c');
    clock.advance(100);
    const text = await metrics.metrics();
    expect(valueOf(text, 'workqueue_retries_total', nodes)).toBe(3);
    expect(valueOf(text, 'workqueue_adds_total', nodes)).toBe(3);
    expect(valueOf(text, 'workqueue_depth', nodesDepth)).toBe(3);
  });

  it('returns depth to zero when shutdown drops queued items', async () => {
    const { metrics, queue } = setup();
    queue.add('a');
    queue.add('b');
    queue.add('c');
    const held = await take(queue);
    queue.add(held);
    expect(valueOf(await metrics.metrics(), 'workqueue_depth', nodesDepth)).toBe(3);
    queue.shutDown();
    queue.done(held);
    expect(valueOf(await metrics.metrics(), 'workqueue_depth', nodesDepth)).toBe(0);
  });

  it('keeps queues of different controllers apart', async () => {
    const clock = new ManualClock();
    const metrics = new RuntimeMetrics({ clock, processMetrics: false });
    const nodesQueue = new WorkQueue({
      name: 'nodes',
      clock,
      metrics: metrics.workQueueMetrics('nodes', 'nodes'),
    });
    const podsQueue = new WorkQueue({
      name: 'pods',
      clock,
      metrics: metrics.workQueueMetrics('pods', 'pods'),
    });
    nodesQueue.add('a');
    podsQueue.add('a');
    podsQueue.add('b');
    const text = await metrics.metrics();
    expect(valueOf(text, 'workqueue_adds_total', nodes)).toBe(1);
    expect(valueOf(text, 'workqueue_adds_total', { name: 'pods', controller: 'pods' })).toBe(2);
  });

  it('sums in-flight work of two queues reporting under one name', async () => {
    const clock = new ManualClock();
    const metrics = new RuntimeMetrics({ clock, processMetrics: false });
    const first = new WorkQueue({
      name: 'nodes',
      clock,
      metrics: metrics.workQueueMetrics('nodes', 'nodes'),
    });
    first.add('a');
    await take(first);
    clock.advance(1000);
    first.add('b');
    await take(first);
    const second = new WorkQueue({
      name: 'nodes',
      clock,
      metrics: metrics.workQueueMetrics('nodes', 'nodes'),
    });
    second.add('a');
    await take(second);
    clock.advance(1000);
    const text = await metrics.metrics();
    // In flight: first queue's a for 2s and b for 1s, second queue's a for 1s.
    expect(valueOf(text, 'workqueue_unfinished_work_seconds', nodes)).toBe(4);
    expect(valueOf(text, 'workqueue_longest_running_processor_seconds', nodes)).toBe(2);
    // The second queue joining did not reset the first one's counts.
    expect(valueOf(text, 'workqueue_adds_total', nodes)).toBe(3);
    expect(valueOf(text, 'workqueue_queue_duration_seconds_count', nodes)).toBe(3);
  });

  it("uses controller-runtime's queue duration buckets, 10ns to 1000s", async () => {
    const { metrics } = setup();
    const text = await metrics.metrics();
    const expected = [
      '1e-8',
      '1e-7',
      '0.000001',
      '0.00001',
      '0.0001',
      '0.001',
      '0.01',
      '0.1',
      '1',
      '10',
      '100',
      '1000',
      '+Inf',
    ];
    expect(bucketBounds(text, 'workqueue_queue_duration_seconds', nodes)).toEqual(expected);
    expect(bucketBounds(text, 'workqueue_work_duration_seconds', nodes)).toEqual(expected);
  });
});

describe('RuntimeMetrics: reconciles', () => {
  it("shows a started controller's series at zero, with its worker limit", async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    metrics.setMaxConcurrentReconciles('nodes', 4);
    const text = await metrics.metrics();
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
      expect(valueOf(text, 'controller_runtime_reconcile_total', { controller: 'nodes', result })).toBe(0);
    }
    expect(valueOf(text, 'controller_runtime_reconcile_errors_total', { controller: 'nodes' })).toBe(0);
    expect(valueOf(text, 'controller_runtime_terminal_reconcile_errors_total', { controller: 'nodes' })).toBe(
      0,
    );
    expect(valueOf(text, 'controller_runtime_reconcile_panics_total', { controller: 'nodes' })).toBe(0);
    expect(valueOf(text, 'controller_runtime_reconcile_timeouts_total', { controller: 'nodes' })).toBe(0);
    expect(valueOf(text, 'controller_runtime_max_concurrent_reconciles', { controller: 'nodes' })).toBe(4);
    expect(valueOf(text, 'controller_runtime_active_workers', { controller: 'nodes' })).toBe(0);
  });

  it('counts results, errors, panics, workers and reconcile time', async () => {
    // The error detail of a non-error result is ignored: only errors can be terminal or time out.
    const metrics = new RuntimeMetrics({ processMetrics: false });
    metrics.setMaxConcurrentReconciles('nodes', 2);
    metrics.activeWorkers('nodes', +1);
    metrics.activeWorkers('nodes', +1);
    metrics.activeWorkers('nodes', -1);
    metrics.reconcileResult('nodes', 'success');
    metrics.reconcileResult('nodes', 'success');
    metrics.reconcileResult('nodes', 'error', { terminal: true });
    metrics.reconcileResult('nodes', 'error', { timedOut: true });
    metrics.reconcileResult('nodes', 'error');
    metrics.reconcileResult('nodes', 'requeue_after');
    metrics.reconcileResult('nodes', 'success', { terminal: true, timedOut: true });
    metrics.reconcilePanic('nodes');
    for (const seconds of [0.2, 0.04, 0.02, 3, 0.001, 0.01]) metrics.observeReconcileTime('nodes', seconds);

    const text = await metrics.metrics();
    const total = (result: string) =>
      valueOf(text, 'controller_runtime_reconcile_total', { controller: 'nodes', result });
    expect(text).toContain('controller_runtime_reconcile_total{controller="nodes",result="success"} 3');
    expect(total('error')).toBe(3);
    expect(total('requeue')).toBe(0);
    expect(total('requeue_after')).toBe(1);
    expect(valueOf(text, 'controller_runtime_reconcile_errors_total', { controller: 'nodes' })).toBe(3);
    expect(valueOf(text, 'controller_runtime_terminal_reconcile_errors_total', { controller: 'nodes' })).toBe(
      1,
    );
    expect(valueOf(text, 'controller_runtime_reconcile_timeouts_total', { controller: 'nodes' })).toBe(1);
    expect(valueOf(text, 'controller_runtime_reconcile_panics_total', { controller: 'nodes' })).toBe(1);
    expect(valueOf(text, 'controller_runtime_active_workers', { controller: 'nodes' })).toBe(1);

    const bucket = (le: string) =>
      valueOf(text, 'controller_runtime_reconcile_time_seconds_bucket', { controller: 'nodes', le });
    expect(valueOf(text, 'controller_runtime_reconcile_time_seconds_count', { controller: 'nodes' })).toBe(6);
    expect(
      valueOf(text, 'controller_runtime_reconcile_time_seconds_sum', { controller: 'nodes' }),
    ).toBeCloseTo(3.271, 9);
    expect(bucket('0.005')).toBe(1);
    expect(bucket('0.025')).toBe(3);
    expect(bucket('0.05')).toBe(4);
    expect(bucket('0.25')).toBe(5);
    expect(bucket('2.5')).toBe(5);
    expect(bucket('3')).toBe(6);
    expect(bucket('+Inf')).toBe(6);
  });

  it("uses controller-runtime's reconcile time buckets", async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    metrics.observeReconcileTime('nodes', 0.1);
    const bounds = bucketBounds(await metrics.metrics(), 'controller_runtime_reconcile_time_seconds', {
      controller: 'nodes',
    });
    expect(bounds).toHaveLength(41);
    expect(bounds.slice(0, -1).map(Number)).toEqual(RECONCILE_TIME_BUCKETS);
    expect(bounds[0]).toBe('0.005');
    expect(bounds.at(-2)).toBe('60');
    expect(bounds.at(-1)).toBe('+Inf');
  });

  it('declares each family with the Prometheus type controller-runtime uses', async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    const text = await metrics.metrics();
    const types = Object.fromEntries(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!]),
    );
    expect(types).toEqual({
      controller_runtime_reconcile_total: 'counter',
      controller_runtime_reconcile_errors_total: 'counter',
      controller_runtime_terminal_reconcile_errors_total: 'counter',
      controller_runtime_reconcile_panics_total: 'counter',
      controller_runtime_reconcile_timeouts_total: 'counter',
      controller_runtime_reconcile_time_seconds: 'histogram',
      controller_runtime_max_concurrent_reconciles: 'gauge',
      controller_runtime_active_workers: 'gauge',
      workqueue_depth: 'gauge',
      workqueue_adds_total: 'counter',
      workqueue_queue_duration_seconds: 'histogram',
      workqueue_work_duration_seconds: 'histogram',
      workqueue_retries_total: 'counter',
      workqueue_unfinished_work_seconds: 'gauge',
      workqueue_longest_running_processor_seconds: 'gauge',
      leader_election_master_status: 'gauge',
      rest_client_requests_total: 'counter',
      rest_client_request_duration_seconds: 'histogram',
    });
  });
});

describe('RuntimeMetrics: API requests, leader election and process', () => {
  it('counts API server responses by code, method and host', async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    metrics.observeRequest('get', 200, '10.0.0.1:6443');
    metrics.observeRequest('GET', 200, '10.0.0.1:6443');
    metrics.observeRequest('PATCH', 409, '10.0.0.1:6443');
    metrics.observeRequest('PUT', '<error>', '10.0.0.1:6443');
    const text = await metrics.metrics();
    const requests = (code: string, method: string) =>
      valueOf(text, 'rest_client_requests_total', { code, method, host: '10.0.0.1:6443' });
    expect(requests('200', 'GET')).toBe(2);
    expect(requests('409', 'PATCH')).toBe(1);
    expect(requests('<error>', 'PUT')).toBe(1);
  });

  it('reports leadership per lease', async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    metrics.setLeader('keiko-nodes', true);
    metrics.setLeader('keiko-pods', true);
    metrics.setLeader('keiko-pods', false);
    const text = await metrics.metrics();
    expect(text).toContain('leader_election_master_status{name="keiko-nodes"} 1');
    expect(valueOf(text, 'leader_election_master_status', { name: 'keiko-pods' })).toBe(0);
  });

  it('exports process metrics on its own registry, so two instances do not collide', async () => {
    const first = new RuntimeMetrics();
    const second = new RuntimeMetrics();
    first.reconcileResult('nodes', 'success');
    const [firstText, secondText] = await Promise.all([first.metrics(), second.metrics()]);
    expect(firstText).toMatch(/^process_cpu_seconds_total \d/m);
    expect(firstText).toMatch(/^process_resident_memory_bytes \d/m);
    expect(secondText).toMatch(/^process_cpu_seconds_total \d/m);
    expect(
      valueOf(firstText, 'controller_runtime_reconcile_total', { controller: 'nodes', result: 'success' }),
    ).toBe(1);
    expect(
      valueOf(secondText, 'controller_runtime_reconcile_total', { controller: 'nodes', result: 'success' }),
    ).toBeUndefined();
    expect(first.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
