// A Keiko controller as its container runs it: the app bundled by its own tsup build (dist/main.js) and
// started with plain node, optionally as the Helm chart's ServiceAccount (a kubeconfig impersonating it,
// the release namespace as POD_NAMESPACE, the chart's own flags). The one launcher the e2e suites and the
// benchmarks use.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths';

/** `npm run build -w apps/<app>` (tsup -> dist/main.js); returns the bundle's path. */
export function buildApp(app: string): string {
  const root = repoRoot(import.meta.dirname);
  const built = spawnSync('npm', ['run', 'build', '--silent', '-w', `apps/${app}`], {
    cwd: root,
    encoding: 'utf8',
    env: process.env,
  });
  if (built.status !== 0) throw new Error(`building ${app} failed:\n${built.stdout}\n${built.stderr}`);
  return path.join(root, 'apps', app, 'dist', 'main.js');
}

/**
 * Who the controller runs as. The chart's identity: a kubeconfig impersonating the chart's ServiceAccount,
 * the namespace the chart is released in (POD_NAMESPACE, as the Deployment's downward API sets it), and the
 * flags the chart's Deployment passes (its Lease, its ConfigMap names).
 */
export interface ControllerIdentity {
  kubeconfig: string;
  namespace: string;
  args?: string[];
}

export interface ControllerOptions {
  /** dist/main.js of the app (buildApp). */
  bundle: string;
  /** The controller's flags; they come after the identity's, so they can override them. */
  args: string[];
  /** Environment on top of this process's. */
  env?: Record<string, string | undefined>;
  identity?: ControllerIdentity;
  /** Where its output goes (default: kept in memory only). */
  logFile?: string;
}

export class ControllerProcess {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  private readonly lines_: string[] = [];

  constructor(private readonly opts: ControllerOptions) {}

  get proc(): ChildProcess {
    if (!this.child) throw new Error('the controller was not started');
    return this.child;
  }

  start(): this {
    const { identity } = this.opts;
    const args = [
      this.opts.bundle,
      ...(identity ? [`--kubeconfig=${identity.kubeconfig}`, ...(identity.args ?? [])] : []),
      ...this.opts.args,
    ];
    const env = {
      ...process.env,
      ...(identity ? { POD_NAMESPACE: identity.namespace } : {}),
      ...this.opts.env,
    };
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.opts.logFile) fs.mkdirSync(path.dirname(this.opts.logFile), { recursive: true });
    const file = this.opts.logFile ? fs.createWriteStream(this.opts.logFile) : undefined;
    const collect = (d: Buffer) => {
      file?.write(d);
      this.lines_.push(...d.toString().split('\n').filter(Boolean));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        file?.end();
        resolve(code);
      }),
    );
    this.child = child;
    return this;
  }

  /** Every line it printed so far. */
  get log(): string[] {
    return this.lines_;
  }

  /** Lines (JSON logs) matching. */
  lines(pattern: RegExp): string[] {
    return this.lines_.filter((l) => pattern.test(l));
  }

  /** kill -9: no shutdown, no lease release, nothing flushed. */
  async kill9(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code ?? null;
  }
}
