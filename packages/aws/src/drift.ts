// Is an instance running what its Auto Scaling group would launch today? Pure: the caller resolves the
// group's `$Latest`/`$Default` launch template versions first (Ec2Port.resolveLaunchTemplateVersion).
//
// Follows keikoproj/upgrade-manager's IsInstanceDrifted:
//  - instances already terminating are never drifted (they are on their way out);
//  - the group's launch configuration is checked first, then its launch template, then its mixed
//    instances policy's template — an instance lacking the corresponding field is drifted;
//  - template names compare case-insensitively and `$Latest` is replaced by the latest version number;
//  - a group with none of the three has nothing to drift from.
// Where Keiko goes further: `$Default` (and an omitted version, which AWS treats as `$Default`) is
// resolved too, not compared literally; template ids are compared when both sides have one (a template
// deleted and re-created under the same name is a different template); and a mixed instances policy
// override that launches its instance type from its own template is honoured.
import type { GroupInstance, LaunchTemplateSpec, ScalingGroup } from './autoscaling';

/** A launch template version resolved to a number (what Ec2Port.resolveLaunchTemplateVersion returns). */
export interface ResolvedLaunchTemplateVersion {
  id: string;
  name: string;
  version: number;
}

export type DriftReason =
  | 'up-to-date'
  | 'terminating'
  | 'no-launch-definition'
  | 'launch-configuration-missing'
  | 'launch-configuration-changed'
  | 'launch-template-missing'
  | 'launch-template-changed'
  | 'launch-template-version-changed';

export interface DriftVerdict {
  drifted: boolean;
  reason: DriftReason;
  /** One line for logs and events, naming the instance, what it has and what the group wants. */
  detail: string;
}

/** Lifecycle states of an instance that is already leaving the group. */
export const TERMINATING_LIFECYCLE_STATES: ReadonlySet<string> = new Set([
  'Terminating',
  'Terminating:Wait',
  'Terminating:Proceed',
  'Terminating:Retained',
  'Terminated',
]);

export function isTerminatingState(lifecycleState: string): boolean {
  return TERMINATING_LIFECYCLE_STATES.has(lifecycleState);
}

const SYMBOLIC_VERSIONS = ['$latest', '$default'];

/** `$Latest` / `$Default` (any case), or no version at all (AWS's `$Default`). */
export function isSymbolicVersion(version: string | undefined): boolean {
  return version === undefined || version === '' || SYMBOLIC_VERSIONS.includes(version.toLowerCase());
}

/**
 * Every launch template reference of the group whose version must be resolved before drift can be
 * decided: the group's template or its mixed policy's template plus any override templates.
 */
export function launchTemplatesToResolve(group: ScalingGroup): LaunchTemplateSpec[] {
  if (group.launchConfigurationName) return [];
  if (group.launchTemplate)
    return isSymbolicVersion(group.launchTemplate.version) ? [group.launchTemplate] : [];
  const policy = group.mixedInstancesPolicy;
  if (!policy) return [];
  return [
    policy.launchTemplate,
    ...policy.overrides.flatMap((o) => (o.launchTemplate ? [o.launchTemplate] : [])),
  ].filter((spec) => isSymbolicVersion(spec.version));
}

interface TemplateIdentity {
  id?: string;
  name?: string;
}

function sameTemplate(a: TemplateIdentity, b: TemplateIdentity): boolean | undefined {
  if (a.id && b.id) return a.id === b.id;
  if (a.name && b.name) return a.name.toLowerCase() === b.name.toLowerCase();
  return undefined; // nothing comparable
}

function describeTemplate(t: TemplateIdentity): string {
  return t.name ?? t.id ?? '(unnamed)';
}

function findResolved(
  spec: TemplateIdentity,
  resolved: readonly ResolvedLaunchTemplateVersion[],
): ResolvedLaunchTemplateVersion | undefined {
  return resolved.find((r) => sameTemplate(spec, r) === true);
}

/** The version number `spec` means, using `resolved` for symbolic versions; throws when it cannot. */
function wantedVersion(
  group: ScalingGroup,
  spec: LaunchTemplateSpec,
  resolved: readonly ResolvedLaunchTemplateVersion[],
): number {
  if (!isSymbolicVersion(spec.version)) {
    const n = Number(spec.version);
    if (Number.isInteger(n)) return n;
    throw new Error(
      `group ${group.name}: launch template ${describeTemplate(spec)} has an unreadable version ${spec.version}`,
    );
  }
  const hit = findResolved(spec, resolved);
  if (!hit) {
    throw new Error(
      `group ${group.name}: launch template ${describeTemplate(spec)} version ${spec.version ?? '$Default'} ` +
        'must be resolved before checking drift (Ec2Port.resolveLaunchTemplateVersion)',
    );
  }
  return hit.version;
}

function verdict(drifted: boolean, reason: DriftReason, detail: string): DriftVerdict {
  return { drifted, reason, detail };
}

function compareTemplate(
  group: ScalingGroup,
  instance: GroupInstance,
  wanted: LaunchTemplateSpec,
  resolved: readonly ResolvedLaunchTemplateVersion[],
): DriftVerdict {
  const has = instance.launchTemplate;
  if (!has) {
    return verdict(
      true,
      'launch-template-missing',
      `instance ${instance.id} has no launch template; group ${group.name} uses ${describeTemplate(wanted)}`,
    );
  }
  // Fill in the side AWS left out (a group may name the template by id only) from the resolution.
  const known = findResolved(wanted, resolved);
  const wantedIdentity: TemplateIdentity = { id: wanted.id ?? known?.id, name: wanted.name ?? known?.name };
  if (sameTemplate(wantedIdentity, has) !== true) {
    return verdict(
      true,
      'launch-template-changed',
      `instance ${instance.id} runs launch template ${describeTemplate(has)}; group ${group.name} uses ${describeTemplate(wantedIdentity)}`,
    );
  }
  const wantedNumber = wantedVersion(group, wanted, resolved);
  const hasNumber = isSymbolicVersion(has.version)
    ? findResolved(has, resolved)?.version
    : Number(has.version);
  if (hasNumber !== wantedNumber) {
    return verdict(
      true,
      'launch-template-version-changed',
      `instance ${instance.id} runs ${describeTemplate(wantedIdentity)} version ${has.version ?? '(none)'}; group ${group.name} wants version ${wantedNumber}`,
    );
  }
  return verdict(
    false,
    'up-to-date',
    `instance ${instance.id} runs ${describeTemplate(wantedIdentity)} version ${wantedNumber}`,
  );
}

/**
 * Decides whether `instance` differs from what `group` launches now. `resolved` holds the resolved
 * versions of the group's symbolic template references (see launchTemplatesToResolve); it may be
 * omitted when the group pins a version number or uses a launch configuration. Throws when a needed
 * resolution is missing — deciding on a guess would replace nodes for nothing, or skip them.
 */
export function instanceDrift(
  group: ScalingGroup,
  instance: GroupInstance,
  resolved: ResolvedLaunchTemplateVersion | readonly ResolvedLaunchTemplateVersion[] = [],
): DriftVerdict {
  const resolutions: readonly ResolvedLaunchTemplateVersion[] = Array.isArray(resolved)
    ? resolved
    : [resolved as ResolvedLaunchTemplateVersion];

  if (isTerminatingState(instance.lifecycleState)) {
    return verdict(false, 'terminating', `instance ${instance.id} is ${instance.lifecycleState}`);
  }

  if (group.launchConfigurationName) {
    if (!instance.launchConfigurationName) {
      return verdict(
        true,
        'launch-configuration-missing',
        `instance ${instance.id} has no launch configuration; group ${group.name} uses ${group.launchConfigurationName}`,
      );
    }
    if (instance.launchConfigurationName.toLowerCase() !== group.launchConfigurationName.toLowerCase()) {
      return verdict(
        true,
        'launch-configuration-changed',
        `instance ${instance.id} runs launch configuration ${instance.launchConfigurationName}; group ${group.name} uses ${group.launchConfigurationName}`,
      );
    }
    return verdict(
      false,
      'up-to-date',
      `instance ${instance.id} runs launch configuration ${group.launchConfigurationName}`,
    );
  }

  if (group.launchTemplate) return compareTemplate(group, instance, group.launchTemplate, resolutions);

  const policy = group.mixedInstancesPolicy;
  if (policy) {
    // An override with its own template applies to the instances launched from that template.
    const override = instance.launchTemplate
      ? policy.overrides.find(
          (o) => o.launchTemplate && sameTemplate(o.launchTemplate, instance.launchTemplate ?? {}) === true,
        )
      : undefined;
    return compareTemplate(group, instance, override?.launchTemplate ?? policy.launchTemplate, resolutions);
  }

  return verdict(
    false,
    'no-launch-definition',
    `group ${group.name} has no launch template or configuration to compare with`,
  );
}

/** instanceDrift(...).drifted. */
export function instanceIsDrifted(
  group: ScalingGroup,
  instance: GroupInstance,
  resolved?: ResolvedLaunchTemplateVersion | readonly ResolvedLaunchTemplateVersion[],
): boolean {
  return instanceDrift(group, instance, resolved).drifted;
}

/** The group's instances that are drifted, in group order. */
export function driftedInstances(
  group: ScalingGroup,
  resolved?: ResolvedLaunchTemplateVersion | readonly ResolvedLaunchTemplateVersion[],
): GroupInstance[] {
  return group.instances.filter((i) => instanceDrift(group, i, resolved).drifted);
}
