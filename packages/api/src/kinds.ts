// The registry of every Keiko kind: generation, docs and tests iterate over it.
import { AddonDefinition } from './addon';
import type { KindDefinition } from './crd';
import { HealthCheckDefinition } from './healthcheck';
import { InstanceGroupDefinition } from './instancegroup';
import { PodCheckpointDefinition } from './podcheckpoint';
import { RollingUpgradeDefinition } from './rollingupgrade';

export const ALL_KINDS: readonly KindDefinition[] = [
  AddonDefinition,
  InstanceGroupDefinition,
  RollingUpgradeDefinition,
  HealthCheckDefinition,
  PodCheckpointDefinition,
];
