// CloudFormation port: the stack operations instance-manager's eks-cf provisioner needs (create, update,
// delete, describe, follow events), with Keiko's plain types. AwsCloudFormation is the SDK adapter;
// CachedCloudFormation serves describeStack from a short TTL cache that the port's own writes invalidate.
import {
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  GetTemplateCommand,
  UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import type {
  Capability,
  CloudFormationClient,
  Stack as SdkStack,
  StackEvent as SdkStackEvent,
} from '@aws-sdk/client-cloudformation';
import { DEFAULT_GROUP_CACHE_TTL_MS, systemClock, TtlCache } from './cache';
import type { Clock } from './cache';
import { callAws, hasAwsErrorCode } from './errors';

const SERVICE = 'cloudformation';

export interface Stack {
  /** The stack's ARN (CloudFormation's StackId). */
  id: string;
  name: string;
  /** CREATE_IN_PROGRESS, CREATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE... */
  status: string;
  statusReason?: string;
  outputs: Record<string, string>;
  parameters: Record<string, string>;
  tags: Record<string, string>;
  creationTime?: Date;
  lastUpdatedTime?: Date;
}

export interface StackEvent {
  eventId: string;
  stackName: string;
  logicalResourceId: string;
  physicalResourceId?: string;
  resourceType: string;
  resourceStatus: string;
  resourceStatusReason?: string;
  timestamp: Date;
}

export type StackCapability = 'CAPABILITY_IAM' | 'CAPABILITY_NAMED_IAM' | 'CAPABILITY_AUTO_EXPAND';

export interface StackSpec {
  name: string;
  /** The template, JSON or YAML. */
  templateBody: string;
  parameters?: Readonly<Record<string, string>>;
  tags?: Readonly<Record<string, string>>;
  /** Needed when the template creates IAM resources. */
  capabilities?: readonly StackCapability[];
}

export interface CloudFormationPort {
  /** The stack, or undefined when there is none by that name (deleted stacks are not returned by name). */
  describeStack(name: string): Promise<Stack | undefined>;
  /** Starts creating the stack; returns its id. */
  createStack(spec: StackSpec): Promise<string>;
  /** Starts updating the stack; `updated: false` when CloudFormation says there is nothing to update. */
  updateStack(spec: StackSpec): Promise<{ updated: boolean }>;
  /** Starts deleting the stack (a no-op for a stack that does not exist). */
  deleteStack(name: string): Promise<void>;
  /** The stack's most recent events, newest first (at most `limit`, default 100). */
  describeStackEvents(name: string, options?: { limit?: number }): Promise<StackEvent[]>;
  /** The template body the stack was last created or updated with, or undefined without a stack. */
  getTemplateBody(name: string): Promise<string | undefined>;
  /** Drops any cached view of the stack (all when omitted). A no-op on the uncached adapter. */
  invalidate(name?: string): void;
}

// ---- pure helpers ------------------------------------------------------------------------------------

/** What a stack status means for a controller waiting on it. */
export type StackStatusClass =
  | 'in-progress' // an operation is running: wait
  | 'complete' // CREATE_COMPLETE, UPDATE_COMPLETE, IMPORT_COMPLETE: usable, updatable
  | 'rolled-back' // UPDATE_ROLLBACK_COMPLETE: usable and updatable, but the last update failed
  | 'failed' // CREATE_FAILED, ROLLBACK_COMPLETE, *_FAILED: only deletion helps (or a retried update)
  | 'deleted'; // DELETE_COMPLETE

export function classifyStackStatus(status: string): StackStatusClass {
  if (status === 'DELETE_COMPLETE') return 'deleted';
  if (status.endsWith('_IN_PROGRESS')) return 'in-progress';
  if (status === 'UPDATE_ROLLBACK_COMPLETE') return 'rolled-back';
  if (status.endsWith('_FAILED') || status === 'ROLLBACK_COMPLETE') return 'failed';
  return 'complete';
}

/** A failed resource event's reason, e.g. "NodeGroup CREATE_FAILED: subnet-x does not exist". */
export function describeStackEvent(e: StackEvent): string {
  return `${e.logicalResourceId} (${e.resourceType}) ${e.resourceStatus}${e.resourceStatusReason ? `: ${e.resourceStatusReason}` : ''}`;
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function fromSdkStack(s: SdkStack): Stack {
  return definedOnly({
    id: s.StackId ?? '',
    name: s.StackName ?? '',
    status: s.StackStatus ?? 'UNKNOWN',
    statusReason: s.StackStatusReason,
    outputs: Object.fromEntries(
      (s.Outputs ?? []).filter((o) => o.OutputKey).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    ),
    parameters: Object.fromEntries(
      (s.Parameters ?? [])
        .filter((p) => p.ParameterKey)
        .map((p) => [p.ParameterKey ?? '', p.ParameterValue ?? '']),
    ),
    tags: Object.fromEntries((s.Tags ?? []).filter((t) => t.Key).map((t) => [t.Key ?? '', t.Value ?? ''])),
    creationTime: s.CreationTime,
    lastUpdatedTime: s.LastUpdatedTime,
  });
}

function fromSdkStackEvent(e: SdkStackEvent): StackEvent {
  return definedOnly({
    eventId: e.EventId ?? '',
    stackName: e.StackName ?? '',
    logicalResourceId: e.LogicalResourceId ?? '',
    physicalResourceId: e.PhysicalResourceId || undefined,
    resourceType: e.ResourceType ?? '',
    resourceStatus: e.ResourceStatus ?? '',
    resourceStatusReason: e.ResourceStatusReason,
    timestamp: e.Timestamp ?? new Date(0),
  });
}

function stackInput(spec: StackSpec) {
  return {
    StackName: spec.name,
    TemplateBody: spec.templateBody,
    Parameters: Object.entries(spec.parameters ?? {}).map(([ParameterKey, ParameterValue]) => ({
      ParameterKey,
      ParameterValue,
    })),
    Tags: Object.entries(spec.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    Capabilities: spec.capabilities ? ([...spec.capabilities] as Capability[]) : undefined,
  };
}

/** DescribeStacks and friends answer a missing stack with a ValidationError "... does not exist". */
function isMissingStack(err: unknown): boolean {
  return hasAwsErrorCode(err, 'ValidationError') && /does not exist/i.test(String((err as Error).message));
}

// ---- the SDK adapter ---------------------------------------------------------------------------------

export class AwsCloudFormation implements CloudFormationPort {
  constructor(private readonly client: CloudFormationClient) {}

  invalidate(): void {
    // Nothing cached here; see CachedCloudFormation.
  }

  async describeStack(name: string): Promise<Stack | undefined> {
    try {
      const out = await callAws(
        { service: SERVICE, operation: 'DescribeStacks', subject: `stack ${name}` },
        () => this.client.send(new DescribeStacksCommand({ StackName: name })),
      );
      const stack = out.Stacks?.[0];
      return stack ? fromSdkStack(stack) : undefined;
    } catch (err) {
      if (isMissingStack(err)) return undefined;
      throw err;
    }
  }

  async createStack(spec: StackSpec): Promise<string> {
    const out = await callAws(
      { service: SERVICE, operation: 'CreateStack', subject: `stack ${spec.name}` },
      () => this.client.send(new CreateStackCommand(stackInput(spec))),
    );
    return out.StackId ?? '';
  }

  async updateStack(spec: StackSpec): Promise<{ updated: boolean }> {
    try {
      await callAws({ service: SERVICE, operation: 'UpdateStack', subject: `stack ${spec.name}` }, () =>
        this.client.send(new UpdateStackCommand(stackInput(spec))),
      );
      return { updated: true };
    } catch (err) {
      // Not a failure: the stack already is what the template says.
      if (
        hasAwsErrorCode(err, 'ValidationError') &&
        /no updates are to be performed/i.test(String((err as Error).message))
      )
        return { updated: false };
      throw err;
    }
  }

  async deleteStack(name: string): Promise<void> {
    await callAws({ service: SERVICE, operation: 'DeleteStack', subject: `stack ${name}` }, () =>
      this.client.send(new DeleteStackCommand({ StackName: name })),
    );
  }

  async describeStackEvents(name: string, options: { limit?: number } = {}): Promise<StackEvent[]> {
    const limit = options.limit ?? 100;
    const events: StackEvent[] = [];
    try {
      await callAws(
        { service: SERVICE, operation: 'DescribeStackEvents', subject: `stack ${name}` },
        async () => {
          let next: string | undefined;
          do {
            const out = await this.client.send(
              new DescribeStackEventsCommand({ StackName: name, NextToken: next }),
            );
            events.push(...(out.StackEvents ?? []).map(fromSdkStackEvent));
            next = out.NextToken;
          } while (next && events.length < limit);
        },
      );
    } catch (err) {
      if (isMissingStack(err)) return [];
      throw err;
    }
    // AWS returns newest first; sort anyway (stable for equal timestamps) so callers can rely on it.
    return events.sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime()).slice(0, limit);
  }

  async getTemplateBody(name: string): Promise<string | undefined> {
    try {
      const out = await callAws(
        { service: SERVICE, operation: 'GetTemplate', subject: `stack ${name}` },
        () => this.client.send(new GetTemplateCommand({ StackName: name })),
      );
      return out.TemplateBody;
    } catch (err) {
      if (isMissingStack(err)) return undefined;
      throw err;
    }
  }
}

export interface CachedCloudFormationOptions {
  ttlMs?: number;
  clock?: Clock;
}

/**
 * describeStack from a short TTL cache (concurrent reads share one call); create/update/delete through
 * this port drop the stack's entry, even when they fail, since AWS may have applied them. Events and
 * templates pass through.
 */
export class CachedCloudFormation implements CloudFormationPort {
  private readonly stacks: TtlCache<Stack | undefined>;

  constructor(
    private readonly inner: CloudFormationPort,
    options: CachedCloudFormationOptions = {},
  ) {
    this.stacks = new TtlCache({
      ttlMs: options.ttlMs ?? DEFAULT_GROUP_CACHE_TTL_MS,
      clock: options.clock ?? systemClock,
    });
  }

  describeStack(name: string): Promise<Stack | undefined> {
    return this.stacks.get(name, () => this.inner.describeStack(name));
  }

  invalidate(name?: string): void {
    if (name === undefined) this.stacks.invalidateAll();
    else this.stacks.invalidate(name);
  }

  createStack(spec: StackSpec): Promise<string> {
    return this.mutate(spec.name, () => this.inner.createStack(spec));
  }

  updateStack(spec: StackSpec): Promise<{ updated: boolean }> {
    return this.mutate(spec.name, () => this.inner.updateStack(spec));
  }

  deleteStack(name: string): Promise<void> {
    return this.mutate(name, () => this.inner.deleteStack(name));
  }

  describeStackEvents(name: string, options?: { limit?: number }): Promise<StackEvent[]> {
    return this.inner.describeStackEvents(name, options);
  }

  getTemplateBody(name: string): Promise<string | undefined> {
    return this.inner.getTemplateBody(name);
  }

  private async mutate<T>(name: string, change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } finally {
      this.stacks.invalidate(name);
    }
  }
}
