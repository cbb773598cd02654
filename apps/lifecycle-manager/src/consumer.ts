// The leader's loop: first resume every instance recorded on a node (a restart or a leader change loses
// nothing), then long-poll the queues, decide each message (plan.ts) and hand instances to the Processor,
// at most --max-drain-concurrency at a time.
import type { V1Node } from '@kubernetes/client-node';
import type { AutoScalingPort, SqsMessage, SqsPort } from '@keiko/aws';
import {
  ResourceTypes,
  type KubeClient,
  type Logger,
  type RunContext,
  type Runnable,
} from '@keiko/kube-runtime';
import { AbortedError, instanceIdOfNode } from '@keiko/node-ops';
import { LAUNCHING, parseMessage, type InstanceEvent, type LifecycleEvent } from './message';
import type { LifecycleMetrics } from './metrics';
import { decideInstanceMessage, decideMessage, isWaiting, receiveBatch } from './plan';
import { IN_PROGRESS_ANNOTATION, QUEUE_NAME_ANNOTATION, type Job, type Processor } from './processor';

export interface ConsumerOptions {
  client: KubeClient;
  log: Logger;
  autoScaling: AutoScalingPort;
  sqs: SqsPort;
  processor: Processor;
  metrics: LifecycleMetrics;
  queueNames: string[];
  pollingIntervalSeconds: number;
  maxDrainConcurrency: number;
  maxTimeToProcessMs: number;
  deleteIfNoNode: boolean;
  dryRun: boolean;
  /** How often nodes are scanned for records to resume (after a transient failure). */
  resumeEveryMs: number;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * A node's in-progress record: the lifecycle notification (upstream's format), or the EC2 event (Kind,
 * EC2InstanceIds) this tool adds. undefined when unreadable.
 */
export function readRecord(
  raw: string,
  nodeInstanceId: string | undefined,
): { instanceId: string; event?: LifecycleEvent; instanceEvent?: InstanceEvent } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Partial<LifecycleEvent> & Partial<InstanceEvent>;
  if (r.LifecycleActionToken && r.EC2InstanceId)
    return { instanceId: r.EC2InstanceId, event: r as LifecycleEvent };
  const instanceId = r.EC2InstanceIds?.[0] ?? nodeInstanceId;
  if (r.Kind && instanceId)
    return { instanceId, instanceEvent: { ...(r as InstanceEvent), EC2InstanceIds: [instanceId] } };
  return undefined;
}

export class Consumer implements Runnable {
  readonly name = 'lifecycle-consumer';
  /** Instances being handled, by instance id. */
  private readonly active = new Map<string, Job>();
  private readonly running = new Set<Promise<void>>();
  private lastResume = 0;

  constructor(private readonly o: ConsumerOptions) {}

  async run({ stopping, abort }: RunContext): Promise<void> {
    const urls = new Map<string, string>();
    while (!stopping.aborted) {
      try {
        if (Date.now() - this.lastResume >= this.o.resumeEveryMs) await this.resume(abort);
        for (const name of this.o.queueNames) {
          if (stopping.aborted) break;
          if (!urls.has(name)) urls.set(name, await this.o.sqs.queueUrl(name));
          await this.poll(name, urls.get(name) ?? '', stopping, abort);
        }
      } catch (err) {
        if (stopping.aborted) break;
        this.o.log.warn('queue poll failed; retrying', { error: errorText(err) });
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
    await Promise.allSettled([...this.running]);
  }

  /** Instances recorded on nodes and not being handled here: handle them again from the record. */
  async resume(signal: AbortSignal): Promise<void> {
    this.lastResume = Date.now();
    const nodes = (await this.o.client.listAll<V1Node>(ResourceTypes.Node, { signal })).items;
    for (const node of nodes) {
      const raw = node.metadata?.annotations?.[IN_PROGRESS_ANNOTATION];
      if (!raw) continue;
      const record = readRecord(raw, instanceIdOfNode(node));
      if (!record) {
        this.o.log.warn('node has an unreadable in-progress record; ignored', { node: node.metadata?.name });
        continue;
      }
      if (this.active.has(record.instanceId) || this.active.size >= this.o.maxDrainConcurrency) continue;
      const queueName = node.metadata?.annotations?.[QUEUE_NAME_ANNOTATION] ?? this.o.queueNames[0] ?? '';
      const queueUrl = await this.o.sqs.queueUrl(queueName).catch(() => '');
      this.o.log.info('resuming a termination recorded on the node', {
        node: node.metadata?.name,
        instance: record.instanceId,
      });
      const time = record.event?.Time ?? record.instanceEvent?.Time ?? '';
      const sentAt = Date.parse(time) || Date.now();
      this.start(
        { ...record, nodeName: node.metadata?.name ?? '', queueName, queueUrl, receipts: [], sentAt },
        signal,
      );
    }
  }

  private async poll(
    queueName: string,
    queueUrl: string,
    stopping: AbortSignal,
    abort: AbortSignal,
  ): Promise<void> {
    const max = receiveBatch(this.active.size, this.o.maxDrainConcurrency);
    if (max === 0) {
      await new Promise((r) => setTimeout(r, 1_000));
      return;
    }
    const messages = await this.o.sqs.receive(queueUrl, {
      maxMessages: max,
      waitSeconds: this.o.pollingIntervalSeconds,
      abortSignal: stopping,
    });
    for (const m of messages) {
      await this.handle(queueName, queueUrl, m, abort).catch((err: unknown) =>
        this.o.log.warn('message left for a later receive', {
          messageId: m.messageId,
          error: errorText(err),
        }),
      );
    }
  }

  private async instanceState(
    group: string,
    instanceId: string,
  ): Promise<{ groupFound: boolean; state?: string }> {
    const g = await this.o.autoScaling.describeGroup(group);
    const state = g?.instances.find((i) => i.id === instanceId)?.lifecycleState;
    return { groupFound: g !== undefined, ...(state ? { state } : {}) };
  }

  private async nodeOf(instanceId: string, signal: AbortSignal): Promise<V1Node | undefined> {
    const nodes = (await this.o.client.listAll<V1Node>(ResourceTypes.Node, { signal })).items;
    return nodes.find((n) => instanceIdOfNode(n) === instanceId);
  }

  private async handle(
    queueName: string,
    queueUrl: string,
    m: SqsMessage,
    signal: AbortSignal,
  ): Promise<void> {
    const parsed = parseMessage(m.body);
    this.o.metrics.received(
      parsed.kind === 'lifecycle'
        ? parsed.event.LifecycleTransition === LAUNCHING
          ? 'launch'
          : 'terminate'
        : parsed.kind === 'instance-event'
          ? parsed.event.Kind
          : parsed.kind,
    );
    if (parsed.kind === 'instance-event')
      return this.handleInstanceEvent(queueName, queueUrl, m, parsed.event, signal);
    const event = parsed.kind === 'lifecycle' ? parsed.event : undefined;
    const inProgress = event ? this.active.get(event.EC2InstanceId) : undefined;
    const found =
      event && !inProgress
        ? await this.instanceState(event.AutoScalingGroupName, event.EC2InstanceId)
        : { groupFound: true };
    const state = found.state;
    const node =
      event && !inProgress && (isWaiting(state) || state === 'Pending:Wait')
        ? await this.nodeOf(event.EC2InstanceId, signal)
        : undefined;
    const sentAt = m.sentAt?.getTime() ?? Date.now();
    const decision = decideMessage({
      parsed,
      inProgress: inProgress !== undefined,
      groupFound: found.groupFound,
      instanceState: state,
      nodeExists: node !== undefined,
      nodeReady: node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      ageMs: Date.now() - sentAt,
      receiveCount: m.receiveCount ?? 1,
      maxTimeToProcessMs: this.o.maxTimeToProcessMs,
      pollingIntervalSeconds: this.o.pollingIntervalSeconds,
    });
    const log = { messageId: m.messageId, instance: event?.EC2InstanceId, decision: decision.do };
    switch (decision.do) {
      case 'delete':
        this.o.log.info(`message deleted: ${decision.why}`, log);
        return this.o.sqs.delete(queueUrl, m.receiptHandle);
      case 'reject':
        this.o.metrics.reject();
        this.o.log.warn(`message rejected: ${decision.why}`, { ...log, receiveCount: m.receiveCount });
        return this.o.sqs.changeVisibility(queueUrl, m.receiptHandle, decision.hideSeconds);
      case 'attach':
        inProgress?.receipts.push(m.receiptHandle);
        return;
      case 'wait':
        this.o.log.info(`${decision.why}; message kept`, log);
        return this.o.sqs.changeVisibility(queueUrl, m.receiptHandle, decision.hideSeconds);
      case 'complete-launch':
        return this.completeLaunch(queueUrl, m, event as LifecycleEvent, node?.metadata?.name);
      case 'complete-without-node':
        return this.completeWithoutNode(queueUrl, m, event as LifecycleEvent, decision.why);
      case 'process':
        this.start(
          {
            instanceId: (event as LifecycleEvent).EC2InstanceId,
            event: event as LifecycleEvent,
            nodeName: node?.metadata?.name ?? '',
            queueName,
            queueUrl,
            receipts: [m.receiptHandle],
            sentAt,
          },
          signal,
        );
    }
  }

  /** A launched instance's node is Ready: CONTINUE its LAUNCHING action, delete the message. */
  private async completeLaunch(
    queueUrl: string,
    m: SqsMessage,
    e: LifecycleEvent,
    nodeName: string | undefined,
  ): Promise<void> {
    if (!this.o.dryRun)
      await this.o.autoScaling
        .completeLifecycleAction({
          groupName: e.AutoScalingGroupName,
          hookName: e.LifecycleHookName,
          token: e.LifecycleActionToken,
          result: 'CONTINUE',
        })
        .catch((err: unknown) => {
          if (!/no active lifecycle action/i.test(errorText(err))) throw err;
        });
    this.o.log.info('launch: node Ready; lifecycle action completed CONTINUE', {
      messageId: m.messageId,
      instance: e.EC2InstanceId,
      node: nodeName,
      dryRun: this.o.dryRun,
    });
    if (!this.o.dryRun) await this.o.sqs.delete(queueUrl, m.receiptHandle);
  }

  private async completeWithoutNode(
    queueUrl: string,
    m: SqsMessage,
    e: LifecycleEvent,
    why: string,
  ): Promise<void> {
    this.o.log.warn(`completing without a node: ${why}`, {
      messageId: m.messageId,
      instance: e.EC2InstanceId,
    });
    await this.o.autoScaling
      .completeLifecycleAction({
        groupName: e.AutoScalingGroupName,
        hookName: e.LifecycleHookName,
        token: e.LifecycleActionToken,
        result: 'CONTINUE',
      })
      .catch((err: unknown) => {
        if (!/no active lifecycle action/i.test(errorText(err))) throw err;
      });
    await this.o.sqs.delete(queueUrl, m.receiptHandle);
  }

  /** An EC2 event: one job per named instance that has a node here (decideInstanceMessage). */
  private async handleInstanceEvent(
    queueName: string,
    queueUrl: string,
    m: SqsMessage,
    event: InstanceEvent,
    signal: AbortSignal,
  ): Promise<void> {
    const nodes = (await this.o.client.listAll<V1Node>(ResourceTypes.Node, { signal })).items;
    const byInstance = new Map(nodes.map((n) => [instanceIdOfNode(n) ?? '', n]));
    const sentAt = m.sentAt?.getTime() ?? Date.now();
    const decision = decideInstanceMessage({
      event,
      withNode: event.EC2InstanceIds.filter((id) => byInstance.has(id)),
      active: event.EC2InstanceIds.filter((id) => this.active.has(id)),
      ageMs: Date.now() - sentAt,
      receiveCount: m.receiveCount ?? 1,
      maxTimeToProcessMs: this.o.maxTimeToProcessMs,
      deleteIfNoNode: this.o.deleteIfNoNode,
    });
    const log = { messageId: m.messageId, kind: event.Kind, instances: event.EC2InstanceIds };
    switch (decision.do) {
      case 'delete':
        this.o.log.info(`message deleted: ${decision.why}`, log);
        return this.o.sqs.delete(queueUrl, m.receiptHandle);
      case 'wait':
        this.o.metrics.reject();
        this.o.log.info(`${decision.why}; message put back`, { ...log, receiveCount: m.receiveCount });
        return this.o.sqs.changeVisibility(queueUrl, m.receiptHandle, decision.hideSeconds);
      case 'attach':
        this.active.get(decision.instanceId)?.receipts.push(m.receiptHandle);
        return;
      case 'process': {
        const shared = { left: decision.instanceIds.length };
        for (const instanceId of decision.instanceIds) {
          const nodeName = byInstance.get(instanceId)?.metadata?.name ?? '';
          this.o.log.info(`${event.Kind}: handling the node`, {
            ...log,
            instance: instanceId,
            node: nodeName,
          });
          const one = { ...event, EC2InstanceIds: [instanceId] };
          const receipts = [m.receiptHandle];
          this.start(
            { instanceId, instanceEvent: one, nodeName, queueName, queueUrl, receipts, sentAt, shared },
            signal,
          );
        }
      }
    }
  }

  private start(job: Job, signal: AbortSignal): void {
    this.active.set(job.instanceId, job);
    const work = this.o.processor
      .run(job, signal)
      .catch((err: unknown) => {
        if (!(err instanceof AbortedError))
          this.o.log.warn('termination will be retried', { node: job.nodeName, error: errorText(err) });
      })
      .finally(() => {
        this.active.delete(job.instanceId);
        this.running.delete(work);
      });
    this.running.add(work);
  }

  /** Instances being handled now (tests, metrics). */
  activeCount(): number {
    return this.active.size;
  }
}
