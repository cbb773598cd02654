// Windows user data: one <powershell> block that runs the EKS-optimized Windows AMI's
// Start-EKSBootstrap.ps1 with the cluster, its endpoint and CA, and the kubelet flags (labels, taints,
// max pods, the group's bootstrapArguments) as -KubeletExtraArgs, as the original instance-manager did;
// PreBootstrap stages run before it and PostBootstrap stages after it, as PowerShell. Pure.
//
// With a warm pool (`warmPool`, see warm-pool-gate.ts) the block is followed by `<persist>true</persist>`,
// so EC2Launch runs it on every boot, and opens with the gate: it exits unless this boot is the one that
// goes into service (and the node has not joined before), so stages and Start-EKSBootstrap.ps1 run once,
// on that boot.
import type { ClusterAccess, RenderedStage } from './types';
import { powershellGateLines } from './warm-pool-gate';

export interface WindowsInput extends ClusterAccess {
  /** The kubelet flags, as one string (the same string Amazon Linux 2 passes to --kubelet-extra-args). */
  kubeletExtraArgs: string;
  pre: readonly RenderedStage[];
  post: readonly RenderedStage[];
  /** The group has a warm pool: run on every boot, join only on the one that goes into service. */
  warmPool?: boolean;
}

/** EC2Launch runs the user data on every boot, not only the first. */
export const PERSIST_TAG = '<persist>true</persist>';

/**
 * A PowerShell single-quoted string: nothing expands inside. PowerShell takes the typographic single quotes (U+2018-U+201B) for
 * quote characters too: each is doubled like `'`, or a label value could end the string and run code.
 */
export function psQuote(s: string): string {
  return `'${s.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

function comment(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

export function renderWindowsUserData(input: WindowsInput): string {
  const lines = ['<powershell>', ...(input.warmPool ? powershellGateLines() : [])];
  for (const s of input.pre) lines.push(`# stage ${comment(s.name)} (PreBootstrap)`, s.data.trimEnd());
  const args = [`-EKSClusterName ${psQuote(input.clusterName)}`];
  if (input.apiServerEndpoint) args.push(`-APIServerEndpoint ${psQuote(input.apiServerEndpoint)}`);
  if (input.certificateAuthorityData)
    args.push(`-Base64ClusterCA ${psQuote(input.certificateAuthorityData)}`);
  args.push(`-KubeletExtraArgs ${psQuote(input.kubeletExtraArgs)}`);
  lines.push(
    '[string]$EKSBootstrapScriptFile = "$env:ProgramFiles\\Amazon\\EKS\\Start-EKSBootstrap.ps1"',
    // 3..6: warning, verbose, debug and information streams into the output the EC2 console log shows.
    `& $EKSBootstrapScriptFile ${args.join(' ')} 3>&1 4>&1 5>&1 6>&1`,
  );
  for (const s of input.post) lines.push(`# stage ${comment(s.name)} (PostBootstrap)`, s.data.trimEnd());
  lines.push('</powershell>');
  if (input.warmPool) lines.push(PERSIST_TAG);
  return `${lines.join('\n')}\n`;
}

/** What is wrong with a stage's data as PowerShell inside the <powershell> block, or undefined. */
export function windowsStageProblem(data: string): string | undefined {
  const first =
    data
      .split(/\r?\n/)
      .find((l) => l.trim() !== '')
      ?.trim() ?? '';
  if (first.startsWith('#!')) return 'is a shell script, but Windows user data stages are PowerShell';
  if (/<\/?powershell>/i.test(data))
    return 'contains a <powershell> tag; the stage is already inside the <powershell> block';
  return undefined;
}

export function isWindowsUserData(text: string): boolean {
  return text.trimStart().toLowerCase().startsWith('<powershell>');
}

/** The -KubeletExtraArgs of the bootstrap call, unquoted; undefined when there is none. */
export function windowsKubeletExtraArgs(text: string): string | undefined {
  const m = /-KubeletExtraArgs\s+'((?:[^']|'')*)'/.exec(text);
  return m ? (m[1] ?? '').replace(/''/g, "'") : undefined;
}
