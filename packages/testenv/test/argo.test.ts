// Argo Workflows in the test cluster: the real workflow-controller runs workflows submitted with
// kubectl, Argo's full CRD schema refuses what Argo would refuse, and the stand-ins play only the step
// containers — KWOK's Stage ends the pods, the executor stand-in performs resource templates as the
// workflow's ServiceAccount and reports declared outputs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { evaluateConditions } from '../src/argo-conditions';
import { resourceArgs } from '../src/argo-executor';
import {
  ARGO_NODE,
  ArgoWorkflows,
  EXIT_CODE_ANNOTATION,
  eventually,
  grantWorkflowServiceAccount,
  kubeConfigFromEnv,
  kubectl,
  MESSAGE_ANNOTATION,
  parseManifests,
  requireArgo,
} from '../src/index';

const kc = kubeConfigFromEnv();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const ns = `argo-${Date.now().toString(36)}`;

interface Wf {
  status?: {
    phase?: string;
    message?: string;
    nodes?: Record<
      string,
      { displayName: string; type: string; phase: string; message?: string; outputs?: unknown }
    >;
  };
}

const workflow = (name: string, spec: string) =>
  parseManifests(
    `apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec}`,
  );

async function submit(name: string, spec: string): Promise<void> {
  await kubectl(kc, ['create', '-f', '-'], workflow(name, spec));
}

const get = (name: string) =>
  custom.getNamespacedCustomObject({
    group: ArgoWorkflows.group,
    version: ArgoWorkflows.version,
    namespace: ns,
    plural: ArgoWorkflows.plural,
    name,
  }) as Promise<Wf>;

const finished = (name: string) =>
  eventually(
    `workflow ${name} to finish`,
    async () => {
      const wf = await get(name);
      return ['Succeeded', 'Failed', 'Error'].includes(wf.status?.phase ?? '') ? wf : undefined;
    },
    120_000,
    500,
    async () => JSON.stringify((await get(name)).status ?? {}),
  );

const steps = (wf: Wf) =>
  Object.values(wf.status?.nodes ?? {})
    .filter((n) => n.type === 'Pod')
    .sort((a, b) => a.displayName.localeCompare(b.displayName));

beforeAll(async () => {
  requireArgo();
  await core.createNamespace({ body: { metadata: { name: ns } } });
});
afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe("Argo's workflow-controller in the test cluster", () => {
  it('runs two sequential steps submitted with kubectl to Succeeded, on the Argo node', async () => {
    await submit(
      'two-steps',
      [
        '  entrypoint: main',
        '  templates:',
        '  - name: main',
        '    steps:',
        '    - - {name: first, template: say}',
        '    - - {name: second, template: say}',
        '  - name: say',
        '    container: {image: busybox, command: [echo, hello]}',
      ].join('\n'),
    );
    const wf = await finished('two-steps');
    expect(wf.status?.phase).toBe('Succeeded');
    expect(steps(wf).map((n) => [n.displayName, n.phase])).toEqual([
      ['first', 'Succeeded'],
      ['second', 'Succeeded'],
    ]);
    const pods = await core.listNamespacedPod({
      namespace: ns,
      labelSelector: 'workflows.argoproj.io/workflow=two-steps',
    });
    expect(pods.items.map((p) => p.spec?.nodeName)).toEqual([ARGO_NODE, ARGO_NODE]);
  });

  it("refuses what Argo's full CRD schema refuses", async () => {
    await expect(
      submit(
        'bad',
        '  entrypoint: main\n  templates:\n  - name: main\n    container: {image: x, command: [false]}',
      ),
    ).rejects.toThrow(/command\[0\].*must be of type string/);
  });

  it('lets Argo validate the spec: a missing entrypoint template fails the workflow', async () => {
    await submit(
      'no-entry',
      '  entrypoint: nowhere\n  templates:\n  - name: main\n    container: {image: x}',
    );
    const wf = await finished('no-entry');
    expect(wf.status?.phase).toMatch(/Failed|Error/);
    expect(wf.status?.message).toMatch(/nowhere/);
  });

  it('fails a step whose template asks for an exit code, with its message, and stops there', async () => {
    await submit(
      'fails',
      [
        '  entrypoint: main',
        '  templates:',
        '  - name: main',
        '    steps:',
        '    - - {name: broken, template: broken}',
        '    - - {name: never, template: ok}',
        '  - name: broken',
        `    metadata: {annotations: {${EXIT_CODE_ANNOTATION}: "2", ${MESSAGE_ANNOTATION}: "disk full"}}`,
        '    container: {image: busybox, command: ["true"]}',
        '  - name: ok',
        '    container: {image: busybox, command: ["true"]}',
      ].join('\n'),
    );
    const wf = await finished('fails');
    expect(wf.status?.phase).toBe('Failed');
    expect(steps(wf).map((n) => [n.displayName, n.phase, n.message])).toEqual([
      ['broken', 'Failed', 'main: Error (exit code 2): disk full'],
    ]);
  });

  it('performs resource templates as the workflow ServiceAccount: refused without RBAC, applied with it', async () => {
    const spec = (cm: string) =>
      [
        '  entrypoint: make',
        '  templates:',
        '  - name: make',
        '    resource:',
        '      action: create',
        '      manifest: |',
        '        apiVersion: v1',
        '        kind: ConfigMap',
        `        metadata: {name: ${cm}}`,
        '        data: {by: "{{workflow.name}}"}',
      ].join('\n');
    await submit('refused', spec('refused'));
    const refused = await finished('refused');
    expect(refused.status?.phase).toBe('Failed');
    expect(steps(refused)[0]?.message).toMatch(
      /^main: Error \(exit code 1\): .*"system:serviceaccount:.*:default" cannot create resource "configmaps"/s,
    );

    await grantWorkflowServiceAccount(kc, ns);
    await submit('applied', spec('made'));
    expect((await finished('applied')).status?.phase).toBe('Succeeded');
    const cm = await core.readNamespacedConfigMap({ name: 'made', namespace: ns });
    expect(cm.data).toEqual({ by: 'applied' });
  });

  it('waits for a resource success condition; reports declared outputs (their defaults)', async () => {
    await grantWorkflowServiceAccount(kc, ns);
    await submit(
      'outputs',
      [
        '  entrypoint: main',
        '  templates:',
        '  - name: main',
        '    steps:',
        '    - - {name: make, template: make}',
        '    - - {name: out, template: out}',
        '  - name: make',
        '    resource:',
        '      action: apply',
        '      successCondition: data.ready == yes',
        '      manifest: |',
        '        {apiVersion: v1, kind: ConfigMap, metadata: {name: cond}, data: {ready: "no"}}',
        '  - name: out',
        '    container: {image: busybox, command: ["true"]}',
        '    outputs: {parameters: [{name: answer, valueFrom: {path: /tmp/a, default: "42"}}]}',
      ].join('\n'),
    );
    await eventually('the resource step to run', async () =>
      steps(await get('outputs')).some((n) => n.displayName === 'make' && n.phase === 'Running'),
    );
    expect((await get('outputs')).status?.phase).toBe('Running');
    await core.patchNamespacedConfigMap(
      { name: 'cond', namespace: ns, body: { data: { ready: 'yes' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const wf = await finished('outputs');
    expect(wf.status?.phase).toBe('Succeeded');
    expect(steps(wf).find((n) => n.displayName === 'out')?.outputs).toEqual({
      exitCode: '0',
      parameters: [{ name: 'answer', value: '42' }],
    });
  });
});

describe('the executor stand-in, as argoexec documents it', () => {
  it("builds argoexec's kubectl arguments", () => {
    expect(resourceArgs({ action: 'apply', manifest: 'kind: X' }, '/m')).toEqual([
      'apply',
      '-f',
      '/m',
      '-o',
      'json',
    ]);
    expect(resourceArgs({ action: 'delete', manifest: 'kind: X' }, '/m')).toEqual([
      'delete',
      '--ignore-not-found',
      '-f',
      '/m',
      '-o',
      'name',
    ]);
    expect(resourceArgs({ action: 'patch', mergeStrategy: 'merge', manifest: 'kind: X' }, '/m')).toEqual([
      'patch',
      '--type',
      'merge',
      '--patch-file',
      '/m',
      '-f',
      '/m',
      '-o',
      'json',
    ]);
  });

  it('evaluates success and failure conditions on the object', () => {
    const job = { status: { succeeded: 1, failed: 0, phase: 'Done' } };
    expect(evaluateConditions(job, 'status.succeeded > 0')).toBe('succeeded');
    expect(evaluateConditions(job, 'status.succeeded > 1')).toBeUndefined();
    expect(evaluateConditions(job, 'status.succeeded > 1', 'status.phase in (Done, Error)')).toBe('failed');
    expect(evaluateConditions(job, 'status.phase == Done,status.failed == 0')).toBe('succeeded');
    expect(evaluateConditions(job, '!status.missing')).toBe('succeeded');
  });
});
