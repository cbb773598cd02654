// The PodCheckpoint controller: I/O only. One capture per PodCheckpoint, as steps recorded in
// status.phase before they run (Started -> Context -> Logs -> Checkpoints -> Collecting -> Manifest ->
// Done). A checkpoint request is recorded as Requested before it is sent: a controller restarted in
// between never sends it again (the item fails as Interrupted). Collector Jobs have deterministic names,
// so a restart finds the Job it created; each is deleted once its outcome is in status.
import {
  PodCheckpointKind,
  withPodCheckpointDefaults,
  type PodCheckpoint,
  type PodCheckpointContainerStatus,
  type PodCheckpointItemStatus,
  type PodCheckpointStatus,
} from '@keiko/api';
import { AwsMetrics, createS3Client, S3Store, type S3Encryption } from '@keiko/aws';
import {
  ApiError,
  isAlreadyExists,
  isNotFound,
  patchStatus,
  ResourceTypes,
  setCondition,
  type Condition,
  type Controller,
  type KubeClient,
  type Logger,
  type Manager,
  type ReconcileResult,
  type Request,
  type ResourceType,
} from '@keiko/kube-runtime';
import type * as k8s from '@kubernetes/client-node';
import { checkpointPath, KubeletClient, logsPath, type KubeletClientOptions } from '../kubelet';
import { containerStatuses, kubernetesVersion, ownerChain, podEvents } from './context';
import { ForensicsMetrics } from './metrics';
import {
  buildManifest,
  captureDestination,
  checkpointAnswer,
  checkpointSummary,
  collectorJob,
  collectorJobName,
  containersOf,
  destinationOf,
  finalOutcome,
  hasPreviousRun,
  isRunning,
  jobOutcome,
  JOB_SELECTOR,
  Keys,
  locationUri,
  OWNER_ANNOTATION,
  OWNER_UID_LABEL,
  Reasons,
  specProblem,
  ttlRemainingMs,
  type CollectorOptions,
  type Destination,
  type ManifestItem,
} from './plan';

export interface PodCheckpointControllerOptions {
  dryRun: boolean;
  kubelet: KubeletClientOptions;
  checkpointTimeoutSeconds: number;
  maxLogBytes: number;
  allowedNamespaces: string[];
  /** Delete finished PodCheckpoints this long after completion (0: never). */
  ttlMs: number;
  encryption: S3Encryption;
  collector: CollectorOptions;
  /** How often a capture waiting on its collector Jobs looks again (ms). */
  pollIntervalMs?: number;
}

const PCP = PodCheckpointKind;
const JOB: ResourceType = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true };

/** A step ended the capture: the Failed condition's reason and message. */
class CaptureFailed extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const isForbidden = (err: unknown) =>
  err instanceof ApiError && (err.statusCode === 403 || err.statusCode === 401);
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export function addPodCheckpointController(
  mgr: Manager,
  opts: PodCheckpointControllerOptions,
): Controller<PodCheckpoint> {
  return new PodCheckpointReconciler(mgr, opts).controller;
}

class PodCheckpointReconciler {
  readonly controller: Controller<PodCheckpoint>;
  readonly client: KubeClient;
  readonly log: Logger;
  readonly store: S3Store;
  readonly kubelet: KubeletClient;
  readonly metrics: ForensicsMetrics;

  constructor(
    readonly mgr: Manager,
    readonly opts: PodCheckpointControllerOptions,
  ) {
    this.client = mgr.client;
    this.log = mgr.log.child?.({ controller: 'podcheckpoint' }) ?? mgr.log;
    const s3 = createS3Client({ userAgentAppId: 'kube-forensics' });
    new AwsMetrics({ registry: mgr.metrics.registry }).instrument(s3, 's3');
    mgr.onStop('s3-client', () => s3.destroy());
    this.store = new S3Store(s3, opts.encryption);
    this.kubelet = new KubeletClient(mgr.client.kubeConfig, opts.kubelet);
    this.metrics = new ForensicsMetrics(mgr.metrics.registry);
    this.controller = mgr.addController<PodCheckpoint>({
      name: 'podcheckpoint',
      for: PCP,
      reconcile: (req, ctx) => this.reconcile(req, ctx.log, ctx.signal),
    });
    this.controller.watches<k8s.V1Job>(
      JOB,
      (job) => {
        const owner = job.metadata?.annotations?.[OWNER_ANNOTATION];
        return owner ? [owner] : [];
      },
      { namespace: opts.collector.namespace, labelSelector: JOB_SELECTOR },
    );
  }

  async reconcile(req: Request, log: Logger, signal: AbortSignal): Promise<ReconcileResult | void> {
    const live = await this.client.get<PodCheckpoint>(PCP, req.namespace, req.name);
    if (!live) return;
    const pcp = withPodCheckpointDefaults(live);
    if (pcp.status?.phase === 'Done' || finished(pcp.status)) return this.afterFinish(pcp, log);
    if (this.opts.dryRun) {
      log.info('dry run: would capture', {
        pod: `${pcp.spec.namespace}/${pcp.spec.pod}`,
        destination: pcp.spec.destination,
      });
      return;
    }
    return new Capture(this, pcp, log, signal).advance();
  }

  /** A finished capture: no collector Job left behind; the object deleted once its TTL is over. */
  private async afterFinish(pcp: PodCheckpoint, log: Logger): Promise<ReconcileResult | void> {
    await deleteCollectorJobs(this.client, this.opts.collector.namespace, pcp.metadata.uid ?? '');
    const left = ttlRemainingMs(pcp.status?.completionTime, this.opts.ttlMs, Date.now());
    if (left === undefined) return;
    if (left > 0) return { requeueAfterMs: left };
    log.info('TTL over: deleting the PodCheckpoint (its S3 data stays)', { location: pcp.status?.location });
    await this.client.delete(PCP, pcp.metadata.namespace, pcp.metadata.name ?? '', {
      preconditions: { uid: pcp.metadata.uid },
    });
  }
}

function finished(status: PodCheckpointStatus | undefined): boolean {
  return (status?.conditions ?? []).some(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
}

async function deleteCollectorJobs(client: KubeClient, namespace: string, uid: string): Promise<void> {
  if (!uid) return;
  const jobs = await client.list<k8s.V1Job>(JOB, { namespace, labelSelector: `${OWNER_UID_LABEL}=${uid}` });
  for (const j of jobs.items)
    await client
      .delete(JOB, namespace, j.metadata?.name ?? '', { propagationPolicy: 'Background' })
      .catch(() => false);
}

/** One reconcile of one capture: the steps from status.phase on, each recorded before it runs. */
class Capture {
  private pcp: PodCheckpoint;
  private status: PodCheckpointStatus;
  private readonly client: KubeClient;

  constructor(
    private readonly r: PodCheckpointReconciler,
    pcp: PodCheckpoint,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {
    this.pcp = pcp;
    this.status = structuredClone(pcp.status ?? {});
    this.client = r.client;
  }

  async advance(): Promise<ReconcileResult | void> {
    try {
      for (let i = 0; i < 10; i++) {
        const phase = this.status.phase;
        if (!phase) await this.start();
        else if (phase === 'Started' || phase === 'Context') await this.context();
        else if (phase === 'Logs') await this.logs();
        else if (phase === 'Checkpoints') await this.checkpoints();
        else if (phase === 'Collecting') {
          if (!(await this.collect())) return { requeueAfterMs: this.r.opts.pollIntervalMs ?? 5_000 };
        } else if (phase === 'Manifest') await this.manifestAndFinish();
        else return;
      }
    } catch (err) {
      if (err instanceof CaptureFailed) return this.fail(err.reason, err.message);
      throw err;
    }
  }

  private async save(patch: Partial<PodCheckpointStatus>): Promise<void> {
    const next = { ...this.status, ...patch };
    const updated = await patchStatus(this.client, PodCheckpointKind, this.pcp, next);
    if (updated) this.pcp = updated as PodCheckpoint;
    this.status = next;
  }

  private dest(): Destination {
    return destinationOf(this.status.location ?? '');
  }

  private async start(): Promise<void> {
    const { spec } = this.pcp;
    const problem = specProblem(this.pcp, this.r.opts.allowedNamespaces);
    if (problem) throw new CaptureFailed(problem.reason, problem.message);
    const pod = await this.readPod();
    const node = pod.spec?.nodeName;
    if (!node)
      throw new CaptureFailed(
        Reasons.NotFound,
        `spec.pod: pod ${spec.namespace}/${spec.pod} is not on a node yet`,
      );
    const dest = captureDestination(this.pcp, Math.floor(Date.now() / 1000));
    const bucket = await this.r.store.bucketState(dest.bucket, this.signal).catch((err: unknown) => {
      throw new CaptureFailed(
        Reasons.UploadFailed,
        `spec.destination: bucket ${dest.bucket}: ${errText(err)}`,
      );
    });
    if (bucket === 'missing')
      throw new CaptureFailed(
        Reasons.UploadFailed,
        `spec.destination: bucket "${dest.bucket}" does not exist`,
      );
    if (bucket === 'forbidden')
      throw new CaptureFailed(
        Reasons.UploadFailed,
        `spec.destination: access to bucket "${dest.bucket}" denied`,
      );
    await this.save({
      phase: 'Context',
      startTime: now(),
      node,
      location: locationUri(dest),
      containers: containersOf(pod),
      active: 1,
      bytesUploaded: 0,
    });
    await this.event(
      'Normal',
      'CaptureStarted',
      `capturing pod ${spec.namespace}/${spec.pod} on node ${node} into ${this.status.location}`,
    );
  }

  private async readPod(): Promise<k8s.V1Pod> {
    const { spec } = this.pcp;
    try {
      const pod = await this.client.get<k8s.V1Pod>(ResourceTypes.Pod, spec.namespace, spec.pod);
      if (!pod)
        throw new CaptureFailed(Reasons.NotFound, `spec.pod: pod ${spec.namespace}/${spec.pod} not found`);
      return pod;
    } catch (err) {
      if (isForbidden(err))
        throw new CaptureFailed(
          Reasons.Forbidden,
          `spec.pod: reading pod ${spec.namespace}/${spec.pod}: ${errText(err)}`,
        );
      throw err;
    }
  }

  private async readNode(): Promise<k8s.V1Node> {
    const node = await this.client.get<k8s.V1Node>(ResourceTypes.Node, undefined, this.status.node ?? '');
    if (!node) throw new CaptureFailed(Reasons.NotFound, `node ${this.status.node} of the pod not found`);
    return node;
  }

  /** Upload a small object; S3 errors end the capture as UploadFailed. */
  private async put(
    key: string,
    body: string,
    contentType: string,
  ): Promise<{ size: number; sha256: string }> {
    const d = this.dest();
    try {
      const res = await this.r.store.put(d.bucket, d.prefix + key, body, contentType, this.signal);
      this.r.metrics.uploaded(res.size);
      this.status.bytesUploaded = (this.status.bytesUploaded ?? 0) + res.size;
      return res;
    } catch (err) {
      throw new CaptureFailed(
        Reasons.UploadFailed,
        `uploading s3://${d.bucket}/${d.prefix}${key}: ${errText(err)}`,
      );
    }
  }

  private async context(): Promise<void> {
    try {
      const pod = await this.readPod();
      const node = await this.readNode();
      const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
      await this.put(Keys.pod, json(pod), 'application/json');
      await this.put(Keys.containerStatuses, json(containerStatuses(pod)), 'application/json');
      await this.put(Keys.owners, json(await ownerChain(this.client, pod)), 'application/json');
      await this.put(Keys.node, json(node), 'application/json');
      await this.put(Keys.events, json(await podEvents(this.client, pod)), 'application/json');
    } catch (err) {
      if (isForbidden(err))
        throw new CaptureFailed(Reasons.Forbidden, `reading the pod's context: ${errText(err)}`);
      throw err;
    }
    await this.save({ phase: 'Logs' });
  }

  private async logs(): Promise<void> {
    const pod = await this.readPod();
    const node = await this.readNode();
    const containers = structuredClone(this.status.containers ?? []);
    for (const c of containers) {
      c.logs ??= await this.fetchLog(node, c.name, false);
      if (!c.previousLogs && hasPreviousRun(pod, c.name))
        c.previousLogs = await this.fetchLog(node, c.name, true);
    }
    await this.save({ containers, phase: 'Checkpoints' });
  }

  private async fetchLog(
    node: k8s.V1Node,
    container: string,
    previous: boolean,
  ): Promise<PodCheckpointItemStatus> {
    const { spec } = this.pcp;
    const path = logsPath(spec.namespace, spec.pod, container, previous, this.r.opts.maxLogBytes);
    let res;
    try {
      res = await this.r.kubelet.send(node, 'GET', path, this.r.opts.maxLogBytes, this.signal);
    } catch (err) {
      return { state: 'Failed', message: errText(err) };
    }
    if (res.status === 401 || res.status === 403)
      throw new CaptureFailed(
        Reasons.Forbidden,
        `kubelet on ${node.metadata?.name} refused containerLogs (${res.status}; needs nodes/proxy): ${res.body.toString().slice(0, 200)}`,
      );
    if (res.status !== 200)
      return {
        state: previous ? 'Unavailable' : 'Failed',
        message: `kubelet answered ${res.status}: ${res.body.toString().slice(0, 200)}`,
      };
    const key = previous ? Keys.previousLogs(container) : Keys.logs(container);
    const put = await this.put(key, res.body.toString(), 'text/plain');
    return { state: 'Captured', uri: `${this.status.location}${key}`, ...put };
  }

  private async checkpoints(): Promise<void> {
    const pod = await this.readPod().catch((err: unknown) => {
      if (err instanceof CaptureFailed && err.reason === Reasons.NotFound) return undefined;
      throw err;
    });
    const node = await this.readNode();
    const names = (this.status.containers ?? []).map((c) => c.name);
    for (const name of names) {
      const c = this.container(name);
      if (c.checkpoint?.state === 'Requested') {
        await this.setItem(name, {
          state: 'Failed',
          message:
            'interrupted: the controller stopped while the kubelet was checkpointing; not repeated (an archive may remain on the node)',
        });
      } else if (!c.checkpoint) {
        if (!pod || !isRunning(pod, name))
          await this.setItem(name, { state: 'Unavailable', message: 'container not running' });
        else await this.checkpoint(node, name);
      }
    }
    const collecting = (this.status.containers ?? []).some((c) => c.checkpoint?.state === 'Collecting');
    const summary = checkpointSummary(this.status.containers ?? []);
    if (!collecting && summary !== 'captured')
      await this.event('Warning', 'CheckpointUnavailable', `checkpoint ${summary}`);
    await this.save({ phase: 'Collecting' });
  }

  private container(name: string): PodCheckpointContainerStatus {
    const c = this.status.containers?.find((x) => x.name === name);
    if (!c) throw new Error(`container ${name} not in status`);
    return c;
  }

  private async setItem(name: string, checkpoint: PodCheckpointItemStatus): Promise<void> {
    const containers = (this.status.containers ?? []).map((c) =>
      c.name === name ? { ...c, checkpoint } : c,
    );
    await this.save({ containers });
  }

  private async checkpoint(node: k8s.V1Node, name: string): Promise<void> {
    const { spec } = this.pcp;
    // On record before the request: a restart from here on never asks the kubelet again.
    await this.setItem(name, { state: 'Requested' });
    const path = checkpointPath(spec.namespace, spec.pod, name, this.r.opts.checkpointTimeoutSeconds);
    let answer;
    try {
      const res = await this.r.kubelet.send(node, 'POST', path, 64 * 1024, this.signal);
      answer = checkpointAnswer(res.status, res.body.toString());
    } catch (err) {
      answer = { kind: 'error' as const, message: errText(err) };
    }
    if (answer.kind === 'archive')
      await this.setItem(name, {
        state: 'Collecting',
        archive: answer.path,
        job: collectorJobName(this.pcp, name),
      });
    else if (answer.kind === 'unavailable')
      await this.setItem(name, { state: 'Unavailable', message: answer.message });
    else await this.setItem(name, { state: 'Failed', message: answer.message });
  }

  /** True once no collector is running any more. */
  private async collect(): Promise<boolean> {
    let waiting = false;
    for (const c of this.status.containers ?? []) {
      const cp = c.checkpoint;
      if (cp?.state !== 'Collecting') continue;
      const ns = this.r.opts.collector.namespace;
      const name = cp.job ?? collectorJobName(this.pcp, c.name);
      const job = await this.client.get<k8s.V1Job>(JOB, ns, name);
      if (!job) {
        const body = collectorJob(
          this.pcp,
          c.name,
          this.status.node ?? '',
          cp.archive ?? '',
          this.dest(),
          this.r.opts.collector,
        );
        await this.client.create(JOB, body).catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
        this.log.info('collector Job created', {
          job: `${ns}/${name}`,
          container: c.name,
          node: this.status.node,
        });
        waiting = true;
        continue;
      }
      const outcome = jobOutcome(job);
      if (outcome.state === 'running') waiting = true;
      else {
        const item =
          outcome.state === 'succeeded'
            ? await this.uploadedArchive(c.name, cp)
            : await this.failedArchive(job, cp, outcome.message);
        await this.setItem(c.name, item);
        await this.client.delete(JOB, ns, name, { propagationPolicy: 'Background' }).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
    }
    if (waiting) return false;
    await this.save({ phase: 'Manifest' });
    return true;
  }

  /** The collector's result: the object, its size, and the SHA-256 it verified (its .sha256 sidecar). */
  private async uploadedArchive(
    container: string,
    cp: PodCheckpointItemStatus,
  ): Promise<PodCheckpointItemStatus> {
    const d = this.dest();
    const key = d.prefix + Keys.checkpoint(container);
    const [size, sidecar] = await Promise.all([
      this.r.store.size(d.bucket, key, this.signal),
      this.r.store.text(d.bucket, `${key}.sha256`, this.signal),
    ]);
    const sha256 = sidecar?.split(/\s+/)[0];
    if (size === undefined || !sha256)
      return {
        ...cp,
        state: 'Failed',
        message: `the collector succeeded but s3://${d.bucket}/${key} or its .sha256 is missing`,
      };
    this.r.metrics.uploaded(size);
    this.status.bytesUploaded = (this.status.bytesUploaded ?? 0) + size;
    return { state: 'Captured', archive: cp.archive, uri: `s3://${d.bucket}/${key}`, size, sha256 };
  }

  private async failedArchive(
    job: k8s.V1Job,
    cp: PodCheckpointItemStatus,
    message: string,
  ): Promise<PodCheckpointItemStatus> {
    const pods = await this.client.list<k8s.V1Pod>(ResourceTypes.Pod, {
      namespace: job.metadata?.namespace,
      labelSelector: `job-name=${job.metadata?.name}`,
    });
    const term = pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated;
    const why = term?.message?.trim().split('\n').slice(-3).join(' ') ?? '';
    return {
      ...cp,
      state: 'Failed',
      message: `collector ${job.metadata?.name}: ${message}${why ? `: ${why}` : ''}`.slice(0, 1000),
    };
  }

  private async manifestAndFinish(): Promise<void> {
    const outcome = finalOutcome(this.status.containers ?? [], this.pcp.spec.checkpointRequired ?? false);
    const checkpoint = checkpointSummary(this.status.containers ?? []);
    this.status.checkpoint = checkpoint;
    await this.writeManifest(outcome.result, outcome.reason, outcome.message);
    if (outcome.result === 'Failed') throw new CaptureFailed(outcome.reason, outcome.message);
    const status = this.finalStatus('Complete', outcome.reason, outcome.message);
    await this.save({ ...status, checkpoint, succeeded: 1 });
    await this.event('Normal', 'CaptureComplete', `${outcome.message}; manifest ${this.status.manifest}`);
    this.r.metrics.finished('complete', outcome.reason, this.seconds());
  }

  private async writeManifest(result: 'Complete' | 'Failed', reason: string, message: string): Promise<void> {
    const d = this.dest();
    const context: ManifestItem[] = [];
    for (const [kind, key] of [
      ['pod', Keys.pod],
      ['container-statuses', Keys.containerStatuses],
      ['owners', Keys.owners],
      ['node', Keys.node],
      ['events', Keys.events],
    ] as const) {
      const got = await this.r.store.digest(d.bucket, d.prefix + key, this.signal).catch(() => undefined);
      context.push(got ? { key, kind, ...got } : { key, kind, error: 'not captured' });
    }
    const pod = await this.client
      .get<k8s.V1Pod>(ResourceTypes.Pod, this.pcp.spec.namespace, this.pcp.spec.pod)
      .catch(() => undefined);
    const manifest = buildManifest(this.pcp, this.status, context, {
      podUid: pod?.metadata?.uid,
      kubernetesVersion: await kubernetesVersion(this.client),
      result,
      reason,
      message,
      now: now(),
    });
    await this.put(Keys.manifest, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
    this.status.manifest = `${this.status.location}${Keys.manifest}`;
  }

  private finalStatus(
    type: 'Complete' | 'Failed',
    reason: string,
    message: string,
  ): Partial<PodCheckpointStatus> {
    const conditions = setCondition(this.status.conditions as Condition[] | undefined, {
      type,
      status: 'True',
      reason,
      message,
      observedGeneration: this.pcp.metadata.generation,
    });
    return {
      conditions: conditions as PodCheckpointStatus['conditions'],
      phase: 'Done',
      completionTime: now(),
      active: 0,
    };
  }

  private seconds(): number | undefined {
    return this.status.startTime ? (Date.now() - Date.parse(this.status.startTime)) / 1000 : undefined;
  }

  /** Failed: the manifest says so when a prefix was started; no collector Job is left. */
  private async fail(reason: string, message: string): Promise<void> {
    if (this.status.location && !this.status.manifest)
      await this.writeManifest('Failed', reason, message).catch((err: unknown) =>
        this.log.warn('could not write the manifest of a failed capture', { error: errText(err) }),
      );
    await deleteCollectorJobs(this.client, this.r.opts.collector.namespace, this.pcp.metadata.uid ?? '');
    await this.save({ ...this.finalStatus('Failed', reason, message), failed: 1 });
    await this.event('Warning', 'CaptureFailed', `${reason}: ${message}`);
    this.r.metrics.finished('failed', reason, this.seconds());
    this.log.info('capture failed', { reason, message });
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.r.mgr.events.record(this.pcp, type, reason, message);
  }
}
