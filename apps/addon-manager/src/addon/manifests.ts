// Default labels (and the IAM role annotation) added to the Kubernetes manifests inside a workflow:
// `resource.manifest` templates and raw artifacts, both YAML text that Argo substitutes
// `{{workflow.parameters.x}}` into before applying.
import { dump, loadAll } from 'js-yaml';
import { DefaultLabels, ROLE_ANNOTATION } from './constants';

export interface ManifestLabels {
  /** Always set: which addon the object belongs to. */
  partOf: string;
  /** Always set. */
  managedBy: string;
  /** Set when the manifest has no app.kubernetes.io/name of its own. */
  name: string;
  /** Set when the manifest has no app.kubernetes.io/version of its own. */
  version: string;
}

export interface LabelledManifest {
  text: string;
  /** Objects that got labels. */
  objects: number;
  /** Set when the text could not be read as YAML; it is then left exactly as it was. */
  error?: string;
}

/** Kinds with a pod template at spec.template, where a workload's IAM role annotation goes. */
const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A `{{...}}` that is a whole unquoted value (`replicas: {{workflow.parameters.replicas}}`) is not
 * valid YAML until Argo substitutes it. Such values are swapped for a plain token while the text is
 * parsed and changed, then put back exactly as written, so the number stays a number after
 * substitution. Everything else (`"{{...}}"`, `--flag={{...}}`) is an ordinary string to YAML.
 */
const BARE_PARAMETER = /^(\s*(?:-\s+)?(?:[^\s#"'{][^#]*?:\s+)?|\s*-\s+)(\{\{[^\n]*?\}\})(\s*(?:#.*)?)$/gm;
const TOKEN = (i: number) => `KEIKOBARETEMPLATE${i}X`;

/**
 * Adds the default labels to every object in `text` (one or more YAML documents) and, when `role` is
 * set, the IAM role annotation to the pod template of workloads. Documents that are not Kubernetes
 * objects (no apiVersion/kind) are kept unchanged. Text that cannot be parsed is returned unchanged
 * with `error` set: the workflow still runs, its objects just lack the labels.
 */
export function labelManifests(text: string, labels: ManifestLabels, role?: string): LabelledManifest {
  const bare: string[] = [];
  const tokenized = text.replace(BARE_PARAMETER, (_m, head: string, expr: string, tail: string) => {
    bare.push(expr);
    return `${head}${TOKEN(bare.length - 1)}${tail}`;
  });
  let docs: unknown[];
  try {
    docs = loadAll(tokenized);
  } catch (err) {
    return { text, objects: 0, error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
  let objects = 0;
  const out: string[] = [];
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    if (isObj(doc) && typeof doc.kind === 'string' && typeof doc.apiVersion === 'string') {
      addLabels(doc, labels);
      if (role && POD_TEMPLATE_KINDS.has(doc.kind)) addPodTemplateAnnotation(doc, ROLE_ANNOTATION, role);
      objects++;
    }
    out.push(dump(doc, { lineWidth: -1, noRefs: true }));
  }
  if (objects === 0) return { text, objects: 0 };
  let result = out.join('---\n');
  bare.forEach((expr, i) => (result = result.split(TOKEN(i)).join(expr)));
  return { text: result, objects };
}

function addLabels(obj: Obj, labels: ManifestLabels): void {
  const metadata = isObj(obj.metadata) ? obj.metadata : (obj.metadata = {});
  const current = isObj(metadata.labels) ? metadata.labels : (metadata.labels = {});
  current[DefaultLabels.partOf] = labels.partOf;
  current[DefaultLabels.managedBy] = labels.managedBy;
  if (current[DefaultLabels.name] === undefined) current[DefaultLabels.name] = labels.name;
  if (current[DefaultLabels.version] === undefined) current[DefaultLabels.version] = labels.version;
}

function addPodTemplateAnnotation(obj: Obj, key: string, value: string): void {
  const spec = isObj(obj.spec) ? obj.spec : (obj.spec = {});
  const template = isObj(spec.template) ? spec.template : (spec.template = {});
  const metadata = isObj(template.metadata) ? template.metadata : (template.metadata = {});
  const annotations = isObj(metadata.annotations) ? metadata.annotations : (metadata.annotations = {});
  annotations[key] = value;
}
