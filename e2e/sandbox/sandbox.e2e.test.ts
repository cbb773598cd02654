// The README's first command, run as a user runs it on a fresh machine: `npm run sandbox` starts its own
// cluster (a private state dir, so nothing is reused), installs the CRDs, starts the controllers from
// their bundles, applies the examples and reports them reconciling — and leaves nothing running after.
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

function runSandbox(until: string, stateDir: string): Promise<{ code: number | null; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, KEIKO_TESTENV_DIR: stateDir };
  for (const k of ['KUBECONFIG', 'AWS_ENDPOINT_URL', 'KEIKO_TESTENV_ETCD_URL']) delete env[k];
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', 'sandbox', '--', '--until', until, '--timeout', '240'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

describe('npm run sandbox', () => {
  it('brings everything up, shows the examples reconciling, and tears it all down', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-sandbox-e2e-'));
    try {
      const { code, out } = await runSandbox(
        'Addon addon-manager-system/cluster-autoscaler: Succeeded',
        stateDir,
      );
      expect(out).toMatch(
        /installed \d+ CRDs: Addon, InstanceGroup, RollingUpgrade, HealthCheck, PodCheckpoint/,
      );
      expect(out).toMatch(/addon-manager: started \(pid \d+\)/);
      // the talk's three examples, applied as written
      expect(out).toContain('Addon addon-manager-system/cluster-autoscaler');
      expect(out).toContain('InstanceGroup instance-manager/hello-world');
      expect(out).toContain('RollingUpgrade instance-manager/my-rolling-upgrade');
      // the add-on's lifecycle, phase by phase, on a cluster that never saw it
      expect(out).toMatch(
        /Addon addon-manager-system\/cluster-autoscaler: Pending, reason: prereqs workflow/,
      );
      expect(out).toMatch(/Addon addon-manager-system\/cluster-autoscaler: Succeeded/);
      expect(code).toBe(0);

      const apiPort = Number(/kube-apiserver v[\d.]+ at https:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      const etcdPort = Number(/etcd v[\d.]+ at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      expect(apiPort).toBeGreaterThan(0);
      expect(await portOpen(apiPort)).toBe(false);
      expect(await portOpen(etcdPort)).toBe(false);
      expect(fs.existsSync(path.join(stateDir, 'state.json'))).toBe(false);
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  }, 300_000);
});
