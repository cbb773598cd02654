// Example manifests and complete status objects shared by the unit and cluster tests.
import fs from 'node:fs';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import type { AddonStatus } from '../src/addon';
import type { HealthCheckStatus } from '../src/healthcheck';
import type { InstanceGroupStatus } from '../src/instancegroup';
import type { PodCheckpointStatus } from '../src/podcheckpoint';
import type { RollingUpgradeStatus } from '../src/rollingupgrade';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..');
export const examplesDir = path.join(repoRoot, 'examples');

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
};

export interface ExampleFile {
  /** Relative to examples/ */
  file: string;
  objects: Manifest[];
}

function yamlFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? yamlFiles(path.join(dir, e.name))
        : e.name.endsWith('.yaml')
          ? [path.join(dir, e.name)]
          : [],
    )
    .sort();
}

export function exampleFiles(): ExampleFile[] {
  return yamlFiles(examplesDir).map((file) => ({
    file: path.relative(examplesDir, file),
    objects: loadAll(fs.readFileSync(file, 'utf8')).filter(
      (d): d is Manifest => typeof d === 'object' && d !== null,
    ),
  }));
}

export function example(file: string): Manifest {
  const found = exampleFiles().find((e) => e.file === file);
  if (!found || found.objects.length !== 1) throw new Error(`no single-object example ${file}`);
  return structuredClone(found.objects[0] as Manifest);
}

const T1 = '2024-05-01T10:00:00Z';
const T2 = '2024-05-01T10:05:30Z';

/** A status with every field set, per kind: the round-trip test proves none of them is dropped. */
export const fullStatus = {
  Addon: {
    checksum: 'a1b2c3d4',
    lifecycle: { prereqs: 'Succeeded', installed: 'Running' },
    resources: [
      {
        link: '/apis/apps/v1/namespaces/x/deployments/y',
        name: 'y',
        kind: 'Deployment',
        group: 'apps',
        status: 'InProgress',
      },
    ],
    reason: 'install workflow running',
    starttime: 1714557600000,
    conditions: [
      {
        type: 'Installed',
        status: 'False',
        observedGeneration: 1,
        lastTransitionTime: T1,
        reason: 'Installing',
        message: 'workflow running',
      },
    ],
  } satisfies AddonStatus,
  InstanceGroup: {
    currentState: 'ReconcileModifying',
    currentMin: 3,
    currentMax: 6,
    activeLaunchConfigurationName: 'hello-world-lc-1',
    activeLaunchTemplateName: 'hello-world-lt',
    latestTemplateVersion: '4',
    activeScalingGroupName: 'my-cluster-instance-manager-hello-world',
    stackName: 'my-cluster-instance-manager-hello-world',
    nodesInstanceRoleArn: 'arn:aws:iam::123456789012:role/nodes',
    strategyResourceName: 'hello-world-abc12',
    strategyResourceNamespace: 'instance-manager',
    strategyRetryCount: 1,
    usingSpotRecommendation: false,
    lifecycle: 'normal',
    provisioner: 'eks-cf',
    strategy: 'rollingUpdate',
    configMD5: 'd41d8cd98f00b204e9800998ecf8427e',
    conditions: [
      { type: 'NodesReady', status: 'True' },
      {
        type: 'SpecValid',
        status: 'True',
        observedGeneration: 1,
        lastTransitionTime: T1,
        reason: 'Valid',
        message: 'spec passed validation',
      },
    ],
  } satisfies InstanceGroupStatus,
  RollingUpgrade: {
    currentStatus: 'running',
    startTime: T1,
    endTime: T2,
    totalProcessingTime: '5m30s',
    nodesProcessed: 2,
    totalNodes: 5,
    completePercentage: '40%',
    conditions: [
      {
        type: 'Complete',
        status: 'False',
        observedGeneration: 1,
        lastTransitionTime: T1,
        reason: 'InProgress',
        message: '2 of 5 nodes',
      },
    ],
    lastTerminationTime: T2,
    lastDrainTime: T2,
    statistics: [
      { stepName: 'drain', durationSum: '1m20s', durationCount: 2 },
      { stepName: 'total', durationSum: '5m0s', durationCount: 2 },
    ],
    lastBatchNodes: ['ip-10-0-1-5.ec2.internal'],
    inProcessingNodes: {
      'ip-10-0-1-5.ec2.internal': {
        nodeName: 'ip-10-0-1-5.ec2.internal',
        instanceID: 'i-0123456789abcdef0',
        stepName: 'terminate',
        upgradeStartTime: T1,
        stepStartTime: T2,
        stepEndTime: T2,
      },
    },
    nodeInProcessing: {
      'ip-10-0-1-6.ec2.internal': {
        nodeName: 'ip-10-0-1-6.ec2.internal',
        stepName: 'kickoff',
        upgradeStartTime: T1,
        stepStartTime: T1,
      },
    },
  } satisfies RollingUpgradeStatus,
  HealthCheck: {
    status: 'Failed',
    errorMessage: 'workflow failed',
    startedAt: T1,
    finishedAt: T2,
    lastFailedAt: T2,
    lastFailedWorkflow: 'inline-hello-abc12',
    lastSuccessfulWorkflow: 'inline-hello-xyz98',
    successCount: 10,
    failedCount: 1,
    totalHealthCheckRuns: 11,
    remedyStatus: 'Succeeded',
    remedyErrorMessage: '',
    remedyTriggeredAt: T2,
    remedyFinishedAt: T2,
    remedyLastFailedAt: T1,
    remedySuccessCount: 1,
    remedyFailedCount: 0,
    remedyTotalRuns: 1,
    nextRunAt: T2,
    currentWorkflow: 'inline-hello-1765060800',
    currentSlot: T2,
    currentRemedyWorkflow: 'remedy-hello-1765060800',
    lastSlot: T2,
    missedRuns: 2,
    lastMissedAt: T1,
    paused: false,
    conditions: [
      {
        type: 'Healthy',
        status: 'False',
        observedGeneration: 1,
        lastTransitionTime: T2,
        reason: 'WorkflowFailed',
        message: 'workflow failed',
      },
    ],
  } satisfies HealthCheckStatus,
  PodCheckpoint: {
    conditions: [
      {
        type: 'Complete',
        status: 'True',
        lastProbeTime: T2,
        lastTransitionTime: T2,
        reason: 'Uploaded',
        message: 'checkpoint uploaded',
        observedGeneration: 1,
      },
    ],
    startTime: T1,
    completionTime: T2,
    active: 0,
    succeeded: 1,
    failed: 0,
  } satisfies PodCheckpointStatus,
};
