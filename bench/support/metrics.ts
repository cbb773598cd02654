// The bundled upgrade-manager (apps/upgrade-manager/dist/main.js) as a child process for the upgrade
// benchmark, and a scrape of its /metrics for the AWS call count.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export function buildUpgradeManager(): string {
  const built = spawnSync('npm', ['run', 'build', '--silent', '-w', '@keiko/upgrade-manager'], {
    cwd: root,
    stdio: 'pipe',
    env: process.env,
  });
  if (built.status !== 0)
    throw new Error(`building upgrade-manager failed:\n${built.stdout}\n${built.stderr}`);
  return path.join(root, 'apps/upgrade-manager/dist/main.js');
}

export function startUpgradeManager(bundle: string, args: string[]): { proc: ChildProcess; log: string[] } {
  const log: string[] = [];
  const proc = spawn(process.execPath, [bundle, ...args], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean));
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  return { proc, log };
}

export async function stopUpgradeManager(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Sum of keiko_aws_api_calls_total over every label set. */
export async function awsCalls(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^keiko_aws_api_calls_total\{[^}]*\} (\d+(?:\.\d+)?)$/.exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}
