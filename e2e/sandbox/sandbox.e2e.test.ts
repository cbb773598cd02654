// The README's first command, run as a user runs it: `npm run sandbox` brings up the cluster, the CRDs,
// the controllers and the examples, and reports the example resources reconciling.
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

function runSandbox(until: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', 'sandbox', '--', '--until', until, '--timeout', '240'], {
      cwd: root,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('npm run sandbox', () => {
  it('installs every CRD, starts the controllers, applies the examples and shows them reconciling', async () => {
    const { code, out } = await runSandbox('greeting "Hello, platform team!"');
    expect(out).toMatch(
      /installed \d+ CRDs: Addon, InstanceGroup, RollingUpgrade, HealthCheck, PodCheckpoint/,
    );
    expect(out).toMatch(/hello-controller: started/);
    // the talk's three examples, applied as written
    expect(out).toContain('Addon addon-manager-system/cluster-autoscaler');
    expect(out).toContain('InstanceGroup instance-manager/hello-world');
    expect(out).toContain('RollingUpgrade instance-manager/my-rolling-upgrade');
    expect(out).toMatch(/ConfigMap default\/hello: greeting "Hello, platform team!"/);
    expect(code).toBe(0);
  }, 300_000);
});
