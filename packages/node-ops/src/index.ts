export {
  parseProviderId,
  formatProviderId,
  instanceIdOfNode,
  nodesByInstanceId,
  InvalidProviderIdError,
} from './instance';
export type { ProviderId } from './instance';
export {
  cordonNode,
  uncordonNode,
  cordonedBy,
  isCordoned,
  CORDONED_BY_ANNOTATION,
  NodeNotFoundError,
} from './cordon';
export type { CordonResult } from './cordon';
export { planDrain, drainNode, podDisruptionBudgetsFor, DrainError, MIRROR_POD_ANNOTATION } from './drain';
export type {
  DrainPlan,
  DrainPolicy,
  PlanDrainOptions,
  DrainOptions,
  DrainResult,
  DrainProgress,
  DrainFailureReason,
  PodDrainFailure,
  SkippedPod,
  SkipRule,
  RefusedPod,
  RefuseRule,
} from './drain';
export { evictPod, evictionBody, discoverEvictionApiVersion } from './eviction';
export type { EvictionApiVersion, EvictionOutcome, EvictPodOptions } from './eviction';
export {
  isNodeReady,
  nodeMatchesReadinessGates,
  unmetReadinessGates,
  nodeNotReadyReason,
  waitForNodeReady,
} from './readiness';
export type { NodeReadinessGate, WaitForNodeReadyOptions } from './readiness';
export { matchesLabelSelector, labelSelectorError, formatLabelSelector } from './labels';
export type { Labels } from './labels';
export { AbortedError } from './abort';
export { formatDuration } from './duration';
export { listPodsOnNode } from './pods';
export { budgetNodes } from './budget';
export { DRAIN_FAILURE_ANNOTATION, readDrainFailure, recordDrainFailure } from './drain-record';
export type { DrainFailureRecord } from './drain-record';
export {
  DisruptionLocks,
  disruptionLockName,
  disruptionLockNamespaceOption,
  DEFAULT_DISRUPTION_LOCK_NAMESPACE,
  DISRUPTION_LOCK_PREFIX,
} from './group-lock';
export type { ScalingGroupRef, LockOutcome, LockRenewal, DisruptionLockOptions } from './group-lock';
export { DrainRunner, failedDrainOf } from './engine/drain-runner';
export type { DrainState, FailedDrain, DrainRequest, DrainRunnerOptions } from './engine/drain-runner';
export { MAX_DRAIN_ATTEMPTS, orderCandidates, selectBatch, planAllBatches } from './engine/batch';
export type { Candidate, CandidateOrder, BatchInput } from './engine/batch';
