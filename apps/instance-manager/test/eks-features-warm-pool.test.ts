// The user data of a group with a warm pool (spec.eks.warmPool): instances AWS launches into the pool run it
// too, so it joins the cluster only on the boot whose target lifecycle state is InService, and runs on every
// boot to catch that one. Pure renderers, judged by real parsers (bash -n, YAML); the Linux scripts are
// also run by bash on a pretend host (their root paths moved into a temporary directory, curl answering as
// the instance metadata service, systemctl and bootstrap.sh recording what they are asked) through the
// boots a warmed instance goes through.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup, type InstanceGroup } from '@keiko/api';
import { loadAllYaml } from '@kubernetes/client-node';
import {
  kubeletRegistrationFromUserData,
  renderNodeUserData,
  renderUserData,
  userDataFamily,
  type BootstrapInput,
} from '../src/provisioners/bootstrap';
import { renderLaunchTemplateData } from '../src/provisioners/eks/launch-template';
import { OS_FAMILY_ANNOTATION, osFamilyProblems } from '../src/provisioners/os-family';
import { JOINING_GUARD, mimeParts, NODECONFIG_CONTENT_TYPE } from '../src/provisioners/userdata/al2023';
import {
  CLOUD_CONFIG_CONTENT_TYPE,
  hasWarmPoolGate,
  JOINED_MARKER,
  powershellGateLines,
  shellGateLines,
  TARGET_LIFECYCLE_STATE_URL,
} from '../src/provisioners/userdata/warm-pool-gate';
import { PERSIST_TAG, windowsKubeletExtraArgs } from '../src/provisioners/userdata/windows';
import { example } from './support/fixtures';
import { bashSyntax } from './support/parsers';

const input = (over: Partial<BootstrapInput> = {}): BootstrapInput => ({
  clusterName: 'prod',
  groupName: 'web',
  spot: false,
  labels: { team: 'a' },
  taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }],
  bootstrapArguments: '--v=2',
  maxPods: 58,
  stages: [
    { stage: 'PreBootstrap', name: 'prep', data: 'echo "stage prep" >> "$CALLS"' },
    { stage: 'PostBootstrap', name: 'after', data: 'echo "stage after" >> "$CALLS"' },
  ],
  volumes: [
    { name: '/dev/xvdb', type: 'gp3', size: 100, mountOptions: { fileSystem: 'xfs', mount: '/data' } },
  ],
  apiServerEndpoint: 'https://ABC.gr7.us-west-2.eks.amazonaws.com',
  certificateAuthorityData: 'LS0tQ0E=',
  serviceIpv4Cidr: '172.20.0.0/16',
  ...over,
});

const registration = {
  labels: { 'instancemgr.keikoproj.io/lifecycle': 'normal', 'node.kubernetes.io/role': 'web', team: 'a' },
  taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }],
};

/** The text with the gate's lines taken out (once, where they are). */
function withoutLines(text: string, gate: readonly string[]): string {
  const block = `${gate.join('\n')}\n`;
  expect(text).toContain(block);
  return text.replace(block, '');
}

// --- A pretend host ----------------------------------------------------------------------------------

const hosts: string[] = [];
afterAll(() => {
  for (const h of hosts) fs.rmSync(h, { recursive: true, force: true });
});

function executable(file: string, body: string): void {
  fs.writeFileSync(file, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
}

/**
 * A directory standing for an instance's disks, with commands on PATH that play the instance metadata
 * service (curl: a token for the PUT, the target lifecycle state for a GET that presents it, `unreachable`
 * fails both), and record what is asked of them in `calls`: bootstrap.sh, systemctl, blkid/mkfs/mount.
 */
function pretendHost() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'im-warm-pool-'));
  hosts.push(root);
  const bin = path.join(root, 'bin');
  fs.mkdirSync(bin);
  const calls = path.join(root, 'calls');
  fs.writeFileSync(calls, '');
  executable(
    path.join(bin, 'curl'),
    [
      '[ "$IMDS_STATE" = unreachable ] && exit 7',
      'case "$*" in',
      "  *'-X PUT'*'X-aws-ec2-metadata-token-ttl-seconds: 300'*/latest/api/token) printf token ;;",
      `  *'X-aws-ec2-metadata-token: token'*${TARGET_LIFECYCLE_STATE_URL}) printf '%s' "$IMDS_STATE" ;;`,
      '  *) exit 22 ;;',
      'esac',
    ].join('\n'),
  );
  executable(path.join(bin, 'sleep'), 'exit 0');
  executable(path.join(bin, 'bootstrap.sh'), 'echo "bootstrap.sh $*" >> "$CALLS"');
  for (const cmd of ['systemctl', 'mkfs.xfs', 'mount'])
    executable(path.join(bin, cmd), `echo "${cmd} $*" >> "$CALLS"`);
  executable(path.join(bin, 'blkid'), 'exit 2');
  /** Host paths the user data writes, moved under the root. */
  const reroot = (text: string) =>
    text
      .replaceAll('/etc/eks/bootstrap.sh', path.join(bin, 'bootstrap.sh'))
      .replaceAll('/var/lib/instance-manager', path.join(root, 'var/lib/instance-manager'))
      .replaceAll('/run/instance-manager', path.join(root, 'run/instance-manager'))
      .replaceAll('/etc/systemd/system', path.join(root, 'etc/systemd/system'))
      .replaceAll("mkdir -p '/data'", `mkdir -p '${path.join(root, 'data')}'`);
  const callsSoFar = () => fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  return {
    root,
    reroot,
    /** Runs a script as root would on the instance; the new calls it made. */
    run(script: string, state: string): { status: number | null; calls: string[]; stderr: string } {
      const before = callsSoFar().length;
      const file = path.join(root, 'script');
      fs.writeFileSync(file, reroot(script), { mode: 0o755 });
      const r = spawnSync('bash', [file], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, IMDS_STATE: state, CALLS: calls },
      });
      return { status: r.status, calls: callsSoFar().slice(before), stderr: r.stderr };
    },
    /** A reboot: /run is a tmpfs. */
    reboot(): void {
      fs.rmSync(path.join(root, 'run'), { recursive: true, force: true });
    },
    exists: (p: string) => fs.existsSync(reroot(p)),
    read: (p: string) => fs.readFileSync(reroot(p), 'utf8'),
  };
}

// --- Amazon Linux 2 ----------------------------------------------------------------------------------

describe('amazonlinux2 with a warm pool', () => {
  const text = renderNodeUserData('amazonlinux2', input({ warmPool: true }));
  const parts = mimeParts(text) ?? [];
  const script = parts[1]?.body ?? '';

  it('is a MIME document: a cloud-config part that runs scripts on every boot, then the script', () => {
    expect(text).toMatch(/^MIME-Version: 1\.0\nContent-Type: multipart\/mixed; boundary="[^"]+"\n/);
    expect(parts.map((p) => p.contentType)).toEqual([
      CLOUD_CONFIG_CONTENT_TYPE,
      'text/x-shellscript; charset="utf-8"',
    ]);
    expect(parts[0]?.body.startsWith('#cloud-config\n')).toBe(true);
    expect(loadAllYaml(parts[0]?.body ?? '')).toEqual([
      { cloud_final_modules: [['scripts-user', 'always']] },
    ]);
    expect(bashSyntax(script)).toBe('ok');
  });

  it('opens the script with the gate, before the stages, the mounts and bootstrap.sh; the rest is as without a pool', () => {
    const gate = script.indexOf(TARGET_LIFECYCLE_STATE_URL);
    expect(gate).toBeGreaterThan(0);
    for (const later of ['set -o xtrace', '# stage prep', 'mkfs.xfs', '/etc/eks/bootstrap.sh'])
      expect([later, gate < script.indexOf(later)]).toEqual([later, true]);
    expect(script.indexOf(`[ -e ${JOINED_MARKER} ]`)).toBeLessThan(gate);
    expect(script.indexOf(`touch ${JOINED_MARKER}`)).toBeLessThan(script.indexOf('# stage prep'));
    // Everything but the gate is the script a group without a warm pool gets, byte for byte.
    expect(withoutLines(script, shellGateLines())).toBe(renderUserData(input()));
  });

  it('is read back by the node simulator with the same labels and taints', () => {
    expect(userDataFamily(text)).toBe('amazonlinux2');
    expect(kubeletRegistrationFromUserData(text)).toEqual(registration);
  });

  it('on a pretend host: a warming boot does nothing, the boot into service joins once, later boots leave it be', () => {
    const host = pretendHost();
    const warming = host.run(script, 'Warmed:Stopped');
    expect(warming.status).toBe(0);
    expect(warming.calls).toEqual([]);
    expect(host.exists(JOINED_MARKER)).toBe(false);

    const inService = host.run(script, 'InService');
    expect(inService.status).toBe(0);
    expect(inService.calls).toEqual([
      'stage prep',
      expect.stringMatching(/^mkfs\.xfs \/dev\/xvdb$/),
      expect.stringMatching(/^mount \/dev\/xvdb .*\/data$/),
      expect.stringMatching(/^bootstrap\.sh prod --kubelet-extra-args --node-labels=.*team=a /),
      'stage after',
    ]);
    expect(host.exists(JOINED_MARKER)).toBe(true);

    // A reboot of the node: kubelet (enabled by bootstrap.sh) starts by itself; nothing runs twice.
    host.reboot();
    expect(host.run(script, 'InService')).toMatchObject({ status: 0, calls: [] });
  });

  it('on a pretend host: a state it cannot read is a failure, and nothing joins', () => {
    const host = pretendHost();
    const r = host.run(script, 'unreachable');
    expect(r.status).toBe(1);
    expect(r.calls).toEqual([]);
    expect(r.stderr).toContain('could not be read; not joining the cluster');
    expect(host.exists(JOINED_MARKER)).toBe(false);
  });
});

// --- Amazon Linux 2023 (nodeadm) ---------------------------------------------------------------------

describe('amazonlinux2023 with a warm pool', () => {
  const stages: BootstrapInput['stages'] = [
    ...(input().stages ?? []),
    { stage: 'PreBootstrap', name: 'py', data: "#!/usr/bin/env python3\nprint('hi')" },
  ];
  const text = renderNodeUserData('amazonlinux2023', input({ warmPool: true, stages }));
  const parts = mimeParts(text) ?? [];
  const plain = mimeParts(renderNodeUserData('amazonlinux2023', input({ stages }))) ?? [];
  const shellParts = parts.filter((p) => p.contentType.startsWith('text/x-shellscript'));

  it('adds the cloud-config part and the gate before the shell parts it guards; the NodeConfig is unchanged', () => {
    const shell = 'text/x-shellscript; charset="utf-8"';
    expect(parts.map((p) => p.contentType)).toEqual([
      CLOUD_CONFIG_CONTENT_TYPE,
      shell, // the gate
      shell, // stage prep
      shell, // stage py
      shell, // volumes
      NODECONFIG_CONTENT_TYPE,
      shell, // stage after (PostBootstrap)
    ]);
    expect(loadAllYaml(parts[0]?.body ?? '')).toEqual([
      { cloud_final_modules: [['scripts-user', 'always']] },
    ]);
    expect(parts[5]?.body).toBe(plain.find((p) => p.contentType === NODECONFIG_CONTENT_TYPE)?.body);
    for (const p of shellParts)
      expect([p.body.split('\n')[1], bashSyntax(p.body)]).toEqual([p.body.split('\n')[1], 'ok']);
    // Every shell part but the gate does nothing unless the gate said this boot joins.
    for (const p of shellParts.slice(1))
      expect(p.body.split('\n').slice(0, 2)).toEqual(['#!/bin/bash', JOINING_GUARD]);
    expect(parts[1]?.body).toContain(TARGET_LIFECYCLE_STATE_URL);
    expect(kubeletRegistrationFromUserData(text)).toEqual(registration);
    expect(userDataFamily(text)).toBe('amazonlinux2023');
  });

  it('keeps nodeadm-run.service and kubelet.service from starting before the node joined (an ExecCondition drop-in)', () => {
    const gate = parts[1]?.body ?? '';
    expect(gate).toContain('for unit in nodeadm-run.service kubelet.service; do');
    expect(gate).toContain(`'ExecCondition=/usr/bin/test -e ${JOINED_MARKER}'`);
    // The drop-ins are written (and systemd reloaded) before the gate can end the part.
    expect(gate.indexOf('systemctl daemon-reload')).toBeLessThan(gate.indexOf(`if [ -e ${JOINED_MARKER} ]`));
  });

  it('on a pretend host: warming does not start kubelet; the boot into service runs the stages once and starts it; a reboot starts it again and runs nothing twice', () => {
    const host = pretendHost();
    /** One boot: cloud-init runs the shell parts in order, then systemd runs nodeadm-run if its condition holds. */
    const boot = (state: string) => {
      const calls: string[] = [];
      for (const p of shellParts) {
        const r = host.run(p.body, state);
        expect([p.body.split('\n')[2], r.status]).toEqual([p.body.split('\n')[2], 0]);
        calls.push(...r.calls);
      }
      const dropIn = host.read(
        '/etc/systemd/system/nodeadm-run.service.d/90-instance-manager-warm-pool.conf',
      );
      const condition = /^ExecCondition=(.+)$/m.exec(dropIn)?.[1] ?? 'false';
      // Written on the host, the condition names the host's paths already.
      const kubelet = spawnSync('bash', ['-c', condition]).status === 0;
      host.reboot();
      return { calls: calls.filter((c) => c !== 'systemctl daemon-reload'), kubelet };
    };
    expect(boot('Warmed:Stopped')).toEqual({ calls: [], kubelet: false });
    expect(host.read('/etc/systemd/system/kubelet.service.d/90-instance-manager-warm-pool.conf')).toBe(
      host.reroot(`[Service]\nExecCondition=/usr/bin/test -e ${JOINED_MARKER}\n`),
    );
    expect(boot('InService')).toEqual({
      calls: [
        'stage prep',
        'mkfs.xfs /dev/xvdb',
        expect.stringMatching(/^mount \/dev\/xvdb .*\/data$/),
        'systemctl start --no-block instance-manager-post-bootstrap-1.service',
      ],
      kubelet: true,
    });
    expect(host.read('/var/lib/instance-manager/pre-bootstrap-2')).toBe(
      "#!/usr/bin/env python3\nprint('hi')\n",
    );
    expect(boot('InService')).toEqual({ calls: [], kubelet: true });
  });
});

// --- Windows -----------------------------------------------------------------------------------------

describe('windows with a warm pool', () => {
  const stages: BootstrapInput['stages'] = [
    { stage: 'PreBootstrap', name: 'prep', data: "Write-Output 'before'" },
    { stage: 'PostBootstrap', name: 'after', data: 'Write-Output after' },
  ];
  const text = renderNodeUserData('windows', input({ warmPool: true, stages, volumes: [] }));

  it('persists (EC2Launch runs it every boot) and gates Start-EKSBootstrap.ps1 and the stages on the target lifecycle state', () => {
    expect(text.startsWith('<powershell>\n')).toBe(true);
    expect(text.endsWith(`</powershell>\n${PERSIST_TAG}\n`)).toBe(true);
    const lines = text.split('\n');
    const gate = lines.findIndex((l) => l.includes(TARGET_LIFECYCLE_STATE_URL));
    const notInService = lines.indexOf("if ($TargetLifecycleState -ne 'InService') {");
    expect(gate).toBeGreaterThan(0);
    expect(notInService).toBeGreaterThan(gate);
    expect(lines.slice(notInService, notInService + 8)).toContain('  exit 0');
    for (const later of ["Write-Output 'before'", '& $EKSBootstrapScriptFile', 'Write-Output after'])
      expect([later, lines.findIndex((l) => l.startsWith(later)) > notInService]).toEqual([later, true]);
    // The rest is the rendering of a group without a warm pool.
    const plain = renderNodeUserData('windows', input({ stages, volumes: [] }));
    expect(withoutLines(text, powershellGateLines()).replace(`${PERSIST_TAG}\n`, '')).toBe(plain);
  });

  it('is read back by the node simulator as a Windows node with the same labels and taints', () => {
    expect(userDataFamily(text)).toBe('windows');
    expect(kubeletRegistrationFromUserData(text)).toEqual(registration);
    expect(windowsKubeletExtraArgs(text)).toContain('--node-labels=');
  });
});

// --- The launch template -----------------------------------------------------------------------------

const resolved = {
  imageId: 'ami-1',
  securityGroupIds: ['sg-1'],
  instanceProfileArn: 'arn:aws:iam::1:instance-profile/p',
  apiServerEndpoint: 'https://x',
  certificateAuthorityData: 'Q0E=',
  serviceIpv4Cidr: '10.100.0.0/16',
};

function group(family: string | undefined, mutate: (ig: InstanceGroup) => void = () => {}): InstanceGroup {
  const ig = normalizeInstanceGroup(example('instance-manager/eks-warm-pool.yaml'));
  ig.metadata.annotations = family ? { [OS_FAMILY_ANNOTATION]: family } : {};
  mutate(ig);
  return ig;
}

const userDataOf = (ig: InstanceGroup) =>
  Buffer.from(renderLaunchTemplateData(ig, resolved).UserData ?? '', 'base64').toString();

describe('the launch template of a group with a warm pool', () => {
  it('carries the gate for every family that has a script, and the simulator still reads the group from it', () => {
    for (const family of ['amazonlinux2', 'amazonlinux2023', 'windows']) {
      const userData = userDataOf(group(family));
      expect([family, hasWarmPoolGate(userData), userDataFamily(userData)]).toEqual([family, true, family]);
      expect([family, kubeletRegistrationFromUserData(userData).labels]).toEqual([
        family,
        {
          'instancemgr.keikoproj.io/lifecycle': 'normal',
          'node.kubernetes.io/role': 'warm-workers',
          team: 'batch',
        },
      ]);
    }
  });

  it('is what it always was without a pool, or with one AWS would refuse (it is not applied)', () => {
    for (const family of ['amazonlinux2', 'amazonlinux2023', 'windows']) {
      const none = renderLaunchTemplateData(
        group(family, (ig) => ig.spec.eks && delete ig.spec.eks.warmPool),
        resolved,
      );
      expect(hasWarmPoolGate(Buffer.from(none.UserData ?? '', 'base64').toString())).toBe(false);
      // A spot price: AWS refuses the pool, so the group has none and its user data is not gated.
      const spot = (ig: InstanceGroup) => ig.spec.eks && (ig.spec.eks.configuration.spotPrice = '0.1');
      const refused = userDataOf(group(family, spot));
      const spotWithout = userDataOf(
        group(family, (ig) => {
          spot(ig);
          if (ig.spec.eks) delete ig.spec.eks.warmPool;
        }),
      );
      expect([family, refused === spotWithout, hasWarmPoolGate(refused)]).toEqual([family, true, false]);
    }
    // The amazonlinux2 script without a pool is bootstrap.sh's script, not a MIME document.
    expect(userDataOf(group(undefined, (ig) => ig.spec.eks && delete ig.spec.eks.warmPool))).toMatch(
      /^#!\/bin\/bash\nset -o xtrace\n/,
    );
  });

  it('is refused for bottlerocket, naming spec.eks.warmPool: settings cannot keep a warming instance out', () => {
    const ig = group('bottlerocket');
    expect(osFamilyProblems(ig)).toEqual([
      {
        field: 'spec.eks.warmPool',
        message: expect.stringMatching(
          /^bottlerocket user data is settings, not a script, so it cannot keep/,
        ),
      },
    ]);
    expect(() => renderLaunchTemplateData(ig, resolved)).toThrow(/spec\.eks\.warmPool: bottlerocket/);
    expect(() =>
      renderNodeUserData('bottlerocket', input({ warmPool: true, volumes: [], stages: [] })),
    ).toThrow(/spec\.eks\.warmPool/);
    expect(osFamilyProblems(group('bottlerocket', (g) => g.spec.eks && delete g.spec.eks.warmPool))).toEqual(
      [],
    );
    expect(osFamilyProblems(group('amazonlinux2023'))).toEqual([]);
  });
});
