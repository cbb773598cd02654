export { startTestEnv, stopTestEnv, testEnvStatus, restartApiserver, AWS_REGION } from './testenv';
export type { TestEnv, TestEnvInfo, StartOptions } from './testenv';
export {
  createSimulatedNode,
  simulatedNodeManifest,
  waitForNodeReady,
  isNodeReady,
  registeredTaints,
} from './nodes';
export type { SimulatedNode } from './nodes';
export { applyManifests, installChartCrds, kubectl, parseManifests, waitForCrdEstablished } from './apply';
export { installTools, toolPaths, VERSIONS } from './tools';
export { repoRoot, stateDir } from './paths';
export { kubeConfigFromEnv } from './kubeconfig';
export { TcpProxy } from './proxy';
export { ApiFaultProxy } from './fault-proxy';
export type {
  ApiFaultProxyOptions,
  ApiFaultProxyStats,
  FailShareOptions,
  FaultStatus,
  ForwardedRequest,
} from './fault-proxy';
export { compactEtcd } from './etcd';
export { freePort } from './process';
export { seedDemoCluster, demoWorkload } from './demo';
export {
  AsgNodeSimulator,
  ASG_NODE_LABEL,
  INSTANCE_ANNOTATION,
  SIMULATOR_LABEL,
  instanceRuns,
  type AsgNodeSimulatorOptions,
  type ManagedNodegroup,
} from './asg-nodes';
export { kubeletRegistration, type KubeletRegistration, type RegisteredTaint } from './kubelet-registration';
export { eventually } from './eventually';
export {
  ARGO_NAMESPACE,
  ARGO_NODE,
  ArgoWorkflows,
  EXIT_CODE_ANNOTATION,
  MESSAGE_ANNOTATION,
  grantWorkflowServiceAccount,
  requireArgo,
  startArgo,
  type ArgoInfo,
  type ArgoOptions,
} from './argo';
export {
  emulatorClients,
  seedCluster,
  seedImage,
  seedNetwork,
  seedNodeToolFixtures,
  SANDBOX_BOTTLEROCKET_IMAGE_PARAMETER,
  SANDBOX_CLUSTER,
  SANDBOX_IMAGE_ID,
  SANDBOX_IMAGE_PARAMETER,
  SANDBOX_KUBERNETES_VERSION,
  SANDBOX_SECURITY_GROUP,
  SANDBOX_SUBNETS,
  SANDBOX_VPC_NAME,
  SANDBOX_WINDOWS_IMAGE_ID,
  SANDBOX_WINDOWS_IMAGE_PARAMETER,
  type SeedClients,
} from './aws-fixtures';
export { createNamespace, deleteNamespace, uniqueName } from './namespaces';
export { startArgoInstance, type ArgoInstance } from './argo-instance';
export { startHttpsServer, type HttpsDocumentServer } from './https-server';
export { AsgScenario, ROLLING_UPGRADE, type ScenarioGroup, type WorkloadOptions } from './scenario';
export { emulatorConfig } from './aws-fixtures';
export {
  EC2_EVENTS_PATTERN,
  emitEc2Event,
  routeEc2EventsToQueue,
  type Ec2EventAnswer,
  type Ec2EventRequest,
} from './ec2-events';
export { buildApp, ControllerProcess, type ControllerIdentity, type ControllerOptions } from './controller';
export { startToolScenario, type ToolScenario, type ToolScenarioOptions } from './tool-scenario';
export {
  addonPhase,
  eventsOf,
  resourceWorkflow,
  testAddon,
  type AddonStep,
  type TestAddon,
  type TestAddonOptions,
} from './addons';
export {
  KubeletStandIn,
  KUBELET_CHECKPOINTS_DIR,
  RESTART_COUNT_ANNOTATION,
  STAND_IN_NODE_PREFIX,
  kubeletAttributes,
  parseKubeletPath,
  writeTar,
  type CheckpointSupport,
  type KubeletStandInOptions,
} from './kubelet-standin';
export { CollectorStandIn, containerRun, type CollectorStandInOptions } from './collector-standin';
export { testEnvPki } from './standins';
export {
  ForensicsWorld,
  COLLECTOR_IMAGE,
  emulatorS3,
  splitLocation,
  type Manifest as ForensicsManifest,
} from './forensics';
export {
  setSpotPrices,
  setOnDemandPrices,
  injectCapacityFailure,
  clearCapacityFailure,
  type Market,
  type SpotPriceSetting,
  type CapacityFailure,
} from './aws-market';
export {
  AwsFaults,
  DEFAULT_AWS_FAULTS,
  type AwsCallRecord,
  type AwsFaultRule,
  type AwsFaultSummary,
} from './aws-faults';
