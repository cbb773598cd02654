import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { load } from 'js-yaml';
import { addonParameters, normalizeAddon, type Addon, type WorkflowType } from '@keiko/api';
import { addonChecksum } from '../src/addon/checksum';
import { observeWorkflow, parseWorkflowTemplate, renderWorkflow, type Workflow } from '../src/addon/workflow';
import { addon } from './support/fixtures';

const root = path.resolve(import.meta.dirname, '../../..');
const example = (f: string) => load(fs.readFileSync(path.join(root, f), 'utf8')) as Addon;

function render(a: Addon, step: 'prereqs' | 'install' | 'validate' | 'delete') {
  const spec = normalizeAddon(a).spec;
  const wt = spec.lifecycle![step] as WorkflowType;
  const parsed = parseWorkflowTemplate(wt, `spec.lifecycle.${step}`, addonParameters(spec));
  expect(parsed.problems).toEqual([]);
  return renderWorkflow({
    addon: a,
    spec,
    step,
    checksum: addonChecksum(spec),
    wt,
    template: parsed.template!,
    deadlineSeconds: 3600,
  });
}

describe('workflow templates', () => {
  it('reports what is wrong with a template, by field', () => {
    const params = { namespace: 'ns', clusterName: '', clusterRegion: '' };
    const check = (template: string, extra: Partial<WorkflowType> = {}) =>
      parseWorkflowTemplate({ template, ...extra }, 'spec.lifecycle.install', params).problems;
    expect(check('kind: [')[0]!.message).toMatch(/^not valid YAML: /);
    expect(check('apiVersion: v1\nkind: Pod\nspec: {}\n')).toEqual([
      {
        field: 'spec.lifecycle.install.template',
        message:
          'must be an Argo Workflow (apiVersion: argoproj.io/v1alpha1, kind: Workflow), got apiVersion: v1, kind: Pod',
      },
    ]);
    expect(check('apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n')).toEqual([
      { field: 'spec.lifecycle.install.template', message: 'the Workflow has no spec' },
    ]);
    expect(
      check(
        'apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  arguments:\n    parameters:\n      - name: namespace\n        value: x\n',
      ),
    ).toEqual([
      {
        field: 'spec.lifecycle.install.template',
        message:
          'workflow parameter "namespace" is also an addon parameter (spec.params); rename one of them',
      },
    ]);
    expect(
      check('apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: {}\n', { namePrefix: 'Pre_' })[0]!.field,
    ).toBe('spec.lifecycle.install.namePrefix');
  });

  it("accepts the talk's elided `spec: ...` and renders it as a no-op with the parameters", () => {
    const talk = example('examples/talk/addon-cluster-autoscaler.yaml');
    const { workflow, notes } = render(talk, 'prereqs');
    expect(workflow.spec).toEqual({
      entrypoint: 'elided-spec-noop',
      templates: [{ name: 'elided-spec-noop', suspend: { duration: '0' } }],
      arguments: {
        parameters: [
          { name: 'namespace', value: 'addon-cluster-autoscaler-ns' },
          { name: 'clusterName', value: 'my-example.cluster.k8s.local' },
          { name: 'clusterRegion', value: 'us-west-2' },
        ],
      },
      ttlStrategy: { secondsAfterCompletion: 259200 },
      activeDeadlineSeconds: 3600,
    });
    expect(notes).toEqual([
      "the prereqs template's spec is not a mapping (elided?); submitted as a no-op (one suspend step of 0s) with the addon parameters",
    ]);
  });

  it("names, labels and owns the workflow, and injects every addon parameter after the template's own", () => {
    const er = example('examples/addon-manager/event-router.yaml');
    er.metadata.uid = 'uid-1';
    const checksum = addonChecksum(normalizeAddon(er).spec);
    const { workflow } = render(er, 'prereqs');
    expect(workflow.metadata).toEqual({
      name: `event-router-pre-prereqs-${checksum}-wf`,
      namespace: 'addon-manager-system',
      labels: {
        'addonmgr.keikoproj.io/addon': 'event-router',
        'addonmgr.keikoproj.io/step': 'prereqs',
        'addonmgr.keikoproj.io/checksum': checksum,
        'addonmgr.keikoproj.io/addon-uid': 'uid-1',
        'app.kubernetes.io/part-of': 'event-router',
        'app.kubernetes.io/managed-by': 'addonmgr.keikoproj.io',
      },
      ownerReferences: [
        {
          apiVersion: 'addonmgr.keikoproj.io/v1alpha1',
          kind: 'Addon',
          name: 'event-router',
          uid: 'uid-1',
          controller: false,
          blockOwnerDeletion: true,
        },
      ],
    });
    const params = (workflow.spec!.arguments as { parameters: { name: string; value: string }[] }).parameters;
    expect(params).toEqual([
      { name: 'namespace', value: 'addon-event-router-ns' },
      { name: 'clusterName', value: 'my-example.cluster.k8s.local' },
      { name: 'clusterRegion', value: 'us-west-2' },
      { name: 'logLevel', value: 'info' },
      { name: 'replicas', value: '2' },
      { name: 'sink', value: 'stdout' },
    ]);
  });

  it("keeps the template's own TTL, deadline, parameters, labels and annotations", () => {
    const a = addon('a');
    a.spec.lifecycle!.install!.template = [
      'apiVersion: argoproj.io/v1alpha1',
      'kind: Workflow',
      'metadata:',
      '  labels: { team: platform }',
      '  annotations: { example.com/owner: platform }',
      'spec:',
      '  ttlStrategy: { secondsAfterSuccess: 60 }',
      '  activeDeadlineSeconds: 120',
      '  arguments:',
      '    parameters: [{ name: chart, value: x }]',
      '',
    ].join('\n');
    const { workflow } = render(a, 'install');
    expect(workflow.spec).toMatchObject({
      ttlStrategy: { secondsAfterSuccess: 60 },
      activeDeadlineSeconds: 120,
    });
    expect(
      (workflow.spec!.arguments as { parameters: { name: string }[] }).parameters.map((p) => p.name),
    ).toEqual(['chart', 'namespace', 'clusterName', 'clusterRegion']);
    expect(workflow.metadata?.labels?.team).toBe('platform');
    expect(workflow.metadata?.annotations).toEqual({ 'example.com/owner': 'platform' });
  });

  it('the delete workflow has no owner: it must outlive the Addon it deletes', () => {
    expect(render(addon('a'), 'delete').workflow.metadata?.ownerReferences).toBeUndefined();
  });

  it('adds the default labels to every manifest the workflow applies: resource templates and kubectl artifacts', () => {
    const full = example('examples/addon-manager/cluster-autoscaler.yaml');
    const prereqs = render(full, 'prereqs').workflow;
    const docs = (prereqs.spec!.templates as { resource?: { manifest: string } }[])
      .flatMap((t) => (t.resource ? [t.resource.manifest] : []))
      .map((m) => load(m) as { kind: string; metadata: { labels: Record<string, string> } });
    expect(docs.map((d) => d.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
    ]);
    // A kubectl step's raw artifact (the talk's slide applies its prereqs that way) is labelled too.
    const withArtifact = structuredClone(full);
    withArtifact.spec.lifecycle = {
      ...withArtifact.spec.lifecycle,
      prereqs: {
        template: [
          'apiVersion: argoproj.io/v1alpha1',
          'kind: Workflow',
          'spec:',
          '  entrypoint: entry',
          '  templates:',
          '  - name: entry',
          '    steps:',
          '    - - name: apply',
          '        template: submit',
          '        arguments:',
          '          artifacts:',
          '          - name: doc',
          '            path: /tmp/doc',
          '            raw:',
          '              data: |',
          '                apiVersion: v1',
          '                kind: ConfigMap',
          '                metadata: {name: a}',
          '                ---',
          '                apiVersion: v1',
          '                kind: Secret',
          '                metadata: {name: b}',
          '  - name: submit',
          '    inputs: {artifacts: [{name: doc, path: /tmp/doc}]}',
          '    container: {image: bitnami/kubectl, command: [sh, -c], args: ["kubectl apply -f /tmp/doc"]}',
          '',
        ].join('\n'),
      },
    };
    const artifact = (
      render(withArtifact, 'prereqs').workflow.spec!.templates as {
        steps?: { arguments: { artifacts: { raw: { data: string } }[] } }[][];
      }[]
    )[0]!.steps![0]![0]!.arguments.artifacts[0]!.raw.data;
    const artifactDocs = artifact
      .split(/^---$/m)
      .map((d) => load(d) as { kind: string; metadata: { labels: Record<string, string> } });
    expect(artifactDocs.map((d) => d.kind)).toEqual(['ConfigMap', 'Secret']);
    for (const d of [...docs, ...artifactDocs]) {
      expect(d.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'cluster-autoscaler-full',
        'app.kubernetes.io/part-of': 'cluster-autoscaler-full',
        'app.kubernetes.io/version': 'v0.1',
        'app.kubernetes.io/managed-by': 'addonmgr.keikoproj.io',
      });
    }
    const install = render(full, 'install').workflow;
    const manifest = load(
      (install.spec!.templates as { resource: { manifest: string } }[])[0]!.resource.manifest,
    ) as { metadata: { labels: Record<string, string> } };
    expect(manifest.metadata.labels).toEqual({
      app: 'cluster-autoscaler',
      'app.kubernetes.io/name': 'cluster-autoscaler-full',
      'app.kubernetes.io/part-of': 'cluster-autoscaler-full',
      'app.kubernetes.io/version': 'v0.1',
      'app.kubernetes.io/managed-by': 'addonmgr.keikoproj.io',
    });
    // delete templates are left as written
    const del = render(full, 'delete').workflow;
    expect(
      (del.spec!.templates as { resource?: { manifest: string } }[])[1]!.resource!.manifest,
    ).not.toContain('app.kubernetes.io');
  });

  it("puts workflowRole on the workflow's pods and role on the workloads it applies", () => {
    const a = example('examples/addon-manager/event-router.yaml');
    a.spec.lifecycle!.install!.role = 'arn:aws:iam::1:role/er';
    a.spec.lifecycle!.install!.workflowRole = 'arn:aws:iam::1:role/installer';
    const { workflow } = render(a, 'install');
    expect(workflow.spec!.podMetadata).toEqual({
      annotations: { 'iam.amazonaws.com/role': 'arn:aws:iam::1:role/installer' },
    });
    const manifest = (workflow.spec!.templates as { resource: { manifest: string } }[])[0]!.resource.manifest;
    expect(manifest).toContain('replicas: {{workflow.parameters.replicas}}');
    expect(manifest).toContain('iam.amazonaws.com/role: arn:aws:iam::1:role/er');
  });

  it("reads a workflow's outcome: Succeeded, Failed (Argo Failed or Error), otherwise still running", () => {
    const wf = (phase?: string, extra: Partial<Workflow> = {}): Workflow => ({
      metadata: {
        name: 'w',
        labels: { 'addonmgr.keikoproj.io/step': 'install', 'addonmgr.keikoproj.io/checksum': 'c' },
      },
      ...(phase !== undefined ? { status: { phase, message: 'boom' } } : {}),
      ...extra,
    });
    expect(observeWorkflow(wf()).phase).toBe('Running');
    expect(observeWorkflow(wf('Pending')).phase).toBe('Running');
    expect(observeWorkflow(wf('Running')).phase).toBe('Running');
    expect(observeWorkflow(wf('Succeeded')).phase).toBe('Succeeded');
    expect(observeWorkflow(wf('Failed'))).toMatchObject({
      phase: 'Failed',
      message: 'boom',
      step: 'install',
      checksum: 'c',
    });
    expect(observeWorkflow(wf('Error')).phase).toBe('Failed');
  });
});
