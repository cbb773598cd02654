// Short-lived caching of AWS reads. Controllers re-read ASG state on every reconcile (and several
// reconcilers may look at one group at once); without this, N workers x M groups x reconcile rate goes
// straight to DescribeAutoScalingGroups, whose account-wide limit is low. Mutations made through the
// cached port invalidate what they change, so a controller always sees its own writes.
import type {
  AutoScalingPort,
  GroupCreate,
  GroupFilter,
  GroupTagInput,
  GroupUpdate,
  LifecycleActionRef,
  LifecycleActionResult,
  LifecycleHook,
  LaunchConfiguration,
  LaunchConfigurationSpec,
  LifecycleHookSpec,
  ScalingGroup,
  TerminateInstanceResult,
  WarmPool,
  WarmPoolConfig,
} from './autoscaling';
import type {
  DeleteLaunchTemplateVersionsResult,
  Ec2Image,
  Ec2Instance,
  Ec2Port,
  InstanceStateChange,
  InstanceTypeInfo,
  LaunchTemplateInfo,
  LaunchTemplateRef,
  LaunchTemplateVersion,
  LaunchTemplateVersionRef,
  LaunchTemplateVersionSelector,
  RequestLaunchTemplateData,
  ResolvedLaunchTemplate,
  SecurityGroup,
  SpotPrice,
  SpotPriceQuery,
  Subnet,
} from './ec2';

/** Milliseconds since some origin; tests pass a manual clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Default freshness of cached ASG reads. See README "Caching" for the trade-off. */
export const DEFAULT_GROUP_CACHE_TTL_MS = 5_000;

interface Stored<V> {
  value: V;
  expiresAt: number;
}

interface InFlight<V> {
  promise: Promise<V>;
}

export interface TtlCacheOptions {
  ttlMs: number;
  clock?: Clock;
}

export interface TtlCacheStats {
  hits: number;
  /** Loads started (cache misses not joined to a load already in flight). */
  loads: number;
  /** Callers that joined a load already in flight. */
  joined: number;
}

/**
 * A TTL cache whose loads are de-duplicated: while a key is loading, every other get() of it waits for
 * the same promise. Failed loads are not cached. A load that was in flight when its key was invalidated
 * does not store its (possibly pre-mutation) result, and later gets start a fresh load.
 */
export class TtlCache<V> {
  private readonly values = new Map<string, Stored<V>>();
  private readonly inFlight = new Map<string, InFlight<V>>();
  private readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly counters: TtlCacheStats = { hits: 0, loads: 0, joined: 0 };

  constructor(options: TtlCacheOptions) {
    if (!(options.ttlMs >= 0)) throw new Error(`cache ttlMs must be >= 0, got ${options.ttlMs}`);
    this.ttlMs = options.ttlMs;
    this.clock = options.clock ?? systemClock;
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    const stored = this.fresh(key);
    if (stored) {
      this.counters.hits++;
      return Promise.resolve(stored.value);
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      this.counters.joined++;
      return pending.promise;
    }
    this.counters.loads++;
    // load() starts a microtask later so the in-flight entry is registered before it can settle.
    const entry: InFlight<V> = {
      promise: Promise.resolve()
        .then(load)
        .then(
          (value) => {
            // Only the load that is still current may store: invalidate() (or set()) replaced it.
            if (this.inFlight.get(key) === entry) {
              this.inFlight.delete(key);
              this.store(key, value);
            }
            return value;
          },
          (err: unknown) => {
            if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
            throw err;
          },
        ),
    };
    this.inFlight.set(key, entry);
    return entry.promise;
  }

  /** The cached value if still fresh. */
  peek(key: string): { value: V } | undefined {
    const stored = this.fresh(key);
    return stored ? { value: stored.value } : undefined;
  }

  /** Stores a value read some other way (e.g. a list call that returned this key too). */
  set(key: string, value: V): void {
    // A load in flight started before this value was read, so it must not overwrite it.
    this.inFlight.delete(key);
    this.store(key, value);
  }

  invalidate(key: string): void {
    this.values.delete(key);
    this.inFlight.delete(key);
  }

  invalidateAll(): void {
    this.values.clear();
    this.inFlight.clear();
  }

  /** Keys with a fresh value. */
  keys(): string[] {
    return [...this.values.keys()].filter((k) => this.fresh(k) !== undefined);
  }

  stats(): TtlCacheStats {
    return { ...this.counters };
  }

  private fresh(key: string): Stored<V> | undefined {
    const stored = this.values.get(key);
    if (!stored) return undefined;
    if (stored.expiresAt > this.clock.now()) return stored;
    this.values.delete(key);
    return undefined;
  }

  private store(key: string, value: V): void {
    const now = this.clock.now();
    this.values.set(key, { value, expiresAt: now + this.ttlMs });
    // Drop expired entries now and then so groups that disappeared do not pile up.
    if (this.values.size > 256 && this.values.size % 64 === 0) {
      for (const [k, v] of this.values) if (v.expiresAt <= now) this.values.delete(k);
    }
  }
}

/**
 * Collects keys asked for in the same tick and loads them with one call. `describeGroup('a')` and
 * `describeGroup('b')` from two reconcilers become one DescribeAutoScalingGroups(a, b).
 */
export class BatchLoader<V> {
  private pending = new Map<
    string,
    Array<{ resolve: (v: V | undefined) => void; reject: (e: unknown) => void }>
  >();
  private scheduled = false;

  constructor(private readonly loadMany: (keys: string[]) => Promise<Map<string, V>>) {}

  load(key: string): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = this.pending.get(key) ?? [];
      waiters.push({ resolve, reject });
      this.pending.set(key, waiters);
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    try {
      const found = await this.loadMany([...batch.keys()]);
      for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key));
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    }
  }
}

export interface CachedAutoScalingOptions {
  /** How long a described group is served from memory; default DEFAULT_GROUP_CACHE_TTL_MS. 0 disables reuse. */
  ttlMs?: number;
  clock?: Clock;
}

/**
 * An AutoScalingPort that serves group reads from a short TTL cache, coalesces concurrent reads into
 * batched calls, and invalidates a group whenever it is changed through this port (warm pool and metrics
 * changes included). Lifecycle hooks, warm pool reads, launch configurations and listGroups() are passed
 * through (listGroups refreshes the per-group entries it returns). Returned groups are shared between
 * callers: treat them as read-only.
 */
export class CachedAutoScaling implements AutoScalingPort {
  private readonly groups: TtlCache<ScalingGroup | undefined>;
  private readonly loader: BatchLoader<ScalingGroup>;

  constructor(
    private readonly inner: AutoScalingPort,
    options: CachedAutoScalingOptions = {},
  ) {
    this.groups = new TtlCache({
      ttlMs: options.ttlMs ?? DEFAULT_GROUP_CACHE_TTL_MS,
      clock: options.clock ?? systemClock,
    });
    this.loader = new BatchLoader(async (names) => {
      const found = await this.inner.describeGroups(names);
      return new Map(found.map((g) => [g.name, g]));
    });
  }

  describeGroup(name: string): Promise<ScalingGroup | undefined> {
    return this.groups.get(name, () => this.loader.load(name));
  }

  async describeGroups(names: readonly string[]): Promise<ScalingGroup[]> {
    const groups = await Promise.all([...new Set(names.filter(Boolean))].map((n) => this.describeGroup(n)));
    return groups.filter((g): g is ScalingGroup => g !== undefined);
  }

  async listGroups(filter?: GroupFilter): Promise<ScalingGroup[]> {
    const groups = await this.inner.listGroups(filter);
    for (const group of groups) this.groups.set(group.name, group);
    return groups;
  }

  /** Forget a group (or everything), e.g. after a change made outside this port. */
  invalidate(groupName?: string): void {
    if (groupName === undefined) this.groups.invalidateAll();
    else this.groups.invalidate(groupName);
  }

  cacheStats(): TtlCacheStats {
    return this.groups.stats();
  }

  async createGroup(spec: GroupCreate): Promise<void> {
    try {
      await this.inner.createGroup(spec);
    } finally {
      this.invalidate(spec.name);
    }
  }

  async deleteGroup(name: string, options?: { forceDelete?: boolean }): Promise<boolean> {
    try {
      return await this.inner.deleteGroup(name, options);
    } finally {
      this.invalidate(name);
    }
  }

  async terminateInstanceInGroup(
    instanceId: string,
    options: { decrementDesired: boolean },
  ): Promise<TerminateInstanceResult> {
    let result: TerminateInstanceResult | undefined;
    try {
      result = await this.inner.terminateInstanceInGroup(instanceId, options);
      return result;
    } finally {
      // The activity names the group; without it (or on error) fall back to the groups we know hold it.
      const group = result?.groupName ?? this.cachedGroupOf(instanceId);
      if (group) this.invalidate(group);
      else this.invalidate();
    }
  }

  setDesiredCapacity(
    groupName: string,
    desiredCapacity: number,
    options?: { honorCooldown?: boolean },
  ): Promise<void> {
    return this.mutate(groupName, () => this.inner.setDesiredCapacity(groupName, desiredCapacity, options));
  }

  updateGroup(groupName: string, update: GroupUpdate): Promise<void> {
    return this.mutate(groupName, () => this.inner.updateGroup(groupName, update));
  }

  enterStandby(
    groupName: string,
    instanceIds: readonly string[],
    options: { decrementDesired: boolean },
  ): Promise<void> {
    return this.mutate(groupName, () => this.inner.enterStandby(groupName, instanceIds, options));
  }

  exitStandby(groupName: string, instanceIds: readonly string[]): Promise<void> {
    return this.mutate(groupName, () => this.inner.exitStandby(groupName, instanceIds));
  }

  setInstanceProtection(
    groupName: string,
    instanceIds: readonly string[],
    protectedFromScaleIn: boolean,
  ): Promise<void> {
    return this.mutate(groupName, () =>
      this.inner.setInstanceProtection(groupName, instanceIds, protectedFromScaleIn),
    );
  }

  createOrUpdateTags(groupName: string, tags: readonly GroupTagInput[]): Promise<void> {
    return this.mutate(groupName, () => this.inner.createOrUpdateTags(groupName, tags));
  }

  deleteTags(groupName: string, keys: readonly string[]): Promise<void> {
    return this.mutate(groupName, () => this.inner.deleteTags(groupName, keys));
  }

  suspendProcesses(groupName: string, processes?: readonly string[]): Promise<void> {
    return this.mutate(groupName, () => this.inner.suspendProcesses(groupName, processes));
  }

  resumeProcesses(groupName: string, processes?: readonly string[]): Promise<void> {
    return this.mutate(groupName, () => this.inner.resumeProcesses(groupName, processes));
  }

  putLifecycleHook(hook: LifecycleHookSpec): Promise<void> {
    return this.inner.putLifecycleHook(hook);
  }

  describeLifecycleHooks(groupName: string, hookNames?: readonly string[]): Promise<LifecycleHook[]> {
    return this.inner.describeLifecycleHooks(groupName, hookNames);
  }

  deleteLifecycleHook(groupName: string, hookName: string): Promise<boolean> {
    return this.inner.deleteLifecycleHook(groupName, hookName);
  }

  completeLifecycleAction(action: LifecycleActionRef & { result: LifecycleActionResult }): Promise<void> {
    // Completing moves the instance on (Terminating:Proceed / InService): its group's view is stale.
    return this.mutate(action.groupName, () => this.inner.completeLifecycleAction(action));
  }

  recordLifecycleActionHeartbeat(action: LifecycleActionRef): Promise<void> {
    return this.inner.recordLifecycleActionHeartbeat(action);
  }

  describeWarmPool(groupName: string): Promise<WarmPool | undefined> {
    return this.inner.describeWarmPool(groupName);
  }

  // The group's description carries its warm pool and enabled metrics: these change it.
  putWarmPool(groupName: string, config: WarmPoolConfig): Promise<void> {
    return this.mutate(groupName, () => this.inner.putWarmPool(groupName, config));
  }

  deleteWarmPool(groupName: string, options?: { forceDelete?: boolean }): Promise<boolean> {
    return this.mutate(groupName, () => this.inner.deleteWarmPool(groupName, options));
  }

  enableMetricsCollection(groupName: string, metrics?: readonly string[]): Promise<void> {
    return this.mutate(groupName, () => this.inner.enableMetricsCollection(groupName, metrics));
  }

  disableMetricsCollection(groupName: string, metrics?: readonly string[]): Promise<void> {
    return this.mutate(groupName, () => this.inner.disableMetricsCollection(groupName, metrics));
  }

  // Launch configurations are not part of a group's description: passed through, never cached.
  createLaunchConfiguration(spec: LaunchConfigurationSpec): Promise<void> {
    return this.inner.createLaunchConfiguration(spec);
  }

  describeLaunchConfigurations(names: readonly string[]): Promise<LaunchConfiguration[]> {
    return this.inner.describeLaunchConfigurations(names);
  }

  listLaunchConfigurations(filter?: { namePrefix?: string }): Promise<LaunchConfiguration[]> {
    return this.inner.listLaunchConfigurations(filter);
  }

  deleteLaunchConfiguration(name: string): Promise<boolean> {
    return this.inner.deleteLaunchConfiguration(name);
  }

  private async mutate<T>(groupName: string, change: () => Promise<T>): Promise<T> {
    // Invalidate even when the call fails: AWS may have applied it before the error (a timeout).
    try {
      return await change();
    } finally {
      this.invalidate(groupName);
    }
  }

  private cachedGroupOf(instanceId: string): string | undefined {
    // Only a best-effort hint from entries still cached; an unknown instance invalidates everything.
    return this.knownGroups().find((g) => g.instances.some((i) => i.id === instanceId))?.name;
  }

  private knownGroups(): ScalingGroup[] {
    return this.groups.keys().flatMap((n) => {
      const hit = this.groups.peek(n)?.value;
      return hit ? [hit] : [];
    });
  }
}

/** Default freshness of an `available` image: AMIs rarely go away (deregistration, disabling). */
export const DEFAULT_IMAGE_CACHE_TTL_MS = 5 * 60_000;
/** Subnets and security groups found in full: they rarely change, and every reconcile names them. */
export const DEFAULT_NETWORK_CACHE_TTL_MS = 5 * 60_000;
/** Default freshness of instance type descriptions: AWS adds types a few times a year. */
export const DEFAULT_INSTANCE_TYPE_CACHE_TTL_MS = 6 * 60 * 60_000;

export interface CachedEc2Options {
  /** How long a resolved launch template version is reused; default DEFAULT_GROUP_CACHE_TTL_MS. */
  ttlMs?: number;
  /** How long an `available` image is reused; default DEFAULT_IMAGE_CACHE_TTL_MS. */
  imageTtlMs?: number;
  /** How long instance type descriptions are reused; default DEFAULT_INSTANCE_TYPE_CACHE_TTL_MS. */
  instanceTypeTtlMs?: number;
  /** How long a subnet or security group lookup that found everything is reused; default DEFAULT_NETWORK_CACHE_TTL_MS. */
  networkTtlMs?: number;
  clock?: Clock;
}

/**
 * An Ec2Port that caches launch template lookups (resolveLaunchTemplateVersion, describeLaunchTemplate),
 * which upgrade-manager repeats on every reconcile of every group. Any launch template change made through
 * this port drops all cached template entries (a template may be cached under its id and its name).
 * Images are cached per id while `available` (a missing or pending image is asked again each time, so
 * one created later is seen at once), instance types for hours. Subnet and security group lookups are
 * cached for minutes when they found every id or name asked for (one that missed something is asked again
 * each time, so a subnet created later is seen at once). Instance and spot price reads pass through.
 */
/**
 * A lookup by ids or names, from `cache` when an earlier identical lookup found every one of them; else
 * asked, and remembered only if it found them all.
 */
async function cachedIfComplete<T>(
  cache: TtlCache<T[]>,
  idsOrNames: readonly string[],
  vpcId: string | undefined,
  keysOf: (item: T) => Array<string | undefined>,
  fetch: () => Promise<T[]>,
): Promise<T[]> {
  const wanted = [...new Set(idsOrNames.map((v) => v.trim()).filter(Boolean))].sort();
  const key = `${vpcId ?? '*'}|${wanted.join(',')}`;
  const hit = cache.peek(key);
  if (hit) return hit.value;
  const found = await fetch();
  const known = new Set(found.flatMap(keysOf));
  if (wanted.every((v) => known.has(v))) cache.set(key, found);
  return found;
}

export class CachedEc2 implements Ec2Port {
  private readonly resolved: TtlCache<ResolvedLaunchTemplate>;
  private readonly templates: TtlCache<LaunchTemplateInfo | undefined>;
  private readonly images: TtlCache<Ec2Image>;
  private readonly instanceTypes: TtlCache<InstanceTypeInfo[]>;
  private readonly subnets: TtlCache<Subnet[]>;
  private readonly securityGroups: TtlCache<SecurityGroup[]>;

  constructor(
    private readonly inner: Ec2Port,
    options: CachedEc2Options = {},
  ) {
    const ttlMs = options.ttlMs ?? DEFAULT_GROUP_CACHE_TTL_MS;
    const clock = options.clock ?? systemClock;
    this.resolved = new TtlCache({ ttlMs, clock });
    this.templates = new TtlCache({ ttlMs, clock });
    this.images = new TtlCache({ ttlMs: options.imageTtlMs ?? DEFAULT_IMAGE_CACHE_TTL_MS, clock });
    this.instanceTypes = new TtlCache({
      ttlMs: options.instanceTypeTtlMs ?? DEFAULT_INSTANCE_TYPE_CACHE_TTL_MS,
      clock,
    });
    const networkTtlMs = options.networkTtlMs ?? DEFAULT_NETWORK_CACHE_TTL_MS;
    this.subnets = new TtlCache({ ttlMs: networkTtlMs, clock });
    this.securityGroups = new TtlCache({ ttlMs: networkTtlMs, clock });
  }

  resolveLaunchTemplateVersion(ref: LaunchTemplateVersionRef): Promise<ResolvedLaunchTemplate> {
    const key = `${ref.id ? `id:${ref.id}` : `name:${ref.name ?? ''}`}@${String(ref.version ?? '$Default').toLowerCase()}`;
    return this.resolved.get(key, () => this.inner.resolveLaunchTemplateVersion(ref));
  }

  describeLaunchTemplate(ref: LaunchTemplateRef): Promise<LaunchTemplateInfo | undefined> {
    const key = ref.id ? `id:${ref.id}` : `name:${ref.name ?? ''}`;
    return this.templates.get(key, () => this.inner.describeLaunchTemplate(ref));
  }

  /** Forget every cached launch template entry, e.g. after a change made outside this port. */
  invalidateLaunchTemplates(): void {
    this.resolved.invalidateAll();
    this.templates.invalidateAll();
  }

  cacheStats(): {
    resolved: TtlCacheStats;
    templates: TtlCacheStats;
    images: TtlCacheStats;
    instanceTypes: TtlCacheStats;
  } {
    return {
      resolved: this.resolved.stats(),
      templates: this.templates.stats(),
      images: this.images.stats(),
      instanceTypes: this.instanceTypes.stats(),
    };
  }

  async describeImages(ids: readonly string[]): Promise<Ec2Image[]> {
    const wanted = [...new Set(ids.map((id) => id.trim()).filter(Boolean))];
    const known = new Map<string, Ec2Image>();
    for (const id of wanted) {
      const hit = this.images.peek(id);
      if (hit) known.set(id, hit.value);
    }
    const unknown = wanted.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      for (const image of await this.inner.describeImages(unknown)) {
        known.set(image.id, image);
        if (image.state === 'available') this.images.set(image.id, image);
      }
    }
    return wanted.flatMap((id) => {
      const image = known.get(id);
      return image ? [image] : [];
    });
  }

  async describeInstanceTypes(types?: readonly string[]): Promise<InstanceTypeInfo[]> {
    if (types === undefined) return this.instanceTypes.get('*', () => this.inner.describeInstanceTypes());
    const wanted = [...new Set(types.map((t) => t.trim()).filter(Boolean))].sort();
    if (wanted.length === 0) return [];
    // The whole list, when already held, answers any question about some of its types.
    const all = this.instanceTypes.peek('*')?.value;
    if (all) return all.filter((t) => wanted.includes(t.instanceType));
    return this.instanceTypes.get(wanted.join(','), () => this.inner.describeInstanceTypes(wanted));
  }

  describeLaunchTemplateVersions(
    ref: LaunchTemplateRef,
    versions?: readonly LaunchTemplateVersionSelector[],
  ): Promise<LaunchTemplateVersion[]> {
    return this.inner.describeLaunchTemplateVersions(ref, versions);
  }

  createLaunchTemplate(spec: {
    name: string;
    data: RequestLaunchTemplateData;
    description?: string;
    tags?: Readonly<Record<string, string>>;
  }): Promise<LaunchTemplateInfo> {
    return this.changeTemplates(() => this.inner.createLaunchTemplate(spec));
  }

  createLaunchTemplateVersion(
    ref: LaunchTemplateRef,
    spec: {
      data: RequestLaunchTemplateData;
      sourceVersion?: LaunchTemplateVersionSelector;
      description?: string;
    },
  ): Promise<LaunchTemplateVersion> {
    return this.changeTemplates(() => this.inner.createLaunchTemplateVersion(ref, spec));
  }

  setDefaultLaunchTemplateVersion(ref: LaunchTemplateRef, version: number): Promise<void> {
    return this.changeTemplates(() => this.inner.setDefaultLaunchTemplateVersion(ref, version));
  }

  deleteLaunchTemplateVersions(
    ref: LaunchTemplateRef,
    versions: readonly number[],
  ): Promise<DeleteLaunchTemplateVersionsResult> {
    return this.changeTemplates(() => this.inner.deleteLaunchTemplateVersions(ref, versions));
  }

  deleteLaunchTemplate(ref: LaunchTemplateRef): Promise<boolean> {
    return this.changeTemplates(() => this.inner.deleteLaunchTemplate(ref));
  }

  describeInstances(ids: readonly string[]): Promise<Ec2Instance[]> {
    return this.inner.describeInstances(ids);
  }

  terminateInstances(ids: readonly string[]): Promise<InstanceStateChange[]> {
    return this.inner.terminateInstances(ids);
  }

  createTags(resourceIds: readonly string[], tags: Readonly<Record<string, string>>): Promise<void> {
    return this.inner.createTags(resourceIds, tags);
  }

  deleteTags(resourceIds: readonly string[], keys: readonly string[]): Promise<void> {
    return this.inner.deleteTags(resourceIds, keys);
  }

  describeSubnets(idsOrNames: readonly string[], options?: { vpcId?: string }): Promise<Subnet[]> {
    return cachedIfComplete(
      this.subnets,
      idsOrNames,
      options?.vpcId,
      (s) => [s.id, s.name],
      () => this.inner.describeSubnets(idsOrNames, options),
    );
  }

  describeSecurityGroups(
    idsOrNames: readonly string[],
    options?: { vpcId?: string },
  ): Promise<SecurityGroup[]> {
    return cachedIfComplete(
      this.securityGroups,
      idsOrNames,
      options?.vpcId,
      (g) => [g.id, g.name, g.groupName],
      () => this.inner.describeSecurityGroups(idsOrNames, options),
    );
  }

  describeSpotPriceHistory(query: SpotPriceQuery): Promise<SpotPrice[]> {
    return this.inner.describeSpotPriceHistory(query);
  }

  private async changeTemplates<T>(change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } finally {
      this.invalidateLaunchTemplates();
    }
  }
}
