import { describe, expect, it } from '@jest/globals';
import { normalizeAddon, type Addon, type AddonStatus } from '@keiko/api';
import { addonChecksum, workflowName } from '../src/addon/checksum';
import { ADDON_FINALIZER } from '../src/addon/constants';
import { addonNode } from '../src/addon/dependencies';
import { planAddon, secretsToCheck, type AddonPlan, type PlanInput } from '../src/addon/plan';
import type { ObservedWorkflow } from '../src/addon/workflow';
import { addon, workflow } from './support/fixtures';

const NOW = new Date('2026-01-01T00:10:00Z');
const checksumOf = (a: Addon) => addonChecksum(normalizeAddon(a).spec);

function plan(a: Addon, o: Partial<PlanInput> = {}): AddonPlan {
  return planAddon({
    addon: a,
    all: [addonNode(a)],
    workflows: [],
    workflowApi: 'available',
    now: NOW,
    dryRun: false,
    deleteRetryMs: 60_000,
    crdPollMs: 30_000,
    ...o,
  });
}

/** Applies a plan's status to the addon, as the status write would. */
function after(a: Addon, p: AddonPlan, extra: Partial<Addon['metadata']> = {}): Addon {
  const finalizers = p.actions.some((x) => x.type === 'addFinalizer')
    ? [ADDON_FINALIZER]
    : a.metadata.finalizers;
  return {
    ...a,
    metadata: { ...a.metadata, ...(finalizers ? { finalizers } : {}), ...extra },
    status: p.status,
  };
}

const submitted = (p: AddonPlan) =>
  p.actions
    .filter((x) => x.type === 'submitWorkflow')
    .map((x) => (x.type === 'submitWorkflow' ? x.workflow.metadata?.name : ''));
const wfName = (a: Addon, step: 'prereqs' | 'install' | 'validate' | 'delete') =>
  workflowName(a.metadata.name!, step, checksumOf(a));
const wf = (
  a: Addon,
  step: 'prereqs' | 'install' | 'validate' | 'delete',
  phase: string,
  extra: Partial<ObservedWorkflow> = {},
) => workflow(wfName(a, step), step, checksumOf(a), phase, { addonUid: a.metadata.uid, ...extra });
const condition = (s: AddonStatus, type: string) => s.conditions?.find((c) => c.type === type);

describe('the install lifecycle', () => {
  it('runs prereqs -> install -> validate in order, one workflow at a time, then Succeeded', () => {
    let a = addon('dns');
    let p = plan(a);
    expect(p.actions[0]).toEqual({ type: 'addFinalizer' });
    expect(submitted(p)).toEqual([wfName(a, 'prereqs')]);
    expect(p.status).toMatchObject({
      checksum: checksumOf(a),
      lifecycle: { prereqs: 'Pending', installed: 'Pending' },
      starttime: NOW.getTime(),
    });
    expect(p.status.reason).toBe(`prereqs workflow ${wfName(a, 'prereqs')} submitted`);
    expect(p.events).toContainEqual({
      type: 'Normal',
      reason: 'WorkflowSubmitted',
      message: `Submitted prereqs workflow ${wfName(a, 'prereqs')}`,
    });
    a = after(a, p);

    p = plan(a, { workflows: [wf(a, 'prereqs', 'Running')] });
    expect(p.actions).toEqual([]);
    expect(p.status.reason).toBe(`prereqs workflow ${wfName(a, 'prereqs')} is Running`);
    a = after(a, p);

    p = plan(a, { workflows: [wf(a, 'prereqs', 'Succeeded')] });
    expect(submitted(p)).toEqual([wfName(a, 'install')]);
    expect(p.actions.some((x) => x.type === 'addFinalizer')).toBe(false);
    expect(p.status.lifecycle).toEqual({ prereqs: 'Succeeded', installed: 'Pending' });
    expect(p.outcomes).toEqual([{ step: 'prereqs', outcome: 'Succeeded', durationSeconds: 30 }]);
    a = after(a, p);

    p = plan(a, { workflows: [wf(a, 'prereqs', 'Succeeded'), wf(a, 'install', 'Succeeded')] });
    expect(submitted(p)).toEqual([wfName(a, 'validate')]);
    expect(condition(p.status, 'Installed')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect(p.outcomes).toEqual([{ step: 'install', outcome: 'Succeeded', durationSeconds: 30 }]);
    a = after(a, p);

    p = plan(a, {
      workflows: [
        wf(a, 'prereqs', 'Succeeded'),
        wf(a, 'install', 'Succeeded'),
        wf(a, 'validate', 'Succeeded'),
      ],
    });
    expect(p.actions).toEqual([]);
    expect(p.status.lifecycle).toEqual({ prereqs: 'Succeeded', installed: 'Succeeded' });
    expect(p.status.reason).toBeUndefined();
    expect(condition(p.status, 'Validated')).toMatchObject({ status: 'True', reason: 'ValidateSucceeded' });
    expect(p.events).toContainEqual({
      type: 'Normal',
      reason: 'Installed',
      message: `addon dns-pkg v1 installed (spec ${checksumOf(a)})`,
    });
    expect(p.outcomes).toEqual([{ step: 'validate', outcome: 'Succeeded', durationSeconds: 30 }]);
  });

  it('skips steps without a template', () => {
    const a = addon('plain', { steps: ['install'] });
    const p = plan(a);
    expect(submitted(p)).toEqual([wfName(a, 'install')]);
    expect(p.status.lifecycle?.prereqs).toBe('Succeeded');
    const done = plan(after(a, p), { workflows: [wf(a, 'install', 'Succeeded')] });
    expect(done.status.lifecycle?.installed).toBe('Succeeded');
    expect(condition(done.status, 'Validated')).toMatchObject({
      status: 'True',
      reason: 'NoValidateWorkflow',
    });
  });

  it("a failed install is Failed with the workflow's message as the reason", () => {
    const a = after(addon('dns'), plan(addon('dns')));
    const p = plan(a, {
      workflows: [
        wf(a, 'prereqs', 'Succeeded'),
        wf(a, 'install', 'Failed', { message: 'child step-1 failed' }),
      ],
    });
    expect(p.status.lifecycle?.installed).toBe('Failed');
    expect(p.status.reason).toBe(
      `install workflow ${wfName(a, 'install')} failed: Failed: child step-1 failed`,
    );
    expect(p.events).toContainEqual({ type: 'Warning', reason: 'InstallFailed', message: p.status.reason });
    // prereqs finished too since the last look: both outcomes count, once each
    expect(p.outcomes).toEqual([
      { step: 'prereqs', outcome: 'Succeeded', durationSeconds: 30 },
      { step: 'install', outcome: 'Failed', durationSeconds: 30 },
    ]);
    expect(condition(p.status, 'Installed')).toMatchObject({ status: 'False', reason: 'InstallFailed' });
    expect(
      plan(after(a, p), { workflows: [wf(a, 'prereqs', 'Succeeded'), wf(a, 'install', 'Failed')] }).outcomes,
    ).toEqual([]);
  });

  it('a failed prereqs fails the addon too (STATUS shows it), and nothing more is submitted', () => {
    const a = after(addon('dns'), plan(addon('dns')));
    const p = plan(a, { workflows: [wf(a, 'prereqs', 'Error', { message: 'pod deleted' })] });
    expect(p.status.lifecycle).toEqual({ prereqs: 'Failed', installed: 'Failed' });
    expect(p.actions).toEqual([]);
  });

  it('runs the validate workflow after install and reports its failure (the original never ran it)', () => {
    const a = after(addon('dns'), plan(addon('dns')));
    const p = plan(a, {
      workflows: [
        wf(a, 'prereqs', 'Succeeded'),
        wf(a, 'install', 'Succeeded'),
        wf(a, 'validate', 'Failed', { message: 'rollout timed out' }),
      ],
    });
    expect(p.status.lifecycle?.installed).toBe('Failed');
    expect(p.status.reason).toBe(
      `validate workflow ${wfName(a, 'validate')} failed: Failed: rollout timed out`,
    );
    expect(condition(p.status, 'Validated')).toMatchObject({ status: 'False', reason: 'ValidateFailed' });
    expect(condition(p.status, 'Installed')).toMatchObject({ status: 'True' });
  });

  it('never moves a terminal phase back to Pending for the same spec, even when its workflows are gone', () => {
    const a = after(addon('dns'), plan(addon('dns')));
    const succeeded = after(
      a,
      plan(a, {
        workflows: [
          wf(a, 'prereqs', 'Succeeded'),
          wf(a, 'install', 'Succeeded'),
          wf(a, 'validate', 'Succeeded'),
        ],
      }),
    );
    expect(succeeded.status?.lifecycle?.installed).toBe('Succeeded');
    // TTL garbage-collected the workflows; a stale event replays: nothing is resubmitted, nothing regresses
    const p = plan(succeeded, { workflows: [] });
    expect(p.actions).toEqual([]);
    expect(p.status.lifecycle?.installed).toBe('Succeeded');
    expect(p.events).toEqual([]);
    const failed = after(a, plan(a, { workflows: [wf(a, 'prereqs', 'Failed')] }));
    expect(plan(failed, { workflows: [] }).status.lifecycle?.installed).toBe('Failed');
    expect(plan(failed, { workflows: [] }).actions).toEqual([]);
  });

  it('does not resubmit a step whose workflow vanished once a later step started', () => {
    const a = after(addon('dns'), plan(addon('dns')));
    const p = plan(a, { workflows: [wf(a, 'validate', 'Running')] });
    expect(p.actions).toEqual([]);
    expect(p.status.lifecycle?.prereqs).toBe('Succeeded');
  });

  it('fails the addon when the lifecycle outlives installTimeout (default 1h; per addon)', () => {
    const a = addon('slow', { installTimeout: '5m' });
    const started = after(a, plan(a, { now: new Date(NOW.getTime() - 6 * 60_000) }));
    const p = plan(started, { workflows: [wf(a, 'prereqs', 'Running')] });
    expect(p.status.lifecycle?.installed).toBe('Failed');
    expect(p.status.reason).toMatch(
      /^the lifecycle did not finish within installTimeout 5m \(started .*\); prereqs workflow slow-prereqs-\w+-wf is still Running$/,
    );
    expect(p.events[0]).toMatchObject({ type: 'Warning', reason: 'InstallTimeout' });
    expect(p.outcomes).toEqual([{ step: 'prereqs', outcome: 'Failed' }]);
    // within the timeout it waits, and asks to be woken when the timeout would pass
    const early = plan(started, {
      workflows: [wf(a, 'prereqs', 'Running')],
      now: new Date(NOW.getTime() - 2 * 60_000),
    });
    expect(early.status.lifecycle?.installed).toBe('Pending');
    expect(early.requeueAfterMs).toBe(60_000);
  });

  it('waits for spec.secrets in params.namespace before install', () => {
    const a = after(
      addon('tls', { secrets: ['tls-cert', 'api-key'] }),
      plan(addon('tls', { secrets: ['tls-cert', 'api-key'] })),
    );
    expect(secretsToCheck(a)).toEqual(['tls-cert', 'api-key']);
    const p = plan(a, {
      workflows: [wf(a, 'prereqs', 'Succeeded')],
      secrets: { 'tls-cert': true, 'api-key': false },
    });
    expect(p.actions).toEqual([]);
    expect(p.status.reason).toBe('waiting for secrets api-key in namespace tls-ns (spec.secrets)');
    expect(
      submitted(
        plan(a, {
          workflows: [wf(a, 'prereqs', 'Succeeded')],
          secrets: { 'tls-cert': true, 'api-key': true },
        }),
      ),
    ).toEqual([wfName(a, 'install')]);
  });
});

describe('spec changes', () => {
  it("removes the old spec's workflows first, waits for them to go, then runs the lifecycle again with the new checksum", () => {
    const v1 = addon('dns');
    let a = after(v1, plan(v1));
    a = after(
      a,
      plan(a, {
        workflows: [
          wf(v1, 'prereqs', 'Succeeded'),
          wf(v1, 'install', 'Succeeded'),
          wf(v1, 'validate', 'Succeeded'),
        ],
      }),
    );
    expect(a.status?.lifecycle?.installed).toBe('Succeeded');

    const v2: Addon = {
      ...a,
      metadata: { ...a.metadata, generation: 2 },
      spec: { ...a.spec, pkgVersion: 'v2' },
    };
    const old = [
      wf(v1, 'prereqs', 'Succeeded'),
      wf(v1, 'install', 'Succeeded'),
      wf(v1, 'validate', 'Succeeded'),
    ];
    let p = plan(v2, { workflows: old });
    expect(p.actions).toEqual([{ type: 'deleteWorkflows', names: old.map((w) => w.name) }]);
    expect(p.status).toMatchObject({
      checksum: checksumOf(v2),
      lifecycle: { installed: 'Pending', prereqs: 'Pending' },
    });
    expect(p.status.reason).toBe(
      `spec changed (checksum ${checksumOf(v1)} -> ${checksumOf(v2)}): removing 3 workflow(s) of the previous spec before running the lifecycle again`,
    );
    expect(condition(p.status, 'Installed')).toMatchObject({ status: 'Unknown', reason: 'SpecChanged' });
    let b = after(v2, p);

    // still being deleted: nothing new is submitted, nothing deleted twice
    p = plan(b, { workflows: old.map((w) => ({ ...w, deleting: true })) });
    expect(p.actions).toEqual([]);
    expect(p.status.reason).toBe(b.status?.reason);
    expect(p.events).toEqual([]);
    b = after(b, p);

    p = plan(b, { workflows: [] });
    expect(submitted(p)).toEqual([wfName(v2, 'prereqs')]);
    expect(wfName(v2, 'prereqs')).not.toBe(wfName(v1, 'prereqs'));
  });

  it('re-runs a Failed addon when its spec changes', () => {
    const v1 = addon('dns');
    const running = after(v1, plan(v1));
    const failed = after(running, plan(running, { workflows: [wf(v1, 'prereqs', 'Failed')] }));
    expect(failed.status?.lifecycle?.installed).toBe('Failed');
    const v2: Addon = { ...failed, spec: { ...failed.spec, pkgDescription: 'fixed' } };
    expect(plan(v2, { workflows: [] }).actions.map((x) => x.type)).toEqual(['submitWorkflow']);
  });
});

describe('dependencies', () => {
  const dns = (installed?: string) =>
    addon('dns', {
      pkgName: 'core/dns',
      ...(installed ? { status: { lifecycle: { installed: installed as 'Pending' } } } : {}),
    });

  it('waits (Pending, with the reason) until every dependency has Succeeded', () => {
    const app = addon('app', { deps: { 'core/dns': '*' } });
    const p = plan(app, { all: [addonNode(app), addonNode(dns('Pending'))] });
    expect(p.actions).toEqual([]);
    expect(p.status.lifecycle?.installed).toBe('Pending');
    expect(p.status.reason).toBe('waiting for dependencies: addons/dns (Pending)');
    expect(condition(p.status, 'DependenciesReady')).toMatchObject({
      status: 'False',
      reason: 'DependencyNotReady',
    });
    const ready = plan(after(app, p), { all: [addonNode(app), addonNode(dns('Succeeded'))] });
    expect(submitted(ready)).toEqual([wfName(app, 'prereqs')]);
    expect(condition(ready.status, 'DependenciesReady')).toMatchObject({
      status: 'True',
      reason: 'DependenciesSucceeded',
      message: 'all 1 dependencies succeeded: addons/dns',
    });
  });

  it('a missing dependency is a Validation Failed naming the field', () => {
    const app = addon('app', { deps: { 'core-dns': '*' } });
    const p = plan(app);
    expect(p.status.lifecycle?.installed).toBe('Validation Failed');
    expect(p.status.reason).toBe(
      'spec.pkgDeps.core-dns: no Addon with pkgName core-dns, and no Addon named core-dns in namespace addons',
    );
    expect(p.events).toEqual([{ type: 'Warning', reason: 'InvalidDependencies', message: p.status.reason }]);
    expect(p.actions).toEqual([]);
  });

  it('a cycle is rejected on each addon in it', () => {
    const a = addon('a', { pkgName: 'a', deps: { b: '*' } });
    const b = addon('b', { pkgName: 'b', deps: { a: '*' } });
    const all = [addonNode(a), addonNode(b)];
    expect(plan(a, { all }).status.reason).toBe(
      'spec.pkgDeps: dependency cycle: addons/a -> addons/b -> addons/a',
    );
    expect(plan(b, { all }).status.lifecycle?.installed).toBe('Validation Failed');
  });

  it('a Succeeded addon stays Succeeded when a dependency later changes; the condition says so', () => {
    const app = addon('app', { deps: { 'core/dns': '*' } });
    const done: Addon = {
      ...app,
      status: { checksum: checksumOf(app), lifecycle: { prereqs: 'Succeeded', installed: 'Succeeded' } },
    };
    const p = plan(done, { all: [addonNode(done), addonNode(dns('Failed'))] });
    expect(p.status.lifecycle?.installed).toBe('Succeeded');
    expect(condition(p.status, 'DependenciesReady')).toMatchObject({ status: 'False' });
  });
});

describe('what the cluster offers', () => {
  it('says plainly when the Argo Workflow CRD is missing, and looks again later instead of erroring', () => {
    const a = addon('dns');
    const p = plan(a, { workflowApi: 'absent' });
    expect(p.actions).toEqual([]);
    expect(p.status.lifecycle?.installed).toBe('Pending');
    expect(p.status.reason).toBe(
      'Argo Workflows is not installed: the cluster has no Workflow CRD (workflows.argoproj.io/v1alpha1); install Argo Workflows and the addon proceeds (checked every 30s)',
    );
    expect(condition(p.status, 'WorkflowsAvailable')).toMatchObject({
      status: 'False',
      reason: 'WorkflowCRDNotFound',
    });
    expect(p.requeueAfterMs).toBe(30_000);
    expect(p.events).toHaveLength(1);
    // the same again: no new event
    expect(plan(after(a, p), { workflowApi: 'absent' }).events).toEqual([]);
  });

  it('writes nothing while it does not know yet', () => {
    expect(plan(addon('dns'), { workflowApi: 'unknown' })).toMatchObject({ writeStatus: false, actions: [] });
  });

  it('an invalid spec is Validation Failed with every problem by field', () => {
    const a = addon('a-name-that-is-much-too-long-for-workflows');
    delete a.spec.params!.namespace;
    a.spec.lifecycle!.install!.template = 'apiVersion: v1\nkind: Pod\nspec: {}\n';
    const p = plan(a);
    expect(p.status.lifecycle?.installed).toBe('Validation Failed');
    expect(p.status.reason).toBe(
      'metadata.name: must be at most 31 characters (workflow names are built from it), got 42; ' +
        'spec.params.namespace: Required value: the namespace the addon is installed into; ' +
        'spec.lifecycle.install.template: must be an Argo Workflow (apiVersion: argoproj.io/v1alpha1, kind: Workflow), got apiVersion: v1, kind: Pod',
    );
    expect(condition(p.status, 'SpecValid')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });

  it('in dry-run renders and reports the workflows without submitting or adding a finalizer', () => {
    const a = addon('dns', { steps: ['prereqs', 'install'] });
    const p = plan(a, { dryRun: true });
    expect(p.actions).toEqual([]);
    expect(p.status.reason).toBe(
      `dry run: would submit prereqs workflow ${wfName(a, 'prereqs')}, then install workflow ${wfName(a, 'install')}`,
    );
    expect(p.events.map((e) => e.reason)).toEqual(['DryRun', 'DryRun']);
    expect(p.events[0]!.message).toBe(
      `would submit prereqs workflow ${wfName(a, 'prereqs')} with parameters namespace=dns-ns, clusterName=c1, clusterRegion=us-west-2`,
    );
  });
});

describe('deletion', () => {
  const installed = (o: Parameters<typeof addon>[1] = {}) => {
    const a = addon('dns', { finalizers: [ADDON_FINALIZER], ...o });
    return {
      ...a,
      metadata: { ...a.metadata, deletionTimestamp: '2026-01-01T00:09:00Z' },
      status: { checksum: checksumOf(a), lifecycle: { prereqs: 'Succeeded', installed: 'Succeeded' } },
    } as Addon;
  };

  it('runs the delete workflow, then removes the finalizer once it succeeded', () => {
    const a = installed();
    let p = plan(a);
    expect(submitted(p)).toEqual([wfName(a, 'delete')]);
    expect(p.status).toMatchObject({
      lifecycle: { installed: 'Deleting' },
      reason: `delete workflow ${wfName(a, 'delete')} submitted`,
    });
    const d = after(a, p);
    p = plan(d, { workflows: [wf(a, 'delete', 'Running')] });
    expect(p.actions).toEqual([]);
    expect(p.status.reason).toBe(`delete workflow ${wfName(a, 'delete')} is Running`);
    p = plan(d, { workflows: [wf(a, 'delete', 'Succeeded')] });
    expect(p.actions).toEqual([{ type: 'removeFinalizer', confirmWorkflow: wfName(a, 'delete') }]);
    expect(p.writeStatus).toBe(false);
    expect(p.outcomes).toEqual([{ step: 'delete', outcome: 'Succeeded', durationSeconds: 30 }]);
  });

  it('a failed delete shows Delete Failed, then runs again — it is never dropped', () => {
    const a = installed();
    const failedAt = new Date(NOW.getTime() - 10_000).toISOString();
    const failed = wf(a, 'delete', 'Failed', { message: 'kubectl: forbidden', finishedAt: failedAt });
    let p = plan(after(a, plan(a)), { workflows: [failed] });
    expect(p.status.lifecycle?.installed).toBe('Delete Failed');
    expect(p.status.reason).toBe(
      `delete workflow ${wfName(a, 'delete')} failed: Failed: kubectl: forbidden; it runs again at 2026-01-01T00:10:50Z`,
    );
    expect(p.actions).toEqual([]);
    expect(p.requeueAfterMs).toBe(50_000);
    expect(p.events).toContainEqual({
      type: 'Warning',
      reason: 'DeleteFailed',
      message: `delete workflow ${wfName(a, 'delete')} failed: Failed: kubectl: forbidden`,
    });
    expect(p.outcomes).toEqual([{ step: 'delete', outcome: 'Failed', durationSeconds: expect.any(Number) }]);
    const shown = after(a, p);
    // once the retry interval has passed: the failed workflow is removed, then submitted again
    p = plan(shown, { workflows: [failed], now: new Date(NOW.getTime() + 60_000) });
    expect(p.actions).toEqual([{ type: 'deleteWorkflows', names: [wfName(a, 'delete')] }]);
    expect(p.status.lifecycle?.installed).toBe('Deleting');
    p = plan(after(a, p), { workflows: [] });
    expect(submitted(p)).toEqual([wfName(a, 'delete')]);
  });

  it('stops install workflows still running before the delete workflow', () => {
    const a = installed();
    const p = plan(a, { workflows: [wf(a, 'install', 'Running')] });
    expect(p.actions).toEqual([{ type: 'deleteWorkflows', names: [wfName(a, 'install')] }]);
    expect(p.status.lifecycle?.installed).toBe('Deleting');
  });

  it("does not take an earlier Addon's delete workflow for its own", () => {
    const a = installed();
    const p = plan(a, { workflows: [wf(a, 'delete', 'Succeeded', { addonUid: 'someone-else' })] });
    expect(p.actions).toEqual([{ type: 'deleteWorkflows', names: [wfName(a, 'delete')] }]);
  });

  it('removes the finalizer at once when there is no delete workflow; does nothing without a finalizer', () => {
    expect(plan(installed({ steps: ['install'] })).actions).toEqual([
      { type: 'removeFinalizer', confirmWorkflow: '' },
    ]);
    const untouched = installed();
    untouched.metadata.finalizers = [];
    expect(plan(untouched)).toMatchObject({ actions: [], writeStatus: false });
  });

  it('cannot delete without the Workflow CRD: Delete Failed, saying how to get out', () => {
    const p = plan(installed(), { workflowApi: 'absent' });
    expect(p.status.lifecycle?.installed).toBe('Delete Failed');
    expect(p.status.reason).toMatch(
      /Argo Workflows is not installed.*remove the finalizer delete\.addonmgr\.keikoproj\.io to skip it$/,
    );
  });
});
