// `tsx apps/active-monitor/src/cli.ts healthchecks [-n ns]` (or `npm run keiko -- healthchecks`): every
// HealthCheck with its schedule, status, last and next run, the run in flight and the counters.
import { parseArgs } from 'node:util';
import { HealthCheckKind, type HealthCheck } from '@keiko/api';
import { KubeClient, loadKubeConfig } from '@keiko/kube-runtime';
import { formatTable, healthCheckRows } from './healthcheck/table';

const USAGE = `usage: active-monitor healthchecks [-n <namespace>] [--kubeconfig <path>] [--wide]

  healthchecks   every HealthCheck: SCHEDULE, STATUS, LAST RUN, NEXT RUN, the RUNNING workflow,
                 OK/FAIL counts, the REMEDY status and the latest error MESSAGE`;

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
  if (values.help || positionals[0] !== 'healthchecks') {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const client = new KubeClient(loadKubeConfig(values.kubeconfig));
  const list = await client.listAll<HealthCheck>(HealthCheckKind, { namespace: values.namespace });
  if (list.items.length === 0) {
    console.log(
      values.namespace
        ? `no health checks in namespace ${values.namespace}`
        : 'no health checks in the cluster',
    );
    return 0;
  }
  console.log(formatTable(healthCheckRows(list.items, new Date()), values.wide ? 10_000 : 160));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`active-monitor: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
