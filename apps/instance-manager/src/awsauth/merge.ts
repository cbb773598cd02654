// The aws-auth ConfigMap (kube-system/aws-auth) maps IAM roles to Kubernetes users; a node can only join
// when its role is mapped to system:node:{{EC2PrivateDNSName}} in system:bootstrappers + system:nodes.
// This module decides the ConfigMap's new content; apply.ts reads and writes it. Pure.
//
// Rules (each has a test):
//  - Only mapRoles entries for node roles this controller manages are ever added or removed; every other
//    entry, mapUsers, mapAccounts and unknown keys stay exactly as they are.
//  - Reference counting: the ConfigMap records which groups use each managed role (an annotation), so
//    deleting one group never removes a role another group still uses, whatever the controller's cache
//    says. The caller also passes the groups it sees using the role, and any of them keeps it.
//  - A mapping that existed before any group used it (added by a person or another tool) is adopted:
//    kept while groups use it, and never removed when the last one goes.
//  - A managed mapping that someone removed is added back on the next reconcile of a group using it.
import { dump as dumpYaml, load as loadYaml } from 'js-yaml';

export const AWS_AUTH_NAMESPACE = 'kube-system';
export const AWS_AUTH_NAME = 'aws-auth';
/** JSON {roleArn: ["namespace/name", ...]}: the groups using each managed role. */
export const OWNERS_ANNOTATION = 'instancemgr.keikoproj.io/node-role-owners';
/** JSON [roleArn, ...]: managed roles whose mapping predates the controller (never removed). */
export const ADOPTED_ANNOTATION = 'instancemgr.keikoproj.io/adopted-node-roles';

export const NODE_USERNAME = 'system:node:{{EC2PrivateDNSName}}';
export const NODE_GROUPS = ['system:bootstrappers', 'system:nodes'];

/** One mapRoles entry as found (unknown keys kept). */
export type RoleMapping = Record<string, unknown> & { rolearn?: unknown };

export interface AwsAuthDocument {
  mapRoles: RoleMapping[];
  owners: Record<string, string[]>;
  adopted: string[];
}

export class AwsAuthParseError extends Error {
  constructor(message: string) {
    super(`${AWS_AUTH_NAMESPACE}/${AWS_AUTH_NAME}: ${message}; not changing it`);
    this.name = 'AwsAuthParseError';
  }
}

/**
 * aws-auth matches role ARNs without their IAM path (arn:aws:iam::1:role/path/name does not map; the
 * entry must say arn:aws:iam::1:role/name), so every ARN is compared and written path-less.
 */
export function normalizeRoleArn(arn: string): string {
  const m = /^(arn:[^:]+:iam::\d*:role)\/(?:.*\/)?([^/]+)$/.exec(arn.trim());
  return m ? `${m[1]}/${m[2]}` : arn.trim();
}

function entryArn(e: RoleMapping): string | undefined {
  return typeof e.rolearn === 'string' ? normalizeRoleArn(e.rolearn) : undefined;
}

function parseJson<T>(text: string | undefined, what: string, check: (v: unknown) => v is T, fallback: T): T {
  if (text === undefined || text.trim() === '') return fallback;
  try {
    const v: unknown = JSON.parse(text);
    if (check(v)) return v;
  } catch {
    // fall through
  }
  throw new AwsAuthParseError(`annotation ${what} is not valid JSON of the expected shape`);
}

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');
const isOwners = (v: unknown): v is Record<string, string[]> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(isStringArray);

/** Reads the ConfigMap's mapRoles and the controller's bookkeeping. Throws AwsAuthParseError rather than guess. */
export function parseAwsAuth(
  cm: { data?: Record<string, string>; metadata?: { annotations?: Record<string, string> } } | undefined,
): AwsAuthDocument {
  const raw = cm?.data?.mapRoles;
  let mapRoles: RoleMapping[] = [];
  if (raw !== undefined && raw.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = loadYaml(raw);
    } catch (err) {
      throw new AwsAuthParseError(
        `data.mapRoles is not valid YAML (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
      );
    }
    if (parsed === null || parsed === undefined) mapRoles = [];
    else if (
      Array.isArray(parsed) &&
      parsed.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e))
    )
      mapRoles = parsed as RoleMapping[];
    else throw new AwsAuthParseError('data.mapRoles is not a list of mappings');
  }
  const annotations = cm?.metadata?.annotations ?? {};
  return {
    mapRoles,
    owners: parseJson(annotations[OWNERS_ANNOTATION], OWNERS_ANNOTATION, isOwners, {}),
    adopted: parseJson(annotations[ADOPTED_ANNOTATION], ADOPTED_ANNOTATION, isStringArray, []),
  };
}

export interface MergeResult {
  doc: AwsAuthDocument;
  changed: boolean;
  /** What happened to the mapping itself (the bookkeeping may change without it). */
  mapping: 'added' | 'restored' | 'present' | 'removed' | 'kept' | 'absent';
}

function clone(doc: AwsAuthDocument): AwsAuthDocument {
  return {
    mapRoles: doc.mapRoles.map((e) => ({ ...e })),
    owners: Object.fromEntries(Object.entries(doc.owners).map(([k, v]) => [k, [...v]])),
    adopted: [...doc.adopted],
  };
}

function nodeMapping(arn: string): RoleMapping {
  return { rolearn: arn, username: NODE_USERNAME, groups: [...NODE_GROUPS] };
}

/** Makes sure `roleArn` is mapped for nodes and that `owner` is counted as using it. */
export function ensureNodeRole(input: AwsAuthDocument, roleArn: string, owner: string): MergeResult {
  const arn = normalizeRoleArn(roleArn);
  const doc = clone(input);
  let changed = false;
  const managedBefore = arn in doc.owners;
  const present = doc.mapRoles.some((e) => entryArn(e) === arn);
  let mapping: MergeResult['mapping'] = 'present';
  if (!present) {
    doc.mapRoles.push(nodeMapping(arn));
    changed = true;
    mapping = managedBefore ? 'restored' : 'added';
  } else if (!managedBefore && !doc.adopted.includes(arn)) {
    // Someone mapped this role before any group used it: theirs to keep.
    doc.adopted.push(arn);
    changed = true;
  }
  const owners = doc.owners[arn] ?? [];
  if (!owners.includes(owner)) {
    doc.owners[arn] = [...owners, owner].sort();
    changed = true;
  }
  return { doc, changed, mapping };
}

/**
 * `owner` no longer uses `roleArn`. The mapping is removed only when no recorded owner and none of
 * `otherUsers` (groups the caller sees with this role) remains, and the mapping was not adopted.
 */
export function releaseNodeRole(
  input: AwsAuthDocument,
  roleArn: string,
  owner: string,
  otherUsers: readonly string[] = [],
): MergeResult {
  const arn = normalizeRoleArn(roleArn);
  const doc = clone(input);
  let changed = false;
  const owners = (doc.owners[arn] ?? []).filter((o) => o !== owner);
  const remaining = [...new Set([...owners, ...otherUsers.filter((o) => o !== owner)])].sort();
  const present = doc.mapRoles.some((e) => entryArn(e) === arn);

  if (remaining.length > 0) {
    if (JSON.stringify(doc.owners[arn] ?? []) !== JSON.stringify(remaining)) {
      doc.owners[arn] = remaining;
      changed = true;
    }
    return { doc, changed, mapping: present ? 'kept' : 'absent' };
  }
  if (arn in doc.owners) {
    delete doc.owners[arn];
    changed = true;
  }
  if (doc.adopted.includes(arn)) {
    doc.adopted = doc.adopted.filter((a) => a !== arn);
    return { doc, changed: true, mapping: present ? 'kept' : 'absent' };
  }
  if (!present) return { doc, changed, mapping: 'absent' };
  doc.mapRoles = doc.mapRoles.filter((e) => entryArn(e) !== arn);
  return { doc, changed: true, mapping: 'removed' };
}

/** The ConfigMap fields to write: data.mapRoles and the bookkeeping annotations. */
export function renderAwsAuth(doc: AwsAuthDocument): {
  mapRoles: string;
  annotations: Record<string, string | null>;
} {
  const owners = Object.fromEntries(Object.entries(doc.owners).sort(([a], [b]) => a.localeCompare(b)));
  return {
    mapRoles: doc.mapRoles.length > 0 ? dumpYaml(doc.mapRoles, { lineWidth: -1 }) : '',
    annotations: {
      [OWNERS_ANNOTATION]: Object.keys(owners).length > 0 ? JSON.stringify(owners) : null,
      [ADOPTED_ANNOTATION]: doc.adopted.length > 0 ? JSON.stringify([...doc.adopted].sort()) : null,
    },
  };
}
