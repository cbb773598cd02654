// EC2 port: instances, launch templates, subnets, security groups, images, instance types and spot
// prices, with Keiko's plain types. AwsEc2 is the SDK adapter.
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateCommand,
  DeleteLaunchTemplateVersionsCommand,
  DeleteTagsCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  ModifyLaunchTemplateCommand,
  TerminateInstancesCommand,
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeInstanceTypes,
  paginateDescribeLaunchTemplateVersions,
  paginateDescribeSecurityGroups,
  paginateDescribeSpotPriceHistory,
  paginateDescribeSubnets,
} from '@aws-sdk/client-ec2';
import type {
  EC2Client,
  Filter as Ec2Filter,
  Image as SdkImage,
  Instance as SdkInstance,
  InstanceTypeInfo as SdkInstanceTypeInfo,
  LaunchTemplate as SdkLaunchTemplate,
  LaunchTemplateVersion as SdkLaunchTemplateVersion,
  RequestLaunchTemplateData,
  ResponseLaunchTemplateData,
  SecurityGroup as SdkSecurityGroup,
  Subnet as SdkSubnet,
  Tag as Ec2Tag,
  _InstanceType,
} from '@aws-sdk/client-ec2';
import { AWS_LIMITS, chunk, unique } from './batching';
import { AwsOperationError, callAws, hasAwsErrorCode, listForMessage } from './errors';

export type { RequestLaunchTemplateData, ResponseLaunchTemplateData };

const SERVICE = 'ec2';
/** DescribeImages: results per page (API maximum 1000). */
const DESCRIBE_IMAGES_PAGE_SIZE = 1000;
/** DescribeInstanceTypes: results per page (API maximum 100). */
const DESCRIBE_INSTANCE_TYPES_PAGE_SIZE = 100;

/** The tags EC2 itself puts on an instance launched from a launch template (real AWS and moto). */
export const LAUNCH_TEMPLATE_ID_TAG = 'aws:ec2launchtemplate:id';
export const LAUNCH_TEMPLATE_VERSION_TAG = 'aws:ec2launchtemplate:version';

export type InstanceStateName =
  'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface Ec2Instance {
  id: string;
  state: InstanceStateName | string;
  instanceType?: string;
  imageId?: string;
  availabilityZone?: string;
  subnetId?: string;
  vpcId?: string;
  privateDnsName?: string;
  privateIpAddress?: string;
  launchTime?: Date;
  /** `spot` for spot instances; undefined for on-demand. */
  lifecycle?: string;
  tags: Record<string, string>;
  /** The template and version the instance was launched from, from EC2's aws:ec2launchtemplate:* tags. */
  launchTemplate?: { id: string; version?: string };
}

export interface InstanceStateChange {
  id: string;
  previousState?: string;
  currentState?: string;
}

/** A launch template named by id or by name (id wins when both are given). */
export interface LaunchTemplateRef {
  id?: string;
  name?: string;
}

export type LaunchTemplateVersionSelector = '$Latest' | '$Default' | number | string;

export interface LaunchTemplateVersionRef extends LaunchTemplateRef {
  /** Default `$Default`, as AWS does when an ASG names no version. */
  version?: LaunchTemplateVersionSelector;
}

export interface LaunchTemplateInfo {
  id: string;
  name: string;
  defaultVersion: number;
  latestVersion: number;
  tags: Record<string, string>;
  createTime?: Date;
}

export interface LaunchTemplateVersion {
  id: string;
  name: string;
  version: number;
  isDefault: boolean;
  description?: string;
  createTime?: Date;
  instanceType?: string;
  imageId?: string;
  data: ResponseLaunchTemplateData;
}

/** A version selector turned into a concrete number, with that version's data. */
export type ResolvedLaunchTemplate = LaunchTemplateVersion;

export interface DeleteLaunchTemplateVersionsResult {
  deleted: number[];
  failed: Array<{ version: number; code?: string; message?: string }>;
}

export interface Subnet {
  id: string;
  name?: string;
  vpcId?: string;
  availabilityZone?: string;
  cidrBlock?: string;
  availableIpAddressCount?: number;
  tags: Record<string, string>;
}

export interface SecurityGroup {
  id: string;
  groupName?: string;
  /** The Name tag, which can differ from groupName. */
  name?: string;
  vpcId?: string;
  description?: string;
  tags: Record<string, string>;
}

export interface SpotPriceQuery {
  instanceTypes: readonly string[];
  availabilityZone?: string;
  /** e.g. `Linux/UNIX`; default all. */
  productDescriptions?: readonly string[];
  /** Default: now (only the current price per type and AZ). */
  startTime?: Date;
  endTime?: Date;
  /** Stop after this many prices (the history can be long). Default 1000. */
  maxResults?: number;
}

export interface SpotPrice {
  instanceType: string;
  availabilityZone: string;
  productDescription?: string;
  /** USD per hour. */
  price: number;
  timestamp?: Date;
}

/** An AMI as DescribeImages reports it. */
export interface Ec2Image {
  id: string;
  /** `available`, `pending`, `failed`, `deregistered`, `disabled`... Only `available` images launch. */
  state: string;
  name?: string;
  /** `x86_64`, `arm64`, `i386`, `x86_64_mac`, `arm64_mac`. */
  architecture?: string;
  /** `windows` for Windows images; undefined for Linux. */
  platform?: string;
  ownerId?: string;
  creationDate?: string;
  deprecationTime?: string;
  tags: Record<string, string>;
}

/** What an instance type offers, from DescribeInstanceTypes. */
export interface InstanceTypeInfo {
  instanceType: string;
  /** Default vCPUs. */
  vcpus: number;
  memoryMiB: number;
  /** Processor architectures the type runs: `x86_64`, `arm64`, `i386`... */
  architectures: string[];
  /** `on-demand`, `spot`, `capacity-block`. */
  usageClasses: string[];
  currentGeneration?: boolean;
  bareMetal?: boolean;
}

export interface Ec2Port {
  /** The instances among `ids` that EC2 knows (recently terminated ones included, state `terminated`). */
  describeInstances(ids: readonly string[]): Promise<Ec2Instance[]>;
  terminateInstances(ids: readonly string[]): Promise<InstanceStateChange[]>;
  createTags(resourceIds: readonly string[], tags: Readonly<Record<string, string>>): Promise<void>;
  deleteTags(resourceIds: readonly string[], keys: readonly string[]): Promise<void>;

  /** The template, or undefined when there is none by that id or name. */
  describeLaunchTemplate(ref: LaunchTemplateRef): Promise<LaunchTemplateInfo | undefined>;
  /** The given versions (numbers, `$Latest`, `$Default`), or every version when omitted. */
  describeLaunchTemplateVersions(
    ref: LaunchTemplateRef,
    versions?: readonly LaunchTemplateVersionSelector[],
  ): Promise<LaunchTemplateVersion[]>;
  /** `$Latest` / `$Default` / a number -> that version's number and data. Throws naming the template when absent. */
  resolveLaunchTemplateVersion(ref: LaunchTemplateVersionRef): Promise<ResolvedLaunchTemplate>;
  createLaunchTemplate(spec: {
    name: string;
    data: RequestLaunchTemplateData;
    description?: string;
    tags?: Readonly<Record<string, string>>;
  }): Promise<LaunchTemplateInfo>;
  createLaunchTemplateVersion(
    ref: LaunchTemplateRef,
    spec: {
      data: RequestLaunchTemplateData;
      sourceVersion?: LaunchTemplateVersionSelector;
      description?: string;
    },
  ): Promise<LaunchTemplateVersion>;
  setDefaultLaunchTemplateVersion(ref: LaunchTemplateRef, version: number): Promise<void>;
  /** Deletes versions (never the default: AWS refuses it); per-version failures are returned, not thrown. */
  deleteLaunchTemplateVersions(
    ref: LaunchTemplateRef,
    versions: readonly number[],
  ): Promise<DeleteLaunchTemplateVersionsResult>;
  /** Deletes the template and all its versions; false when it did not exist. */
  deleteLaunchTemplate(ref: LaunchTemplateRef): Promise<boolean>;

  /** Subnets by id (`subnet-...`) or Name tag. Throws naming every entry that matched nothing. */
  describeSubnets(idsOrNames: readonly string[], options?: { vpcId?: string }): Promise<Subnet[]>;
  /** Security groups by id (`sg-...`), group name or Name tag. Throws naming every entry that matched nothing. */
  describeSecurityGroups(
    idsOrNames: readonly string[],
    options?: { vpcId?: string },
  ): Promise<SecurityGroup[]>;
  describeSpotPriceHistory(query: SpotPriceQuery): Promise<SpotPrice[]>;
  /**
   * The images among `ids` that exist and this account may launch (its own, public or shared with it),
   * deprecated ones included. Ids that match nothing (malformed ones too) are simply absent: never thrown.
   */
  describeImages(ids: readonly string[]): Promise<Ec2Image[]>;
  /**
   * The given instance types that this region offers (unknown names are absent, never thrown), or every
   * type the region offers when `types` is omitted. Sorted by name.
   */
  describeInstanceTypes(types?: readonly string[]): Promise<InstanceTypeInfo[]>;
}

// ---- pure helpers ----------------------------------------------------------------------------------

export function tagsToRecord(tags: readonly Ec2Tag[] | undefined): Record<string, string> {
  return Object.fromEntries(
    (tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key ?? '', t.Value ?? '']),
  );
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function fromSdkEc2Instance(instance: SdkInstance): Ec2Instance {
  const tags = tagsToRecord(instance.Tags);
  const templateId = tags[LAUNCH_TEMPLATE_ID_TAG];
  return definedOnly({
    id: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    instanceType: instance.InstanceType,
    imageId: instance.ImageId,
    availabilityZone: instance.Placement?.AvailabilityZone,
    subnetId: instance.SubnetId,
    vpcId: instance.VpcId,
    privateDnsName: instance.PrivateDnsName || undefined,
    privateIpAddress: instance.PrivateIpAddress,
    launchTime: instance.LaunchTime,
    lifecycle: instance.InstanceLifecycle,
    tags,
    launchTemplate: templateId
      ? definedOnly({ id: templateId, version: tags[LAUNCH_TEMPLATE_VERSION_TAG] })
      : undefined,
  });
}

export function fromSdkImage(image: SdkImage): Ec2Image {
  return definedOnly({
    id: image.ImageId ?? '',
    state: image.State ?? 'unknown',
    name: image.Name,
    architecture: image.Architecture,
    platform: image.Platform,
    ownerId: image.OwnerId,
    creationDate: image.CreationDate,
    deprecationTime: image.DeprecationTime,
    tags: tagsToRecord(image.Tags),
  });
}

export function fromSdkInstanceTypeInfo(info: SdkInstanceTypeInfo): InstanceTypeInfo {
  return definedOnly({
    instanceType: info.InstanceType ?? '',
    vcpus: info.VCpuInfo?.DefaultVCpus ?? 0,
    memoryMiB: info.MemoryInfo?.SizeInMiB ?? 0,
    architectures: [...(info.ProcessorInfo?.SupportedArchitectures ?? [])],
    usageClasses: [...(info.SupportedUsageClasses ?? [])],
    currentGeneration: info.CurrentGeneration,
    bareMetal: info.BareMetal,
  });
}

function fromSdkLaunchTemplate(t: SdkLaunchTemplate): LaunchTemplateInfo {
  return definedOnly({
    id: t.LaunchTemplateId ?? '',
    name: t.LaunchTemplateName ?? '',
    defaultVersion: t.DefaultVersionNumber ?? 0,
    latestVersion: t.LatestVersionNumber ?? 0,
    tags: tagsToRecord(t.Tags),
    createTime: t.CreateTime,
  });
}

function fromSdkLaunchTemplateVersion(v: SdkLaunchTemplateVersion): LaunchTemplateVersion {
  const data = v.LaunchTemplateData ?? {};
  return definedOnly({
    id: v.LaunchTemplateId ?? '',
    name: v.LaunchTemplateName ?? '',
    version: v.VersionNumber ?? 0,
    isDefault: v.DefaultVersion ?? false,
    description: v.VersionDescription,
    createTime: v.CreateTime,
    instanceType: data.InstanceType,
    imageId: data.ImageId,
    data,
  });
}

function templateParams(ref: LaunchTemplateRef): { LaunchTemplateId?: string; LaunchTemplateName?: string } {
  if (ref.id) return { LaunchTemplateId: ref.id };
  if (ref.name) return { LaunchTemplateName: ref.name };
  throw new Error('a launch template reference needs an id or a name');
}

function templateSubject(ref: LaunchTemplateRef): string {
  return `launch template ${ref.id ?? ref.name ?? '(none)'}`;
}

/** Normalises a selector to what the API takes: `$Latest`, `$Default` or a version number string. */
export function versionSelectorParam(selector: LaunchTemplateVersionSelector | undefined): string {
  if (selector === undefined || selector === '') return '$Default';
  if (typeof selector === 'number') return String(selector);
  const lower = selector.toLowerCase();
  if (lower === '$latest') return '$Latest';
  if (lower === '$default') return '$Default';
  if (!/^\d+$/.test(selector))
    throw new Error(`launch template version must be $Latest, $Default or a number, got ${selector}`);
  return selector;
}

/** Splits entries into ids (by prefix) and names (pure; exported for tests). */
export function splitIdsAndNames(
  entries: readonly string[],
  idPrefix: string,
): { ids: string[]; names: string[] } {
  const wanted = unique(entries.map((e) => e.trim()).filter(Boolean));
  return {
    ids: wanted.filter((e) => e.startsWith(idPrefix)),
    names: wanted.filter((e) => !e.startsWith(idPrefix)),
  };
}

const TEMPLATE_NOT_FOUND_CODES = [
  'InvalidLaunchTemplateId.NotFound',
  'InvalidLaunchTemplateId.Malformed',
  'InvalidLaunchTemplateName.NotFoundException',
];

/**
 * Launch template versions a retention policy may delete: all but the newest `retain` versions and any
 * version in `keep` (the default, the one a group uses, ...). Pure; instance-manager's cleanup plan.
 */
export function launchTemplateVersionsToPrune(
  versions: readonly number[],
  policy: { retain: number; keep?: readonly number[] },
): number[] {
  const keep = new Set(policy.keep ?? []);
  const newestFirst = unique(versions).sort((a, b) => b - a);
  return newestFirst
    .slice(Math.max(0, policy.retain))
    .filter((v) => !keep.has(v))
    .sort((a, b) => a - b);
}

// ---- the SDK adapter -------------------------------------------------------------------------------

export class AwsEc2 implements Ec2Port {
  constructor(private readonly client: EC2Client) {}

  async describeInstances(ids: readonly string[]): Promise<Ec2Instance[]> {
    const wanted = unique(ids.filter(Boolean));
    const found: Ec2Instance[] = [];
    // An instance-id *filter* (not InstanceIds) returns what exists instead of failing the whole call
    // with InvalidInstanceID.NotFound when one id is gone or not yet visible (eventual consistency).
    for (const batch of chunk(wanted, AWS_LIMITS.ec2FilterValues)) {
      await callAws(
        { service: SERVICE, operation: 'DescribeInstances', subject: `instances ${listForMessage(batch)}` },
        async () => {
          const pages = paginateDescribeInstances(
            { client: this.client, pageSize: AWS_LIMITS.describeInstancesPageSize },
            { Filters: [{ Name: 'instance-id', Values: batch }] },
          );
          for await (const page of pages) {
            for (const reservation of page.Reservations ?? [])
              found.push(...(reservation.Instances ?? []).map(fromSdkEc2Instance));
          }
        },
      );
    }
    const order = new Map(wanted.map((id, i) => [id, i]));
    return found.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  }

  async terminateInstances(ids: readonly string[]): Promise<InstanceStateChange[]> {
    const changes: InstanceStateChange[] = [];
    for (const batch of chunk(unique(ids), AWS_LIMITS.ec2Resources)) {
      const out = await callAws(
        { service: SERVICE, operation: 'TerminateInstances', subject: `instances ${listForMessage(batch)}` },
        () => this.client.send(new TerminateInstancesCommand({ InstanceIds: batch })),
      );
      for (const c of out.TerminatingInstances ?? []) {
        changes.push(
          definedOnly({
            id: c.InstanceId ?? '',
            previousState: c.PreviousState?.Name,
            currentState: c.CurrentState?.Name,
          }),
        );
      }
    }
    return changes;
  }

  async createTags(resourceIds: readonly string[], tags: Readonly<Record<string, string>>): Promise<void> {
    const list = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    if (list.length === 0) return;
    for (const batch of chunk(unique(resourceIds), AWS_LIMITS.ec2Resources)) {
      await callAws(
        { service: SERVICE, operation: 'CreateTags', subject: `resources ${listForMessage(batch)}` },
        () => this.client.send(new CreateTagsCommand({ Resources: batch, Tags: list })),
      );
    }
  }

  async deleteTags(resourceIds: readonly string[], keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    for (const batch of chunk(unique(resourceIds), AWS_LIMITS.ec2Resources)) {
      await callAws(
        { service: SERVICE, operation: 'DeleteTags', subject: `resources ${listForMessage(batch)}` },
        () =>
          this.client.send(new DeleteTagsCommand({ Resources: batch, Tags: keys.map((Key) => ({ Key })) })),
      );
    }
  }

  async describeLaunchTemplate(ref: LaunchTemplateRef): Promise<LaunchTemplateInfo | undefined> {
    const params = ref.id
      ? { LaunchTemplateIds: [ref.id] }
      : ref.name
        ? { LaunchTemplateNames: [ref.name] }
        : undefined;
    if (!params) throw new Error('a launch template reference needs an id or a name');
    try {
      const out = await callAws(
        { service: SERVICE, operation: 'DescribeLaunchTemplates', subject: templateSubject(ref) },
        () => this.client.send(new DescribeLaunchTemplatesCommand(params)),
      );
      const template = out.LaunchTemplates?.[0];
      return template ? fromSdkLaunchTemplate(template) : undefined;
    } catch (err) {
      if (hasAwsErrorCode(err, ...TEMPLATE_NOT_FOUND_CODES)) return undefined;
      throw err;
    }
  }

  async describeLaunchTemplateVersions(
    ref: LaunchTemplateRef,
    versions?: readonly LaunchTemplateVersionSelector[],
  ): Promise<LaunchTemplateVersion[]> {
    if (versions?.length === 0) return [];
    const input = {
      ...templateParams(ref),
      ...(versions ? { Versions: unique(versions.map(versionSelectorParam)) } : {}),
    };
    return callAws(
      { service: SERVICE, operation: 'DescribeLaunchTemplateVersions', subject: templateSubject(ref) },
      async () => {
        const found: LaunchTemplateVersion[] = [];
        // A short list of named versions comes back in one response; the full listing pages.
        if (versions) {
          const out = await this.client.send(new DescribeLaunchTemplateVersionsCommand(input));
          found.push(...(out.LaunchTemplateVersions ?? []).map(fromSdkLaunchTemplateVersion));
        } else {
          for await (const page of paginateDescribeLaunchTemplateVersions(
            { client: this.client, pageSize: 200 },
            input,
          )) {
            found.push(...(page.LaunchTemplateVersions ?? []).map(fromSdkLaunchTemplateVersion));
          }
        }
        return found.sort((a, b) => a.version - b.version);
      },
    );
  }

  async resolveLaunchTemplateVersion(ref: LaunchTemplateVersionRef): Promise<ResolvedLaunchTemplate> {
    const selector = versionSelectorParam(ref.version);
    const [found] = await this.describeLaunchTemplateVersions(ref, [selector]);
    if (!found) {
      throw new Error(`resolve ${templateSubject(ref)} version ${selector}: EC2 returned no such version`);
    }
    return found;
  }

  async createLaunchTemplate(spec: {
    name: string;
    data: RequestLaunchTemplateData;
    description?: string;
    tags?: Readonly<Record<string, string>>;
  }): Promise<LaunchTemplateInfo> {
    const tags = Object.entries(spec.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    const out = await callAws(
      { service: SERVICE, operation: 'CreateLaunchTemplate', subject: `launch template ${spec.name}` },
      () =>
        this.client.send(
          new CreateLaunchTemplateCommand({
            LaunchTemplateName: spec.name,
            LaunchTemplateData: spec.data,
            VersionDescription: spec.description,
            TagSpecifications:
              tags.length > 0 ? [{ ResourceType: 'launch-template', Tags: tags }] : undefined,
          }),
        ),
    );
    if (!out.LaunchTemplate) {
      throw new AwsOperationError(
        { service: SERVICE, operation: 'CreateLaunchTemplate', subject: `launch template ${spec.name}` },
        new Error('response has no LaunchTemplate'),
      );
    }
    return fromSdkLaunchTemplate(out.LaunchTemplate);
  }

  async createLaunchTemplateVersion(
    ref: LaunchTemplateRef,
    spec: {
      data: RequestLaunchTemplateData;
      sourceVersion?: LaunchTemplateVersionSelector;
      description?: string;
    },
  ): Promise<LaunchTemplateVersion> {
    const ctx = { service: SERVICE, operation: 'CreateLaunchTemplateVersion', subject: templateSubject(ref) };
    const out = await callAws(ctx, () =>
      this.client.send(
        new CreateLaunchTemplateVersionCommand({
          ...templateParams(ref),
          LaunchTemplateData: spec.data,
          SourceVersion:
            spec.sourceVersion === undefined ? undefined : versionSelectorParam(spec.sourceVersion),
          VersionDescription: spec.description,
        }),
      ),
    );
    if (!out.LaunchTemplateVersion)
      throw new AwsOperationError(ctx, new Error('response has no LaunchTemplateVersion'));
    return fromSdkLaunchTemplateVersion(out.LaunchTemplateVersion);
  }

  async setDefaultLaunchTemplateVersion(ref: LaunchTemplateRef, version: number): Promise<void> {
    await callAws(
      {
        service: SERVICE,
        operation: 'ModifyLaunchTemplate',
        subject: `${templateSubject(ref)} default version ${version}`,
      },
      () =>
        this.client.send(
          new ModifyLaunchTemplateCommand({ ...templateParams(ref), DefaultVersion: String(version) }),
        ),
    );
  }

  async deleteLaunchTemplateVersions(
    ref: LaunchTemplateRef,
    versions: readonly number[],
  ): Promise<DeleteLaunchTemplateVersionsResult> {
    const result: DeleteLaunchTemplateVersionsResult = { deleted: [], failed: [] };
    for (const batch of chunk(unique(versions), AWS_LIMITS.deleteLaunchTemplateVersions)) {
      const out = await callAws(
        {
          service: SERVICE,
          operation: 'DeleteLaunchTemplateVersions',
          subject: `${templateSubject(ref)} versions ${listForMessage(batch.map(String))}`,
        },
        () =>
          this.client.send(
            new DeleteLaunchTemplateVersionsCommand({ ...templateParams(ref), Versions: batch.map(String) }),
          ),
      );
      for (const ok of out.SuccessfullyDeletedLaunchTemplateVersions ?? []) {
        if (ok.VersionNumber !== undefined) result.deleted.push(ok.VersionNumber);
      }
      for (const bad of out.UnsuccessfullyDeletedLaunchTemplateVersions ?? []) {
        result.failed.push(
          definedOnly({
            version: bad.VersionNumber ?? 0,
            code: bad.ResponseError?.Code,
            message: bad.ResponseError?.Message,
          }),
        );
      }
    }
    return result;
  }

  async deleteLaunchTemplate(ref: LaunchTemplateRef): Promise<boolean> {
    try {
      await callAws(
        { service: SERVICE, operation: 'DeleteLaunchTemplate', subject: templateSubject(ref) },
        () => this.client.send(new DeleteLaunchTemplateCommand(templateParams(ref))),
      );
      return true;
    } catch (err) {
      if (hasAwsErrorCode(err, ...TEMPLATE_NOT_FOUND_CODES)) return false;
      throw err;
    }
  }

  async describeSubnets(idsOrNames: readonly string[], options: { vpcId?: string } = {}): Promise<Subnet[]> {
    const { ids, names } = splitIdsAndNames(idsOrNames, 'subnet-');
    const scope: Ec2Filter[] = options.vpcId ? [{ Name: 'vpc-id', Values: [options.vpcId] }] : [];
    const found = new Map<string, Subnet>();
    const query = async (filter: Ec2Filter) => {
      const subnets: Subnet[] = [];
      await callAws(
        {
          service: SERVICE,
          operation: 'DescribeSubnets',
          subject: `subnets ${listForMessage(filter.Values)}`,
        },
        async () => {
          for await (const page of paginateDescribeSubnets(
            { client: this.client },
            { Filters: [filter, ...scope] },
          )) {
            subnets.push(...(page.Subnets ?? []).map(fromSdkSubnet));
          }
        },
      );
      return subnets;
    };
    for (const batch of chunk(ids, AWS_LIMITS.ec2FilterValues))
      for (const s of await query({ Name: 'subnet-id', Values: batch })) found.set(s.id, s);
    for (const batch of chunk(names, AWS_LIMITS.ec2FilterValues))
      for (const s of await query({ Name: 'tag:Name', Values: batch })) found.set(s.id, s);
    const missing = [
      ...ids.filter((id) => !found.has(id)),
      ...names.filter((n) => ![...found.values()].some((s) => s.name === n)),
    ];
    if (missing.length > 0) {
      throw new Error(
        `subnets not found${options.vpcId ? ` in ${options.vpcId}` : ''} (by id or Name tag): ${missing.join(', ')}`,
      );
    }
    return [...found.values()];
  }

  async describeSecurityGroups(
    idsOrNames: readonly string[],
    options: { vpcId?: string } = {},
  ): Promise<SecurityGroup[]> {
    const { ids, names } = splitIdsAndNames(idsOrNames, 'sg-');
    const scope: Ec2Filter[] = options.vpcId ? [{ Name: 'vpc-id', Values: [options.vpcId] }] : [];
    const found = new Map<string, SecurityGroup>();
    const query = async (filter: Ec2Filter) => {
      const groups: SecurityGroup[] = [];
      await callAws(
        {
          service: SERVICE,
          operation: 'DescribeSecurityGroups',
          subject: `security groups ${listForMessage(filter.Values)}`,
        },
        async () => {
          for await (const page of paginateDescribeSecurityGroups(
            { client: this.client },
            { Filters: [filter, ...scope] },
          )) {
            groups.push(...(page.SecurityGroups ?? []).map(fromSdkSecurityGroup));
          }
        },
      );
      return groups;
    };
    for (const batch of chunk(ids, AWS_LIMITS.ec2FilterValues))
      for (const g of await query({ Name: 'group-id', Values: batch })) found.set(g.id, g);
    const matchesName = (n: string) => [...found.values()].some((g) => g.groupName === n || g.name === n);
    for (const batch of chunk(names, AWS_LIMITS.ec2FilterValues))
      for (const g of await query({ Name: 'group-name', Values: batch })) found.set(g.id, g);
    const byTag = names.filter((n) => !matchesName(n));
    for (const batch of chunk(byTag, AWS_LIMITS.ec2FilterValues))
      for (const g of await query({ Name: 'tag:Name', Values: batch })) found.set(g.id, g);
    const missing = [...ids.filter((id) => !found.has(id)), ...names.filter((n) => !matchesName(n))];
    if (missing.length > 0) {
      throw new Error(
        `security groups not found${options.vpcId ? ` in ${options.vpcId}` : ''} (by id, group name or Name tag): ${missing.join(', ')}`,
      );
    }
    return [...found.values()];
  }

  async describeSpotPriceHistory(query: SpotPriceQuery): Promise<SpotPrice[]> {
    const limit = query.maxResults ?? 1000;
    const prices: SpotPrice[] = [];
    if (query.instanceTypes.length === 0) return prices;
    await callAws(
      {
        service: SERVICE,
        operation: 'DescribeSpotPriceHistory',
        subject: `instance types ${listForMessage(query.instanceTypes)}`,
      },
      async () => {
        const pages = paginateDescribeSpotPriceHistory(
          { client: this.client, pageSize: Math.min(limit, 1000) },
          {
            InstanceTypes: [...query.instanceTypes] as _InstanceType[],
            AvailabilityZone: query.availabilityZone,
            ProductDescriptions: query.productDescriptions ? [...query.productDescriptions] : undefined,
            StartTime: query.startTime ?? new Date(),
            EndTime: query.endTime,
          },
        );
        for await (const page of pages) {
          for (const p of page.SpotPriceHistory ?? []) {
            const price = Number(p.SpotPrice);
            if (!p.InstanceType || !p.AvailabilityZone || !Number.isFinite(price)) continue;
            prices.push(
              definedOnly({
                instanceType: p.InstanceType,
                availabilityZone: p.AvailabilityZone,
                productDescription: p.ProductDescription,
                price,
                timestamp: p.Timestamp,
              }),
            );
            if (prices.length >= limit) return;
          }
        }
      },
    );
    return prices;
  }

  async describeImages(ids: readonly string[]): Promise<Ec2Image[]> {
    const wanted = unique(ids.map((id) => id.trim()).filter(Boolean));
    const found = new Map<string, Ec2Image>();
    // An image-id *filter* (not ImageIds): ImageIds fails the whole call with InvalidAMIID.NotFound (or
    // .Malformed) when one id does not exist, and the caller wants to know which ones exist.
    for (const batch of chunk(wanted, AWS_LIMITS.ec2FilterValues)) {
      await callAws(
        { service: SERVICE, operation: 'DescribeImages', subject: `images ${listForMessage(batch)}` },
        async () => {
          for await (const page of paginateDescribeImages(
            { client: this.client, pageSize: DESCRIBE_IMAGES_PAGE_SIZE },
            { Filters: [{ Name: 'image-id', Values: batch }], IncludeDeprecated: true },
          )) {
            for (const image of page.Images ?? []) {
              const mapped = fromSdkImage(image);
              found.set(mapped.id, mapped);
            }
          }
        },
      );
    }
    return wanted.flatMap((id) => {
      const image = found.get(id);
      return image ? [image] : [];
    });
  }

  async describeInstanceTypes(types?: readonly string[]): Promise<InstanceTypeInfo[]> {
    const wanted = types ? unique(types.map((t) => t.trim()).filter(Boolean)) : undefined;
    if (wanted?.length === 0) return [];
    // An instance-type filter, not InstanceTypes: that one fails the call (InvalidInstanceType) when a
    // single name is unknown. Without names, every type of the region (several pages).
    const filters: Array<Ec2Filter[] | undefined> = wanted
      ? chunk(wanted, AWS_LIMITS.ec2FilterValues).map((batch) => [{ Name: 'instance-type', Values: batch }])
      : [undefined];
    const found = new Map<string, InstanceTypeInfo>();
    for (const filter of filters) {
      await callAws(
        {
          service: SERVICE,
          operation: 'DescribeInstanceTypes',
          subject: filter ? `instance types ${listForMessage(filter[0]?.Values)}` : 'every instance type',
        },
        async () => {
          for await (const page of paginateDescribeInstanceTypes(
            { client: this.client, pageSize: DESCRIBE_INSTANCE_TYPES_PAGE_SIZE },
            filter ? { Filters: filter } : {},
          )) {
            for (const info of page.InstanceTypes ?? []) {
              const mapped = fromSdkInstanceTypeInfo(info);
              if (mapped.instanceType) found.set(mapped.instanceType, mapped);
            }
          }
        },
      );
    }
    return [...found.values()].sort((a, b) => a.instanceType.localeCompare(b.instanceType));
  }
}

function fromSdkSubnet(s: SdkSubnet): Subnet {
  const tags = tagsToRecord(s.Tags);
  return definedOnly({
    id: s.SubnetId ?? '',
    name: tags.Name,
    vpcId: s.VpcId,
    availabilityZone: s.AvailabilityZone,
    cidrBlock: s.CidrBlock,
    availableIpAddressCount: s.AvailableIpAddressCount,
    tags,
  });
}

function fromSdkSecurityGroup(g: SdkSecurityGroup): SecurityGroup {
  const tags = tagsToRecord(g.Tags);
  return definedOnly({
    id: g.GroupId ?? '',
    groupName: g.GroupName,
    name: tags.Name,
    vpcId: g.VpcId,
    description: g.Description,
    tags,
  });
}
