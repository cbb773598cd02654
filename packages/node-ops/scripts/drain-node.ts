// A kubectl-drain-like command over @keiko/node-ops, the runnable example of the package README.
//   node_modules/.bin/tsx packages/node-ops/scripts/drain-node.ts NODE [--plan] [--force]
//     [--delete-emptydir-data] [--no-ignore-daemonsets] [--timeout-seconds N] [--grace-period N]
//     [--uncordon]
// Uses $KUBECONFIG (or ~/.kube/config). --plan only lists what a drain would do; --uncordon undoes
// a cordon this script made.
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { createLogger, KubeClient } from '@keiko/kube-runtime';
import { DrainError, drainNode, listPodsOnNode, planDrain, uncordonNode } from '../src/index';

const CORDONED_BY = 'node-ops/drain-node-script';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    plan: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    'delete-emptydir-data': { type: 'boolean', default: false },
    'no-ignore-daemonsets': { type: 'boolean', default: false },
    'timeout-seconds': { type: 'string', default: '300' },
    'grace-period': { type: 'string' },
    uncordon: { type: 'boolean', default: false },
  },
});
const nodeName = positionals[0];
if (!nodeName) {
  console.error(
    'usage: drain-node.ts NODE [--plan] [--force] [--delete-emptydir-data] [--no-ignore-daemonsets] [--timeout-seconds N] [--grace-period N] [--uncordon]',
  );
  process.exit(2);
}

const kubeConfig = new k8s.KubeConfig();
kubeConfig.loadFromDefault();
const client = new KubeClient(kubeConfig);
const policy = {
  force: values.force,
  deleteEmptyDirData: values['delete-emptydir-data'],
  ignoreDaemonSets: !values['no-ignore-daemonsets'],
};

if (values.uncordon) {
  const { changed } = await uncordonNode(client, nodeName, { onlyIfCordonedBy: CORDONED_BY });
  console.log(
    changed
      ? `node ${nodeName} uncordoned`
      : `node ${nodeName} left as it is (not cordoned by ${CORDONED_BY})`,
  );
} else if (values.plan) {
  const plan = planDrain(await listPodsOnNode(client, nodeName), nodeName, policy);
  for (const pod of plan.evict) console.log(`evict   ${pod.metadata?.namespace}/${pod.metadata?.name}`);
  for (const s of plan.skipped) console.log(`skip    ${s.pod}: ${s.reason}`);
  for (const r of plan.refused) console.log(`REFUSE  ${r.reason}`);
  for (const w of plan.warnings) console.log(`warning ${w}`);
} else {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  try {
    const result = await drainNode(client, nodeName, {
      ...policy,
      timeoutMs: Number(values['timeout-seconds']) * 1000,
      gracePeriodSeconds: values['grace-period'] === undefined ? undefined : Number(values['grace-period']),
      cordonedBy: CORDONED_BY,
      signal: controller.signal,
      logger: createLogger({ format: 'text' }),
    });
    console.log(
      `node ${nodeName} drained: evicted ${result.evicted.length}, skipped ${result.skipped.length}`,
    );
  } catch (err) {
    console.error(err instanceof DrainError ? err.message : String(err));
    process.exit(1);
  }
}
