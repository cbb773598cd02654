import type { KubernetesObject } from '@kubernetes/client-node';
import {
  ResourceTypes,
  apiVersionOf,
  errorText,
  isConflict,
  isAlreadyExists,
  type KubeClient,
} from './client';
import { noopLogger, type Logger } from './logger';

/** coordination.k8s.io/v1 LeaseSpec as it travels over the wire (times are MicroTime strings). */
export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  /** MicroTime, RFC3339 with microseconds. */
  acquireTime?: string | null;
  /** MicroTime, RFC3339 with microseconds. */
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

export interface Lease extends KubernetesObject {
  spec?: LeaseSpec;
}

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  /** Unique per process (pod name + random suffix): two processes with one identity both believe they lead. */
  identity: string;
  /** How long a candidate waits, after it last saw the lease change, before taking it over. Written in whole seconds (rounded up). */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it gives up leadership. Must be < leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Interval between acquire attempts (jittered) and between renewals. */
  retryPeriodMs?: number;
  /** Acquire attempts wait retryPeriod * (1 + random * jitterFactor), client-go's wait.JitterUntil. */
  jitterFactor?: number;
  /** Clear the lease when run()'s signal aborts, so a successor need not wait for it to expire. */
  releaseOnCancel?: boolean;
  logger?: Logger;
  /** Called with true on becoming leader and false on ceasing to be (the leader_election_master_status gauge). */
  onLeaderChange?(isLeader: boolean): void;
}

export interface LeaderCallbacks {
  /**
   * Called once leadership is acquired. `signal` aborts the moment leadership ends or is being given
   * up; everything started here must stop acting when it does. When run()'s own signal aborts, the
   * elector keeps renewing the lease until the returned promise settles (work drains while still
   * protected by the lease), then releases it.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called after leadership ended (lost, released or cancelled) — only if onStartedLeading was called. */
  onStoppedLeading(): void;
  /** Called whenever a different holder of the lease is observed (including this process). */
  onNewLeader?(identity: string): void;
}

/** client-go's JitterFactor for the acquire loop. */
export const LEADER_ELECTION_JITTER_FACTOR = 1.2;

/** Why the leading phase ended. */
type LeadEnd = 'lost' | 'released' | 'cancelled';

/** Outcome of one attempt to write the lease. */
interface Attempt {
  ok: boolean;
  /** Monotonic time the attempt started: the lease it wrote cannot have been renewed earlier than this. */
  startedAt: number;
  /** The lease is (now) held by someone else, or gone. */
  heldByOther?: boolean;
}

/** A monotonic clock: leader election must not be fooled by wall-clock jumps on this host. */
const monotonicNow = (): number => performance.now();

/** metav1.MicroTime: RFC3339 with exactly six fractional digits. */
export function formatMicroTime(date: Date = new Date()): string {
  const iso = date.toISOString(); // 2026-11-26T13:04:03.123Z
  return `${iso.slice(0, 19)}.${iso.slice(20, 23)}000Z`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics.
 *
 * Safety rests on two rules. A candidate takes the lease over only when leaseDuration has passed on
 * ITS OWN monotonic clock since it last saw the lease record change (never by comparing the holder's
 * renewTime with its wall clock, so clock skew between hosts does not matter, only clock rate). And
 * the leader gives up once renewDeadline (< leaseDuration) has passed since the start of its last
 * successful renewal, so it has stopped acting before any candidate can consider the lease expired.
 * Every write carries the resourceVersion it read, so concurrent candidates cannot both win.
 */
export class LeaderElector {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly leaseDurationSeconds: number;
  private readonly jitterFactor: number;
  private readonly releaseOnCancel: boolean;
  private readonly log: Logger;
  private readonly onLeaderChange?: (isLeader: boolean) => void;

  /** The last lease object read or written (its resourceVersion is what the next write is conditional on). */
  private observed?: Lease;
  /** The lease record (spec) last observed, serialized, to notice changes. */
  private observedRecord = '';
  /** Monotonic time this process last saw the lease record change: the basis of expiry. */
  private observedAt = 0;
  private reportedLeader?: string;
  private leading = false;
  private running = false;
  /** Aborted by release(): ends the acquire loop of a running run(). */
  private stopController?: AbortController;
  /** Ends the current leading phase, if any. */
  private endLeading?: (reason: LeadEnd) => void;
  /** The lease request in flight, so release() does not race it. */
  private inflight: Promise<unknown> = Promise.resolve();
  private newLeaderCallback?: (identity: string) => void;
  /** Aborts when the current leading term ends (its renewals abort with it). */
  private termSignal?: AbortSignal;

  constructor(
    private readonly client: KubeClient,
    opts: LeaderElectorOptions,
  ) {
    this.namespace = opts.namespace;
    this.name = opts.name;
    this.identity = opts.identity;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.jitterFactor = opts.jitterFactor ?? LEADER_ELECTION_JITTER_FACTOR;
    this.releaseOnCancel = opts.releaseOnCancel ?? true;
    this.log =
      opts.logger?.child?.({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity }) ??
      opts.logger ??
      noopLogger;
    this.onLeaderChange = opts.onLeaderChange;
    // Rounding up keeps what others wait for at least as long as what we assume they wait for.
    this.leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);

    if (!this.identity) throw new Error('leader election: identity must not be empty');
    if (!this.namespace || !this.name)
      throw new Error('leader election: lease namespace and name are required');
    if (!(this.retryPeriodMs > 0)) throw new Error('leader election: retryPeriodMs must be > 0');
    if (!(this.jitterFactor >= 0)) throw new Error('leader election: jitterFactor must be >= 0');
    // The margin between the two is what absorbs clock-rate differences and request latency.
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) {
      throw new Error(
        `leader election: leaseDurationMs (${this.leaseDurationMs}) must be greater than renewDeadlineMs (${this.renewDeadlineMs})`,
      );
    }
    // A renewal must get more than one attempt before the deadline.
    if (!(this.renewDeadlineMs > LEADER_ELECTION_JITTER_FACTOR * this.retryPeriodMs)) {
      throw new Error(
        `leader election: renewDeadlineMs (${this.renewDeadlineMs}) must be greater than ${LEADER_ELECTION_JITTER_FACTOR} * retryPeriodMs (${this.retryPeriodMs})`,
      );
    }
  }

  /** True while this process holds the lease and may act. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder of the lease when last observed ('' or undefined: nobody). */
  getLeader(): string | undefined {
    return this.observed?.spec?.holderIdentity || undefined;
  }

  /**
   * Campaigns until this process holds the lease, leads until leadership is lost, released or
   * cancelled by `signal`, then resolves. It does not campaign again: a process that lost the lease
   * is expected to exit (and rejoin as a new candidate).
   */
  async run(callbacks: LeaderCallbacks, signal?: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`leader election on ${this.namespace}/${this.name} is already running`);
    this.running = true;
    const stop = new AbortController();
    this.stopController = stop;
    this.newLeaderCallback = callbacks.onNewLeader;
    const ended = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    try {
      const acquiredAt = await this.acquire(ended);
      if (acquiredAt === undefined) return;
      if (ended.aborted) {
        // Won the lease in the same moment we were told to stop: never start, hand it back.
        if (!stop.signal.aborted && this.releaseOnCancel)
          await this.releaseLease().catch((err: unknown) => this.logReleaseFailure(err));
        return;
      }
      await this.lead(callbacks, acquiredAt, signal);
    } finally {
      this.running = false;
      this.stopController = undefined;
      this.newLeaderCallback = undefined;
    }
  }

  /**
   * Gives up leadership now (SIGTERM): aborts the leading signal, stops run() and, if this process
   * holds the lease, writes it with no holder (and leaseDurationSeconds 1) so a successor takes over
   * at its next attempt instead of waiting for expiry. A no-op for the lease when not the holder.
   */
  async release(): Promise<void> {
    this.stopController?.abort();
    this.endLeading?.('released');
    await this.inflight.catch(() => undefined);
    await this.releaseLease();
  }

  /** Tries until the lease is ours; resolves with the monotonic start of the winning attempt, or undefined when stopped. */
  private async acquire(ended: AbortSignal): Promise<number | undefined> {
    let lastFailure = '';
    while (!ended.aborted) {
      const attempt = await this.track(this.tryAcquire());
      if (attempt.ok) {
        this.log.info('acquired lease');
        return attempt.startedAt;
      }
      const holder = this.getLeader();
      const why = holder ? `held by ${holder}` : 'not acquired';
      if (why !== lastFailure) {
        this.log.debug('lease not acquired; retrying', { holder });
        lastFailure = why;
      }
      await sleep(this.nextAcquireDelay(), ended);
    }
    return undefined;
  }

  /**
   * The next acquire attempt: a jittered retry period, but no later than just after the observed
   * lease expires, so a dead leader is replaced within leaseDuration + one retry interval of its
   * last renewal instead of up to two.
   */
  private nextAcquireDelay(): number {
    const jittered = this.retryPeriodMs * (1 + Math.random() * this.jitterFactor);
    const holder = this.getLeader();
    if (!holder || holder === this.identity) return jittered;
    const untilExpiry = this.observedExpiry() - monotonicNow() + 5;
    return untilExpiry > 0 ? Math.min(jittered, untilExpiry) : jittered;
  }

  /** Monotonic time at which the observed lease expires for this process. */
  private observedExpiry(): number {
    const seconds = this.observed?.spec?.leaseDurationSeconds ?? this.leaseDurationSeconds;
    return this.observedAt + seconds * 1000;
  }

  private async lead(
    callbacks: LeaderCallbacks,
    acquiredAt: number,
    runSignal: AbortSignal | undefined,
  ): Promise<void> {
    const leadingController = new AbortController();
    const loopController = new AbortController();
    this.termSignal = loopController.signal;
    let endReason: LeadEnd | undefined;
    let resolveEnd!: (reason: LeadEnd) => void;
    const ended = new Promise<LeadEnd>((resolve) => (resolveEnd = resolve));
    let watchdog: NodeJS.Timeout | undefined;

    const finish = (reason: LeadEnd, detail?: string) => {
      if (endReason) return;
      endReason = reason;
      clearTimeout(watchdog);
      // Stop acting first, synchronously: nothing below may run before the work is told to stop.
      leadingController.abort(
        new Error(`leadership of ${this.namespace}/${this.name} ended: ${detail ?? reason}`),
      );
      this.setLeading(false);
      loopController.abort();
      if (reason === 'lost') this.log.error('leadership lost', { reason: detail });
      else this.log.info('leadership ended', { reason: detail ?? reason });
      resolveEnd(reason);
    };
    // A timer, not a check in the renew loop: a renewal request that hangs must not delay the step-down.
    const armWatchdog = (lastRenewStart: number) => {
      clearTimeout(watchdog);
      const deadline = lastRenewStart + this.renewDeadlineMs;
      watchdog = setTimeout(
        () => finish('lost', `could not renew within ${this.renewDeadlineMs}ms`),
        Math.max(0, deadline - monotonicNow()),
      );
    };

    this.endLeading = (reason) => finish(reason);
    armWatchdog(acquiredAt);
    this.setLeading(true);

    const onCancel = () => {
      // Tell the work to stop, but keep the lease (keep renewing) until it has drained.
      if (endReason) return;
      this.log.info('leader election cancelled; waiting for leading work to stop');
      leadingController.abort(new Error('leader election cancelled'));
      void work.then(() => finish('cancelled'));
    };

    let work: Promise<void> = Promise.resolve();
    try {
      work = (async () => {
        try {
          await callbacks.onStartedLeading(leadingController.signal);
        } catch (err) {
          this.log.error('onStartedLeading failed', { error: errorText(err) });
        }
      })();
      if (runSignal?.aborted) onCancel();
      else runSignal?.addEventListener('abort', onCancel, { once: true });

      void this.renewLoop(loopController.signal, armWatchdog, finish, () => endReason !== undefined);
      const reason = await ended;

      if (reason === 'cancelled' && this.releaseOnCancel) {
        await this.inflight.catch(() => undefined); // let a renewal in flight land first, then clear
        await this.releaseLease().catch((err: unknown) => this.logReleaseFailure(err));
      }
      try {
        callbacks.onStoppedLeading();
      } catch (err) {
        this.log.error('onStoppedLeading failed', { error: errorText(err) });
      }
    } finally {
      clearTimeout(watchdog);
      runSignal?.removeEventListener('abort', onCancel);
      this.endLeading = undefined;
    }
  }

  private async renewLoop(
    stopped: AbortSignal,
    armWatchdog: (lastRenewStart: number) => void,
    finish: (reason: LeadEnd, detail?: string) => void,
    isEnded: () => boolean,
  ): Promise<void> {
    while (!isEnded()) {
      await sleep(this.retryPeriodMs, stopped);
      if (isEnded()) return;
      const attempt = await this.track(this.tryRenew());
      // The watchdog may have fired while the request was in flight; a late success changes nothing.
      if (isEnded()) return;
      if (attempt.ok) armWatchdog(attempt.startedAt);
      else if (attempt.heldByOther) finish('lost', `lease now held by ${this.getLeader() || 'nobody'}`);
    }
  }

  /** One acquire attempt: create the lease, or take it over if free, expired, or already ours. */
  private async tryAcquire(): Promise<Attempt> {
    const startedAt = monotonicNow();
    try {
      const current = await this.client.get<Lease>(ResourceTypes.Lease, this.namespace, this.name);
      const now = formatMicroTime();
      if (!current) {
        const created = await this.client.create<Lease>(ResourceTypes.Lease, {
          apiVersion: apiVersionOf(ResourceTypes.Lease),
          kind: ResourceTypes.Lease.kind,
          metadata: { name: this.name, namespace: this.namespace },
          spec: this.record(now, now, 0),
        });
        this.observe(created);
        return { ok: true, startedAt };
      }
      this.observe(current);
      const spec = current.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      if (holder && holder !== this.identity && this.observedExpiry() > monotonicNow())
        return { ok: false, startedAt };
      // Our own identity in the record (a restart with a stable identity) is a renewal, not a transition.
      const ours = holder === this.identity;
      const transitions = (spec.leaseTransitions ?? 0) + (ours ? 0 : 1);
      const written = await this.client.replace<Lease>(ResourceTypes.Lease, {
        ...current,
        spec: { ...spec, ...this.record(ours ? (spec.acquireTime ?? now) : now, now, transitions) },
      });
      this.observe(written);
      return { ok: true, startedAt };
    } catch (err) {
      if (isConflict(err) || isAlreadyExists(err))
        this.log.debug('another candidate wrote the lease first', { error: errorText(err) });
      else this.log.warn('lease acquire attempt failed', { error: errorText(err) });
      return { ok: false, startedAt };
    }
  }

  /**
   * One renewal: write the cached lease directly (one request), and only on a conflict read it to
   * find out whether it is still ours. A lease that now names anyone else — a successor, or nobody
   * because someone cleared it — or that was deleted means leadership is gone.
   */
  private async tryRenew(): Promise<Attempt> {
    const startedAt = monotonicNow();
    let current = this.observed;
    // The term's signal: a renewal still in flight when the term ends is aborted, so it cannot land
    // later and renew a lease for a process that has stopped acting.
    const signal = this.termSignal;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (!current)
          current = await this.client.get<Lease>(ResourceTypes.Lease, this.namespace, this.name, { signal });
        if (!current) {
          this.log.warn('lease was deleted');
          return { ok: false, startedAt, heldByOther: true };
        }
        if (current !== this.observed) this.observe(current);
        const spec = current.spec ?? {};
        if ((spec.holderIdentity ?? '') !== this.identity) return { ok: false, startedAt, heldByOther: true };
        const now = formatMicroTime();
        const written = await this.client.replace<Lease>(
          ResourceTypes.Lease,
          {
            ...current,
            spec: { ...spec, ...this.record(spec.acquireTime ?? now, now, spec.leaseTransitions ?? 0) },
          },
          { signal },
        );
        this.observe(written);
        return { ok: true, startedAt };
      } catch (err) {
        if (isConflict(err) && attempt === 0) {
          current = undefined; // someone else wrote it: read it and decide
          continue;
        }
        this.log.warn('lease renewal failed', { error: errorText(err) });
        return { ok: false, startedAt };
      }
    }
    return { ok: false, startedAt };
  }

  /** Clears the holder if (and only if) the lease is still ours; conditional on resourceVersion like every write. */
  private async releaseLease(): Promise<void> {
    if ((this.observed?.spec?.holderIdentity ?? '') !== this.identity) return;
    let current: Lease | undefined = this.observed;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!current) current = await this.client.get<Lease>(ResourceTypes.Lease, this.namespace, this.name);
      if (!current) return;
      if (current !== this.observed) this.observe(current);
      const spec = current.spec ?? {};
      if ((spec.holderIdentity ?? '') !== this.identity) return;
      const now = formatMicroTime();
      try {
        const written = await this.client.replace<Lease>(ResourceTypes.Lease, {
          ...current,
          // leaseDurationSeconds 1: candidates that still honour a holder-less lease's duration wait at most a second.
          spec: {
            ...spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: spec.leaseTransitions ?? 0,
          },
        });
        this.observe(written);
        this.log.info('released lease');
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
        current = undefined; // a renewal in flight wrote it first: read again
      }
    }
    throw new Error(`release of lease ${this.namespace}/${this.name}: conflicting writes, gave up`);
  }

  private record(acquireTime: string, renewTime: string, leaseTransitions: number): LeaseSpec {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationSeconds,
      acquireTime,
      renewTime,
      leaseTransitions,
    };
  }

  /** Remembers the lease; restarts the expiry clock only when the record itself changed. */
  private observe(lease: Lease): void {
    this.observed = lease;
    const s = lease.spec ?? {};
    const record = JSON.stringify([
      s.holderIdentity ?? '',
      s.leaseDurationSeconds ?? null,
      s.acquireTime ?? null,
      s.renewTime ?? null,
      s.leaseTransitions ?? 0,
    ]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = monotonicNow();
    }
    const holder = s.holderIdentity ?? '';
    if (holder && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.log.info('new leader observed', { leader: holder });
      try {
        this.newLeaderCallback?.(holder);
      } catch (err) {
        this.log.error('onNewLeader failed', { error: errorText(err) });
      }
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight = p;
    return p;
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    try {
      this.onLeaderChange?.(leading);
    } catch (err) {
      this.log.error('onLeaderChange failed', { error: errorText(err) });
    }
  }

  private logReleaseFailure(err: unknown): void {
    this.log.warn('could not release the lease; successors wait for it to expire', { error: errorText(err) });
  }
}
