// npm run keiko -- <command>: the tools' command-line views, against $KUBECONFIG (or the sandbox's).
//   addons    every Addon as a dependency tree with its state (apps/addon-manager/src/cli.ts)
//   healthchecks  every HealthCheck's last and next run (apps/active-monitor/src/cli.ts)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const commands: Record<string, string> = {
  addons: 'apps/addon-manager/src/cli.ts',
  healthchecks: 'apps/active-monitor/src/cli.ts',
};
const [command, ...rest] = process.argv.slice(2);
const cli = command ? commands[command] : undefined;
if (!cli) {
  console.error(`usage: npm run keiko -- <command> [options]\ncommands: ${Object.keys(commands).join(', ')}`);
  process.exit(2);
}
const sandboxKubeconfig = path.join(root, '.sandbox', 'kubeconfig');
const env = { ...process.env };
if (!env.KUBECONFIG && fs.existsSync(sandboxKubeconfig)) env.KUBECONFIG = sandboxKubeconfig;
const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, cli), command!, ...rest], {
  stdio: 'inherit',
  env,
});
process.exit(run.status ?? 1);
