// Two replicas of the README's example controller, each its own process with leader election on a
// Lease in the test cluster: only the leader reconciles; kill -9 hands over within lease duration +
// retry period; SIGTERM releases the Lease and hands over at once.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from '@keiko/testenv';
import { ResourceTypes } from '../src/client';
import { client, createNamespace, deleteNamespace, eventually } from './support/cluster';

const example = path.resolve(import.meta.dirname, '../examples/hello-controller.ts');
const LEASE_S = 3;
const RENEW_S = 2;
const RETRY_S = 0.5;

interface Replica {
  name: string;
  proc: ChildProcess;
  healthPort: number;
  log: string[];
  exit: Promise<number | null>;
}

let ns: string;
const replicas: Replica[] = [];

async function startReplica(name: string, leaseName: string): Promise<Replica> {
  const healthPort = await freePort();
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      example,
      `--namespace=${ns}`,
      '--leader-elect=true',
      `--leader-election-namespace=${ns}`,
      `--leader-election-id=${leaseName}`,
      `--leader-election-identity=${name}`,
      `--lease-duration=${LEASE_S}`,
      `--renew-deadline=${RENEW_S}`,
      `--retry-period=${RETRY_S}`,
      '--metrics-port=0',
      `--health-port=${healthPort}`,
      '--bind-address=127.0.0.1',
      '--shutdown-grace=5',
    ],
    { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!])
    readline.createInterface({ input: stream }).on('line', (line) => log.push(line));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const r = { name, proc, healthPort, log, exit };
  replicas.push(r);
  return r;
}

async function state(r: Replica): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${r.healthPort}/readyz`);
    return (await res.text()).trim();
  } catch {
    return 'down';
  }
}

const greeted = (r: Replica) => r.log.filter((l) => l.includes('"msg":"greeted"')).length;

beforeAll(async () => {
  ns = await createNamespace('manager');
});
afterAll(async () => {
  for (const r of replicas) r.proc.kill('SIGKILL');
  // No controller is left to run the example's finalizer; release it so the namespace can go.
  await client
    .patch(ResourceTypes.ConfigMap, ns, 'one', { metadata: { finalizers: null } })
    .catch(() => undefined);
  await deleteNamespace(ns);
});

describe('Manager with leader election, two processes', () => {
  it('lets only the leader reconcile and hands over on kill -9 and on SIGTERM', async () => {
    const lease = `hello-${Date.now().toString(36)}`;
    const a = await startReplica('replica-a', lease);
    const b = await startReplica('replica-b', lease);
    const leader = await eventually(
      'a leader',
      async () => {
        const [sa, sb] = [await state(a), await state(b)];
        if (sa === 'leading' && sb === 'standby') return a;
        if (sb === 'leading' && sa === 'standby') return b;
        return undefined;
      },
      30_000,
    );
    const follower = leader === a ? b : a;

    // Over a few seconds, never two leaders.
    for (let i = 0; i < 10; i++) {
      expect([await state(leader), await state(follower)]).toEqual(['leading', 'standby']);
      await new Promise((r) => setTimeout(r, 200));
    }

    await client.create(ResourceTypes.ConfigMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'one', namespace: ns, labels: { 'keiko.io/hello': 'true' } },
      data: { name: 'one' },
    });
    await eventually(
      'greeting from the leader',
      async () =>
        (
          await client.get<{ data?: Record<string, string> } & { metadata?: object }>(
            ResourceTypes.ConfigMap,
            ns,
            'one',
          )
        )?.data?.greeting === 'Hello, one!' || undefined,
    );
    await eventually('the leader logs its greeting', () => greeted(leader) > 0);
    expect(greeted(leader)).toBe(1);
    expect(greeted(follower)).toBe(0);

    // kill -9: no release; the follower waits out the lease.
    const killedAt = Date.now();
    leader.proc.kill('SIGKILL');
    await eventually(
      'follower leads',
      async () => ((await state(follower)) === 'leading' ? true : undefined),
      20_000,
    );
    const handoverMs = Date.now() - killedAt;
    // lease + retry with jitter (1.2) + one poll of this test
    expect(handoverMs).toBeLessThanOrEqual((LEASE_S + RETRY_S * 2.2) * 1000 + 500);
    expect(handoverMs).toBeGreaterThanOrEqual(RENEW_S * 1000); // nobody took an unexpired lease

    // The new leader reconciles what changed meanwhile.
    await client.patch(ResourceTypes.ConfigMap, ns, 'one', { data: { name: 'two' } });
    await eventually(
      'greeting from the new leader',
      async () =>
        (
          await client.get<{ data?: Record<string, string> } & { metadata?: object }>(
            ResourceTypes.ConfigMap,
            ns,
            'one',
          )
        )?.data?.greeting === 'Hello, two!' || undefined,
    );

    // SIGTERM: the leader releases the Lease and exits 0; the standby takes over at once.
    const c = await startReplica('replica-c', lease);
    await eventually('c on standby', async () => ((await state(c)) === 'standby' ? true : undefined), 30_000);
    const termAt = Date.now();
    follower.proc.kill('SIGTERM');
    expect(await follower.exit).toBe(0);
    await eventually('c leads', async () => ((await state(c)) === 'leading' ? true : undefined), 10_000);
    expect(Date.now() - termAt).toBeLessThanOrEqual(RETRY_S * 2.2 * 1000 + 1500);
    expect(follower.log.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  }, 120_000);
});
