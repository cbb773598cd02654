// The eks-cf provisioner's stack lifecycle against a scripted CloudFormation (the emulator completes every
// operation at once, so the in-between states AWS goes through are played here): create, follow an
// operation in progress, fail and recover, delete while creating, delete failures.
import { describe, expect, it } from '@jest/globals';
import type { InstanceGroup } from '@keiko/api';
import type { CloudFormationPort, Stack, StackEvent, StackSpec } from '@keiko/aws';
import { noopLogger, type KubeClient } from '@keiko/kube-runtime';
import { EksCfProvisioner } from '../src/provisioners/eks-cf/provisioner';
import type { AwsPortsForGroups, GroupContext, ReconcileState } from '../src/provisioners/types';
import { talkGroup } from './support/fixtures';

class ScriptedCloudFormation implements CloudFormationPort {
  stack?: Stack;
  body?: string;
  events: StackEvent[] = [];
  calls: string[] = [];
  /** What a create/update leaves the stack in (AWS: *_IN_PROGRESS). */
  after = { create: 'CREATE_IN_PROGRESS', update: 'UPDATE_IN_PROGRESS', delete: 'DELETE_IN_PROGRESS' };

  describeStack = async () => (this.stack ? { ...this.stack } : undefined);
  invalidate() {}
  async createStack(spec: StackSpec) {
    this.calls.push('CreateStack');
    this.body = spec.templateBody;
    this.stack = {
      id: 'arn:stack/s',
      name: spec.name,
      status: this.after.create,
      outputs: {},
      parameters: {},
      tags: { ...spec.tags },
    };
    return this.stack.id;
  }
  async updateStack(spec: StackSpec) {
    this.calls.push('UpdateStack');
    this.body = spec.templateBody;
    if (this.stack) this.stack = { ...this.stack, status: this.after.update, tags: { ...spec.tags } };
    return { updated: true };
  }
  async deleteStack() {
    this.calls.push('DeleteStack');
    if (this.stack) this.stack = { ...this.stack, status: this.after.delete };
  }
  describeStackEvents = async () => [...this.events].reverse();
  getTemplateBody = async () => this.body;
  setStatus(status: string) {
    if (this.stack) this.stack = { ...this.stack, status };
  }
  complete(status = 'CREATE_COMPLETE') {
    if (!this.stack) throw new Error('no stack');
    this.stack = {
      ...this.stack,
      status,
      outputs: {
        AsgName: 'asg-1',
        LaunchTemplateId: 'lt-1',
        LaunchTemplateName: this.stack.name,
        LaunchTemplateVersion: '1',
        NodeInstanceRole: 'arn:aws:iam::1:role/nodes',
      },
    };
  }
  event(logical: string, status: string, reason?: string) {
    this.events.push({
      eventId: String(this.events.length),
      stackName: 's',
      logicalResourceId: logical,
      resourceType:
        logical === this.stack?.name ? 'AWS::CloudFormation::Stack' : 'AWS::AutoScaling::AutoScalingGroup',
      resourceStatus: status,
      ...(reason ? { resourceStatusReason: reason } : {}),
      timestamp: new Date(Date.now() + this.events.length),
    });
  }
}

function context(ig: InstanceGroup, cf: ScriptedCloudFormation) {
  const recorded: ReconcileState[] = [];
  const events: string[] = [];
  const aws = {
    cloudFormation: cf,
    eks: {
      describeCluster: async () => ({
        name: 'my-eks-cluster',
        version: '1.31',
        subnetIds: [],
        securityGroupIds: [],
      }),
    },
    ec2: {
      describeSubnets: async (ids: string[]) => ids.map((id) => ({ id, tags: {} })),
      describeSecurityGroups: async (ids: string[]) => ids.map((id) => ({ id, tags: {} })),
      describeLaunchTemplate: async () => ({
        id: 'lt-1',
        name: 'lt',
        defaultVersion: 1,
        latestVersion: 1,
        tags: {},
      }),
      setDefaultLaunchTemplateVersion: async () => {},
      describeImages: async (ids: string[]) =>
        ids.map((id) => ({ id, state: 'available', architecture: 'x86_64', tags: {} })),
      describeInstanceTypes: async () => [],
    },
    autoScaling: {
      describeGroup: async () => ({
        name: 'asg-1',
        minSize: 3,
        maxSize: 6,
        desiredCapacity: 3,
        availabilityZones: [],
        subnetIds: [],
        instances: [],
        tags: {},
        tagList: [],
        suspendedProcesses: [],
        launchTemplate: { id: 'lt-1', version: '1' },
      }),
      updateGroup: async () => {},
    },
    ssm: { getParameter: async () => undefined },
  } as unknown as AwsPortsForGroups;
  const ctx: GroupContext = {
    ig,
    namespace: 'instance-manager',
    name: 'hello-world',
    owner: 'instance-manager/instance-manager/hello-world',
    log: noopLogger,
    aws,
    kube: {} as KubeClient,
    dryRun: false,
    now: () => new Date(),
    record: async (s) => {
      recorded.push(s);
    },
    act: async (_op, _d, run) => run(),
    event: (type, reason, message) => events.push(`${type} ${reason}: ${message}`),
  };
  return { ctx, recorded, events };
}

describe('eks-cf provisioner', () => {
  it('records InitCreate before creating, follows the operation, then hands over the scaling group', async () => {
    const cf = new ScriptedCloudFormation();
    const p = new EksCfProvisioner();
    const { ctx, recorded, events } = context(talkGroup(), cf);
    const first = await p.reconcile(ctx);
    expect(recorded).toEqual(['InitCreate']);
    expect(cf.calls).toEqual(['CreateStack']);
    expect(first).toMatchObject({ phase: 'provisioning', state: 'ReconcileModifying', requeueAfterMs: 5000 });
    cf.event('NodeGroup', 'CREATE_IN_PROGRESS');
    const progress = await p.reconcile(ctx);
    expect(progress.message).toContain(
      'CREATE_IN_PROGRESS: NodeGroup (AWS::AutoScaling::AutoScalingGroup) CREATE_IN_PROGRESS',
    );
    cf.complete();
    cf.event(cf.stack?.name ?? '', 'CREATE_COMPLETE');
    const done = await p.reconcile(ctx);
    expect(done).toMatchObject({
      phase: 'provisioned',
      roleArn: 'arn:aws:iam::1:role/nodes',
      status: { activeScalingGroupName: 'asg-1', latestTemplateVersion: '1', currentMin: 3, currentMax: 6 },
    });
    expect(cf.calls).toEqual(['CreateStack']); // nothing changed: no update
    expect(events).toContain(`Normal StackStatus: stack ${cf.stack?.name}: CREATE_COMPLETE`);
  });

  it('reports why a create failed; replaces the failed stack only once the spec changed', async () => {
    const cf = new ScriptedCloudFormation();
    const p = new EksCfProvisioner();
    const ig = { ...talkGroup(), metadata: { ...talkGroup().metadata, generation: 1 } };
    await p.reconcile(context(ig, cf).ctx);
    cf.event(cf.stack?.name ?? '', 'CREATE_IN_PROGRESS', 'User Initiated');
    cf.event('NodeGroup', 'CREATE_FAILED', 'You have requested more instances than your current limit');
    cf.event('NodeLaunchTemplate', 'CREATE_FAILED', 'Resource creation cancelled');
    if (cf.stack) cf.stack.status = 'ROLLBACK_COMPLETE';
    // The controller records the failure for generation 1 ...
    const failedCtx = context({ ...ig, status: { conditions: [] } }, cf);
    const failedFirst = await p.reconcile(failedCtx.ctx);
    expect(failedFirst.phase).toBe('provisioning'); // no failure recorded yet for this generation: replace
    expect(cf.calls).toEqual(['CreateStack', 'DeleteStack']);
    // ... and once it is recorded, the same spec does not loop on delete/create.
    cf.stack = { ...(cf.stack as Stack), status: 'ROLLBACK_COMPLETE' };
    const recordedFailure = {
      ...ig,
      status: {
        conditions: [
          { type: 'Ready', status: 'False' as const, reason: 'StackCreateFailed', observedGeneration: 1 },
        ],
      },
    };
    const failed = await p.reconcile(context(recordedFailure, cf).ctx);
    expect(failed).toMatchObject({ phase: 'failed', state: 'Error', failureReason: 'StackCreateFailed' });
    expect(failed.message).toContain(
      'NodeGroup (AWS::AutoScaling::AutoScalingGroup) CREATE_FAILED: You have requested more instances than your current limit',
    );
    expect(cf.calls).toEqual(['CreateStack', 'DeleteStack']);
    // A new generation (the user fixed the spec) replaces it.
    await p.reconcile(
      context({ ...recordedFailure, metadata: { ...recordedFailure.metadata, generation: 2 } }, cf).ctx,
    );
    expect(cf.calls).toEqual(['CreateStack', 'DeleteStack', 'DeleteStack']);
  });

  it('updates the stack when the rendering changes and reports a rolled-back update once per generation', async () => {
    const cf = new ScriptedCloudFormation();
    const p = new EksCfProvisioner();
    const ig = { ...talkGroup(), metadata: { ...talkGroup().metadata, generation: 1 } };
    await p.reconcile(context(ig, cf).ctx);
    cf.complete();
    const changed = structuredClone(ig);
    changed.metadata.generation = 2;
    if (changed.spec['eks-cf']?.configuration) changed.spec['eks-cf'].configuration.instanceType = 'm5.large';
    const { ctx, recorded } = context(changed, cf);
    expect(await p.reconcile(ctx)).toMatchObject({ phase: 'provisioning', state: 'ReconcileModifying' });
    expect(recorded).toEqual(['InitUpdate']);
    expect(cf.calls).toEqual(['CreateStack', 'UpdateStack']);
    cf.event(cf.stack?.name ?? '', 'UPDATE_IN_PROGRESS', 'User Initiated');
    cf.event('NodeLaunchTemplate', 'UPDATE_FAILED', 'Invalid instance type');
    if (cf.stack) {
      cf.stack.status = 'UPDATE_ROLLBACK_COMPLETE';
      cf.body = 'the old template';
    }
    const withFailure = {
      ...changed,
      status: {
        conditions: [
          { type: 'Ready', status: 'False' as const, reason: 'StackUpdateFailed', observedGeneration: 2 },
        ],
      },
    };
    const failed = await p.reconcile(context(withFailure, cf).ctx);
    expect(failed).toMatchObject({ phase: 'failed', failureReason: 'StackUpdateFailed' });
    expect(failed.message).toContain(
      'NodeLaunchTemplate (AWS::AutoScaling::AutoScalingGroup) UPDATE_FAILED: Invalid instance type',
    );
    expect(cf.calls).toEqual(['CreateStack', 'UpdateStack']);
  });

  it('deletes a stack that is still being created, waits out an update, and retries a failed delete', async () => {
    const cf = new ScriptedCloudFormation();
    const p = new EksCfProvisioner();
    const { ctx } = context(talkGroup(), cf);
    await p.reconcile(ctx); // CREATE_IN_PROGRESS
    expect(await p.delete(ctx)).toMatchObject({
      done: false,
      message: expect.stringContaining('DELETE_IN_PROGRESS'),
    });
    expect(cf.calls).toEqual(['CreateStack', 'DeleteStack']);
    cf.stack = undefined;
    expect(await p.delete(ctx)).toMatchObject({ done: true });

    await p.reconcile(ctx);
    cf.setStatus('UPDATE_IN_PROGRESS');
    expect(await p.delete(ctx)).toMatchObject({
      done: false,
      message: expect.stringContaining('deleting once it settles'),
    });
    expect(cf.calls.filter((c) => c === 'DeleteStack')).toHaveLength(1);

    cf.setStatus('DELETE_FAILED');
    cf.event('NodeInstanceRole', 'DELETE_FAILED', 'Cannot delete entity, must detach all policies first');
    const retried = await p.delete(ctx);
    expect(retried.failure).toContain(
      'DELETE_FAILED: NodeInstanceRole (AWS::AutoScaling::AutoScalingGroup) DELETE_FAILED: Cannot delete entity',
    );
    expect(cf.calls.filter((c) => c === 'DeleteStack')).toHaveLength(2);
  });
});
