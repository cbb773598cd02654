// Scripts as Kubernetes Jobs, pure: the Job of one upgrade, node, phase and attempt (its name is a
// function of those, so a restart or a new leader finds the Job it created instead of making
// another: the Job is the durable record of the script), and what a Job says about its script.
import { createHash } from 'node:crypto';
import {
  nodesInProcessing,
  RollingUpgradeScriptFields,
  type RollingUpgrade,
  type RollingUpgradeScriptPhase,
  type RollingUpgradeStatus,
} from '@keiko/api';
import type { V1Job } from '@kubernetes/client-node';

export type ScriptPhase = RollingUpgradeScriptPhase;

/** How upgrade-manager runs scripts (--scripts-* flags, chart values scripts.*). */
export interface ScriptsOptions {
  /** The image the Job's container runs; it must have /bin/sh. */
  image: string;
  /** The ServiceAccount of the Job's pod, in the RollingUpgrade's namespace. */
  serviceAccountName: string;
  /** The Job's activeDeadlineSeconds: past it the Job fails (DeadlineExceeded). */
  timeoutSeconds: number;
  /** The Job's ttlSecondsAfterFinished: how long a finished Job (and its pod's logs) is kept. */
  ttlSecondsAfterFinished: number;
}

/** One script Job as a decision sees it; absent from the map when no Job exists (yet). */
export type ScriptState =
  | { state: 'running'; job: string }
  | { state: 'succeeded'; job: string }
  | { state: 'failed'; job: string; reason: string; message: string };

/** Every script Job upgrade-manager makes carries this label (the controller's watch selects on it). */
export const SCRIPT_PHASE_LABEL = 'upgrademgr.keikoproj.io/script-phase';
/** The uid of the RollingUpgrade a Job belongs to (names may be longer than a label value). */
export const SCRIPT_OWNER_UID_LABEL = 'upgrademgr.keikoproj.io/rollingupgrade-uid';
/** The RollingUpgrade's name, when it fits a label value (for kubectl -l). */
export const SCRIPT_OWNER_LABEL = 'upgrademgr.keikoproj.io/rollingupgrade';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const SCRIPT_JOB_SELECTOR = `${MANAGED_BY_LABEL}=upgrade-manager,${SCRIPT_PHASE_LABEL}`;

const PHASE_SHORT: Record<ScriptPhase, string> = {
  preDrain: 'predrain',
  postDrain: 'postdrain',
  postWait: 'postwait',
  postTerminate: 'postterm',
};

/** The key of a script state: the in-flight key (node name, or instance id) and the phase. */
export function scriptStateKey(key: string, phase: ScriptPhase): string {
  return `${key}/${phase}`;
}

/** Which attempt at the node this is: 1, or 2 when it is retried after a failed drain. */
export function scriptAttempt(
  status: RollingUpgradeStatus | undefined,
  instanceId: string | undefined,
): number {
  const failed = (status?.drainFailures ?? []).find((f) => f.instanceID === instanceId);
  return (failed?.attempts ?? 0) + 1;
}

/**
 * `<upgrade>-<phase>-<hash>`: the upgrade's name (sanitised, shortened), the phase, and 10 hex digits of
 * a hash of the upgrade's uid, the node, the instance, the phase and the attempt. At most 52 characters:
 * the Job controller puts the name in a label (63 at most).
 */
export function scriptJobName(
  ru: Pick<RollingUpgrade, 'metadata'>,
  key: string,
  instanceId: string,
  phase: ScriptPhase,
  attempt: number,
): string {
  const base =
    (ru.metadata.name ?? 'ru')
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 30)
      .replace(/^-+|-+$/g, '') || 'ru';
  const hash = createHash('sha256')
    .update([ru.metadata.uid ?? '', key, instanceId, phase, String(attempt)].join('\n'))
    .digest('hex')
    .slice(0, 10);
  return `${base}-${PHASE_SHORT[phase]}-${hash}`;
}

/** What the Job runs for: the upgrade, the node and the phase. */
export interface ScriptTarget {
  key: string;
  nodeName?: string;
  instanceId: string;
  phase: ScriptPhase;
  script: string;
  attempt: number;
}

/**
 * The Job of one script: `/bin/sh -c <script>` in the configured image as the configured
 * ServiceAccount, with upstream's INSTANCE_ID, INSTANCE_NAME (the node) and ASG_NAME plus the
 * RollingUpgrade's name and namespace; never retried (backoffLimit 0), stopped at the timeout, kept
 * after it finishes so its logs can be read, owned by the RollingUpgrade (deleted with it), and kept
 * off the node it is about.
 */
export function scriptJob(ru: RollingUpgrade, t: ScriptTarget, opts: ScriptsOptions): V1Job {
  const name = scriptJobName(ru, t.key, t.instanceId, t.phase, t.attempt);
  const ruName = ru.metadata.name ?? '';
  const labels: Record<string, string> = {
    [MANAGED_BY_LABEL]: 'upgrade-manager',
    [SCRIPT_PHASE_LABEL]: t.phase,
    [SCRIPT_OWNER_UID_LABEL]: ru.metadata.uid ?? '',
    ...(ruName.length <= 63 ? { [SCRIPT_OWNER_LABEL]: ruName } : {}),
  };
  const env = [
    { name: 'INSTANCE_ID', value: t.instanceId },
    { name: 'INSTANCE_NAME', value: t.nodeName ?? '' },
    { name: 'ASG_NAME', value: ru.spec.asgName },
    { name: 'ROLLING_UPGRADE_NAME', value: ruName },
    { name: 'ROLLING_UPGRADE_NAMESPACE', value: ru.metadata.namespace ?? '' },
    { name: 'SCRIPT_PHASE', value: t.phase },
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: ru.metadata.namespace,
      labels,
      annotations: {
        'upgrademgr.keikoproj.io/rollingupgrade-name': ruName,
        'upgrademgr.keikoproj.io/node': t.nodeName ?? '',
        'upgrademgr.keikoproj.io/instance-id': t.instanceId,
        'upgrademgr.keikoproj.io/script-field': RollingUpgradeScriptFields[t.phase],
        'upgrademgr.keikoproj.io/attempt': String(t.attempt),
      },
      ownerReferences: [
        {
          apiVersion: ru.apiVersion ?? 'upgrademgr.keikoproj.io/v1alpha1',
          kind: 'RollingUpgrade',
          name: ruName,
          uid: ru.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: opts.timeoutSeconds,
      ttlSecondsAfterFinished: opts.ttlSecondsAfterFinished,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: opts.serviceAccountName,
          ...(t.nodeName ? { affinity: avoidNode(t.nodeName) } : {}),
          containers: [{ name: 'script', image: opts.image, command: ['/bin/sh', '-c', t.script], env }],
        },
      },
    },
  };
}

/** The script's pod never runs on the node being rotated (drained, or about to be). */
function avoidNode(nodeName: string) {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: [nodeName] }] },
        ],
      },
    },
  };
}

/** What a Job says about its script: Complete is success; Failed (backoff limit, deadline) is failure. */
export function scriptStateOf(job: V1Job): ScriptState {
  const name = `${job.metadata?.namespace}/${job.metadata?.name}`;
  const conditions = job.status?.conditions ?? [];
  const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed)
    return {
      state: 'failed',
      job: name,
      reason: failed.reason || 'Failed',
      message: failed.message || 'the Job failed',
    };
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True'))
    return { state: 'succeeded', job: name };
  return { state: 'running', job: name };
}

/** The Job name of every script the in-flight nodes may be at, by script state key. */
export function expectedScriptJobs(ru: RollingUpgrade, phases: readonly ScriptPhase[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, rec] of Object.entries(nodesInProcessing(ru.status))) {
    const attempt = scriptAttempt(ru.status, rec.instanceID);
    for (const phase of phases)
      out.set(scriptStateKey(key, phase), scriptJobName(ru, key, rec.instanceID ?? '', phase, attempt));
  }
  return out;
}
