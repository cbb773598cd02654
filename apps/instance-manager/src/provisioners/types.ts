// What a provisioner is given and what it answers. The controller (instancegroup/controller.ts) owns the
// InstanceGroup object, its status and finalizer; a provisioner owns the cloud resources of one kind.
import type { FieldProblem, InstanceGroup, InstanceGroupStatus } from '@keiko/api';
import type {
  AutoScalingPort,
  CloudFormationPort,
  Ec2Port,
  EksPort,
  IamPort,
  ResolvedLaunchTemplateVersion,
  ScalingGroup,
  SsmPort,
} from '@keiko/aws';
import type { KubeClient, Logger } from '@keiko/kube-runtime';

export interface AwsPortsForGroups {
  autoScaling: AutoScalingPort;
  ec2: Ec2Port;
  cloudFormation: CloudFormationPort;
  iam: IamPort;
  eks: EksPort;
  ssm: SsmPort;
}

export type ReconcileState =
  | 'Init'
  | 'InitCreate'
  | 'InitUpdate'
  | 'InitUpgrade'
  | 'InitDelete'
  | 'ReconcileModifying'
  | 'ReconcileModified'
  | 'Ready'
  | 'Locked'
  | 'Deleting'
  | 'Deleted'
  | 'Error';

export interface GroupContext {
  /** The group as the controller reads it: managed defaults applied, normalized. */
  ig: InstanceGroup;
  namespace: string;
  name: string;
  /** `instance-manager/<namespace>/<name>`: marks nodes we cordon and aws-auth references. */
  owner: string;
  log: Logger;
  aws: AwsPortsForGroups;
  kube: KubeClient;
  dryRun: boolean;
  now: () => Date;
  /** Records the state about to be entered in .status before a mutation (resumability). */
  record(state: ReconcileState, message?: string): Promise<void>;
  /** Runs a cloud mutation, or in dry-run mode reports it instead. Returns undefined when skipped. */
  act<T>(operation: string, description: string, run: () => Promise<T>): Promise<T | undefined>;
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** The scaling group a provisioner made, for the upgrade stage (drift, rotation, node readiness). */
export interface Fleet {
  group: ScalingGroup;
  /** Resolutions of the group's symbolic launch template versions (for drift). */
  resolved: ResolvedLaunchTemplateVersion[];
  /** The launch template version new instances get (names crd strategy resources). */
  launchVersion: string;
}

export interface ProvisionOutcome {
  /** provisioned: the cloud resources match the spec; the upgrade stage may run. */
  phase: 'provisioning' | 'provisioned' | 'failed';
  state: ReconcileState;
  message: string;
  /** Status fields this provisioner knows (merged into .status). */
  status: Partial<InstanceGroupStatus>;
  /** Configuration errors: named fields that must change (missing subnets...). */
  problems?: FieldProblem[];
  /** CamelCase reason for a failure (StackCreateFailed, ...). */
  failureReason?: string;
  requeueAfterMs?: number;
  fleet?: Fleet;
  /** The node role to map in aws-auth. */
  roleArn?: string;
  /** Warnings about fields this controller does not act on. */
  warnings?: string[];
}

export interface DeleteOutcome {
  done: boolean;
  message: string;
  requeueAfterMs?: number;
  /** Set when deletion is stuck on something that needs a person (DELETE_FAILED...). */
  failure?: string;
}

export interface Provisioner {
  reconcile(ctx: GroupContext): Promise<ProvisionOutcome>;
  delete(ctx: GroupContext): Promise<DeleteOutcome>;
}
