// The PodCheckpoint decisions, pure: where a capture goes, which containers it covers, what a kubelet
// answer means, what the collector Job looks like, what the manifest says and how the capture ends.
import { createHash } from 'node:crypto';
import type {
  PodCheckpoint,
  PodCheckpointContainerStatus,
  PodCheckpointItemStatus,
  PodCheckpointStatus,
} from '@keiko/api';
import { parseS3Uri } from '@keiko/aws';
import type { V1Job, V1Pod } from '@kubernetes/client-node';

/** Failure reasons on the Failed condition (upstream's NotFound plus the modern capture's). */
export const Reasons = {
  NotFound: 'NotFound',
  CheckpointUnsupported: 'CheckpointUnsupported',
  Forbidden: 'Forbidden',
  UploadFailed: 'UploadFailed',
  InvalidSpec: 'InvalidSpec',
  Interrupted: 'Interrupted',
  Captured: 'Captured',
  CapturedWithoutCheckpoint: 'CapturedWithoutCheckpoint',
} as const;

/** The steps of one capture, in order; each is recorded in status.phase before it runs. */
export const Phases = [
  'Started',
  'Context',
  'Logs',
  'Checkpoints',
  'Collecting',
  'Manifest',
  'Done',
] as const;
export type Phase = (typeof Phases)[number];

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kube-forensics';
export const OWNER_UID_LABEL = 'forensics.keikoproj.io/podcheckpoint-uid';
export const OWNER_ANNOTATION = 'forensics.keikoproj.io/podcheckpoint';
export const CONTAINER_ANNOTATION = 'forensics.keikoproj.io/container';
export const JOB_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY},${OWNER_UID_LABEL}`;

export interface Destination {
  bucket: string;
  /** The capture's prefix, ending in '/'. */
  prefix: string;
}

export interface SpecProblem {
  reason: string;
  message: string;
}

/** What is wrong with a spec before anything is touched (the field named), or undefined. */
export function specProblem(
  pcp: PodCheckpoint,
  allowedNamespaces: readonly string[],
): SpecProblem | undefined {
  const dest = pcp.spec.destination;
  if (!dest) return { reason: Reasons.InvalidSpec, message: 'spec.destination: required (s3://bucket)' };
  const parsed = parseS3Uri(dest);
  if (typeof parsed === 'string')
    return { reason: Reasons.InvalidSpec, message: `spec.destination: ${parsed}` };
  if (allowedNamespaces.length && !allowedNamespaces.includes(pcp.spec.namespace))
    return {
      reason: Reasons.Forbidden,
      message: `spec.namespace: "${pcp.spec.namespace}" is not in the namespaces this controller may capture from (--allowed-namespaces ${allowedNamespaces.join(',')})`,
    };
  return undefined;
}

/** `<dest prefix>/<subpath>/<epoch>_<ns>_<pod>/` (upstream's key format) in the destination bucket. */
export function captureDestination(pcp: PodCheckpoint, epochSeconds: number): Destination {
  const parsed = parseS3Uri(pcp.spec.destination ?? '');
  if (typeof parsed === 'string') throw new Error(parsed);
  const subpath = (pcp.spec.subpath ?? 'forensics').replace(/^\/+|\/+$/g, '');
  const parts = [parsed.prefix, subpath, `${epochSeconds}_${pcp.spec.namespace}_${pcp.spec.pod}`].filter(
    Boolean,
  );
  return { bucket: parsed.bucket, prefix: `${parts.join('/')}/` };
}

export function locationUri(d: Destination): string {
  return `s3://${d.bucket}/${d.prefix}`;
}

/** Back from status.location (s3://bucket/prefix/) to the destination. */
export function destinationOf(location: string): Destination {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(location);
  if (!m) throw new Error(`status.location "${location}" is not an s3:// prefix`);
  return { bucket: m[1] ?? '', prefix: m[2] ?? '' };
}

/**
 * Every container of the pod that ran: app containers, init containers and ephemeral containers
 * with a status (one never started has nothing to capture).
 */
export function containersOf(pod: V1Pod): PodCheckpointContainerStatus[] {
  const ran = (statuses: { name: string; state?: object; lastState?: object }[] | undefined, name: string) =>
    (statuses ?? []).some((s) => s.name === name && (hasState(s.state) || hasState(s.lastState)));
  const out: PodCheckpointContainerStatus[] = [];
  for (const c of pod.spec?.initContainers ?? [])
    if (ran(pod.status?.initContainerStatuses, c.name)) out.push({ name: c.name, type: 'init' });
  for (const c of pod.spec?.containers ?? []) out.push({ name: c.name, type: 'container' });
  for (const c of pod.spec?.ephemeralContainers ?? [])
    if (ran(pod.status?.ephemeralContainerStatuses, c.name)) out.push({ name: c.name, type: 'ephemeral' });
  return out;
}

function hasState(s: object | undefined): boolean {
  return !!s && Object.values(s).some((v) => v !== undefined && v !== null);
}

/** Whether a container is running now: only a running container can be checkpointed. */
export function isRunning(pod: V1Pod, name: string): boolean {
  const all = [
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  return !!all.find((s) => s.name === name)?.state?.running;
}

/** Whether a container has a previous run whose log the kubelet may still have. */
export function hasPreviousRun(pod: V1Pod, name: string): boolean {
  const all = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  return (all.find((s) => s.name === name)?.restartCount ?? 0) > 0;
}

/** Object keys under the capture prefix. */
export const Keys = {
  manifest: 'manifest.json',
  pod: 'pod.json',
  owners: 'owners.json',
  node: 'node.json',
  events: 'events.json',
  containerStatuses: 'container-statuses.json',
  logs: (c: string) => `containers/${c}/current.log`,
  previousLogs: (c: string) => `containers/${c}/previous.log`,
  checkpoint: (c: string) => `containers/${c}/checkpoint.tar`,
};

/** What a kubelet's answer to a checkpoint request means. */
export type CheckpointAnswer =
  | { kind: 'archive'; path: string }
  | { kind: 'unavailable'; reason: 'CheckpointUnsupported' | 'Forbidden'; message: string }
  | { kind: 'error'; message: string };

export function checkpointAnswer(status: number, body: string): CheckpointAnswer {
  const text = body.trim().slice(0, 300);
  if (status === 200) {
    try {
      const items = (JSON.parse(body) as { items?: unknown }).items;
      const first = Array.isArray(items) ? items[0] : undefined;
      if (typeof first === 'string' && first) return { kind: 'archive', path: first };
    } catch {
      // below
    }
    return { kind: 'error', message: `kubelet answered 200 without an archive path: ${text}` };
  }
  if (status === 401 || status === 403)
    return {
      kind: 'unavailable',
      reason: 'Forbidden',
      message: `kubelet refused the checkpoint (${status}): ${text}`,
    };
  if (status === 404)
    return {
      kind: 'unavailable',
      reason: 'CheckpointUnsupported',
      message: `kubelet has no checkpoint API (404: feature gate ContainerCheckpoint off?): ${text}`,
    };
  if (status === 500)
    return {
      kind: 'unavailable',
      reason: 'CheckpointUnsupported',
      message: `the container runtime could not checkpoint (500): ${text}`,
    };
  return { kind: 'error', message: `kubelet answered ${status}: ${text}` };
}

/** Summary for status.checkpoint: captured, or unavailable (<reason>). */
export function checkpointSummary(containers: readonly PodCheckpointContainerStatus[]): string {
  const cps = containers.map((c) => c.checkpoint).filter((c): c is PodCheckpointItemStatus => !!c);
  if (cps.length && cps.every((c) => c.state === 'Captured')) return 'captured';
  const captured = cps.filter((c) => c.state === 'Captured').length;
  const why = cps.find((c) => c.state !== 'Captured')?.message ?? 'no running container';
  return captured > 0 ? `partial (${captured}/${cps.length}: ${why})` : `unavailable (${why})`;
}

export interface CollectorOptions {
  image: string;
  /** Namespace the Jobs run in (the collector's ServiceAccount lives there). */
  namespace: string;
  serviceAccountName?: string;
  /** The kubelet's checkpoints directory on the node (hostPath). */
  checkpointsDir: string;
  timeoutSeconds: number;
  sse: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  /** AWS_REGION, AWS_ENDPOINT_URL...: passed to the collector as they are set for the controller. */
  env: Record<string, string>;
}

/** `<pcp>-collect-<hash>`: the same name for the same PodCheckpoint and container after any restart. */
export function collectorJobName(pcp: PodCheckpoint, container: string): string {
  const base = (pcp.metadata.name ?? 'pcp')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 30)
    .replace(/-+$/, '');
  const hash = createHash('sha256')
    .update(`${pcp.metadata.uid ?? ''}\n${container}`)
    .digest('hex')
    .slice(0, 10);
  return `${base || 'pcp'}-collect-${hash}`;
}

const MOUNT = '/checkpoints';

/**
 * The collector Job for one archive: this app's own image running `collect`, pinned to the node
 * (nodeName, every taint tolerated), as root (the archive is root-only) with nothing else — no
 * capabilities, read-only root filesystem, no ServiceAccount token — mounting only the kubelet's
 * checkpoints directory (read-write, to delete the archive after upload). Never retried.
 */
export function collectorJob(
  pcp: PodCheckpoint,
  container: string,
  node: string,
  archivePath: string,
  dest: Destination,
  opts: CollectorOptions,
): V1Job {
  const file = archivePath.split('/').pop() ?? '';
  const labels = { [MANAGED_BY_LABEL]: MANAGED_BY, [OWNER_UID_LABEL]: pcp.metadata.uid ?? '' };
  const args = [
    'collect',
    `--archive=${MOUNT}/${file}`,
    `--bucket=${dest.bucket}`,
    `--key=${dest.prefix}${Keys.checkpoint(container)}`,
    `--sse=${opts.sse}`,
    ...(opts.kmsKeyId ? [`--sse-kms-key-id=${opts.kmsKeyId}`] : []),
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: collectorJobName(pcp, container),
      namespace: opts.namespace,
      labels,
      annotations: {
        [OWNER_ANNOTATION]: `${pcp.metadata.namespace}/${pcp.metadata.name}`,
        [CONTAINER_ANNOTATION]: container,
      },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: opts.timeoutSeconds,
      ttlSecondsAfterFinished: 3600,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          nodeName: node,
          tolerations: [{ operator: 'Exists' }],
          automountServiceAccountToken: false,
          ...(opts.serviceAccountName ? { serviceAccountName: opts.serviceAccountName } : {}),
          volumes: [{ name: 'checkpoints', hostPath: { path: opts.checkpointsDir, type: 'Directory' } }],
          containers: [
            {
              name: 'collect',
              image: opts.image,
              args,
              // A heap bound well under the memory limit: the upload streams, so garbage is collected
              // early instead of letting resident memory follow the archive's size.
              env: [
                { name: 'NODE_OPTIONS', value: '--max-old-space-size=64' },
                ...Object.entries(opts.env).map(([name, value]) => ({ name, value })),
              ],
              volumeMounts: [{ name: 'checkpoints', mountPath: MOUNT }],
              terminationMessagePolicy: 'FallbackToLogsOnError',
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: {
                runAsUser: 0,
                runAsNonRoot: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

export type JobOutcome = { state: 'running' } | { state: 'succeeded' } | { state: 'failed'; message: string };

export function jobOutcome(job: V1Job): JobOutcome {
  const cs = job.status?.conditions ?? [];
  const failed = cs.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed)
    return {
      state: 'failed',
      message: `${failed.reason ?? 'Failed'}: ${failed.message ?? 'the collector failed'}`,
    };
  if (cs.some((c) => c.type === 'Complete' && c.status === 'True')) return { state: 'succeeded' };
  return { state: 'running' };
}

export interface ManifestItem {
  key: string;
  kind: string;
  container?: string;
  size?: number;
  sha256?: string;
  error?: string;
}

export interface Manifest {
  apiVersion: 'forensics.keikoproj.io/v1';
  podCheckpoint: { namespace: string; name: string; uid: string };
  pod: { namespace: string; name: string; uid?: string };
  node?: string;
  kubernetesVersion?: string;
  startTime?: string;
  completionTime: string;
  result: 'Complete' | 'Failed';
  reason: string;
  message: string;
  checkpoint?: string;
  items: ManifestItem[];
}

/** The manifest of a capture from its recorded status and the context objects written. */
export function buildManifest(
  pcp: PodCheckpoint,
  status: PodCheckpointStatus,
  context: readonly ManifestItem[],
  extra: {
    podUid?: string;
    kubernetesVersion?: string;
    result: Manifest['result'];
    reason: string;
    message: string;
    now: string;
  },
): Manifest {
  const items: ManifestItem[] = [...context];
  for (const c of status.containers ?? []) {
    const add = (kind: string, key: string, it?: PodCheckpointItemStatus) => {
      if (!it) return;
      items.push({
        key,
        kind,
        container: c.name,
        ...(it.state === 'Captured'
          ? { size: it.size, sha256: it.sha256 }
          : { error: `${it.state}: ${it.message ?? ''}` }),
      });
    };
    add('logs', Keys.logs(c.name), c.logs);
    add('previous-logs', Keys.previousLogs(c.name), c.previousLogs);
    add('checkpoint', Keys.checkpoint(c.name), c.checkpoint);
  }
  return {
    apiVersion: 'forensics.keikoproj.io/v1',
    podCheckpoint: {
      namespace: pcp.metadata.namespace ?? '',
      name: pcp.metadata.name ?? '',
      uid: pcp.metadata.uid ?? '',
    },
    pod: {
      namespace: pcp.spec.namespace,
      name: pcp.spec.pod,
      ...(extra.podUid ? { uid: extra.podUid } : {}),
    },
    ...(status.node ? { node: status.node } : {}),
    ...(extra.kubernetesVersion ? { kubernetesVersion: extra.kubernetesVersion } : {}),
    ...(status.startTime ? { startTime: status.startTime } : {}),
    completionTime: extra.now,
    result: extra.result,
    reason: extra.reason,
    message: extra.message,
    ...(status.checkpoint ? { checkpoint: status.checkpoint } : {}),
    items,
  };
}

/**
 * How a capture that reached the manifest ends: Failed when a checkpoint was required and not
 * captured, else Complete — with or without a checkpoint.
 */
export function finalOutcome(
  containers: readonly PodCheckpointContainerStatus[],
  checkpointRequired: boolean,
): { result: 'Complete' | 'Failed'; reason: string; message: string } {
  const summary = checkpointSummary(containers);
  const missing = containers.filter((c) => c.checkpoint && c.checkpoint.state !== 'Captured');
  if (checkpointRequired && missing.length) {
    const forbidden = missing.some((c) => c.checkpoint?.message?.includes('refused'));
    return {
      result: 'Failed',
      reason: forbidden ? Reasons.Forbidden : Reasons.CheckpointUnsupported,
      message: `spec.checkpointRequired: checkpoint ${summary}`,
    };
  }
  const reason = summary === 'captured' ? Reasons.Captured : Reasons.CapturedWithoutCheckpoint;
  return { result: 'Complete', reason, message: `logs and context captured; checkpoint ${summary}` };
}

/** Seconds until a finished PodCheckpoint is deleted (TTL), or undefined when there is no TTL. */
export function ttlRemainingMs(
  completionTime: string | undefined,
  ttlMs: number,
  now: number,
): number | undefined {
  if (!ttlMs || !completionTime) return undefined;
  return Math.max(0, Date.parse(completionTime) + ttlMs - now);
}
