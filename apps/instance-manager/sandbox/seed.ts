// `npm run sandbox`: creates in the AWS emulator what examples/instance-manager/* refer to (packages/testenv's
// node-tool fixtures: an EKS cluster my-eks-cluster, subnets and a node security group found by their Name
// tags, the node images as SSM parameters) and runs testenv's node simulator — the kubelet stand-in — for
// their groups, so those examples reach Ready. The talk's own example
// (examples/talk/instancegroup-hello-world.yaml) keeps its EXAMPLE ids, which exist nowhere: it reports an
// error naming them.
import {
  AsgNodeSimulator,
  emulatorClients,
  kubeConfigFromEnv,
  SANDBOX_CLUSTER,
  SANDBOX_IMAGE_PARAMETER,
  SANDBOX_KUBERNETES_VERSION,
  SANDBOX_SECURITY_GROUP,
  SANDBOX_SUBNETS,
  seedNodeToolFixtures,
} from '@keiko/testenv';
import { TAG_CLUSTER_NAME } from '../src/names';

export async function seed(log: (line: string) => void): Promise<void> {
  const clients = emulatorClients();
  const net = await seedNodeToolFixtures(clients);
  clients.destroy();
  log(
    `emulator: EKS cluster ${SANDBOX_CLUSTER} (${SANDBOX_KUBERNETES_VERSION}) in ${net.vpcId}; subnets ${SANDBOX_SUBNETS.map((s) => s.name).join(', ')}; ` +
      `security group ${SANDBOX_SECURITY_GROUP}; image ssm://${SANDBOX_IMAGE_PARAMETER}`,
  );
  await new AsgNodeSimulator({
    kubeConfig: kubeConfigFromEnv(),
    id: 'instance-manager-sandbox',
    groupTags: { [TAG_CLUSTER_NAME]: SANDBOX_CLUSTER },
    nodegroups: async () => [
      { cluster: SANDBOX_CLUSTER, name: `${SANDBOX_CLUSTER}-instance-manager-managed-workers` },
    ],
    pollIntervalMs: 2000,
    log,
  }).start();
  log("kubelet stand-in: registering a simulated node (KWOK) per InService instance of the examples' groups");
}
