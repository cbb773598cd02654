// Runs a controller fixture as a process of its own, as it runs in its container.
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import path from 'node:path';

export interface Child {
  proc: ChildProcess;
  log: string[];
  exit: Promise<number | null>;
  /** Parsed JSON log lines whose message (`msg`) is `msg`. */
  lines(msg: string): Record<string, unknown>[];
}

export function startChild(fixture: string, args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.resolve(import.meta.dirname, '../fixtures', fixture), ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log: string[] = [];
  // Whole lines: a chunk of a pipe can end mid-line.
  for (const stream of [proc.stdout!, proc.stderr!])
    readline.createInterface({ input: stream }).on('line', (line) => log.push(line));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const lines = (msg: string) =>
    log
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return undefined;
        }
      })
      .filter((l): l is Record<string, unknown> => l?.msg === msg);
  return { proc, log, exit, lines };
}

/** The flags every fixture replica gets: short leader election timings, endpoints off. */
export function replicaFlags(ns: string, lease: string, identity: string): string[] {
  return [
    `--namespace=${ns}`,
    '--leader-elect=true',
    `--leader-election-namespace=${ns}`,
    `--leader-election-id=${lease}`,
    `--leader-election-identity=${identity}`,
    '--lease-duration=4',
    '--renew-deadline=3',
    '--retry-period=0.5',
    '--metrics-port=0',
    '--health-port=0',
  ];
}
