// The per-group disruption lock: every tool that takes nodes from an Auto Scaling group holds it first,
// so two tools (upgrade-manager and instance-manager, later governor, lifecycle-manager, minion-manager)
// never disrupt the same group at once, and no tool needs a special case for another. It is a
// coordination.k8s.io Lease per group in one well-known namespace, written with resourceVersion guards
// (two tools cannot both win), renewed while the holder works and released when it is done; a holder
// that dies stops renewing and its lock expires.
import { createHash } from 'node:crypto';
import { formatMicroTime, isConflict, Option, ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import type { KubernetesObject } from '@kubernetes/client-node';

/** Where the locks live unless told otherwise: a namespace every cluster has, about node availability. */
export const DEFAULT_DISRUPTION_LOCK_NAMESPACE = 'kube-node-lease';
export const DISRUPTION_LOCK_PREFIX = 'keiko-disruption-';
const GROUP_ANNOTATION = 'keiko.io/scaling-group';
const REASON_ANNOTATION = 'keiko.io/disruption-reason';

interface LockLease extends KubernetesObject {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string };
}

export interface ScalingGroupRef {
  /** '' or undefined: the tool's default region. */
  region?: string;
  name: string;
}

export type LockOutcome = { held: true } | { held: false; holder: string; reason: string };

export interface LockRenewal {
  stop(): void;
  stillHeld(): boolean;
}

export interface DisruptionLockOptions {
  namespace?: string;
  /** A holder that stops renewing loses the lock after this long (default 10 minutes). */
  leaseDurationSeconds?: number;
  now?: () => Date;
}

/**
 * The flag every node tool takes (one definition, so the tools agree): where the locks live. All tools
 * of a cluster must use the same namespace, or they cannot see each other's locks.
 */
export function disruptionLockNamespaceOption(): Option {
  return new Option(
    '--disruption-lock-namespace <ns>',
    'namespace of the per-group disruption locks every Keiko node tool shares (Leases)',
  )
    .env('KEIKO_DISRUPTION_LOCK_NAMESPACE')
    .default(DEFAULT_DISRUPTION_LOCK_NAMESPACE);
}

/** The Lease name of a group's lock: stable, short, valid whatever the group's name. */
export function disruptionLockName(group: ScalingGroupRef): string {
  const id = `${group.region ?? ''}/${group.name}`;
  return DISRUPTION_LOCK_PREFIX + createHash('sha256').update(id).digest('hex').slice(0, 20);
}

export class DisruptionLocks {
  readonly namespace: string;
  private readonly durationSeconds: number;
  private readonly now: () => Date;

  constructor(
    private readonly client: KubeClient,
    opts: DisruptionLockOptions = {},
  ) {
    this.namespace = opts.namespace ?? DEFAULT_DISRUPTION_LOCK_NAMESPACE;
    this.durationSeconds = opts.leaseDurationSeconds ?? 600;
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Takes the group's lock for `holder`, or renews it when `holder` has it already; refuses (naming the
   * holder and its reason) while someone else holds it and renews it.
   */
  async acquire(group: ScalingGroupRef, holder: string, reason: string): Promise<LockOutcome> {
    const name = disruptionLockName(group);
    for (let attempt = 0; attempt < 3; attempt++) {
      const lease = await this.client.get<LockLease>(ResourceTypes.Lease, this.namespace, name);
      try {
        if (!lease) return await this.create(name, group, holder, reason);
        const current = lease.spec?.holderIdentity ?? '';
        if (current && current !== holder && !this.expired(lease))
          return {
            held: false,
            holder: current,
            reason: lease.metadata?.annotations?.[REASON_ANNOTATION] ?? '',
          };
        return await this.write(lease, holder, reason, current === holder);
      } catch (err) {
        // Created or written by someone else between our read and write (409): read it and decide again.
        if (!isConflict(err)) throw err;
      }
    }
    throw new Error(`disruption lock of scaling group ${group.name}: kept changing while being taken`);
  }

  /** Gives the lock up if `holder` has it (guarded: never removes someone else's). */
  async release(group: ScalingGroupRef, holder: string): Promise<void> {
    // A conflict means the lease changed since it was read — most often our own renewal still in flight
    // when the work ended: read it again and release it if it is still ours (never leave it held).
    for (let attempt = 0; attempt < 5; attempt++) {
      const lease = await this.client.get<LockLease>(
        ResourceTypes.Lease,
        this.namespace,
        disruptionLockName(group),
      );
      if (!lease || lease.spec?.holderIdentity !== holder) return;
      try {
        await this.client.delete(ResourceTypes.Lease, this.namespace, lease.metadata?.name ?? '', {
          preconditions: { resourceVersion: lease.metadata?.resourceVersion },
        });
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  /**
   * Renews the lock only if `holder` still has it; never takes or re-creates it (a renewal racing a release
   * must not bring the lock back). False when the lock is gone or someone else's.
   */
  async renew(group: ScalingGroupRef, holder: string, reason: string): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const lease = await this.client.get<LockLease>(
        ResourceTypes.Lease,
        this.namespace,
        disruptionLockName(group),
      );
      if (!lease || lease.spec?.holderIdentity !== holder) return false;
      try {
        await this.write(lease, holder, reason, true);
        return true;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    return false;
  }

  /**
   * Keeps a held lock from expiring while long work runs (a drain may outlast the lease): renews it every
   * third of the lease. `stillHeld()` turns false once a renewal finds the lock gone or someone else's —
   * check it before a destructive step. A failed renewal call (an API outage) is tried again at the next
   * tick. `stop()` ends the renewals; it does not release.
   */
  keepRenewed(group: ScalingGroupRef, holder: string, reason: string): LockRenewal {
    let held = true;
    const timer = setInterval(
      () => {
        this.renew(group, holder, reason).then(
          (ok) => {
            if (!ok) held = false;
          },
          () => undefined,
        );
      },
      Math.max(1_000, (this.durationSeconds * 1000) / 3),
    );
    timer.unref();
    return { stop: () => clearInterval(timer), stillHeld: () => held };
  }

  /** Who holds the group's lock now, if anyone (expired locks count as free). */
  async holder(group: ScalingGroupRef): Promise<string | undefined> {
    const lease = await this.client.get<LockLease>(
      ResourceTypes.Lease,
      this.namespace,
      disruptionLockName(group),
    );
    return lease && !this.expired(lease) ? lease.spec?.holderIdentity || undefined : undefined;
  }

  private async create(
    name: string,
    group: ScalingGroupRef,
    holder: string,
    reason: string,
  ): Promise<LockOutcome> {
    const now = formatMicroTime(this.now());
    await this.client.create<LockLease>(ResourceTypes.Lease, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name,
        namespace: this.namespace,
        annotations: { [GROUP_ANNOTATION]: groupLabel(group), [REASON_ANNOTATION]: reason },
      },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds: this.durationSeconds,
        acquireTime: now,
        renewTime: now,
      },
    });
    return { held: true };
  }

  private async write(
    lease: LockLease,
    holder: string,
    reason: string,
    renewing: boolean,
  ): Promise<LockOutcome> {
    const now = formatMicroTime(this.now());
    await this.client.replace<LockLease>(ResourceTypes.Lease, {
      ...lease,
      metadata: {
        ...lease.metadata,
        annotations: { ...lease.metadata?.annotations, [REASON_ANNOTATION]: reason },
      },
      spec: {
        ...lease.spec,
        holderIdentity: holder,
        leaseDurationSeconds: this.durationSeconds,
        renewTime: now,
        acquireTime: renewing ? (lease.spec?.acquireTime ?? now) : now,
      },
    });
    return { held: true };
  }

  private expired(lease: LockLease): boolean {
    const renewed = Date.parse(lease.spec?.renewTime ?? '');
    if (!Number.isFinite(renewed)) return true;
    const seconds = lease.spec?.leaseDurationSeconds ?? this.durationSeconds;
    return this.now().getTime() > renewed + seconds * 1000;
  }
}

function groupLabel(group: ScalingGroupRef): string {
  return group.region ? `${group.region}/${group.name}` : group.name;
}
