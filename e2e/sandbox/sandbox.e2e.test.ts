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

function runSandbox(until: string[], stateDir: string): Promise<{ code: number | null; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, KEIKO_TESTENV_DIR: stateDir };
  for (const k of ['KUBECONFIG', 'AWS_ENDPOINT_URL', 'KEIKO_TESTENV_ETCD_URL']) delete env[k];
  return new Promise((resolve) => {
    const args = ['run', 'sandbox', '--', ...until.flatMap((u) => ['--until', u]), '--timeout', '600'];
    const child = spawn('npm', args, {
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

/** The line each example's documented end state prints (scripts/sandbox.ts reports states and Events). */
const SETTLED: Record<string, string> = {
  // the talk's Addon, through its prereqs workflow on the real Argo controller
  addon: 'Addon addon-manager-system/cluster-autoscaler: Succeeded',
  // the talk's InstanceGroup as written: its ids exist nowhere, and the error names them
  'talk instance group':
    'event Warning \\w+ InstanceGroup instance-manager/hello-world: .*subnet-abb1c79de3EXAMPLE',
  // the talk's RollingUpgrade, applied as written, replaces nodes of the seeded group
  'talk rolling upgrade': 'RollingUpgrade instance-manager/my-rolling-upgrade: \\w+, nodes [1-3]/3',
  // the sandbox's own InstanceGroup, with names the emulator has
  'instance group': 'InstanceGroup instance-manager/hello-world-sandbox: Ready',
  // governor (dry run in the sandbox, scoped to its demo nodes) finds the node its seed took down
  governor: 'governor: Event DryRunReap on node',
  // both HealthCheck examples, as workflows on the real Argo controller (instance activemonitor-workflows)
  'health check inline': 'HealthCheck health/inline-hello: Succeeded',
  'health check cron': 'HealthCheck health/dns-resolution: Succeeded',
  // both PodCheckpoint examples, captured from the kubelet stand-in's node into the emulator's S3
  'pod checkpoint': 'CaptureComplete PodCheckpoint forensics-system/suspicious-pod',
  'pod checkpoint incident': 'CaptureComplete PodCheckpoint forensics-system/incident-4711-api-server',
  // lifecycle-manager: an instance of its seeded group terminated through the TERMINATING hook leaves gracefully
  'lifecycle hook': 'lifecycle-manager: instance i-\\w+ left gracefully',
  // minion-manager: its demo group switched to spot (cheap spot prices) and both instances replaced
  'spot savings':
    'minion-manager: status of minion-manager-demo: market=spot decision=spot spot=2 on-demand=0',
};

describe('npm run sandbox', () => {
  it('brings everything up, shows the examples reconciling, and tears it all down', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-sandbox-e2e-'));
    try {
      // Every tool's examples reaching their documented state; the sandbox exits 0 once all have shown.
      const { code, out } = await runSandbox(Object.values(SETTLED), stateDir);
      for (const [what, line] of Object.entries(SETTLED))
        expect([what, new RegExp(line).test(out)]).toEqual([what, true]);
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
  }, 720_000);
});
