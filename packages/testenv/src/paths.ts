import fs from 'node:fs';
import path from 'node:path';

/** The repository root: the nearest ancestor holding nx.json. */
export function repoRoot(from: string = process.cwd()): string {
  let dir = path.resolve(from);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'nx.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no nx.json above ${from}: run this inside the Keiko repository`);
    dir = parent;
  }
}

/** Where a running test cluster is described for everything else: kubeconfig, env, state, logs. */
export function stateDir(root: string = repoRoot()): string {
  return process.env.KEIKO_TESTENV_DIR ?? path.join(root, '.testenv');
}
