// addonctl-style view of the cluster's addons: `tsx apps/addon-manager/src/cli.ts addons [-n ns]`
// prints every Addon under the addons it depends on, with package, version, status and reason.
import { parseArgs } from 'node:util';
import { AddonKind, type Addon } from '@keiko/api';
import { KubeClient, loadKubeConfig } from '@keiko/kube-runtime';
import { addonNode } from './addon/dependencies';
import { addonTree, formatTree } from './addon/tree';

const USAGE = `usage: addon-manager addons [-n <namespace>] [--kubeconfig <path>] [--wide]

  addons    every Addon as a dependency tree: dependents under the addons they need,
            with PACKAGE, VERSION, STATUS (status.lifecycle.installed) and REASON`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      wide: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals[0] !== 'addons') {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const client = new KubeClient(loadKubeConfig(values.kubeconfig));
  const list = await client.listAll<Addon>(AddonKind, { namespace: values.namespace });
  if (list.items.length === 0) {
    console.log(values.namespace ? `no addons in namespace ${values.namespace}` : 'no addons in the cluster');
    return 0;
  }
  const rows = addonTree(list.items.map((a) => ({ ...addonNode(a), reason: a.status?.reason })));
  console.log(formatTree(rows, values.wide ? 10_000 : 80));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`addon-manager: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
