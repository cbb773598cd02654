// SQS port: just what lifecycle-manager needs to consume Auto Scaling lifecycle events from a queue.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { callAws } from './errors';

const SERVICE = 'sqs';

export interface SqsMessage {
  messageId: string;
  /** Needed to delete the message (and only valid for this receive). */
  receiptHandle: string;
  body: string;
  /** How many times the message has been received, this time included (SQS ApproximateReceiveCount). */
  receiveCount?: number;
  /** When SQS accepted the message (SentTimestamp): the age of a message survives restarts and redeliveries. */
  sentAt?: Date;
  /** String message attributes. */
  attributes: Record<string, string>;
}

export interface ReceiveOptions {
  /** 1..10; default 10. */
  maxMessages?: number;
  /** Long-poll wait, 0..20 s; default 20 (fewer empty receives, fewer calls). */
  waitSeconds?: number;
  visibilityTimeoutSeconds?: number;
  /** Cancels the long poll, e.g. on shutdown. */
  abortSignal?: AbortSignal;
}

export interface SqsPort {
  /** The queue's URL from its name (looked up once, then remembered). */
  queueUrl(queueName: string): Promise<string>;
  receive(queueUrl: string, options?: ReceiveOptions): Promise<SqsMessage[]>;
  delete(queueUrl: string, receiptHandle: string): Promise<void>;
  /** Keeps a received message hidden for `seconds` more from now (0: visible again at once). */
  changeVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void>;
  /** Sends a message; returns its id. */
  send(
    queueUrl: string,
    body: string,
    options?: { delaySeconds?: number; attributes?: Readonly<Record<string, string>> },
  ): Promise<string>;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

export class AwsSqs implements SqsPort {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(private readonly client: SQSClient) {}

  queueUrl(queueName: string): Promise<string> {
    let url = this.urls.get(queueName);
    if (!url) {
      url = callAws(
        { service: SERVICE, operation: 'GetQueueUrl', subject: `queue ${queueName}` },
        async () => {
          const out = await this.client.send(new GetQueueUrlCommand({ QueueName: queueName }));
          if (!out.QueueUrl) throw new Error('response has no QueueUrl');
          return out.QueueUrl;
        },
      );
      // A failed lookup is not remembered, so the next call asks again.
      url.catch(() => this.urls.delete(queueName));
      this.urls.set(queueName, url);
    }
    return url;
  }

  async receive(queueUrl: string, options: ReceiveOptions = {}): Promise<SqsMessage[]> {
    const out = await callAws(
      { service: SERVICE, operation: 'ReceiveMessage', subject: `queue ${queueUrl}` },
      () =>
        this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: clamp(options.maxMessages ?? 10, 1, 10),
            WaitTimeSeconds: clamp(options.waitSeconds ?? 20, 0, 20),
            VisibilityTimeout: options.visibilityTimeoutSeconds,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          }),
          options.abortSignal ? { abortSignal: options.abortSignal } : {},
        ),
    );
    return (out.Messages ?? []).map((m) => {
      const count = Number(m.Attributes?.ApproximateReceiveCount);
      const sent = Number(m.Attributes?.SentTimestamp);
      return {
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        ...(Number.isFinite(count) && count > 0 ? { receiveCount: count } : {}),
        ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
        attributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).flatMap(([k, v]) =>
            v.StringValue !== undefined ? [[k, v.StringValue]] : [],
          ),
        ),
      };
    });
  }

  async delete(queueUrl: string, receiptHandle: string): Promise<void> {
    await callAws({ service: SERVICE, operation: 'DeleteMessage', subject: `queue ${queueUrl}` }, () =>
      this.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle })),
    );
  }

  async changeVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
    await callAws(
      { service: SERVICE, operation: 'ChangeMessageVisibility', subject: `queue ${queueUrl}` },
      () =>
        this.client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: clamp(Math.round(seconds), 0, 43_200),
          }),
        ),
    );
  }

  async send(
    queueUrl: string,
    body: string,
    options: { delaySeconds?: number; attributes?: Readonly<Record<string, string>> } = {},
  ): Promise<string> {
    const out = await callAws(
      { service: SERVICE, operation: 'SendMessage', subject: `queue ${queueUrl}` },
      () =>
        this.client.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: body,
            DelaySeconds: options.delaySeconds,
            MessageAttributes: options.attributes
              ? Object.fromEntries(
                  Object.entries(options.attributes).map(([k, v]) => [
                    k,
                    { DataType: 'String', StringValue: v },
                  ]),
                )
              : undefined,
          }),
        ),
    );
    return out.MessageId ?? '';
  }
}
