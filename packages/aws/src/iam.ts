// IAM port: node roles and instance profiles (instance-manager's eks provisioner creates one role and one
// profile per group unless the group names an existing role), with Keiko's plain types.
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DetachRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  RemoveRoleFromInstanceProfileCommand,
  paginateListAttachedRolePolicies,
} from '@aws-sdk/client-iam';
import type { IAMClient, InstanceProfile as SdkInstanceProfile, Role as SdkRole } from '@aws-sdk/client-iam';
import { callAws, hasAwsErrorCode } from './errors';

const SERVICE = 'iam';

export interface IamRole {
  name: string;
  arn: string;
  path?: string;
  /** URL-decoded JSON. */
  assumeRolePolicyDocument?: string;
  tags: Record<string, string>;
}

export interface IamInstanceProfile {
  name: string;
  arn: string;
  roleNames: string[];
}

export interface CreateRoleSpec {
  name: string;
  /** JSON. */
  assumeRolePolicyDocument: string;
  path?: string;
  description?: string;
  tags?: Readonly<Record<string, string>>;
}

export interface IamPort {
  getRole(name: string): Promise<IamRole | undefined>;
  createRole(spec: CreateRoleSpec): Promise<IamRole>;
  /** Deletes the role; false when it did not exist. Policies and profiles must be detached first. */
  deleteRole(name: string): Promise<boolean>;
  /** ARNs of the managed policies attached to the role. */
  listAttachedRolePolicies(roleName: string): Promise<string[]>;
  attachRolePolicy(roleName: string, policyArn: string): Promise<void>;
  /** False when the policy was not attached. */
  detachRolePolicy(roleName: string, policyArn: string): Promise<boolean>;
  getInstanceProfile(name: string): Promise<IamInstanceProfile | undefined>;
  createInstanceProfile(
    name: string,
    options?: { path?: string; tags?: Readonly<Record<string, string>> },
  ): Promise<IamInstanceProfile>;
  addRoleToInstanceProfile(profileName: string, roleName: string): Promise<void>;
  /** False when the role was not in the profile. */
  removeRoleFromInstanceProfile(profileName: string, roleName: string): Promise<boolean>;
  /** False when the profile did not exist. */
  deleteInstanceProfile(name: string): Promise<boolean>;
}

/** The trust policy of an EC2 node role. */
export const EC2_ASSUME_ROLE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: ['ec2.amazonaws.com'] }, Action: ['sts:AssumeRole'] }],
});

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function decodePolicy(doc: string | undefined): string | undefined {
  if (doc === undefined) return undefined;
  try {
    return decodeURIComponent(doc);
  } catch {
    return doc;
  }
}

function fromSdkRole(r: SdkRole): IamRole {
  return definedOnly({
    name: r.RoleName ?? '',
    arn: r.Arn ?? '',
    path: r.Path,
    assumeRolePolicyDocument: decodePolicy(r.AssumeRolePolicyDocument),
    tags: Object.fromEntries((r.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
  });
}

function fromSdkProfile(p: SdkInstanceProfile): IamInstanceProfile {
  return {
    name: p.InstanceProfileName ?? '',
    arn: p.Arn ?? '',
    roleNames: (p.Roles ?? []).flatMap((r) => (r.RoleName ? [r.RoleName] : [])),
  };
}

const isNoSuchEntity = (err: unknown) => hasAwsErrorCode(err, 'NoSuchEntity', 'NoSuchEntityException');

function tagList(tags: Readonly<Record<string, string>> | undefined) {
  const list = Object.entries(tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  return list.length > 0 ? list : undefined;
}

export class AwsIam implements IamPort {
  constructor(private readonly client: IAMClient) {}

  async getRole(name: string): Promise<IamRole | undefined> {
    try {
      const out = await callAws({ service: SERVICE, operation: 'GetRole', subject: `role ${name}` }, () =>
        this.client.send(new GetRoleCommand({ RoleName: name })),
      );
      return out.Role ? fromSdkRole(out.Role) : undefined;
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  async createRole(spec: CreateRoleSpec): Promise<IamRole> {
    const out = await callAws(
      { service: SERVICE, operation: 'CreateRole', subject: `role ${spec.name}` },
      () =>
        this.client.send(
          new CreateRoleCommand({
            RoleName: spec.name,
            AssumeRolePolicyDocument: spec.assumeRolePolicyDocument,
            Path: spec.path,
            Description: spec.description,
            Tags: tagList(spec.tags),
          }),
        ),
    );
    if (!out.Role) throw new Error(`iam CreateRole role ${spec.name}: response has no Role`);
    return fromSdkRole(out.Role);
  }

  async deleteRole(name: string): Promise<boolean> {
    try {
      await callAws({ service: SERVICE, operation: 'DeleteRole', subject: `role ${name}` }, () =>
        this.client.send(new DeleteRoleCommand({ RoleName: name })),
      );
      return true;
    } catch (err) {
      if (isNoSuchEntity(err)) return false;
      throw err;
    }
  }

  async listAttachedRolePolicies(roleName: string): Promise<string[]> {
    return callAws(
      { service: SERVICE, operation: 'ListAttachedRolePolicies', subject: `role ${roleName}` },
      async () => {
        const arns: string[] = [];
        for await (const page of paginateListAttachedRolePolicies(
          { client: this.client },
          { RoleName: roleName },
        )) {
          for (const p of page.AttachedPolicies ?? []) if (p.PolicyArn) arns.push(p.PolicyArn);
        }
        return arns;
      },
    );
  }

  async attachRolePolicy(roleName: string, policyArn: string): Promise<void> {
    await callAws(
      { service: SERVICE, operation: 'AttachRolePolicy', subject: `role ${roleName} policy ${policyArn}` },
      () => this.client.send(new AttachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn })),
    );
  }

  async detachRolePolicy(roleName: string, policyArn: string): Promise<boolean> {
    try {
      await callAws(
        { service: SERVICE, operation: 'DetachRolePolicy', subject: `role ${roleName} policy ${policyArn}` },
        () => this.client.send(new DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn })),
      );
      return true;
    } catch (err) {
      if (isNoSuchEntity(err)) return false;
      throw err;
    }
  }

  async getInstanceProfile(name: string): Promise<IamInstanceProfile | undefined> {
    try {
      const out = await callAws(
        { service: SERVICE, operation: 'GetInstanceProfile', subject: `instance profile ${name}` },
        () => this.client.send(new GetInstanceProfileCommand({ InstanceProfileName: name })),
      );
      return out.InstanceProfile ? fromSdkProfile(out.InstanceProfile) : undefined;
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  async createInstanceProfile(
    name: string,
    options: { path?: string; tags?: Readonly<Record<string, string>> } = {},
  ): Promise<IamInstanceProfile> {
    const out = await callAws(
      { service: SERVICE, operation: 'CreateInstanceProfile', subject: `instance profile ${name}` },
      () =>
        this.client.send(
          new CreateInstanceProfileCommand({
            InstanceProfileName: name,
            Path: options.path,
            Tags: tagList(options.tags),
          }),
        ),
    );
    if (!out.InstanceProfile)
      throw new Error(`iam CreateInstanceProfile ${name}: response has no InstanceProfile`);
    return fromSdkProfile(out.InstanceProfile);
  }

  async addRoleToInstanceProfile(profileName: string, roleName: string): Promise<void> {
    await callAws(
      {
        service: SERVICE,
        operation: 'AddRoleToInstanceProfile',
        subject: `instance profile ${profileName} role ${roleName}`,
      },
      () =>
        this.client.send(
          new AddRoleToInstanceProfileCommand({ InstanceProfileName: profileName, RoleName: roleName }),
        ),
    );
  }

  async removeRoleFromInstanceProfile(profileName: string, roleName: string): Promise<boolean> {
    try {
      await callAws(
        {
          service: SERVICE,
          operation: 'RemoveRoleFromInstanceProfile',
          subject: `instance profile ${profileName} role ${roleName}`,
        },
        () =>
          this.client.send(
            new RemoveRoleFromInstanceProfileCommand({
              InstanceProfileName: profileName,
              RoleName: roleName,
            }),
          ),
      );
      return true;
    } catch (err) {
      if (isNoSuchEntity(err)) return false;
      throw err;
    }
  }

  async deleteInstanceProfile(name: string): Promise<boolean> {
    try {
      await callAws(
        { service: SERVICE, operation: 'DeleteInstanceProfile', subject: `instance profile ${name}` },
        () => this.client.send(new DeleteInstanceProfileCommand({ InstanceProfileName: name })),
      );
      return true;
    } catch (err) {
      if (isNoSuchEntity(err)) return false;
      throw err;
    }
  }
}
