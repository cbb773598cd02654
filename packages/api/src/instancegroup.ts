// InstanceGroup (instancemgr.keikoproj.io/v1alpha1): a group of worker nodes backed by an AWS scaling
// group, EKS managed node group or Fargate profile. Field-compatible with keikoproj/instance-manager,
// including the eks-cf provisioner of its early releases that the Keiko talk's example uses.
import { parseBudget, type DisruptionBudget } from './budget';
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { defineKind, kindInfo } from './crd';
import {
  canonicalEnumValue,
  celRule,
  Conditions,
  DateTime,
  Int32,
  Int64,
  IntOrString,
  ObjectMetaSchema,
  StringEnum,
  StringEnumIgnoreCase,
  StringMap,
} from './schema';
import type { IntOrStringValue } from './schema';
import { applyDefaults, validateKind } from './validate';
import type { FieldProblem } from './validate';

export const PROVISIONERS = ['eks-cf', 'eks', 'eks-managed', 'eks-fargate'] as const;
export type Provisioner = (typeof PROVISIONERS)[number];
export const INSTANCE_GROUP_STRATEGIES = ['rollingUpdate', 'crd', 'managed'] as const;
export type InstanceGroupStrategyType = (typeof INSTANCE_GROUP_STRATEGIES)[number];
export const CONCURRENCY_POLICIES = ['Forbid', 'Allow', 'Replace'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

/** Values of status.currentState, as the original controller wrote them. */
export const ReconcileStates = [
  'Init',
  'InitDelete',
  'InitUpdate',
  'InitCreate',
  'InitUpgrade',
  'Deleting',
  'Deleted',
  'ReconcileModifying',
  'ReconcileModified',
  'Ready',
  'Error',
] as const;
export type ReconcileState = (typeof ReconcileStates)[number];

export const InstanceGroupConditionTypes = {
  NodesReady: 'NodesReady',
  SpecValid: 'SpecValid',
  Ready: 'Ready',
} as const;

const PERCENT_RULE = '^(100|[1-9][0-9]?)%$';

function sizeRule() {
  return celRule<{ minSize?: number; maxSize?: number }>(
    {
      rule: '!has(self.minSize) || !has(self.maxSize) || self.minSize <= self.maxSize',
      message: 'minSize must be less than or equal to maxSize',
      fieldPath: '.minSize',
    },
    (self) => self.minSize === undefined || self.maxSize === undefined || self.minSize <= self.maxSize,
  );
}

/** A launch configuration knows one instance type: mixed instances policies need a launch template. */
function launchConfigurationRule() {
  return celRule<{ type?: string; configuration?: { mixedInstancesPolicy?: unknown } }>(
    {
      rule: "!has(self.type) || self.type != 'LaunchConfiguration' || !has(self.configuration.mixedInstancesPolicy)",
      message:
        'type LaunchConfiguration cannot have configuration.mixedInstancesPolicy (mixed instances need a launch template): use type LaunchTemplate',
      fieldPath: '.type',
    },
    (self) => self.type !== 'LaunchConfiguration' || self.configuration?.mixedInstancesPolicy === undefined,
  );
}

const Tags = (what: string) =>
  Type.Array(StringMap(), {
    description: `Tags applied to the ${what}, each as {key: <k>, value: <v>}.`,
  });

// ---------------------------------------------------------------------------------------------------
// strategy
// ---------------------------------------------------------------------------------------------------

export const RollingUpdateStrategySchema = Type.Object(
  {
    maxUnavailable: Type.Optional(
      IntOrString({
        maxLength: 8,
        description:
          'Nodes that may be unavailable at once during a rotation (eks), nodes already unavailable included: a number (at least 1), or a percentage of the group\'s desired capacity such as "30%" (rounded down, at least 1). Defaults to 1.',
        'x-kubernetes-validations': [
          celRule<IntOrStringValue>(
            {
              rule: `type(self) == int ? self >= 0 : self.matches('${PERCENT_RULE}')`,
              message: 'maxUnavailable must be a non-negative number or a percentage from 1% to 100%',
            },
            (self) => (typeof self === 'number' ? self >= 0 : new RegExp(PERCENT_RULE).test(self)),
          ),
        ],
      }),
    ),
    maxBatchSize: Type.Optional(
      Type.Integer({ minimum: 0, description: 'eks-cf: instances replaced per CloudFormation batch.' }),
    ),
    minInstancesInService: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'eks-cf: instances that must stay in service during the update.',
      }),
    ),
    minSuccessfulInstancesPercent: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        description: 'eks-cf: percentage of instances that must signal success.',
      }),
    ),
    pauseTime: Type.Optional(
      Type.String({
        pattern: '^PT([0-9]+H)?([0-9]+M)?([0-9]+S)?$',
        description: 'eks-cf: ISO 8601 duration to pause after each batch, e.g. PT5M.',
      }),
    ),
    suspendProcesses: Type.Optional(
      Type.Array(Type.String(), { description: 'eks-cf: scaling processes suspended during the update.' }),
    ),
    waitOnResourceSignals: Type.Optional(
      Type.Boolean({ description: 'eks-cf: wait for instances to signal success.' }),
    ),
  },
  { description: 'Parameters of the rollingUpdate strategy.' },
);

export const CRDUpgradeStrategySchema = Type.Object(
  {
    spec: Type.String({
      minLength: 1,
      description:
        'The custom resource to submit for each upgrade, as a YAML template; Go-template fields of the InstanceGroup (e.g. {{ .InstanceGroup.Status.ActiveScalingGroupName }}) are substituted. A RollingUpgrade here composes instance-manager with upgrade-manager.',
    }),
    crdName: Type.String({
      minLength: 1,
      description: 'Plural name of the submitted resource, e.g. rollingupgrades or workflows.',
    }),
    concurrencyPolicy: Type.Optional(
      StringEnumIgnoreCase(CONCURRENCY_POLICIES, {
        default: 'Forbid',
        description:
          'Forbid waits for a running upgrade resource of the same scaling group to finish before submitting another; Replace deletes it (its controller stops it cleanly) and submits the new one; Allow does neither.',
      }),
    ),
    statusJSONPath: Type.String({
      minLength: 1,
      description: 'JSONPath of the field that tells success or failure, e.g. .status.currentStatus.',
    }),
    statusSuccessString: Type.String({
      minLength: 1,
      description: 'Value at statusJSONPath that means the upgrade succeeded.',
    }),
    statusFailureString: Type.String({
      minLength: 1,
      description: 'Value at statusJSONPath that means the upgrade failed.',
    }),
    maxRetries: Type.Optional(
      Type.Integer({
        minimum: -1,
        default: 3,
        description: 'Times a failed upgrade resource is recreated; -1 retries forever.',
      }),
    ),
  },
  { description: 'Parameters of the crd strategy: submit a custom resource and watch it for success.' },
);

const strategyTypeIs = (t: string) => `self.type.lowerAscii() == '${t}'`;

export const InstanceGroupStrategySchema = Type.Object(
  {
    type: StringEnumIgnoreCase(INSTANCE_GROUP_STRATEGIES, {
      default: 'rollingUpdate',
      description:
        'How nodes are replaced when the group changes: rollingUpdate, crd (submit a custom resource) or managed (EKS does it).',
    }),
    rollingUpdate: Type.Optional(RollingUpdateStrategySchema),
    crd: Type.Optional(CRDUpgradeStrategySchema),
  },
  {
    // The apiserver validates a default as it is, without nested defaults: it must carry type itself.
    default: { type: 'rollingUpdate' },
    description: 'AwsUpgradeStrategy: how the group is upgraded.',
    'x-kubernetes-validations': [
      celRule<{ type: string; crd?: unknown }>(
        {
          rule: `!(${strategyTypeIs('crd')}) || has(self.crd)`,
          message: 'strategy.crd is required when strategy.type is crd',
          fieldPath: '.crd',
        },
        (self) => self.type.toLowerCase() !== 'crd' || self.crd !== undefined,
      ),
    ],
  },
);

// ---------------------------------------------------------------------------------------------------
// eks
// ---------------------------------------------------------------------------------------------------

// Node labels and taints reach kubelet's command line (--node-labels, --register-with-taints) through user
// data, so their syntax is checked at apply time: a space or a comma in a value would otherwise add flags
// or labels of its own.
const LABEL_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const DNS_SUBDOMAIN = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*';
/** A Kubernetes label (or taint) key: an optional DNS-subdomain prefix and `/`, then a name of up to 63. */
export const LABEL_KEY_PATTERN = `^(${DNS_SUBDOMAIN}/)?${LABEL_NAME}$`;
/** A Kubernetes label (or taint) value: empty, or up to 63 alphanumerics with `-`, `_`, `.` inside. */
export const LABEL_VALUE_PATTERN = `^(${LABEL_NAME})?$`;
const labelKeyRe = new RegExp(LABEL_KEY_PATTERN);

function NodeLabels(description: string) {
  return Type.Record(Type.String(), Type.String({ maxLength: 63, pattern: LABEL_VALUE_PATTERN }), {
    description,
    maxProperties: 64,
    'x-kubernetes-validations': [
      celRule<Record<string, string>>(
        {
          rule: `self.all(k, size(k) <= 317 && k.matches('${LABEL_KEY_PATTERN.replace(/\\/g, '\\\\')}'))`,
          message:
            'label keys must be Kubernetes label keys: [prefix/]name, name up to 63 characters of [A-Za-z0-9-_.]',
        },
        (self) => Object.keys(self).every((k) => k.length <= 317 && labelKeyRe.test(k)),
      ),
    ],
  });
}

export const TaintSchema = Type.Object({
  key: Type.String({
    minLength: 1,
    maxLength: 317,
    pattern: LABEL_KEY_PATTERN,
    description: 'The taint key.',
  }),
  value: Type.Optional(
    Type.String({ maxLength: 63, pattern: LABEL_VALUE_PATTERN, description: 'The taint value.' }),
  ),
  effect: StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const, {
    description: 'What the taint does to pods that do not tolerate it.',
  }),
  timeAdded: Type.Optional(DateTime({ description: 'When the taint was added (NoExecute only).' })),
});

export const NodeVolumeSchema = Type.Object({
  name: Type.String({ minLength: 1, description: 'Device name, e.g. /dev/xvda.' }),
  type: StringEnum(['standard', 'io1', 'io2', 'gp2', 'gp3', 'st1', 'sc1'] as const, {
    description: 'EBS volume type.',
  }),
  size: Int64({ minimum: 0, description: 'Size in GiB.' }),
  snapshotId: Type.Optional(Type.String({ description: 'Snapshot to create the volume from.' })),
  iops: Type.Optional(Int64({ minimum: 0, description: 'Provisioned IOPS.' })),
  throughput: Type.Optional(Int64({ minimum: 0, description: 'Provisioned throughput in MiB/s (gp3).' })),
  deleteOnTermination: Type.Optional(
    Type.Boolean({ description: 'Delete the volume with the instance (AWS default true).' }),
  ),
  encrypted: Type.Optional(Type.Boolean({ description: 'Encrypt the volume.' })),
  mountOptions: Type.Optional(
    Type.Object(
      {
        fileSystem: Type.Optional(
          StringEnum(['xfs', 'ext4'] as const, { description: 'File system to format the volume with.' }),
        ),
        mount: Type.Optional(Type.String({ description: 'Path to mount the volume at.' })),
        persistance: Type.Optional(
          Type.Boolean({ description: 'Add the mount to /etc/fstab (spelled as in the original API).' }),
        ),
      },
      { description: 'Format and mount an additional volume from userdata.' },
    ),
  ),
});

export const EKSConfigurationSchema = Type.Object(
  {
    clusterName: Type.Optional(Type.String({ description: 'Name of the EKS cluster the nodes join.' })),
    keyPairName: Type.Optional(Type.String({ description: 'EC2 key pair for the instances.' })),
    image: Type.Optional(Type.String({ description: 'AMI ID (or SSM parameter) of the nodes.' })),
    instanceType: Type.Optional(Type.String({ description: 'EC2 instance type.' })),
    securityGroups: Type.Optional(
      Type.Array(Type.String(), { description: 'Security group IDs or Name tags.' }),
    ),
    subnets: Type.Optional(Type.Array(Type.String(), { description: 'Subnet IDs or Name tags.' })),
    volSize: Type.Optional(
      Int64({ minimum: 0, description: 'Root volume size in GiB (when volumes is not set).' }),
    ),
    volumes: Type.Optional(Type.Array(NodeVolumeSchema, { description: 'EBS volumes of each instance.' })),
    bootstrapArguments: Type.Optional(
      Type.String({ description: 'Extra flags passed to the EKS bootstrap script.' }),
    ),
    bootstrapOptions: Type.Optional(
      Type.Object({
        containerRuntime: Type.Optional(
          StringEnum(['dockerd', 'containerd'] as const, {
            description: 'Container runtime (Amazon Linux 2).',
          }),
        ),
        maxPods: Type.Optional(Int64({ minimum: 0, description: 'Maximum pods per node.' })),
      }),
    ),
    spotPrice: Type.Optional(
      Type.String({
        pattern: '^$|^[0-9]+(\\.[0-9]+)?$',
        description: 'Maximum spot price; empty for on-demand.',
      }),
    ),
    tags: Type.Optional(Tags('scaling group')),
    labels: Type.Optional(NodeLabels('Node labels added through bootstrap arguments.')),
    taints: Type.Optional(
      Type.Array(TaintSchema, { description: 'Node taints added through bootstrap arguments.' }),
    ),
    roleName: Type.Optional(
      Type.String({ description: 'Existing IAM role for the nodes; the controller creates one when empty.' }),
    ),
    instanceProfileName: Type.Optional(Type.String({ description: 'Instance profile of roleName.' })),
    managedPolicies: Type.Optional(
      Type.Array(Type.String(), { description: 'Managed policies attached to the node role.' }),
    ),
    metricsCollection: Type.Optional(
      Type.Array(Type.String(), { description: 'Scaling group metrics to enable, or All.' }),
    ),
    suspendProcesses: Type.Optional(
      Type.Array(Type.String(), { description: 'Scaling processes to suspend, or All.' }),
    ),
    userData: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.Optional(Type.String({ description: 'Name of the stage.' })),
          stage: StringEnum(['PreBootstrap', 'PostBootstrap'] as const, {
            description: 'When the script runs.',
          }),
          data: Type.String({ description: 'The script, plain or base64.' }),
        }),
        { description: 'Custom scripts added to the instance userdata.' },
      ),
    ),
    lifecycleHooks: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({ minLength: 1, description: 'Name of the hook.' }),
          lifecycle: StringEnumIgnoreCase(['launch', 'terminate'] as const, {
            description: 'The transition the hook is for.',
          }),
          defaultResult: Type.Optional(
            StringEnumIgnoreCase(['abandon', 'continue'] as const, {
              description: 'Result when the heartbeat times out.',
            }),
          ),
          heartbeatTimeout: Type.Optional(
            Int64({ minimum: 0, description: 'Seconds between required heartbeats.' }),
          ),
          notificationArn: Type.Optional(Type.String({ description: 'SNS topic or SQS queue notified.' })),
          roleArn: Type.Optional(Type.String({ description: 'Role allowed to publish to notificationArn.' })),
          metadata: Type.Optional(Type.String({ description: 'Extra data added to notifications.' })),
        }),
        { maxItems: 50, description: 'Lifecycle hooks created on the scaling group (AWS allows 50).' },
      ),
    ),
    mixedInstancesPolicy: Type.Optional(
      Type.Object(
        {
          strategy: Type.Optional(
            StringEnum(['CapacityOptimized', 'LowestPrice'] as const, {
              description: 'How spot pools are chosen.',
            }),
          ),
          spotPools: Type.Optional(Int64({ minimum: 0, description: 'Spot pools to use with LowestPrice.' })),
          baseCapacity: Type.Optional(
            Int64({ minimum: 0, description: 'On-demand instances always present.' }),
          ),
          spotRatio: Type.Optional(
            IntOrString({
              maxLength: 8,
              description: 'Share of spot instances above baseCapacity, as a number or a percentage.',
              'x-kubernetes-validations': [
                celRule<IntOrStringValue>(
                  {
                    rule: "type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",
                    message: 'spotRatio must be a non-negative number or a percentage from 0% to 100%',
                  },
                  (self) => (typeof self === 'number' ? self >= 0 : /^(100|[1-9]?[0-9])%$/.test(self)),
                ),
              ],
            }),
          ),
          instancePool: Type.Optional(
            StringEnumIgnoreCase(['SubFamilyFlexible'] as const, {
              description:
                'Derives the instance types from instanceType: SubFamilyFlexible = the same family and generation with the same vCPUs, memory and architectures. Ignored when instanceTypes is set.',
            }),
          ),
          instanceTypes: Type.Optional(
            Type.Array(
              Type.Object({
                type: Type.String({ minLength: 1, description: 'An EC2 instance type.' }),
                weight: Type.Optional(
                  Int64({ minimum: 1, description: 'Capacity units the type counts for.' }),
                ),
              }),
            ),
          ),
        },
        {
          description: 'Mixed instances policy (LaunchTemplate only).',
          'x-kubernetes-validations': [
            celRule<{ instancePool?: string; instanceTypes?: unknown[] }>(
              {
                rule: 'has(self.instancePool) || has(self.instanceTypes)',
                message: 'one of instancePool or instanceTypes is required',
              },
              (self) => self.instancePool !== undefined || self.instanceTypes !== undefined,
            ),
          ],
        },
      ),
    ),
    licenseSpecifications: Type.Optional(
      Type.Array(Type.String(), { description: 'License configuration ARNs (dedicated hosts).' }),
    ),
    placement: Type.Optional(
      Type.Object({
        availabilityZone: Type.Optional(Type.String()),
        hostResourceGroupArn: Type.Optional(Type.String()),
        tenancy: Type.Optional(StringEnum(['default', 'dedicated', 'host'] as const)),
      }),
    ),
    metadataOptions: Type.Optional(
      Type.Object({
        httpEndpoint: Type.Optional(StringEnum(['enabled', 'disabled'] as const)),
        httpPutHopLimit: Type.Optional(Int64({ minimum: 1, maximum: 64 })),
        httpTokens: Type.Optional(StringEnum(['optional', 'required'] as const)),
      }),
    ),
  },
  { description: 'EKSConfiguration: the launch configuration or template of the scaling group.' },
);

export const EKSSpecSchema = Type.Object(
  {
    maxSize: Type.Optional(Int64({ minimum: 0, description: 'Maximum instances.' })),
    minSize: Type.Optional(Int64({ minimum: 0, description: 'Minimum instances.' })),
    // No default: an unset type means a launch template.
    type: Type.Optional(
      StringEnum(['LaunchConfiguration', 'LaunchTemplate'] as const, {
        description:
          'What the scaling group launches from: LaunchTemplate when empty; LaunchConfiguration creates a real launch configuration, which AWS no longer offers to accounts created after 2024 — prefer LaunchTemplate.',
      }),
    ),
    warmPool: Type.Optional(
      Type.Object(
        {
          maxSize: Type.Optional(
            Int64({
              minimum: -1,
              description:
                'Instances allowed in the warm pool and the group together (MaxGroupPreparedCapacity); -1 or unset follows the group maximum.',
            }),
          ),
          minSize: Type.Optional(
            Int64({ minimum: 0, description: 'Instances always kept in the warm pool.' }),
          ),
        },
        {
          description:
            'A warm pool of pre-initialized, stopped instances the group draws on when it scales out. AWS refuses warm pools for groups with a mixed instances policy or a spot price.',
        },
      ),
    ),
    configuration: EKSConfigurationSchema,
  },
  {
    description: 'The eks provisioner: a scaling group of self-managed nodes.',
    'x-kubernetes-validations': [sizeRule(), launchConfigurationRule()],
  },
);

// ---------------------------------------------------------------------------------------------------
// eks-cf, eks-managed, eks-fargate
// ---------------------------------------------------------------------------------------------------

export const EKSCFConfigurationSchema = Type.Object(
  {
    clusterName: Type.Optional(Type.String({ description: 'Name of the EKS cluster the nodes join.' })),
    keyPairName: Type.Optional(Type.String({ description: 'EC2 key pair for the instances.' })),
    image: Type.Optional(Type.String({ description: 'AMI ID of the nodes.' })),
    instanceType: Type.Optional(Type.String({ description: 'EC2 instance type.' })),
    securityGroups: Type.Optional(Type.Array(Type.String(), { description: 'Security group IDs.' })),
    volSize: Type.Optional(Int32({ minimum: 0, description: 'Root volume size in GiB.' })),
    subnets: Type.Optional(Type.Array(Type.String(), { description: 'Subnet IDs.' })),
    bootstrapArguments: Type.Optional(
      Type.String({ description: 'Extra flags passed to the EKS bootstrap script.' }),
    ),
    spotPrice: Type.Optional(Type.String({ description: 'Maximum spot price; empty for on-demand.' })),
    tags: Type.Optional(Tags('stack and scaling group')),
    roleName: Type.Optional(Type.String({ description: 'Existing IAM role for the nodes.' })),
    instanceProfileName: Type.Optional(Type.String({ description: 'Instance profile of roleName.' })),
    managedPolicies: Type.Optional(
      Type.Array(Type.String(), { description: 'Managed policies attached to the node role.' }),
    ),
    metricsCollection: Type.Optional(
      Type.Array(Type.String(), { description: 'Scaling group metrics to enable.' }),
    ),
  },
  { description: 'EKSCFConfiguration: the CloudFormation node group parameters.' },
);

export const EKSCFSpecSchema = Type.Object(
  {
    maxSize: Type.Optional(Int32({ minimum: 0, description: 'Maximum instances.' })),
    minSize: Type.Optional(Int32({ minimum: 0, description: 'Minimum instances.' })),
    configuration: Type.Optional(EKSCFConfigurationSchema),
  },
  {
    description: 'The eks-cf provisioner: a CloudFormation-managed node group.',
    'x-kubernetes-validations': [sizeRule()],
  },
);

export const EKSManagedSpecSchema = Type.Object(
  {
    maxSize: Int64({ minimum: 0, description: 'Maximum instances.' }),
    minSize: Int64({ minimum: 0, description: 'Minimum instances.' }),
    configuration: Type.Object(
      {
        clusterName: Type.Optional(Type.String({ description: 'Name of the EKS cluster.' })),
        volSize: Type.Optional(Int64({ minimum: 0, description: 'Disk size in GiB.' })),
        instanceType: Type.Optional(Type.String({ description: 'EC2 instance type.' })),
        nodeLabels: Type.Optional(StringMap({ description: 'Labels of the nodes.' })),
        nodeRole: Type.Optional(Type.String({ description: 'IAM role ARN of the nodes.' })),
        securityGroups: Type.Optional(
          Type.Array(Type.String(), { description: 'Security groups allowed to reach the nodes over SSH.' }),
        ),
        keyPairName: Type.Optional(Type.String({ description: 'EC2 key pair for the instances.' })),
        tags: Type.Optional(Tags('node group')),
        subnets: Type.Optional(Type.Array(Type.String(), { description: 'Subnet IDs.' })),
        amiType: Type.Optional(Type.String({ description: 'EKS AMI type, e.g. AL2_x86_64.' })),
        releaseVersion: Type.Optional(Type.String({ description: 'AMI release version.' })),
        version: Type.Optional(Type.String({ description: 'Kubernetes version of the nodes.' })),
      },
      { description: 'EKSManagedConfiguration: the managed node group parameters.' },
    ),
  },
  {
    description: 'The eks-managed provisioner: an EKS managed node group.',
    'x-kubernetes-validations': [sizeRule()],
  },
);

export const EKSFargateSpecSchema = Type.Object(
  {
    clusterName: Type.String({ minLength: 1, description: 'Name of the EKS cluster.' }),
    fargateProfileName: Type.Optional(
      Type.String({ description: 'Name of the Fargate profile; the controller derives one when empty.' }),
    ),
    podExecutionRoleArn: Type.Optional(
      Type.String({ description: 'Pod execution role; the controller creates one when empty.' }),
    ),
    subnets: Type.Optional(Type.Array(Type.String(), { description: 'Private subnet IDs.' })),
    selectors: Type.Array(
      Type.Object({
        namespace: Type.String({ minLength: 1, description: 'Namespace whose pods run on Fargate.' }),
        labels: Type.Optional(StringMap({ description: 'Labels the pods must carry.' })),
      }),
      { minItems: 1, description: 'Which pods run on this profile.' },
    ),
    tags: Type.Optional(Tags('Fargate profile')),
  },
  { description: 'The eks-fargate provisioner: an EKS Fargate profile.' },
);

// ---------------------------------------------------------------------------------------------------
// InstanceGroup
// ---------------------------------------------------------------------------------------------------

function provisionerBlockRule(provisioner: Provisioner, celField: string) {
  return celRule<Record<string, unknown>>(
    {
      // A manifest may leave the provisioner to the cluster defaults (the managed ConfigMap), as upstream's
      // shortened GitOps InstanceGroups do.
      rule: `!has(self.provisioner) || self.provisioner != '${provisioner}' || has(self.${celField})`,
      message: `spec.${provisioner} is required when provisioner is ${provisioner}`,
      fieldPath: provisioner.includes('-') ? `['${provisioner}']` : `.${provisioner}`,
    },
    (self) => self.provisioner !== provisioner || self[provisioner] !== undefined,
  );
}

export const InstanceGroupSpecSchema = Type.Object(
  {
    provisioner: Type.Optional(
      StringEnum(PROVISIONERS, {
        description:
          'Which provisioner manages the group; its block (spec.eks, spec.eks-cf...) configures it. May come from the cluster defaults (the managed ConfigMap) instead; a group with neither reports an error naming this field.',
      }),
    ),
    'eks-cf': Type.Optional(EKSCFSpecSchema),
    eks: Type.Optional(EKSSpecSchema),
    'eks-managed': Type.Optional(EKSManagedSpecSchema),
    'eks-fargate': Type.Optional(EKSFargateSpecSchema),
    strategy: Type.Optional(InstanceGroupStrategySchema),
    rollingUpdate: Type.Optional({
      ...RollingUpdateStrategySchema,
      description:
        'Legacy place of strategy.rollingUpdate, used by the Keiko talk example. Accepted so such manifests apply unchanged; read only when strategy.rollingUpdate is absent.',
      'x-keiko-legacy': 'spec.strategy.rollingUpdate',
    }),
  },
  {
    description: 'InstanceGroupSpec defines the desired state of InstanceGroup.',
    'x-kubernetes-validations': [
      // CEL names a dashed field with __dash__.
      provisionerBlockRule('eks-cf', 'eks__dash__cf'),
      provisionerBlockRule('eks', 'eks'),
      provisionerBlockRule('eks-managed', 'eks__dash__managed'),
      provisionerBlockRule('eks-fargate', 'eks__dash__fargate'),
    ],
  },
);

export const InstanceGroupStatusSchema = Type.Object(
  {
    currentState: Type.Optional(
      Type.String({ description: 'Reconcile state: Init, InitCreate, ReconcileModifying, Ready, Error...' }),
    ),
    currentMin: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Minimum size currently set on the scaling group.' }),
    ),
    currentMax: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Maximum size currently set on the scaling group.' }),
    ),
    activeLaunchConfigurationName: Type.Optional(
      Type.String({ description: 'Launch configuration in use.' }),
    ),
    activeLaunchTemplateName: Type.Optional(Type.String({ description: 'Launch template in use.' })),
    latestTemplateVersion: Type.Optional(
      Type.String({ description: 'Latest version of the launch template.' }),
    ),
    activeScalingGroupName: Type.Optional(
      Type.String({ description: 'Name of the scaling group created for the group.' }),
    ),
    stackName: Type.Optional(Type.String({ description: 'CloudFormation stack (eks-cf).' })),
    nodesInstanceRoleArn: Type.Optional(Type.String({ description: 'IAM role of the nodes.' })),
    strategyResourceName: Type.Optional(
      Type.String({ description: 'Name of the resource submitted by the crd strategy.' }),
    ),
    strategyResourceNamespace: Type.Optional(
      Type.String({ description: 'Namespace of the resource submitted by the crd strategy.' }),
    ),
    strategyRetryCount: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Times the crd strategy resource has been retried.' }),
    ),
    usingSpotRecommendation: Type.Optional(
      Type.Boolean({ description: 'A spot price recommendation is in effect.' }),
    ),
    lifecycle: Type.Optional(Type.String({ description: 'normal or spot.' })),
    provisioner: Type.Optional(Type.String({ description: 'Provisioner the status was written for.' })),
    strategy: Type.Optional(Type.String({ description: 'Strategy type in effect.' })),
    configMD5: Type.Optional(Type.String({ description: 'Hash of the configuration last applied.' })),
    conditions: Type.Optional(Conditions()),
  },
  { description: 'InstanceGroupStatus defines the observed state of InstanceGroup.' },
);

export const InstanceGroupSchema = Type.Object(
  {
    apiVersion: Type.Literal('instancemgr.keikoproj.io/v1alpha1'),
    kind: Type.Literal('InstanceGroup'),
    metadata: ObjectMetaSchema,
    spec: InstanceGroupSpecSchema,
    status: Type.Optional(InstanceGroupStatusSchema),
  },
  {
    description:
      'InstanceGroup is a group of worker nodes managed as one: an auto scaling group, a managed node group or a Fargate profile.',
  },
);

export type InstanceGroup = Static<typeof InstanceGroupSchema>;
export type InstanceGroupSpec = Static<typeof InstanceGroupSpecSchema>;
/** A group whose provisioner is known, from its manifest or the cluster defaults: what a controller acts on. */
export type ProvisionedInstanceGroup = InstanceGroup & {
  spec: InstanceGroupSpec & { provisioner: Provisioner };
};

export function hasProvisioner(ig: InstanceGroup): ig is ProvisionedInstanceGroup {
  return ig.spec.provisioner !== undefined;
}
export type InstanceGroupStatus = Static<typeof InstanceGroupStatusSchema>;
export type InstanceGroupStrategy = Static<typeof InstanceGroupStrategySchema>;
export type RollingUpdateStrategy = Static<typeof RollingUpdateStrategySchema>;
export type CRDUpgradeStrategy = Static<typeof CRDUpgradeStrategySchema>;
export type EKSSpec = Static<typeof EKSSpecSchema>;
export type EKSConfiguration = Static<typeof EKSConfigurationSchema>;
export type EKSCFSpec = Static<typeof EKSCFSpecSchema>;
export type EKSManagedSpec = Static<typeof EKSManagedSpecSchema>;
export type EKSFargateSpec = Static<typeof EKSFargateSpecSchema>;
export type Taint = Static<typeof TaintSchema>;
export type NodeVolume = Static<typeof NodeVolumeSchema>;

export const InstanceGroupDefinition = defineKind({
  group: 'instancemgr.keikoproj.io',
  version: 'v1alpha1',
  kind: 'InstanceGroup',
  plural: 'instancegroups',
  singular: 'instancegroup',
  shortNames: ['ig'],
  namespaced: true,
  chart: 'instance-manager',
  description: InstanceGroupSchema.description ?? '',
  schema: InstanceGroupSchema,
  printerColumns: [
    {
      name: 'State',
      type: 'string',
      jsonPath: '.status.currentState',
      description: 'current state of the instancegroup',
    },
    {
      name: 'Min',
      type: 'integer',
      jsonPath: '.status.currentMin',
      description: 'currently set min instancegroup size',
    },
    {
      name: 'Max',
      type: 'integer',
      jsonPath: '.status.currentMax',
      description: 'currently set max instancegroup size',
    },
    {
      name: 'Group Name',
      type: 'string',
      jsonPath: '.status.activeScalingGroupName',
      description: 'scaling group created for the instancegroup',
    },
    {
      name: 'Provisioner',
      type: 'string',
      jsonPath: '.spec.provisioner',
      description: 'instance group provisioner',
    },
    {
      name: 'Strategy',
      type: 'string',
      jsonPath: '.spec.strategy.type',
      description: 'instance group upgrade strategy',
    },
    {
      name: 'Lifecycle',
      type: 'string',
      jsonPath: '.status.lifecycle',
      description: 'instance group lifecycle spot/normal',
    },
    {
      name: 'Age',
      type: 'date',
      jsonPath: '.metadata.creationTimestamp',
      description: 'time passed since instancegroup creation',
    },
  ],
});
export const InstanceGroupKind = kindInfo(InstanceGroupDefinition);

/** The InstanceGroup with every schema default applied (strategy rollingUpdate, crd.maxRetries 3...). */
export function withInstanceGroupDefaults(ig: unknown): InstanceGroup {
  return applyDefaults(InstanceGroupSchema, ig);
}

/** Schema problems plus the cross-field rules (minSize <= maxSize, provisioner block present...). */
export function validateInstanceGroup(ig: unknown): FieldProblem[] {
  return validateKind(InstanceGroupDefinition, ig);
}

/**
 * The group as controllers should read it: defaults applied, strategy type in canonical spelling and
 * the talk's spec.rollingUpdate moved to spec.strategy.rollingUpdate (unless that is set already).
 * The input is not modified.
 */
export function normalizeInstanceGroup(ig: InstanceGroup): InstanceGroup {
  const out = withInstanceGroupDefaults(ig);
  const strategy: InstanceGroupStrategy = out.spec.strategy ?? { type: 'rollingUpdate' };
  strategy.type = canonicalEnumValue(INSTANCE_GROUP_STRATEGIES, strategy.type) ?? strategy.type;
  if (strategy.crd?.concurrencyPolicy !== undefined) {
    strategy.crd.concurrencyPolicy =
      canonicalEnumValue(CONCURRENCY_POLICIES, strategy.crd.concurrencyPolicy) ??
      strategy.crd.concurrencyPolicy;
  }
  if (out.spec.rollingUpdate !== undefined && strategy.rollingUpdate === undefined)
    strategy.rollingUpdate = out.spec.rollingUpdate;
  delete out.spec.rollingUpdate;
  out.spec.strategy = strategy;
  return out;
}

/** The strategy type in canonical spelling, or undefined when it is not one Keiko knows. */
export function instanceGroupStrategyType(ig: InstanceGroup): InstanceGroupStrategyType | undefined {
  return canonicalEnumValue(INSTANCE_GROUP_STRATEGIES, ig.spec.strategy?.type ?? 'rollingUpdate');
}

/** The min/max sizes of whichever provisioner block is in use; Fargate profiles have none. */
export function instanceGroupSize(ig: InstanceGroup): {
  minSize: number | undefined;
  maxSize: number | undefined;
} {
  const spec = ig.spec;
  const block =
    spec.provisioner === 'eks'
      ? spec.eks
      : spec.provisioner === 'eks-cf'
        ? spec['eks-cf']
        : spec.provisioner === 'eks-managed'
          ? spec['eks-managed']
          : undefined;
  return { minSize: block?.minSize, maxSize: block?.maxSize };
}

/**
 * The rollingUpdate strategy's disruption budget: maxUnavailable as a number of nodes or a percentage of
 * the desired capacity (a bare "3" is 3 nodes), 1 when absent. 0 is refused when the group is applied
 * (the controller's validation names the field), never read as "nothing may move".
 */
export function resolveRollingUpdateBudget(spec: InstanceGroupSpec): DisruptionBudget {
  const value = spec.strategy?.rollingUpdate?.maxUnavailable;
  return parseBudget(value, 'spec.strategy.rollingUpdate.maxUnavailable', 'nodes') ?? { nodes: 1 };
}
