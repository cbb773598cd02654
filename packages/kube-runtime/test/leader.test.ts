// Leader election against the real test cluster. Durations are short (lease 3s, renew deadline 2s,
// retry 0.5s) so handovers can be measured and checked against the bounds the algorithm promises.
import { describe, expect, it, beforeAll, afterAll, afterEach } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNamespace, eventually, kubeConfigFromEnv } from '@keiko/testenv';
import { KubeClient, ResourceTypes, isConflict } from '../src/client';
import {
  LEADER_ELECTION_JITTER_FACTOR,
  LeaderElector,
  type Lease,
  type LeaderElectorOptions,
} from '../src/leader';

const LEASE_MS = 3000;
const RENEW_MS = 2000;
const RETRY_MS = 500;
/** The longest a candidate waits between two acquire attempts. */
const MAX_POLL_MS = RETRY_MS * (1 + LEADER_ELECTION_JITTER_FACTOR);
/** Request latency and timer slack on a loaded CI machine. */
const MARGIN_MS = 400;

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const childProgram = path.join(here, 'fixtures/leader-child.ts');

const kc = kubeConfigFromEnv();
const client = new KubeClient(kc);
const ns = `leader-${Date.now().toString(36)}`;
let leaseSeq = 0;
const uniqueLease = () => `lease-${++leaseSeq}-${Math.random().toString(36).slice(2, 7)}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

const getLease = (name: string) => client.get<Lease>(ResourceTypes.Lease, ns, name);

/** An in-process candidate whose leadership periods are recorded. */
interface Candidate {
  elector: LeaderElector;
  cancel: AbortController;
  done: Promise<void>;
  /** [start, end) of each leadership period (monotonic ms); end undefined while leading. */
  periods: { start: number; end?: number }[];
  leadingSignal?: AbortSignal;
  stoppedAt?: number;
  abortedAt?: number;
  changes: boolean[];
  newLeaders: string[];
}

const candidates: Candidate[] = [];
const children: ChildProcess[] = [];

function startCandidate(
  lease: string,
  identity: string,
  opts: Partial<LeaderElectorOptions> = {},
  kubeClient: KubeClient = client,
): Candidate {
  const changes: boolean[] = [];
  const elector = new LeaderElector(kubeClient, {
    namespace: ns,
    name: lease,
    identity,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_MS,
    retryPeriodMs: RETRY_MS,
    onLeaderChange: (l) => changes.push(l),
    ...opts,
  });
  const c: Candidate = {
    elector,
    cancel: new AbortController(),
    done: Promise.resolve(),
    periods: [],
    changes,
    newLeaders: [],
  };
  c.done = elector.run(
    {
      onStartedLeading: (signal) => {
        c.periods.push({ start: now() });
        c.leadingSignal = signal;
        signal.addEventListener('abort', () => {
          c.abortedAt = now();
          const p = c.periods.at(-1);
          if (p) p.end = now();
        });
      },
      onStoppedLeading: () => {
        c.stoppedAt = now();
      },
      onNewLeader: (id) => c.newLeaders.push(id),
    },
    c.cancel.signal,
  );
  candidates.push(c);
  return c;
}

/** A candidate in a child process (kill -9 must really kill the leader: no release, no cleanup). */
function startChild(
  lease: string,
  identity: string,
): { child: ChildProcess; lines: string[]; waitFor(line: string): Promise<number> } {
  // node --import tsx rather than the tsx CLI: the CLI runs the program in a grandchild process,
  // which a SIGKILL of the CLI would leave running (and leading).
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      childProgram,
      ns,
      lease,
      identity,
      String(LEASE_MS),
      String(RENEW_MS),
      String(RETRY_MS),
    ],
    {
      cwd: repoRoot,
      env: { ...process.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  const lines: string[] = [];
  const seen = new Map<string, number>();
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (!seen.has(line)) seen.set(line, now());
    }
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    child,
    lines,
    waitFor: (line) =>
      eventually(`child ${identity} to print ${line} (stderr: ${stderr})`, () => seen.get(line), 30_000),
  };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

beforeAll(async () => {
  await createNamespace(ns, { exact: true });
});

afterEach(async () => {
  for (const c of candidates.splice(0)) c.cancel.abort();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exitOf(child);
    }
  }
});

afterAll(async () => {
  await client.delete(ResourceTypes.Namespace, undefined, ns);
});

describe('LeaderElector', () => {
  it('creates the lease and renews it with MicroTime timestamps', async () => {
    const lease = uniqueLease();
    const a = startCandidate(lease, 'a');
    await eventually('a to lead', () => a.elector.isLeader());
    const first = await getLease(lease);
    expect(first?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 3, leaseTransitions: 0 });
    expect(first?.spec?.renewTime).toMatch(MICRO_TIME);
    expect(first?.spec?.acquireTime).toMatch(MICRO_TIME);
    await sleep(RETRY_MS * 3);
    const later = await getLease(lease);
    expect(
      later?.spec?.renewTime && first?.spec?.renewTime && later.spec.renewTime > first.spec.renewTime,
    ).toBe(true);
    expect(later?.spec?.acquireTime).toBe(first?.spec?.acquireTime);
    expect(a.elector.getLeader()).toBe('a');
    expect(a.newLeaders).toEqual(['a']);
    expect(a.changes).toEqual([true]);

    a.cancel.abort();
    await a.done;
    expect(a.changes).toEqual([true, false]);
    expect(a.stoppedAt).toBeDefined();
    // releaseOnCancel: holder cleared, a one-second duration left for old clients.
    const released = await getLease(lease);
    expect(released?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
  });

  it('lets exactly one of two candidates lead at any time, and hands over on cancel', async () => {
    const lease = uniqueLease();
    const a = startCandidate(lease, 'a');
    const b = startCandidate(lease, 'b');
    let samples = 0;
    let samplesWithOneLeader = 0;
    const sampleFor = async (ms: number) => {
      const until = now() + ms;
      while (now() < until) {
        const leaders = [a, b].filter((c) => c.elector.isLeader()).length;
        expect(leaders).toBeLessThanOrEqual(1);
        samples++;
        if (leaders === 1) samplesWithOneLeader++;
        await sleep(20);
      }
    };
    await eventually('a leader', () => a.elector.isLeader() || b.elector.isLeader());
    await sampleFor(3000);
    expect(samplesWithOneLeader).toBe(samples); // and a stable one: no flapping while the leader renews
    const [first, second] = a.elector.isLeader() ? [a, b] : [b, a];
    expect(second.elector.getLeader()).toBe(first.elector.identity);

    const cancelledAt = now();
    first.cancel.abort();
    await sampleFor(MAX_POLL_MS + MARGIN_MS + 500);
    expect(second.elector.isLeader()).toBe(true);
    const handover = second.periods[0]!.start - cancelledAt;
    console.log(
      `handover after cancel+release: ${handover.toFixed(0)}ms (bound ${MAX_POLL_MS + MARGIN_MS}ms)`,
    );
    expect(handover).toBeLessThanOrEqual(MAX_POLL_MS + MARGIN_MS);
    await first.done;

    // The leadership periods never overlap.
    const p1 = first.periods[0]!;
    const p2 = second.periods[0]!;
    expect(first.periods).toHaveLength(1);
    expect(p1.end).toBeDefined();
    expect(p1.end!).toBeLessThanOrEqual(p2.start);

    const record = await getLease(lease);
    expect(record?.spec?.holderIdentity).toBe(second.elector.identity);
    // created by the first (0), released to nobody, acquired by the second (+1)
    expect(record?.spec?.leaseTransitions).toBe(1);
    expect(second.newLeaders).toEqual([first.elector.identity, second.elector.identity]);
  });

  it("waits a full lease duration by its own clock, however old the holder's renewTime looks", async () => {
    const lease = uniqueLease();
    // A holder whose clock is an hour behind ours: by renewTime the lease expired long ago.
    const ancient = new Date(Date.now() - 3600_000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await client.create<Lease>(ResourceTypes.Lease, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: lease, namespace: ns },
      spec: {
        holderIdentity: 'skewed',
        leaseDurationSeconds: 3,
        acquireTime: ancient,
        renewTime: ancient,
        leaseTransitions: 4,
      },
    });
    const started = now();
    const a = startCandidate(lease, 'a');
    await eventually('a to lead', () => a.periods[0]);
    const waited = a.periods[0]!.start - started;
    console.log(`takeover of a skewed, silent holder after ${waited.toFixed(0)}ms (lease ${LEASE_MS}ms)`);
    expect(waited).toBeGreaterThanOrEqual(LEASE_MS);
    expect(waited).toBeLessThanOrEqual(LEASE_MS + MAX_POLL_MS + MARGIN_MS);
    const record = await getLease(lease);
    expect(record?.spec?.holderIdentity).toBe('a');
    expect(record?.spec?.leaseTransitions).toBe(5);
    expect(record?.spec?.acquireTime).not.toBe(ancient);
    expect(a.newLeaders).toEqual(['skewed', 'a']);
  });

  it('replaces a leader killed with SIGKILL within leaseDuration + one poll interval, never before the lease expires', async () => {
    const lease = uniqueLease();
    const leader = startChild(lease, 'child-killed');
    await leader.waitFor('LEADING');
    const b = startCandidate(lease, 'b');
    await eventually('b to see the child lead', () => b.elector.getLeader() === 'child-killed');
    await sleep(1000 + Math.random() * RETRY_MS); // a few renewals, and a kill at a random phase of them

    const killedAt = now();
    leader.child.kill('SIGKILL');
    expect((await exitOf(leader.child)).signal).toBe('SIGKILL');
    await eventually('b to lead', () => b.periods[0], 20_000);
    const handover = b.periods[0]!.start - killedAt;
    // The child's last renewal was at most one retry period (plus a request) before the kill, and b
    // saw it at most one poll later; b takes over at the first attempt after leaseDuration from then.
    const upper = LEASE_MS + MAX_POLL_MS + MARGIN_MS;
    const lower = LEASE_MS - RETRY_MS - MARGIN_MS;
    console.log(`handover after SIGKILL: ${handover.toFixed(0)}ms (bounds ${lower}..${upper}ms)`);
    expect(handover).toBeGreaterThanOrEqual(lower);
    expect(handover).toBeLessThanOrEqual(upper);
    expect(leader.lines).toEqual(['LEADING']);
    const record = await getLease(lease);
    expect(record?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('hands over within a poll interval when the leader releases on SIGTERM', async () => {
    const lease = uniqueLease();
    const leader = startChild(lease, 'child-terminated');
    await leader.waitFor('LEADING');
    const b = startCandidate(lease, 'b');
    await eventually('b to see the child lead', () => b.elector.getLeader() === 'child-terminated');
    await sleep(1000 + Math.random() * RETRY_MS);

    const terminatedAt = now();
    leader.child.kill('SIGTERM');
    expect(await exitOf(leader.child)).toEqual({ code: 0, signal: null });
    expect(leader.lines).toEqual(['LEADING', 'STOPPED', 'RELEASED']);
    await eventually('b to lead', () => b.periods[0], 20_000);
    const handover = b.periods[0]!.start - terminatedAt;
    const upper = MAX_POLL_MS + MARGIN_MS;
    console.log(
      `handover after SIGTERM release: ${handover.toFixed(0)}ms (bound ${upper}ms; ${(handover / RETRY_MS).toFixed(1)} retry periods)`,
    );
    expect(handover).toBeLessThanOrEqual(upper);
    expect(handover).toBeLessThan(LEASE_MS - RETRY_MS); // far sooner than waiting for expiry
  });

  it("stops at once when its lease is taken away, and does not touch the new holder's lease", async () => {
    const lease = uniqueLease();
    const a = startCandidate(lease, 'a');
    await eventually('a to lead', () => a.periods[0]);
    let stolenAt = 0;
    for (;;) {
      // The leader renews concurrently; our write is conditional on resourceVersion like its own.
      const current = (await getLease(lease))!;
      const stamp = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
      stolenAt = now();
      try {
        await client.replace<Lease>(ResourceTypes.Lease, {
          ...current,
          spec: { ...current.spec, holderIdentity: 'thief', renewTime: stamp, acquireTime: stamp },
        });
        break;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }

    await a.done; // run() returns by itself
    expect(a.leadingSignal?.aborted).toBe(true);
    expect(a.stoppedAt).toBeDefined();
    expect(a.elector.isLeader()).toBe(false);
    const stoppedAfter = a.abortedAt! - stolenAt;
    console.log(
      `stopped ${stoppedAfter.toFixed(0)}ms after the lease was stolen (renew deadline ${RENEW_MS}ms)`,
    );
    expect(stoppedAfter).toBeLessThanOrEqual(RENEW_MS);
    expect(a.stoppedAt!).toBeGreaterThanOrEqual(a.abortedAt!);
    expect(a.changes).toEqual([true, false]);
    const after = await getLease(lease);
    expect(after?.spec?.holderIdentity).toBe('thief');
    // release() after a loss is harmless: the lease is no longer ours.
    await a.elector.release();
    expect((await getLease(lease))?.spec?.holderIdentity).toBe('thief');
  });

  it('steps down within renewDeadline when the apiserver stops answering, before the lease can expire for others', async () => {
    const lease = uniqueLease();
    // The real client, with requests that hang forever once `hanging` is set (a partitioned leader).
    class PartitionableClient extends KubeClient {
      hanging = false;
      override request<T>(...args: Parameters<KubeClient['request']>): Promise<T> {
        if (this.hanging) return new Promise<T>(() => {});
        return super.request<T>(...args);
      }
    }
    const partitionable = new PartitionableClient(kc);
    const a = startCandidate(lease, 'a', {}, partitionable);
    await eventually('a to lead', () => a.periods[0]);
    await sleep(1000 + Math.random() * RETRY_MS);
    partitionable.hanging = true;
    const partitionedAt = now();
    const partitionedWall = Date.now();

    await a.done;
    expect(a.leadingSignal?.aborted).toBe(true);
    expect(a.stoppedAt).toBeDefined();
    const lastRenew = Date.parse((await getLease(lease))!.spec!.renewTime!);
    const stoppedWall = partitionedWall + (a.abortedAt! - partitionedAt);
    console.log(
      `partitioned leader stopped ${(a.abortedAt! - partitionedAt).toFixed(0)}ms after the partition, ${(stoppedWall - lastRenew).toFixed(0)}ms after its last renewal (deadline ${RENEW_MS}ms, lease ${LEASE_MS}ms)`,
    );
    expect(a.abortedAt! - partitionedAt).toBeLessThanOrEqual(RENEW_MS + 100);
    // The safety property: it stopped before any other candidate could consider the lease expired.
    expect(stoppedWall - lastRenew).toBeLessThanOrEqual(RENEW_MS + 100);
    expect(stoppedWall - lastRenew).toBeLessThan(LEASE_MS);
  });

  it('rejects settings that break the safety margin', () => {
    const base = { namespace: ns, name: 'x', identity: 'i' };
    expect(
      () => new LeaderElector(client, { ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }),
    ).toThrow(/greater than renewDeadlineMs/);
    expect(
      () => new LeaderElector(client, { ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }),
    ).toThrow(/retryPeriodMs/);
    expect(() => new LeaderElector(client, { ...base, identity: '' })).toThrow(/identity/);
  });
});
