// charts/instance-manager/iam-policy.json — the AWS permissions of instance-manager's role — against what
// the code calls. The actions are derived from source (support/aws-actions.ts): every port method of
// packages/aws that apps/instance-manager/src calls, down to the SDK commands it sends. A new call fails
// this test until the policy has the action; an action the policy has that nothing needs fails it too,
// unless it is one AWS requires without an API call of its own (listed below, each with the reason).
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { readSources, requiredActions, SDK_SERVICE_PREFIX, type SourceFile } from './support/aws-actions';
import { chartsDir } from './support/charts';

const repoRoot = path.resolve(chartsDir, '..');
const POLICY = path.join(chartsDir, 'instance-manager', 'iam-policy.json');
const EKS_CF_TEMPLATE = 'apps/instance-manager/src/provisioners/eks-cf/template.ts';

/** Actions AWS authorizes on the caller without an API call of their own in the code. */
const IMPLICIT: Readonly<Record<string, string>> = {
  'iam:PassRole':
    'the node role reaches AWS inside other calls: the instance profile of a launch template used by Create/UpdateAutoScalingGroup, nodeRole of CreateNodegroup, podExecutionRoleArn of CreateFargateProfile',
  'ec2:RunInstances':
    'CreateAutoScalingGroup/UpdateAutoScalingGroup with a launch template: Auto Scaling checks that the caller may launch from it',
  'ec2:CreateTags': 'CreateLaunchTemplate with TagSpecifications (tag on create)',
  'eks:TagResource': 'CreateNodegroup/CreateFargateProfile with tags (tag on create)',
  'iam:CreateServiceLinkedRole':
    "the first Auto Scaling group, managed node group or Fargate profile of an account creates the service's linked role (conditioned on iam:AWSServiceName)",
};

/**
 * The eks-cf provisioner's stack: CloudFormation creates, updates and deletes its resources with the
 * caller's permissions (no stack service role), so the policy needs what each resource type's handler
 * calls for the properties the template uses — the stack's tags included, which CloudFormation
 * propagates to every resource.
 */
const CFN_RESOURCE_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  'AWS::IAM::Role': [
    'iam:CreateRole',
    'iam:GetRole',
    'iam:DeleteRole',
    'iam:AttachRolePolicy',
    'iam:DetachRolePolicy',
    'iam:ListAttachedRolePolicies',
    'iam:ListRolePolicies',
    'iam:TagRole',
    'iam:UntagRole',
  ],
  'AWS::IAM::InstanceProfile': [
    'iam:CreateInstanceProfile',
    'iam:GetInstanceProfile',
    'iam:DeleteInstanceProfile',
    'iam:AddRoleToInstanceProfile',
    'iam:RemoveRoleFromInstanceProfile',
    'iam:TagInstanceProfile',
    'iam:UntagInstanceProfile',
    'iam:PassRole',
  ],
  'AWS::EC2::LaunchTemplate': [
    'ec2:CreateLaunchTemplate',
    'ec2:CreateLaunchTemplateVersion',
    'ec2:ModifyLaunchTemplate',
    'ec2:DescribeLaunchTemplates',
    'ec2:DescribeLaunchTemplateVersions',
    'ec2:DeleteLaunchTemplate',
    'ec2:CreateTags',
    'ec2:DeleteTags',
    'iam:PassRole',
  ],
  'AWS::AutoScaling::AutoScalingGroup': [
    'autoscaling:CreateAutoScalingGroup',
    'autoscaling:UpdateAutoScalingGroup',
    'autoscaling:DeleteAutoScalingGroup',
    'autoscaling:DescribeAutoScalingGroups',
    'autoscaling:DescribeScalingActivities',
    'autoscaling:CreateOrUpdateTags',
    'autoscaling:DeleteTags',
    'autoscaling:EnableMetricsCollection',
    'autoscaling:DisableMetricsCollection',
    'ec2:RunInstances',
    'ec2:DescribeLaunchTemplateVersions',
    'iam:PassRole',
    'iam:CreateServiceLinkedRole',
  ],
};

/** The services instance-manager talks to. */
const SERVICES = ['autoscaling', 'cloudformation', 'ec2', 'eks', 'iam', 'ssm'];

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string[] | string;
  Resource: string[] | string;
  Condition?: Record<string, Record<string, string | string[]>>;
  NotAction?: unknown;
  NotResource?: unknown;
}

const policy = JSON.parse(fs.readFileSync(POLICY, 'utf8')) as { Version: string; Statement: Statement[] };
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const allowed = new Set(policy.Statement.flatMap(actionsOf));
const derived = requiredActions(
  readSources(repoRoot, 'packages/aws/src'),
  readSources(repoRoot, 'apps/instance-manager/src'),
);
const templateResourceTypes = [
  ...new Set(
    [
      ...fs.readFileSync(path.join(repoRoot, EKS_CF_TEMPLATE), 'utf8').matchAll(/Type:\s*'(AWS::\w+::\w+)'/g),
    ].map((m) => m[1]!),
  ),
].sort();

describe('instance-manager IAM policy (charts/instance-manager/iam-policy.json)', () => {
  it('is an IAM policy document: Allow statements of exact actions of the services the controller uses', () => {
    expect(policy.Version).toBe('2012-10-17');
    const problems: string[] = [];
    const sids = new Set<string>();
    const seen = new Set<string>();
    for (const [i, s] of policy.Statement.entries()) {
      const id = s.Sid ?? `statement ${i}`;
      if (!s.Sid || sids.has(s.Sid)) problems.push(`${id}: needs a unique Sid`);
      sids.add(s.Sid ?? '');
      if (s.Effect !== 'Allow') problems.push(`${id}: Effect ${s.Effect} (only Allow statements)`);
      if (s.NotAction || s.NotResource) problems.push(`${id}: NotAction/NotResource grant everything else`);
      if (!s.Resource) problems.push(`${id}: no Resource`);
      for (const a of actionsOf(s)) {
        const m = /^([a-z0-9-]+):([A-Za-z0-9]+)$/.exec(a);
        if (!m) problems.push(`${id}: "${a}" is not one exact action (no wildcards)`);
        else if (!SERVICES.includes(m[1]!))
          problems.push(`${id}: "${a}" is a service instance-manager never calls`);
        if (seen.has(a)) problems.push(`${id}: "${a}" is listed twice`);
        seen.add(a);
      }
    }
    expect(problems).toEqual([]);
  });

  it("covers every AWS action instance-manager's code can send", () => {
    // The derivation saw every command the port files import (none sent from somewhere it does not follow).
    expect(derived.model.unattributed).toEqual([]);
    // It is not vacuous: these are certainly called (creating, rotating and deleting node groups).
    const actions = derived.required.map((r) => r.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'autoscaling:TerminateInstanceInAutoScalingGroup',
        'cloudformation:CreateStack',
        'ec2:CreateLaunchTemplateVersion',
        'eks:CreateNodegroup',
        'iam:CreateRole',
        'ssm:GetParameter',
      ]),
    );
    expect(new Set(actions.map((a) => a.split(':')[0]))).toEqual(new Set(SERVICES));
    const missing = derived.required
      .filter((r) => !allowed.has(r.action))
      .map((r) => `${r.action}: ${r.because}`);
    expect(missing).toEqual([]);
  });

  it('covers what CloudFormation does with its permissions for the eks-cf stack', () => {
    expect(templateResourceTypes.length).toBeGreaterThan(0);
    // A resource type the template starts using needs its actions listed in CFN_RESOURCE_ACTIONS first.
    expect(templateResourceTypes.filter((t) => !CFN_RESOURCE_ACTIONS[t])).toEqual([]);
    const missing = templateResourceTypes.flatMap((t) =>
      (CFN_RESOURCE_ACTIONS[t] ?? []).filter((a) => !allowed.has(a)).map((a) => `${a} (${t})`),
    );
    expect(missing).toEqual([]);
  });

  it('grants nothing the code does not need, and the implicit actions each for a stated reason', () => {
    const needed = new Set([
      ...derived.required.map((r) => r.action),
      ...Object.keys(IMPLICIT),
      ...templateResourceTypes.flatMap((t) => CFN_RESOURCE_ACTIONS[t] ?? []),
    ]);
    expect([...allowed].filter((a) => !needed.has(a))).toEqual([]);
    for (const a of Object.keys(IMPLICIT)) expect([a, allowed.has(a)]).toEqual([a, true]);
  });

  it('creates service-linked roles for Auto Scaling and EKS only', () => {
    const slr = policy.Statement.filter((s) => actionsOf(s).includes('iam:CreateServiceLinkedRole'));
    expect(slr).toHaveLength(1);
    expect(actionsOf(slr[0]!)).toEqual(['iam:CreateServiceLinkedRole']);
    expect(slr[0]!.Condition).toEqual({
      StringEquals: {
        'iam:AWSServiceName': [
          'autoscaling.amazonaws.com',
          'eks-nodegroup.amazonaws.com',
          'eks-fargate.amazonaws.com',
        ],
      },
    });
  });
});

describe('deriving AWS actions from source (support/aws-actions.ts)', () => {
  const port: SourceFile = {
    name: 'packages/aws/src/widgets.ts',
    text: `
      import { DescribeWidgetsCommand, DeleteWidgetCommand, paginateListWidgets } from '@aws-sdk/client-ec2';
      import type { EC2Client } from '@aws-sdk/client-ec2';
      export interface WidgetPort { describe(): Promise<void>; deleteWidget(id: string): Promise<void>; listWidgets(): Promise<void>; }
      function pages(client: EC2Client) { return paginateListWidgets({ client }, {}); }
      export class AwsWidgets implements WidgetPort {
        constructor(private readonly client: EC2Client) {}
        async describe() { await this.client.send(new DescribeWidgetsCommand({})); }
        async deleteWidget(id: string) { await this.describe(); await this.client.send(new DeleteWidgetCommand({ id })); }
        async listWidgets() { for await (const _ of pages(this.client)) {} }
      }
      export class CachedWidgets implements WidgetPort {
        constructor(private readonly inner: WidgetPort) {}
        describe() { return this.inner.describe(); }
        deleteWidget(id: string) { return this.inner.deleteWidget(id); }
        listWidgets() { return this.inner.listWidgets(); }
      }`,
  };
  const app = (body: string): SourceFile => ({ name: 'apps/x/src/a.ts', text: body });
  const actions = (body: string) => requiredActions([port], [app(body)]).required.map((r) => r.action);

  it('follows a port method to the commands it sends, through this.<method> and paginators in helpers', () => {
    expect(actions('await ctx.aws.widgets.deleteWidget("w-1");')).toEqual([
      'ec2:DeleteWidget',
      'ec2:DescribeWidgets',
    ]);
    expect(actions('await widgets.listWidgets();')).toEqual(['ec2:ListWidgets']);
  });

  it('catches a call it has not seen before (the policy test then fails)', () => {
    expect(actions('const ok = true;')).toEqual([]);
    expect(actions('await deps.any.deleteWidget(id);')).toContain('ec2:DeleteWidget');
  });

  it('counts a one-word method only on a receiver named after its port', () => {
    expect(actions('seen.describe();')).toEqual([]);
    expect(actions('ctx.aws.ec2.describe();')).toEqual([]); // the EC2 port has no describe()
  });

  it('names the SDK client packages it knows, and refuses an unknown one', () => {
    expect(Object.values(SDK_SERVICE_PREFIX)).toEqual(expect.arrayContaining(SERVICES));
    const unknown: SourceFile = {
      name: 'packages/aws/src/x.ts',
      text: "import { PutThingCommand } from '@aws-sdk/client-thing';",
    };
    expect(() => requiredActions([unknown], [])).toThrow(/IAM service prefix/);
  });
});
