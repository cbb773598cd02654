import os from 'node:os';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ResourceTypes, isNotFound, type KubeClient } from './client';
import { noopLogger, type Logger } from './logger';

export type EventType = 'Normal' | 'Warning';

/** An Event a pure plan asks the controller to record on the object it decided about. */
export interface PlannedEvent {
  type: EventType;
  reason: string;
  message: string;
}

/** core/v1 Event as written and read over the wire. */
export interface CoreEvent extends KubernetesObject {
  involvedObject: {
    apiVersion?: string;
    kind?: string;
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
  };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  /** metav1.Time, RFC3339 to the second. */
  firstTimestamp?: string;
  lastTimestamp?: string;
  source?: { component?: string; host?: string };
  reportingComponent?: string;
  reportingInstance?: string;
}

export interface EventRecorderOptions {
  /** Who reports (source.component, reportingComponent), e.g. 'rolling-upgrade-controller'. */
  component: string;
  /** source.host / reportingInstance; defaults to the host name (the pod name in a pod). */
  host?: string;
  logger?: Logger;
  /** Recent events remembered for aggregation (LRU). */
  cacheSize?: number;
  /** A repeat later than this after the previous one starts a new Event instead of counting on the old. */
  aggregationWindowMs?: number;
  /** Distinct messages for one object+type+reason within the window before they are combined into one Event. */
  maxSimilarEvents?: number;
  /** Events per object allowed at once by the spam filter. */
  spamBurst?: number;
  /** The spam filter grants one more event per object every this many ms. */
  spamRefillIntervalMs?: number;
}

/** Keeps the most recently used `max` entries. */
class LruMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }
}

interface LoggedEvent {
  name: string;
  namespace: string;
  count: number;
  /** Wall-clock ms of the latest occurrence (counted, whether or not it was written). */
  lastSeen: number;
}

interface SimilarRecord {
  messages: Set<string>;
  lastSeen: number;
}

interface TokenBucket {
  tokens: number;
  updatedAt: number;
}

/** metav1.Time: RFC3339 without fractional seconds. */
const formatTime = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/** The part of an event name that comes from the object: a DNS subdomain, leaving room for the suffix. */
function eventNamePrefix(name: string): string {
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return (clean || 'object').slice(0, 253 - 17).replace(/[^a-z0-9]+$/, '') || 'object';
}

/** Unique per process and nanosecond-ish: client-go names events `<object>.<unix nanos in hex>`. */
let lastNameStamp = 0n;
function eventName(objectName: string): string {
  let stamp = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  if (stamp <= lastNameStamp) stamp = lastNameStamp + 1n;
  lastNameStamp = stamp;
  return `${eventNamePrefix(objectName)}.${stamp.toString(16)}`;
}

const MAX_MESSAGE_LENGTH = 1024;
const COMBINED_PREFIX = '(combined from similar events): ';

/**
 * Records core/v1 Events about objects, aggregated like client-go's EventCorrelator: a repeat of the
 * same event (object, type, reason, message) patches the existing Event's count and lastTimestamp;
 * many different messages for one object and reason are combined into one Event; and a per-object
 * token bucket keeps a hot loop from flooding the apiserver (suppressed repeats still count, so the
 * next write carries the true count). Recording never throws: an event is worth a log line, never a
 * failed reconcile.
 */
export class EventRecorder {
  readonly component: string;
  readonly host: string;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly maxSimilar: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly logged: LruMap<LoggedEvent>;
  private readonly similar: LruMap<SimilarRecord>;
  private readonly buckets: LruMap<TokenBucket>;
  /** Per-object chains: events about one object are written one after another, so repeats count instead of racing to create. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly client: KubeClient,
    opts: EventRecorderOptions,
  ) {
    this.component = opts.component;
    this.host = opts.host ?? os.hostname();
    this.log = opts.logger ?? noopLogger;
    this.windowMs = opts.aggregationWindowMs ?? 10 * 60_000;
    this.maxSimilar = opts.maxSimilarEvents ?? 10;
    this.burst = opts.spamBurst ?? 25;
    this.refillMs = opts.spamRefillIntervalMs ?? 5 * 60_000;
    const size = opts.cacheSize ?? 4096;
    this.logged = new LruMap(size);
    this.similar = new LruMap(size);
    this.buckets = new LruMap(size);
  }

  /** Records an event about `regarding`. Never throws; resolves once the event is written (or dropped). */
  record(regarding: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    let objectKey: string;
    try {
      objectKey = this.objectKey(regarding);
    } catch (err) {
      this.log.warn('event not recorded', { reason, error: String(err) });
      return Promise.resolve();
    }
    const previous = this.chains.get(objectKey) ?? Promise.resolve();
    const next = previous.then(() => this.recordNow(regarding, objectKey, type, reason, message));
    this.chains.set(objectKey, next);
    void next.finally(() => {
      if (this.chains.get(objectKey) === next) this.chains.delete(objectKey);
    });
    return next;
  }

  private async recordNow(
    regarding: KubernetesObject,
    objectKey: string,
    type: EventType,
    reason: string,
    rawMessage: string,
  ): Promise<void> {
    const meta = regarding.metadata ?? {};
    const namespace = meta.namespace || 'default';
    const now = Date.now();
    let message =
      rawMessage.length > MAX_MESSAGE_LENGTH
        ? `${rawMessage.slice(0, MAX_MESSAGE_LENGTH - 3)}...`
        : rawMessage;
    const logMeta = {
      object: `${regarding.kind ?? 'object'} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name ?? ''}`,
      type,
      reason,
    };
    try {
      // Many distinct messages for one object+reason collapse into one Event keyed without the message.
      const aggregateKey = `${objectKey}\u0000${type}\u0000${reason}`;
      let similar = this.similar.get(aggregateKey);
      if (!similar || now - similar.lastSeen > this.windowMs)
        similar = { messages: new Set(), lastSeen: now };
      similar.lastSeen = now;
      if (similar.messages.size < this.maxSimilar) similar.messages.add(message);
      this.similar.set(aggregateKey, similar);
      let key = `${aggregateKey}\u0000${message}`;
      if (similar.messages.size >= this.maxSimilar) {
        key = aggregateKey;
        message = `${COMBINED_PREFIX}${message}`.slice(0, MAX_MESSAGE_LENGTH);
      }

      let existing = this.logged.get(key);
      if (existing && now - existing.lastSeen > this.windowMs) existing = undefined;

      if (!this.takeToken(objectKey, now)) {
        // Suppressed, but counted: the next write of this event carries the occurrences it stood for.
        if (existing) {
          existing.count++;
          existing.lastSeen = now;
        }
        this.log.debug('event suppressed by the spam filter', logMeta);
        return;
      }

      if (existing) {
        const count = existing.count + 1;
        try {
          await this.client.patch<CoreEvent>(ResourceTypes.Event, existing.namespace, existing.name, {
            count,
            lastTimestamp: formatTime(now),
            message,
          });
          this.logged.set(key, { ...existing, count, lastSeen: now });
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          // Expired (event TTL) or deleted: start a new Event.
        }
      }

      const created = await this.client.create<CoreEvent>(ResourceTypes.Event, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: eventName(meta.name ?? 'object'), namespace },
        involvedObject: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: meta.name,
          namespace: meta.namespace || undefined,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
        reason,
        message,
        type,
        count: 1,
        firstTimestamp: formatTime(now),
        lastTimestamp: formatTime(now),
        source: { component: this.component, host: this.host },
        reportingComponent: this.component,
        reportingInstance: this.host,
      });
      this.logged.set(key, { name: created.metadata?.name ?? '', namespace, count: 1, lastSeen: now });
    } catch (err) {
      this.log.warn('could not record event', {
        ...logMeta,
        message,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** Token bucket per object: `burst` at once, then one per refill interval. */
  private takeToken(objectKey: string, now: number): boolean {
    const bucket = this.buckets.get(objectKey) ?? { tokens: this.burst, updatedAt: now };
    if (this.refillMs > 0) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.updatedAt) / this.refillMs);
    }
    bucket.updatedAt = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(objectKey, bucket);
    return allowed;
  }

  /** The object's identity for aggregation and the spam filter (client-go's spam key: source + involved object). */
  private objectKey(o: KubernetesObject): string {
    const meta = o.metadata;
    if (!meta?.name) throw new Error('the object has no metadata.name');
    return [o.apiVersion ?? '', o.kind ?? '', meta.namespace ?? '', meta.name, meta.uid ?? ''].join('\u0000');
  }
}
