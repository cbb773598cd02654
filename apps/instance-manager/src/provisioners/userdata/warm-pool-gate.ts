// The warm pool gate: what the user data of a group with a warm pool (spec.eks.warmPool) adds so that an
// instance launched into the pool does not join the cluster. Pure.
//
// AWS runs an instance's user data when it launches it INTO the warm pool, then stops it (Warmed:Stopped);
// a scale-out later starts it into service. User data that joins the cluster right away would register a
// Ready node that gets pods and is then stopped under them, without a drain. The documented pattern
// (Amazon EC2 Auto Scaling user guide, "Retrieve the target lifecycle state through instance metadata"):
// the instance reads `autoscaling/target-lifecycle-state` from the instance metadata (IMDSv2) and joins only
// when it is `InService`; and since user data runs on the first boot only, it is made to run on every boot,
// so the boot that starts a warmed instance into service joins it.
//
// The rules all three renderers (bootstrap.ts for Amazon Linux 2, al2023.ts, windows.ts) follow:
//  - Every boot: a node that already joined (the marker below exists) does nothing more — kubelet starts by
//    itself (bootstrap.sh and Start-EKSBootstrap.ps1 enable it; nodeadm-run.service starts it each boot).
//    So stages, volume formatting and the join run at most once per instance, as they did before.
//  - Otherwise the target lifecycle state is read (IMDSv2; retried for about five minutes while the metadata
//    service is not reachable). `InService`: the marker is written, then the stages and the join run.
//    `Warmed:*` (or anything else): nothing more happens on this boot; the instance is stopped warm and joins
//    when started into service. Unreadable: the script fails without joining (the cloud-init or EC2Launch
//    log says so) — a node that cannot tell must not join.
//  - The pool is always Stopped (the controller sets no PoolState, AWS's default), so going into service is
//    a boot; a Running or Hibernated pool would need a watcher instead (not offered by spec.eks.warmPool).

/** Linux: written on the boot that joins the cluster; its presence means "joined on an earlier boot". */
export const JOINED_MARKER = '/var/lib/instance-manager/in-service';
/** Windows: the same marker. */
export const WINDOWS_JOINED_MARKER = '$env:ProgramData\\instance-manager\\in-service';

const IMDS = 'http://169.254.169.254/latest';
export const TARGET_LIFECYCLE_STATE_URL = `${IMDS}/meta-data/autoscaling/target-lifecycle-state`;
const TOKEN_URL = `${IMDS}/api/token`;
/** Attempts to read the state, 5 s apart. */
const ATTEMPTS = 60;

/**
 * The cloud-config part that makes cloud-init run the shell parts (`scripts-user`) on every boot instead of
 * once per instance. It replaces the image's list of final-stage modules with that one module, as AWS's
 * example does; the EKS-optimized Amazon Linux images use none of the others.
 */
export const CLOUD_CONFIG_EVERY_BOOT = [
  '#cloud-config',
  '# instance-manager warm pool gate: run the shell parts on every boot, so that an instance launched into',
  '# the warm pool joins the cluster on the boot that starts it into service.',
  'cloud_final_modules:',
  '  - [scripts-user, always]',
].join('\n');

export const CLOUD_CONFIG_CONTENT_TYPE = 'text/cloud-config; charset="utf-8"';

/**
 * Bash lines that end the script (exit) unless this boot is the one that joins the cluster: the node did
 * not join before and its target lifecycle state is InService. When they fall through, the marker is
 * written. `xtrace` is off while the metadata token is about.
 */
export function shellGateLines(): string[] {
  return [
    '# instance-manager warm pool gate (spec.eks.warmPool): this runs on every boot. It joins the cluster once,',
    '# on the boot whose Auto Scaling target lifecycle state is InService; an instance launched into the warm',
    '# pool (Warmed:*) stops here and joins when it is started into service.',
    `if [ -e ${JOINED_MARKER} ]; then`,
    "  echo 'instance-manager: this node joined the cluster on an earlier boot; kubelet starts by itself'",
    '  exit 0',
    'fi',
    "target_state=''",
    `for attempt in $(seq 1 ${ATTEMPTS}); do`,
    `  imds_token=$(curl -sSf --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' ${TOKEN_URL}) &&`,
    `    target_state=$(curl -sSf --max-time 5 -H "X-aws-ec2-metadata-token: \${imds_token}" ${TARGET_LIFECYCLE_STATE_URL}) &&`,
    '    [ -n "${target_state}" ] && break',
    '  echo "instance-manager: target lifecycle state not readable yet (attempt ${attempt})"',
    "  target_state=''",
    '  sleep 5',
    'done',
    'if [ "${target_state}" != \'InService\' ]; then',
    '  if [ -z "${target_state}" ]; then',
    "    echo 'instance-manager: the target lifecycle state could not be read; not joining the cluster' >&2",
    '    exit 1',
    '  fi',
    '  echo "instance-manager: target lifecycle state ${target_state}; not joining the cluster on this boot"',
    '  exit 0',
    'fi',
    `mkdir -p ${JOINED_MARKER.slice(0, JOINED_MARKER.lastIndexOf('/'))}`,
    `touch ${JOINED_MARKER}`,
  ];
}

/**
 * PowerShell lines with the same rule, for a `<powershell>` block EC2Launch runs on every boot
 * (`<persist>true</persist>`).
 */
export function powershellGateLines(): string[] {
  return [
    '# instance-manager warm pool gate (spec.eks.warmPool): with <persist>true</persist> this block runs on every',
    '# boot. It joins the cluster once, on the boot whose Auto Scaling target lifecycle state is InService; an',
    '# instance launched into the warm pool (Warmed:*) stops here and joins when it is started into service.',
    `[string]$InstanceManagerMarker = "${WINDOWS_JOINED_MARKER}"`,
    'if (Test-Path -Path $InstanceManagerMarker) {',
    "  Write-Output 'instance-manager: this node joined the cluster on an earlier boot; kubelet starts by itself'",
    '  exit 0',
    '}',
    "[string]$TargetLifecycleState = ''",
    `for ($Attempt = 1; $Attempt -le ${ATTEMPTS} -and -not $TargetLifecycleState; $Attempt++) {`,
    '  try {',
    `    $IMDSToken = Invoke-RestMethod -UseBasicParsing -Method PUT -Uri '${TOKEN_URL}' -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '300' }`,
    `    $TargetLifecycleState = Invoke-RestMethod -UseBasicParsing -Method GET -Uri '${TARGET_LIFECYCLE_STATE_URL}' -Headers @{ 'X-aws-ec2-metadata-token' = $IMDSToken }`,
    '  } catch {',
    '    Write-Output "instance-manager: target lifecycle state not readable yet (attempt $Attempt)"',
    '    Start-Sleep -Seconds 5',
    '  }',
    '}',
    "if ($TargetLifecycleState -ne 'InService') {",
    '  if (-not $TargetLifecycleState) {',
    "    Write-Error 'instance-manager: the target lifecycle state could not be read; not joining the cluster'",
    '    exit 1',
    '  }',
    '  Write-Output "instance-manager: target lifecycle state $TargetLifecycleState; not joining the cluster on this boot"',
    '  exit 0',
    '}',
    'New-Item -ItemType Directory -Force -Path (Split-Path -Parent $InstanceManagerMarker) | Out-Null',
    'New-Item -ItemType File -Force -Path $InstanceManagerMarker | Out-Null',
  ];
}

/** Whether some user data carries the gate (any family). */
export function hasWarmPoolGate(userData: string): boolean {
  return userData.includes(TARGET_LIFECYCLE_STATE_URL);
}
