// aws-auth decisions: reference counting, user mappings kept, adopted mappings, restoration.
import { describe, expect, it } from '@jest/globals';
import { loadYaml } from '@kubernetes/client-node';
import {
  ADOPTED_ANNOTATION,
  AwsAuthParseError,
  ensureNodeRole,
  normalizeRoleArn,
  OWNERS_ANNOTATION,
  parseAwsAuth,
  releaseNodeRole,
  renderAwsAuth,
  type AwsAuthDocument,
} from '../src/awsauth/merge';

const A = 'arn:aws:iam::111122223333:role/nodes-a';
const B = 'arn:aws:iam::111122223333:role/nodes-b';
const ADMIN = 'arn:aws:iam::111122223333:role/admins';

const userConfigMap = {
  data: {
    mapRoles: `- rolearn: ${ADMIN}\n  username: admin\n  groups: [system:masters]\n  extra: kept\n`,
    mapUsers:
      '- userarn: arn:aws:iam::111122223333:user/alice\n  username: alice\n  groups: [system:masters]\n',
  },
};

function roundTrip(doc: AwsAuthDocument): AwsAuthDocument {
  const r = renderAwsAuth(doc);
  const annotations = Object.fromEntries(
    Object.entries(r.annotations).filter((e): e is [string, string] => e[1] !== null),
  );
  return parseAwsAuth({ data: { mapRoles: r.mapRoles }, metadata: { annotations } });
}

const arns = (doc: AwsAuthDocument) => doc.mapRoles.map((e) => e.rolearn);

describe('aws-auth merge', () => {
  it('adds a node mapping and keeps every other entry exactly as it was', () => {
    const r = ensureNodeRole(parseAwsAuth(userConfigMap), A, 'team-a/workers');
    expect(r.changed).toBe(true);
    expect(r.mapping).toBe('added');
    const doc = roundTrip(r.doc);
    expect(doc.mapRoles[0]).toEqual({
      rolearn: ADMIN,
      username: 'admin',
      groups: ['system:masters'],
      extra: 'kept',
    });
    expect(doc.mapRoles[1]).toEqual({
      rolearn: A,
      username: 'system:node:{{EC2PrivateDNSName}}',
      groups: ['system:bootstrappers', 'system:nodes'],
    });
    expect(doc.owners).toEqual({ [A]: ['team-a/workers'] });
    // mapUsers is not part of what merge renders: apply.ts writes only data.mapRoles.
    expect(Object.keys(renderAwsAuth(doc))).toEqual(['mapRoles', 'annotations']);
  });

  it('is a no-op when the mapping and the owner are there', () => {
    const once = ensureNodeRole(parseAwsAuth(undefined), A, 'ns/g').doc;
    const again = ensureNodeRole(once, A, 'ns/g');
    expect(again.changed).toBe(false);
    expect(again.mapping).toBe('present');
  });

  it('deleting one group never removes a role another group still uses', () => {
    let doc = ensureNodeRole(parseAwsAuth(undefined), A, 'ns/one').doc;
    doc = ensureNodeRole(doc, A, 'ns/two').doc;
    expect(arns(doc)).toEqual([A]);
    const first = releaseNodeRole(doc, A, 'ns/one');
    expect(first.mapping).toBe('kept');
    expect(arns(first.doc)).toEqual([A]);
    expect(first.doc.owners[A]).toEqual(['ns/two']);
    const last = releaseNodeRole(first.doc, A, 'ns/two');
    expect(last.mapping).toBe('removed');
    expect(arns(last.doc)).toEqual([]);
    expect(last.doc.owners).toEqual({});
  });

  it('keeps a role that a group the caller sees still uses, even when the bookkeeping lost it', () => {
    const doc = ensureNodeRole(parseAwsAuth(undefined), A, 'ns/one').doc;
    const r = releaseNodeRole(doc, A, 'ns/one', ['ns/other']);
    expect(r.mapping).toBe('kept');
    expect(r.doc.owners[A]).toEqual(['ns/other']);
  });

  it("only removes the released role, never another group's or a user's", () => {
    let doc = ensureNodeRole(parseAwsAuth(userConfigMap), A, 'ns/a').doc;
    doc = ensureNodeRole(doc, B, 'ns/b').doc;
    const r = releaseNodeRole(doc, A, 'ns/a');
    expect(arns(r.doc)).toEqual([ADMIN, B]);
  });

  it('adopts a mapping that existed before any group used it, and never removes it', () => {
    const pre = parseAwsAuth({
      data: {
        mapRoles: `- rolearn: ${A}\n  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:nodes, custom]\n`,
      },
    });
    const ensured = ensureNodeRole(pre, A, 'ns/g');
    expect(ensured.mapping).toBe('present');
    expect(ensured.doc.adopted).toEqual([A]);
    expect(ensured.doc.mapRoles[0]?.groups).toEqual(['system:nodes', 'custom']); // theirs, untouched
    const released = releaseNodeRole(roundTrip(ensured.doc), A, 'ns/g');
    expect(released.mapping).toBe('kept');
    expect(arns(released.doc)).toEqual([A]);
    expect(released.doc.adopted).toEqual([]);
  });

  it('restores a managed mapping someone removed', () => {
    const managed = ensureNodeRole(parseAwsAuth(undefined), A, 'ns/g').doc;
    const tampered: AwsAuthDocument = { ...managed, mapRoles: [] };
    const r = ensureNodeRole(tampered, A, 'ns/g');
    expect(r.mapping).toBe('restored');
    expect(arns(r.doc)).toEqual([A]);
  });

  it('maps roles without their IAM path (aws-auth does not match paths)', () => {
    expect(normalizeRoleArn('arn:aws:iam::111122223333:role/teams/platform/nodes')).toBe(
      'arn:aws:iam::111122223333:role/nodes',
    );
    expect(normalizeRoleArn(A)).toBe(A);
    const doc = ensureNodeRole(
      parseAwsAuth(undefined),
      'arn:aws:iam::111122223333:role/x/nodes-a',
      'ns/g',
    ).doc;
    expect(arns(doc)).toEqual([A]);
    expect(ensureNodeRole(doc, A, 'ns/g').changed).toBe(false);
  });

  it('refuses to rewrite an aws-auth it cannot read', () => {
    expect(() => parseAwsAuth({ data: { mapRoles: 'rolearn: [unclosed' } })).toThrow(AwsAuthParseError);
    expect(() => parseAwsAuth({ data: { mapRoles: 'just a string' } })).toThrow(/not a list of mappings/);
    expect(() =>
      parseAwsAuth({ data: {}, metadata: { annotations: { [OWNERS_ANNOTATION]: '{broken' } } }),
    ).toThrow(/not valid JSON/);
  });

  it('renders YAML that parses back and drops empty bookkeeping', () => {
    const doc = ensureNodeRole(parseAwsAuth(undefined), A, 'ns/g').doc;
    const rendered = renderAwsAuth(doc);
    expect(loadYaml(rendered.mapRoles)).toEqual(doc.mapRoles);
    expect(JSON.parse(rendered.annotations[OWNERS_ANNOTATION] ?? '{}')).toEqual({ [A]: ['ns/g'] });
    expect(rendered.annotations[ADOPTED_ANNOTATION]).toBeNull();
    expect(renderAwsAuth(releaseNodeRole(doc, A, 'ns/g').doc)).toEqual({
      mapRoles: '',
      annotations: { [OWNERS_ANNOTATION]: null, [ADOPTED_ANNOTATION]: null },
    });
  });
});
