// Node bootstrap: the user data an instance runs to join the cluster, with the group's labels and taints,
// user stages before and after, and extra volumes formatted and mounted. renderUserData is Amazon Linux 2
// (/etc/eks/bootstrap.sh, what eks-cf and existing eks groups get); renderNodeUserData picks the renderer of
// a group's operating system family (userdata/: AL2023 nodeadm, Bottlerocket TOML, Windows PowerShell).
// A group with a warm pool gets user data that joins only on the boot that goes into service
// (userdata/warm-pool-gate.ts); without one, the user data is what it always was. Pure.
import type { NodeVolume, Taint } from '@keiko/api';
import { LIFECYCLE_LABEL, ROLE_LABEL } from '../names';
import type { OsFamily } from './os-family';
import {
  isNodeadmUserData,
  mimeParts,
  nodeConfigKubeletFlags,
  renderMultipart,
  renderNodeadmUserData,
} from './userdata/al2023';
import {
  bottlerocketRegistration,
  isBottlerocketUserData,
  renderBottlerocketUserData,
} from './userdata/bottlerocket';
import { decodeStageData } from './userdata/stage-data';
import type { KubeletRegistration, RenderedStage } from './userdata/types';
import {
  CLOUD_CONFIG_CONTENT_TYPE,
  CLOUD_CONFIG_EVERY_BOOT,
  shellGateLines,
} from './userdata/warm-pool-gate';
import { isWindowsUserData, renderWindowsUserData, windowsKubeletExtraArgs } from './userdata/windows';

export interface UserDataStage {
  stage: 'PreBootstrap' | 'PostBootstrap';
  name?: string;
  data: string;
}

export interface BootstrapInput {
  clusterName: string;
  groupName: string;
  /** Spot groups are labelled lifecycle=spot, others lifecycle=normal (as the original). */
  spot: boolean;
  labels?: Readonly<Record<string, string>>;
  taints?: readonly Taint[];
  /**
   * Extra kubelet flags as the user wrote them. Both the original eks-cf and eks provisioners put them
   * inside bootstrap.sh's --kubelet-extra-args, after the group's labels and taints.
   */
  bootstrapArguments?: string;
  stages?: readonly UserDataStage[];
  volumes?: readonly NodeVolume[];
  maxPods?: number;
  containerRuntime?: 'dockerd' | 'containerd';
  /** From DescribeCluster; bootstrap.sh looks them up itself when absent. */
  apiServerEndpoint?: string;
  certificateAuthorityData?: string;
  /** From DescribeCluster; nodeadm (AL2023) needs it, the other families do not use it. */
  serviceIpv4Cidr?: string;
  /**
   * The group has a warm pool: the user data joins only on the boot whose target lifecycle state is
   * InService, and runs on every boot to catch it (userdata/warm-pool-gate.ts). Not for Bottlerocket
   * (os-family.ts refuses the combination).
   */
  warmPool?: boolean;
}

/** The labels every node of the group gets, plus the group's own (theirs win on a clash). */
export function nodeLabels(
  input: Pick<BootstrapInput, 'groupName' | 'spot' | 'labels'>,
): Record<string, string> {
  return {
    [ROLE_LABEL]: input.groupName,
    [LIFECYCLE_LABEL]: input.spot ? 'spot' : 'normal',
    ...input.labels,
  };
}

/** `k=v,k2=v2`, sorted so the rendering (and so the launch template) is stable. */
export function labelsFlagValue(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** `key=value:Effect,...` as kubelet's --register-with-taints takes them. */
export function taintsFlagValue(taints: readonly Taint[]): string {
  return taints
    .map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`)
    .sort()
    .join(',');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Shell lines that format and mount the volumes that ask for it (never the root volume). */
export function mountCommands(volumes: readonly NodeVolume[]): string[] {
  const lines: string[] = [];
  for (const v of volumes) {
    const opts = v.mountOptions;
    if (!opts?.mount || !opts.fileSystem) continue;
    const dev = v.name;
    const fs = opts.fileSystem;
    lines.push(
      `if ! blkid ${shellQuote(dev)}; then mkfs.${fs} ${shellQuote(dev)}; fi`,
      `mkdir -p ${shellQuote(opts.mount)}`,
      `mount ${shellQuote(dev)} ${shellQuote(opts.mount)}`,
    );
    if (opts.persistance)
      lines.push(`echo ${shellQuote(`${dev} ${opts.mount} ${fs} defaults,nofail 0 2`)} >> /etc/fstab`);
  }
  return lines;
}

/** The kubelet flags bootstrap.sh passes through --kubelet-extra-args. */
export function kubeletExtraArgs(input: BootstrapInput): string {
  const parts = [`--node-labels=${labelsFlagValue(nodeLabels(input))}`];
  if (input.taints && input.taints.length > 0)
    parts.push(`--register-with-taints=${taintsFlagValue(input.taints)}`);
  if (input.maxPods !== undefined) parts.push(`--max-pods=${input.maxPods}`);
  if (input.bootstrapArguments?.trim()) parts.push(input.bootstrapArguments.trim());
  return parts.join(' ');
}

/**
 * The complete user data (plain text; launch templates want it base64-encoded): a bash script, or with a
 * warm pool a MIME multi-part document — a cloud-config part that has cloud-init run the script on every
 * boot, and the same script with the warm pool gate first (it exits unless this boot joins the cluster).
 */
export function renderUserData(input: BootstrapInput): string {
  const pre = (input.stages ?? []).filter((s) => s.stage === 'PreBootstrap');
  const post = (input.stages ?? []).filter((s) => s.stage === 'PostBootstrap');
  const lines = ['#!/bin/bash', ...(input.warmPool ? shellGateLines() : []), 'set -o xtrace'];
  for (const s of pre) lines.push(`# stage ${s.name ?? 'PreBootstrap'}`, decodeStageData(s.data).trimEnd());
  lines.push(...mountCommands(input.volumes ?? []));
  const args = [`--kubelet-extra-args ${shellQuote(kubeletExtraArgs(input))}`];
  if (input.apiServerEndpoint) args.push(`--apiserver-endpoint ${shellQuote(input.apiServerEndpoint)}`);
  if (input.certificateAuthorityData)
    args.push(`--b64-cluster-ca ${shellQuote(input.certificateAuthorityData)}`);
  if (input.maxPods !== undefined) args.push('--use-max-pods false');
  if (input.containerRuntime) args.push(`--container-runtime ${input.containerRuntime}`);
  lines.push(`/etc/eks/bootstrap.sh ${shellQuote(input.clusterName)} ${args.join(' ')}`);
  lines.push('set +o xtrace');
  for (const s of post) lines.push(`# stage ${s.name ?? 'PostBootstrap'}`, decodeStageData(s.data).trimEnd());
  if (input.warmPool)
    return renderMultipart([
      { type: CLOUD_CONFIG_CONTENT_TYPE, body: CLOUD_CONFIG_EVERY_BOOT },
      { type: 'text/x-shellscript; charset="utf-8"', body: lines.join('\n') },
    ]);
  return `${lines.join('\n')}\n`;
}

/** A flag string split into arguments as a shell would (quotes and backslashes; no expansion). */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? '';
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else current += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else current += ch === '\\' && i + 1 < text.length ? text[++i] : ch;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(current);
      current = '';
      inWord = false;
    } else {
      inWord = true;
      if (ch === "'" || ch === '"') quote = ch;
      else current += ch === '\\' && i + 1 < text.length ? text[++i] : ch;
    }
  }
  if (inWord) out.push(current);
  return out;
}

function stagesOf(input: BootstrapInput, stage: UserDataStage['stage']): RenderedStage[] {
  return (input.stages ?? [])
    .filter((s) => s.stage === stage)
    .map((s) => ({ name: s.name ?? stage, data: decodeStageData(s.data) }));
}

/**
 * The user data of a node of the given operating system family. amazonlinux2 is renderUserData, byte for
 * byte (existing launch templates get no new version). The others: userdata/al2023.ts (nodeadm),
 * userdata/bottlerocket.ts (TOML settings), userdata/windows.ts (PowerShell). What a family cannot honour
 * (os-family.ts osFamilyProblems) is for the caller to refuse first.
 */
export function renderNodeUserData(family: OsFamily, input: BootstrapInput): string {
  const cluster = {
    clusterName: input.clusterName,
    ...(input.apiServerEndpoint ? { apiServerEndpoint: input.apiServerEndpoint } : {}),
    ...(input.certificateAuthorityData ? { certificateAuthorityData: input.certificateAuthorityData } : {}),
    ...(input.serviceIpv4Cidr ? { serviceIpv4Cidr: input.serviceIpv4Cidr } : {}),
  };
  const pre = stagesOf(input, 'PreBootstrap');
  const post = stagesOf(input, 'PostBootstrap');
  switch (family) {
    case 'amazonlinux2':
      return renderUserData(input);
    case 'amazonlinux2023': {
      const flags = [`--node-labels=${labelsFlagValue(nodeLabels(input))}`];
      if (input.taints && input.taints.length > 0)
        flags.push(`--register-with-taints=${taintsFlagValue(input.taints)}`);
      flags.push(...splitArgs(input.bootstrapArguments ?? ''));
      return renderNodeadmUserData({
        ...cluster,
        kubeletFlags: flags,
        ...(input.maxPods !== undefined ? { maxPods: input.maxPods } : {}),
        mountCommands: mountCommands(input.volumes ?? []),
        pre,
        post,
        ...(input.warmPool ? { warmPool: true } : {}),
      });
    }
    case 'bottlerocket':
      // Settings, no script: nothing could keep an instance launched into a warm pool out of the cluster.
      if (input.warmPool)
        throw new Error(
          'spec.eks.warmPool: bottlerocket user data cannot keep warm pool instances out of the cluster',
        );
      return renderBottlerocketUserData({
        ...cluster,
        labels: nodeLabels(input),
        taints: input.taints ?? [],
        ...(input.maxPods !== undefined ? { maxPods: input.maxPods } : {}),
        pre,
        post,
      });
    case 'windows':
      return renderWindowsUserData({
        ...cluster,
        kubeletExtraArgs: kubeletExtraArgs(input),
        pre,
        post,
        ...(input.warmPool ? { warmPool: true } : {}),
      });
  }
}

/**
 * Which family's format some user data is in (Amazon Linux 2 when it is none of the others). A MIME
 * document is AL2023 when it holds a NodeConfig, else Amazon Linux 2 (the warm pool rendering).
 */
export function userDataFamily(userData: string): OsFamily {
  if (isWindowsUserData(userData)) return 'windows';
  if (isNodeadmUserData(userData)) return 'amazonlinux2023';
  if (mimeParts(userData)) return 'amazonlinux2';
  if (!userData.trimStart().startsWith('#!') && isBottlerocketUserData(userData)) return 'bottlerocket';
  return 'amazonlinux2';
}

/** Labels and taints from every --node-labels and --register-with-taints in a text of kubelet flags. */
function registrationFromFlags(text: string): KubeletRegistration {
  const labels: Record<string, string> = {};
  const taints: KubeletRegistration['taints'] = [];
  for (const m of text.matchAll(/--node-labels[= ]([^\s'"]+)/g)) {
    for (const pair of (m[1] ?? '').split(',')) {
      const i = pair.indexOf('=');
      if (i > 0) labels[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  for (const m of text.matchAll(/--register-with-taints[= ]([^\s'"]+)/g)) {
    for (const t of (m[1] ?? '').split(',')) {
      const match = /^([^=:]+)(?:=([^:]*))?:(\w+)$/.exec(t);
      if (match)
        taints.push({
          key: match[1] ?? '',
          ...(match[2] ? { value: match[2] } : {}),
          effect: match[3] ?? '',
        });
    }
  }
  return { labels, taints };
}

/**
 * What a kubelet started by this user data would register, in any of the four formats: labels from every
 * --node-labels and taints from every --register-with-taints (repeated flags merge, as kubelet's map flags
 * do) — in bootstrap.sh's arguments (Amazon Linux 2), the NodeConfig's kubelet flags (AL2023), the
 * -KubeletExtraArgs of Start-EKSBootstrap.ps1 (Windows) — or Bottlerocket's node-labels and node-taints
 * settings. The node simulator plays kubelet with it; tests use it to check the rendering.
 */
export function kubeletRegistrationFromUserData(userData: string): KubeletRegistration {
  switch (userDataFamily(userData)) {
    case 'amazonlinux2':
      return registrationFromFlags(userData);
    case 'amazonlinux2023':
      return registrationFromFlags(nodeConfigKubeletFlags(userData).join(' '));
    case 'windows':
      return registrationFromFlags(windowsKubeletExtraArgs(userData) ?? '');
    case 'bottlerocket':
      return bottlerocketRegistration(userData);
  }
}
