// Amazon Linux 2023 user data: a MIME multi-part document for cloud-init and nodeadm (AL2023 has no
// /etc/eks/bootstrap.sh). One `application/node.eks.aws` part holds the NodeConfig — the cluster (name,
// API server endpoint, CA, service CIDR) and kubelet (max pods as config, labels, taints and the group's
// bootstrapArguments as flags); shell parts carry the stages and the volume mounts. Pure.
//
// Boot order on AL2023: nodeadm-config.service reads the NodeConfig and writes kubelet's configuration,
// then cloud-init runs the shell parts, then nodeadm-run.service starts kubelet. So PreBootstrap stages
// and the mounts are plain shell parts (they run before kubelet starts, as on Amazon Linux 2), and each
// PostBootstrap stage installs a oneshot unit ordered after nodeadm-run.service, so it runs after kubelet
// started, as it did after bootstrap.sh.
//
// With a warm pool (`warmPool`, see warm-pool-gate.ts) nodeadm is the problem: nodeadm-config.service and
// nodeadm-run.service are enabled units that run on every boot, and nodeadm-run starts kubelet — on the
// boot that launches the instance into the pool too. So the document gets a cloud-config part (the shell
// parts run on every boot) and, first among the shell parts, the gate: it gives nodeadm-run.service and
// kubelet.service a drop-in `ExecCondition=` on the marker of a joined node (before nodeadm-run starts, which
// waits for cloud-init), then decides whether this boot joins. Only on that boot (a flag in /run) do the
// other shell parts — stages, mounts, the PostBootstrap units — do anything; nodeadm-config still writes
// kubelet's configuration every boot, which joins nothing.
import { createHash } from 'node:crypto';
import { loadAll as loadAllYaml } from 'js-yaml';
import type { ClusterAccess, RenderedStage } from './types';
import {
  CLOUD_CONFIG_CONTENT_TYPE,
  CLOUD_CONFIG_EVERY_BOOT,
  JOINED_MARKER,
  shellGateLines,
} from './warm-pool-gate';

export const NODECONFIG_CONTENT_TYPE = 'application/node.eks.aws';
export const NODECONFIG_API_VERSION = 'node.eks.aws/v1alpha1';

export interface NodeadmInput extends ClusterAccess {
  /** kubelet flags, one per entry (--node-labels=..., --register-with-taints=..., the user's). */
  kubeletFlags: readonly string[];
  maxPods?: number;
  /** Shell lines formatting and mounting volumes (a part after the PreBootstrap stages, as on Amazon Linux 2). */
  mountCommands: readonly string[];
  pre: readonly RenderedStage[];
  post: readonly RenderedStage[];
  /** The group has a warm pool: only the boot that goes into service joins (see the top of this file). */
  warmPool?: boolean;
}

const SHELL_CONTENT_TYPE = 'text/x-shellscript; charset="utf-8"';
/** Warm pool: exists (in /run, so for one boot) when this boot joins the cluster. */
export const JOINING_FLAG = '/run/instance-manager/joining';
/** Warm pool: the first line after the interpreter of every shell part but the gate. */
export const JOINING_GUARD = `[ -e ${JOINING_FLAG} ] || exit 0 # instance-manager warm pool gate: not joining on this boot`;
/** Warm pool: the units that only run on a node that joined. */
export const GATED_UNITS = ['nodeadm-run.service', 'kubelet.service'] as const;
export const GATED_UNIT_DROP_IN = '90-instance-manager-warm-pool.conf';

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** A YAML double-quoted scalar (JSON strings are YAML). */
const q = (s: string) => JSON.stringify(s);

function comment(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** A stage's script as an executable file: its own interpreter line, or bash. */
function asScript(data: string): string {
  const body = data.trim();
  return body.startsWith('#!') ? body : `#!/bin/bash\n${body}`;
}

export function renderNodeConfig(input: NodeadmInput): string {
  const lines = [
    '---',
    `apiVersion: ${NODECONFIG_API_VERSION}`,
    'kind: NodeConfig',
    'spec:',
    '  cluster:',
    `    name: ${q(input.clusterName)}`,
  ];
  if (input.apiServerEndpoint) lines.push(`    apiServerEndpoint: ${q(input.apiServerEndpoint)}`);
  if (input.certificateAuthorityData)
    lines.push(`    certificateAuthority: ${q(input.certificateAuthorityData)}`);
  if (input.serviceIpv4Cidr) lines.push(`    cidr: ${q(input.serviceIpv4Cidr)}`);
  lines.push('  kubelet:');
  if (input.maxPods !== undefined && input.maxPods > 0)
    lines.push('    config:', `      maxPods: ${input.maxPods}`);
  lines.push('    flags:', ...input.kubeletFlags.map((f) => `      - ${q(f)}`));
  return lines.join('\n');
}

/** A shell part that runs a PostBootstrap stage once kubelet has been started by nodeadm. */
function postBootstrapPart(stage: RenderedStage, index: number, warmPool: boolean): string {
  const script = asScript(stage.data);
  // A heredoc delimiter derived from the content cannot occur in it.
  const eof = `INSTANCE_MANAGER_${hash(script)}`;
  const file = `/var/lib/instance-manager/post-bootstrap-${index}`;
  const unit = `instance-manager-post-bootstrap-${index}.service`;
  return [
    '#!/bin/bash',
    ...(warmPool ? [JOINING_GUARD] : []),
    `# stage ${comment(stage.name)} (PostBootstrap): runs after nodeadm-run.service has started kubelet`,
    'set -o errexit',
    'mkdir -p /var/lib/instance-manager',
    `cat > ${file} <<'${eof}'`,
    script,
    eof,
    `chmod 0755 ${file}`,
    `cat > /etc/systemd/system/${unit} <<'${eof}'`,
    '[Unit]',
    `Description=instance-manager PostBootstrap stage ${comment(stage.name)}`,
    'After=nodeadm-run.service',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${file}`,
    eof,
    'systemctl daemon-reload',
    // --no-block: this runs inside cloud-final, which nodeadm-run.service waits for.
    `systemctl start --no-block ${unit}`,
  ].join('\n');
}

/**
 * Warm pool: the first shell part. Every boot it (re)writes the drop-ins that keep nodeadm-run.service and
 * kubelet.service from running on a node that has not joined, then lets the shared gate decide; on the
 * boot that joins, it raises the flag the other shell parts check.
 */
function gatePart(): string {
  return [
    '#!/bin/bash',
    '# nodeadm-run.service (which starts kubelet) and kubelet.service run on a node that joined the cluster',
    '# only. The drop-ins are in place before nodeadm-run.service starts: it waits for cloud-init.',
    `for unit in ${GATED_UNITS.join(' ')}; do`,
    '  mkdir -p "/etc/systemd/system/${unit}.d"',
    `  printf '%s\\n' '[Service]' 'ExecCondition=/usr/bin/test -e ${JOINED_MARKER}' > "/etc/systemd/system/\${unit}.d/${GATED_UNIT_DROP_IN}"`,
    'done',
    'systemctl daemon-reload',
    ...shellGateLines(),
    `mkdir -p ${JOINING_FLAG.slice(0, JOINING_FLAG.lastIndexOf('/'))}`,
    `touch ${JOINING_FLAG}`,
  ].join('\n');
}

/** Warm pool: a PreBootstrap stage run from a file by a guarded bash part (the stage may be any interpreter). */
function guardedPreBootstrapPart(stage: RenderedStage, index: number): string {
  const script = asScript(stage.data);
  const eof = `INSTANCE_MANAGER_${hash(script)}`;
  const file = `/var/lib/instance-manager/pre-bootstrap-${index}`;
  return [
    '#!/bin/bash',
    JOINING_GUARD,
    `# stage ${comment(stage.name)} (PreBootstrap)`,
    'mkdir -p /var/lib/instance-manager',
    `cat > ${file} <<'${eof}'`,
    script,
    eof,
    `chmod 0755 ${file}`,
    `exec ${file}`,
  ].join('\n');
}

/** A MIME multi-part document of the parts, in order, with a boundary derived from their content. */
export function renderMultipart(parts: ReadonlyArray<{ type: string; body: string }>): string {
  const boundary = `==instance-manager-${hash(parts.map((p) => p.body).join('\n'))}==`;
  const out = ['MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${boundary}"`, ''];
  for (const p of parts) out.push(`--${boundary}`, `Content-Type: ${p.type}`, '', p.body, '');
  out.push(`--${boundary}--`);
  return `${out.join('\n')}\n`;
}

export function renderNodeadmUserData(input: NodeadmInput): string {
  const warmPool = input.warmPool === true;
  const parts: Array<{ type: string; body: string }> = [];
  const shell = SHELL_CONTENT_TYPE;
  if (warmPool)
    parts.push(
      { type: CLOUD_CONFIG_CONTENT_TYPE, body: CLOUD_CONFIG_EVERY_BOOT },
      { type: shell, body: gatePart() },
    );
  input.pre.forEach((s, i) => {
    if (warmPool) {
      parts.push({ type: shell, body: guardedPreBootstrapPart(s, i + 1) });
      return;
    }
    const [interpreter, ...rest] = asScript(s.data).split('\n');
    parts.push({
      type: shell,
      body: [interpreter, `# stage ${comment(s.name)} (PreBootstrap)`, ...rest].join('\n'),
    });
  });
  if (input.mountCommands.length > 0)
    parts.push({
      type: shell,
      body: ['#!/bin/bash', ...(warmPool ? [JOINING_GUARD] : []), '# volumes', ...input.mountCommands].join(
        '\n',
      ),
    });
  parts.push({ type: NODECONFIG_CONTENT_TYPE, body: renderNodeConfig(input) });
  input.post.forEach((s, i) => parts.push({ type: shell, body: postBootstrapPart(s, i + 1, warmPool) }));
  return renderMultipart(parts);
}

// --- Reading it back (the node simulator). ----------------------------------------------------------

interface MimePart {
  contentType: string;
  body: string;
}

function headerValue(headers: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(headers);
  return m?.[1]?.trim();
}

/** The parts of a MIME multi-part document (one level), or undefined when it is not one. */
export function mimeParts(text: string): MimePart[] | undefined {
  const normalized = text.replace(/\r\n/g, '\n');
  const split = normalized.indexOf('\n\n');
  if (split < 0) return undefined;
  const contentType = headerValue(normalized.slice(0, split), 'Content-Type') ?? '';
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!/^multipart\//i.test(contentType) || !boundary) return undefined;
  const out: MimePart[] = [];
  const chunks = normalized.slice(split).split(`\n--${boundary}`);
  for (const chunk of chunks.slice(1)) {
    if (chunk.startsWith('--')) break;
    const body = chunk.replace(/^[^\n]*\n/, '');
    const end = body.indexOf('\n\n');
    const headers = end < 0 ? body : body.slice(0, end);
    out.push({
      contentType: headerValue(headers, 'Content-Type') ?? 'text/plain',
      body: end < 0 ? '' : body.slice(end + 2),
    });
  }
  return out;
}

export function isNodeadmUserData(text: string): boolean {
  return (mimeParts(text) ?? []).some((p) => p.contentType.toLowerCase().startsWith(NODECONFIG_CONTENT_TYPE));
}

/** The kubelet flags of every NodeConfig in the document (nodeadm merges them; flags add up). */
export function nodeConfigKubeletFlags(text: string): string[] {
  const flags: string[] = [];
  for (const part of mimeParts(text) ?? []) {
    if (!part.contentType.toLowerCase().startsWith(NODECONFIG_CONTENT_TYPE)) continue;
    let docs: unknown[];
    try {
      docs = loadAllYaml(part.body);
    } catch {
      continue;
    }
    for (const doc of docs) {
      const spec = (doc as { kind?: string; spec?: { kubelet?: { flags?: unknown } } } | null) ?? {};
      if (spec.kind !== 'NodeConfig') continue;
      const f = spec.spec?.kubelet?.flags;
      if (Array.isArray(f)) flags.push(...f.filter((x): x is string => typeof x === 'string'));
    }
  }
  return flags;
}
