// A second, private test cluster: it starts on its own free ports beside the shared one, in a directory of
// its own when another live run owns the state dir (two runs in one checkout never share or stop each
// other's cluster), and stop() leaves no process and no data behind.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { eventually } from '../src/eventually';
import { restartApiserver, startTestEnv, stopTestEnv, testEnvStatus } from '../src/testenv';
import { isAlive } from '../src/process';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-lifecycle-'));
const previous = process.env.KEIKO_TESTENV_DIR;

afterAll(async () => {
  for (const d of [path.join(dir, 'runs', String(process.pid)), dir]) {
    process.env.KEIKO_TESTENV_DIR = d;
    await stopTestEnv();
  }
  if (previous === undefined) delete process.env.KEIKO_TESTENV_DIR;
  else process.env.KEIKO_TESTENV_DIR = previous;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('startTestEnv / stop', () => {
  it('starts a second environment on other ports and stops every process it started', async () => {
    const shared = process.env.KUBECONFIG ? fs.readFileSync(process.env.KUBECONFIG, 'utf8') : '';
    // Another run (a live process) owns `dir`, and is still starting its cluster.
    const otherRun = spawn('sleep', ['300'], { stdio: 'ignore' });
    const foreign = {
      version: 1,
      ownerPid: otherRun.pid,
      dataDir: path.join(dir, 'other-data'),
      processes: [],
    };
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(foreign));
    const runDir = path.join(dir, 'runs', String(process.pid));
    process.env.KEIKO_TESTENV_DIR = dir;
    const env = await startTestEnv({ reuse: false });
    try {
      expect(env.owned).toBe(true);
      expect(shared).not.toContain(env.server);
      expect(process.env.KEIKO_TESTENV_DIR).toBe(runDir);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'))).toEqual(foreign);
      expect(isAlive(otherRun.pid ?? 0)).toBe(true);
      expect(fs.readFileSync(path.join(runDir, 'env'), 'utf8')).toContain(
        `export AWS_ENDPOINT_URL="${env.awsEndpoint}"`,
      );
      const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as {
        dataDir: string;
        processes: { name: string; pid: number }[];
      };
      expect(state.processes.map((p) => p.name).sort()).toEqual(
        [
          'etcd',
          'kube-apiserver',
          'kube-controller-manager',
          'kube-scheduler',
          'kwok',
          'moto_server',
          'workflow-controller',
          'argo-executor-stand-in',
        ].sort(),
      );
      expect(state.processes.every((p) => isAlive(p.pid))).toBe(true);
      expect((await testEnvStatus())?.server).toBe(env.server);

      // A second start by the same run reuses it instead of starting more processes.
      const again = await startTestEnv();
      expect(again.owned).toBe(false);
      expect(again.server).toBe(env.server);

      // restartApiserver: killed, down a while, back on the same address with the same data.
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(env.kubeconfig);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: 'survives' } },
      });
      const before = state.processes.find((p) => p.name === 'kube-apiserver')?.pid ?? 0;
      const restart = restartApiserver({ downMs: 1_500 });
      await eventually('the apiserver down', () => !isAlive(before) || undefined, 30_000, 50);
      await expect(
        core.readNamespacedConfigMap({ namespace: 'default', name: 'survives' }),
      ).rejects.toThrow();
      expect((await restart).downMs).toBeGreaterThanOrEqual(1_500);
      expect(
        (await core.readNamespacedConfigMap({ namespace: 'default', name: 'survives' })).metadata?.name,
      ).toBe('survives');
      const after = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as typeof state;
      const pid = after.processes.find((p) => p.name === 'kube-apiserver')?.pid ?? 0;
      expect(pid).not.toBe(before);
      expect(isAlive(pid)).toBe(true);
      state.processes = after.processes;

      // stop() ends what this run started, whatever the state dir variable says by then (a late teardown
      // reading the shared dir must neither stop the other run's cluster nor erase its description).
      process.env.KEIKO_TESTENV_DIR = dir;
      await env.stop();
      process.env.KEIKO_TESTENV_DIR = runDir;
      expect(state.processes.filter((p) => isAlive(p.pid))).toEqual([]);
      expect(fs.existsSync(state.dataDir)).toBe(false);
      expect(fs.existsSync(runDir)).toBe(false);
      expect(await testEnvStatus()).toBeUndefined();
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'))).toEqual(foreign);
    } finally {
      otherRun.kill();
      if (previous === undefined) delete process.env.KEIKO_TESTENV_DIR;
      else process.env.KEIKO_TESTENV_DIR = previous;
    }
  }, 240_000);
});
