// npm run testenv -- install|up|down|status
import { Command } from 'commander';
import { demoWorkload, seedDemoCluster } from './demo';
import { kubeConfigFromEnv } from './kubeconfig';
import { stateDir } from './paths';
import { startTestEnv, stopTestEnv, testEnvStatus, type TestEnvInfo } from './testenv';
import { installTools, toolPaths, VERSIONS } from './tools';

const program = new Command('testenv').description(
  'the Keiko test cluster: control plane, simulated nodes, AWS emulator',
);

program
  .command('install')
  .description('build or find every component (cached by version; slow only the first time)')
  .action(() => {
    installTools();
    const paths = toolPaths();
    const argo =
      process.env.KEIKO_ARGO === 'false' ? 'argo: left out (KEIKO_ARGO=false)' : `argo ${VERSIONS.argo}`;
    console.log(
      `testenv components ready: kubernetes ${VERSIONS.kubernetes}, etcd ${VERSIONS.etcd}, kwok ${VERSIONS.kwok}, helm ${VERSIONS.helm}, ${argo}`,
    );
    console.log(`  kubectl: ${paths.kubectl}`);
  });

program
  .command('up')
  .description('start the test cluster and leave it running (reuses a running one)')
  .option('--nodes <n>', 'simulated nodes to register', '3')
  .option('--no-demo', 'do not start the demo workload')
  .action(async (opts: { nodes: string; demo: boolean }) => {
    const env = await startTestEnv({ verbose: true });
    const kc = kubeConfigFromEnv();
    await seedDemoCluster(kc, Number(opts.nodes));
    if (opts.demo) await demoWorkload(kc);
    printInfo(env);
  });

program
  .command('down')
  .description('stop every process of the test cluster and delete its data')
  .action(async () => {
    await stopTestEnv();
    console.log('test cluster stopped');
  });

program
  .command('status')
  .description('say whether a test cluster is running, and where')
  .action(async () => {
    const info = await testEnvStatus();
    if (!info) {
      console.log('no test cluster is running (start one with `npm run testenv -- up`)');
      process.exitCode = 1;
      return;
    }
    printInfo(info);
  });

function printInfo(info: TestEnvInfo) {
  const dir = stateDir();
  console.log(`kubernetes ${info.kubernetesVersion} at ${info.server}`);
  if (info.argo)
    console.log(`argo workflow-controller ${info.argo.version} running (namespace ${info.argo.namespace})`);
  else console.log('argo workflow-controller: not running');
  console.log(`AWS emulator at ${info.awsEndpoint}`);
  console.log(`use it:  export KUBECONFIG=${dir}/kubeconfig   (or: . ${dir}/env)`);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`testenv: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
