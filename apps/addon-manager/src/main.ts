// addon-manager: the Addon controller (addonmgr.keikoproj.io/v1alpha1) — each addon's prereqs, install,
// validate and delete run as Argo Workflows, in dependency order.
import { flagValue, Manager, parseManagerConfig } from '@keiko/kube-runtime';
import { registerAddonController } from './addon/controller';

const seconds = flagValue.seconds;

const { config, extra } = parseManagerConfig('addon-manager', process.argv, (cmd) => {
  cmd
    .option(
      '--delete-retry-interval <s>',
      'how long a failed delete workflow shows Delete Failed before it runs again, seconds',
      seconds('--delete-retry-interval'),
      60_000,
    )
    .option(
      '--workflow-crd-poll <s>',
      'how often to look for the Argo Workflow CRD while it is missing, seconds',
      seconds('--workflow-crd-poll'),
      30_000,
    );
});
const mgr = new Manager('addon-manager', config);
registerAddonController(mgr, {
  deleteRetryMs: extra.deleteRetryInterval as number,
  crdPollMs: extra.workflowCrdPoll as number,
});
await mgr.start();
