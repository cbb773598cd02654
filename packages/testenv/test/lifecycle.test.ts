// A second, private test cluster: it starts on its own free ports beside the shared one, and stop()
// leaves no process and no data behind.
import { afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestEnv, stopTestEnv, testEnvStatus } from '../src/testenv';
import { isAlive } from '../src/process';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-lifecycle-'));
const previous = process.env.KEIKO_TESTENV_DIR;

afterAll(async () => {
  process.env.KEIKO_TESTENV_DIR = dir;
  await stopTestEnv();
  if (previous === undefined) delete process.env.KEIKO_TESTENV_DIR;
  else process.env.KEIKO_TESTENV_DIR = previous;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('startTestEnv / stop', () => {
  it('starts a second environment on other ports and stops every process it started', async () => {
    const shared = process.env.KUBECONFIG ? fs.readFileSync(process.env.KUBECONFIG, 'utf8') : '';
    process.env.KEIKO_TESTENV_DIR = dir;
    const env = await startTestEnv({ reuse: false });
    try {
      expect(env.owned).toBe(true);
      expect(shared).not.toContain(env.server);
      expect(fs.readFileSync(path.join(dir, 'env'), 'utf8')).toContain(
        `export AWS_ENDPOINT_URL="${env.awsEndpoint}"`,
      );
      const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as {
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

      // A second start in the same place reuses it instead of starting more processes.
      const again = await startTestEnv();
      expect(again.owned).toBe(false);
      expect(again.server).toBe(env.server);

      await env.stop();
      expect(state.processes.filter((p) => isAlive(p.pid))).toEqual([]);
      expect(fs.existsSync(state.dataDir)).toBe(false);
      expect(fs.existsSync(path.join(dir, 'kubeconfig'))).toBe(false);
      expect(await testEnvStatus()).toBeUndefined();
    } finally {
      if (previous === undefined) delete process.env.KEIKO_TESTENV_DIR;
      else process.env.KEIKO_TESTENV_DIR = previous;
    }
  }, 120_000);
});
