import { describe, expect, it } from '@jest/globals';
import { load, loadAll } from 'js-yaml';
import { labelManifests } from '../src/addon/manifests';

const labels = {
  partOf: 'event-router',
  managedBy: 'addonmgr.keikoproj.io',
  name: 'event-router',
  version: 'v0.2',
};
const defaults = {
  'app.kubernetes.io/part-of': 'event-router',
  'app.kubernetes.io/managed-by': 'addonmgr.keikoproj.io',
  'app.kubernetes.io/name': 'event-router',
  'app.kubernetes.io/version': 'v0.2',
};

describe('default labels on manifests', () => {
  it('labels every object of a multi-document text, keeping its own labels', () => {
    const text = [
      'apiVersion: v1',
      'kind: Namespace',
      'metadata:',
      '  name: "{{workflow.parameters.namespace}}"',
      '---',
      'apiVersion: v1',
      'kind: ServiceAccount',
      'metadata:',
      '  name: sa',
      '  labels:',
      '    k8s-app: cluster-autoscaler',
      '',
    ].join('\n');
    const out = labelManifests(text, labels);
    expect(out.objects).toBe(2);
    const docs = loadAll(out.text) as { metadata: { name: string; labels: Record<string, string> } }[];
    expect(docs[0]!.metadata).toEqual({ name: '{{workflow.parameters.namespace}}', labels: defaults });
    expect(docs[1]!.metadata.labels).toEqual({ 'k8s-app': 'cluster-autoscaler', ...defaults });
  });

  it("keeps a manifest's own app.kubernetes.io/name and version, always sets part-of and managed-by", () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: metrics\n    app.kubernetes.io/version: "2.1"\n    app.kubernetes.io/part-of: something-else\n';
    const doc = load(labelManifests(text, labels).text) as { metadata: { labels: Record<string, string> } };
    expect(doc.metadata.labels).toEqual({
      'app.kubernetes.io/name': 'metrics',
      'app.kubernetes.io/version': '2.1',
      'app.kubernetes.io/part-of': 'event-router',
      'app.kubernetes.io/managed-by': 'addonmgr.keikoproj.io',
    });
  });

  it('puts a bare {{parameter}} value back exactly as written, so a number stays a number after substitution', () => {
    const text =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: er\nspec:\n  replicas: {{workflow.parameters.replicas}}\n  template:\n    spec:\n      containers:\n        - name: c\n          args:\n            - --flag={{workflow.parameters.clusterName}}\n            - {{workflow.parameters.extra}}\n';
    const out = labelManifests(text, labels, 'arn:aws:iam::123:role/er');
    expect(out.error).toBeUndefined();
    expect(out.text).toContain('replicas: {{workflow.parameters.replicas}}\n');
    expect(out.text).toContain('- {{workflow.parameters.extra}}\n');
    const substituted = out.text
      .replaceAll('{{workflow.parameters.replicas}}', '2')
      .replaceAll('{{workflow.parameters.extra}}', '--x')
      .replaceAll('{{workflow.parameters.clusterName}}', 'c1');
    const doc = load(substituted) as {
      spec: {
        replicas: unknown;
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: { args: string[] }[] };
        };
      };
    };
    expect(doc.spec.replicas).toBe(2);
    expect(doc.spec.template.spec.containers[0]!.args).toEqual(['--flag=c1', '--x']);
    expect(doc.spec.template.metadata.annotations).toEqual({
      'iam.amazonaws.com/role': 'arn:aws:iam::123:role/er',
    });
  });

  it('leaves text that is not Kubernetes objects, or not YAML, unchanged', () => {
    expect(labelManifests('just: data\n', labels)).toEqual({ text: 'just: data\n', objects: 0 });
    const broken = 'apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n';
    const out = labelManifests(broken, labels);
    expect(out.text).toBe(broken);
    expect(out.error).toBeDefined();
  });
});
