// The bundled controller (apps/upgrade-manager/dist/main.js) as its own process, as in its container.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../../..');
export const BUNDLE = path.join(root, 'apps/upgrade-manager/dist/main.js');

/** npm run build -w @keiko/upgrade-manager (tsup -> dist/main.js). */
export function buildBundle(): void {
  const built = spawnSync('npm', ['run', 'build', '--silent', '-w', '@keiko/upgrade-manager'], {
    cwd: root,
    stdio: 'pipe',
    env: process.env,
  });
  if (built.status !== 0)
    throw new Error(`building upgrade-manager failed:\n${built.stdout}\n${built.stderr}`);
}

export class ControllerProcess {
  private proc?: ChildProcess;
  readonly log: string[] = [];
  private exited?: Promise<number | null>;

  constructor(
    private readonly args: string[],
    private readonly env: Record<string, string | undefined>,
  ) {}

  start(): void {
    this.proc = spawn(process.execPath, [BUNDLE, ...this.args], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (d: Buffer) => this.log.push(...d.toString().split('\n').filter(Boolean));
    this.proc.stdout?.on('data', collect);
    this.proc.stderr?.on('data', collect);
    const proc = this.proc;
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  }

  /** kill -9: no shutdown, no lease release, nothing flushed. */
  async kill9(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<number | null> {
    if (!this.proc || this.proc.exitCode !== null) return this.proc?.exitCode ?? null;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code ?? null;
  }

  /** Log lines (JSON) whose msg matches. */
  lines(pattern: RegExp): string[] {
    return this.log.filter((l) => pattern.test(l));
  }
}
