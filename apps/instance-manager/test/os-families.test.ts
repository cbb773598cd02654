// Operating system families (the os-family annotation): which family a group is, which image `latest`
// reads, what each family's user data says, what each family refuses, and that the node simulator reads
// every format back. Pure, except that the TOML is also read by Python's tomllib and the shell parts
// by `bash -n`: real parsers, not ours, say the documents are well formed.
import { describe, expect, it } from '@jest/globals';
import { normalizeInstanceGroup, type InstanceGroup } from '@keiko/api';
import { loadAllYaml } from '@kubernetes/client-node';
import {
  kubeletRegistrationFromUserData,
  renderNodeUserData,
  renderUserData,
  splitArgs,
  userDataFamily,
  type BootstrapInput,
} from '../src/provisioners/bootstrap';
import { eksOptimizedAmiParameter } from '../src/provisioners/common';
import { renderLaunchTemplateData } from '../src/provisioners/eks/launch-template';
import {
  architectureOf,
  latestImageParameter,
  OS_FAMILIES,
  OS_FAMILY_ANNOTATION,
  osFamilyOf,
  osFamilyProblems,
  type OsFamily,
} from '../src/provisioners/os-family';
import { resolveImage } from '../src/provisioners/resolve';
import type { GroupContext } from '../src/provisioners/types';
import { mimeParts } from '../src/provisioners/userdata/al2023';
import { bottlerocketStageProblem, tomlString } from '../src/provisioners/userdata/bottlerocket';
import { psQuote, windowsKubeletExtraArgs, windowsStageProblem } from '../src/provisioners/userdata/windows';
import { example } from './support/fixtures';
import { bashSyntax, parseToml } from './support/parsers';

const FIELD = `metadata.annotations[${OS_FAMILY_ANNOTATION}]`;

const input = (over: Partial<BootstrapInput> = {}): BootstrapInput => ({
  clusterName: 'prod',
  groupName: 'web',
  spot: false,
  labels: { team: 'a' },
  taints: [
    { key: 'dedicated', value: 'web', effect: 'NoSchedule' },
    { key: 'gpu', effect: 'NoExecute' },
  ],
  bootstrapArguments: '--v=2',
  maxPods: 58,
  stages: [
    { stage: 'PreBootstrap', name: 'prep', data: 'echo before' },
    { stage: 'PostBootstrap', data: 'echo after' },
  ],
  apiServerEndpoint: 'https://ABC.gr7.us-west-2.eks.amazonaws.com',
  certificateAuthorityData: 'LS0tQ0E=',
  serviceIpv4Cidr: '172.20.0.0/16',
  ...over,
});

const registration = {
  labels: { 'instancemgr.keikoproj.io/lifecycle': 'normal', 'node.kubernetes.io/role': 'web', team: 'a' },
  taints: [
    { key: 'dedicated', value: 'web', effect: 'NoSchedule' as const },
    { key: 'gpu', effect: 'NoExecute' as const },
  ],
};

function group(
  family: string | undefined,
  config: Record<string, unknown> = {},
  provisioner: 'eks' | 'eks-cf' = 'eks',
): InstanceGroup {
  const ig = normalizeInstanceGroup(example('instance-manager/eks-rolling-update.yaml'));
  ig.metadata.annotations = family === undefined ? {} : { [OS_FAMILY_ANNOTATION]: family };
  const c = ig.spec.eks?.configuration;
  if (!c) throw new Error('fixture');
  delete c.volumes;
  Object.assign(c, config);
  if (provisioner === 'eks-cf') ig.spec.provisioner = 'eks-cf';
  return ig;
}

describe('the os-family annotation', () => {
  it('defaults to amazonlinux2, matches case-insensitively, and names itself when unknown', () => {
    expect(osFamilyOf(group(undefined))).toEqual({ ok: true, family: 'amazonlinux2' });
    expect(osFamilyOf(group(''))).toEqual({ ok: true, family: 'amazonlinux2' });
    expect(osFamilyOf(group(' BottleRocket '))).toEqual({ ok: true, family: 'bottlerocket' });
    for (const f of OS_FAMILIES) expect(osFamilyOf(group(f))).toEqual({ ok: true, family: f });
    expect(osFamilyOf(group('ubuntu'))).toEqual({
      ok: false,
      problem: {
        field: FIELD,
        message:
          'unknown operating system family "ubuntu"; one of amazonlinux2, amazonlinux2023, bottlerocket, windows',
      },
    });
    expect(osFamilyProblems(group('ubuntu'))).toEqual([
      { field: FIELD, message: expect.stringContaining('"ubuntu"') },
    ]);
  });

  it('is amazonlinux2 only for eks-cf (its template renders bootstrap.sh), as in the original', () => {
    expect(osFamilyOf(group('amazonlinux2', {}, 'eks-cf'))).toEqual({ ok: true, family: 'amazonlinux2' });
    expect(osFamilyProblems(group('windows', {}, 'eks-cf'))).toEqual([
      {
        field: FIELD,
        message: 'windows needs provisioner eks; eks-cf renders Amazon Linux 2 user data only',
      },
    ]);
  });
});

describe('image: latest', () => {
  it("reads each family's public SSM parameter for the version and architecture", () => {
    const p = (f: OsFamily, arch: 'x86_64' | 'arm64') => latestImageParameter(f, '1.31', arch);
    expect(p('amazonlinux2', 'x86_64')).toEqual({
      parameter: '/aws/service/eks/optimized-ami/1.31/amazon-linux-2/recommended/image_id',
    });
    expect(p('amazonlinux2', 'arm64')).toEqual({
      parameter: '/aws/service/eks/optimized-ami/1.31/amazon-linux-2-arm64/recommended/image_id',
    });
    expect(p('amazonlinux2023', 'x86_64')).toEqual({
      parameter: '/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id',
    });
    expect(p('amazonlinux2023', 'arm64')).toEqual({
      parameter: '/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/arm64/standard/recommended/image_id',
    });
    expect(p('bottlerocket', 'x86_64')).toEqual({
      parameter: '/aws/service/bottlerocket/aws-k8s-1.31/x86_64/latest/image_id',
    });
    expect(p('bottlerocket', 'arm64')).toEqual({
      parameter: '/aws/service/bottlerocket/aws-k8s-1.31/arm64/latest/image_id',
    });
    expect(p('windows', 'x86_64')).toEqual({
      parameter:
        '/aws/service/ami-windows-latest/Windows_Server-2022-English-Core-EKS_Optimized-1.31/image_id',
    });
    expect(p('windows', 'arm64')).toEqual({
      error: expect.stringContaining('no arm64 EKS-optimized Windows AMIs'),
    });
    // Amazon Linux 2 keeps the parameter it always had.
    for (const t of ['m5.large', 'm6g.large'])
      expect(latestImageParameter('amazonlinux2', '1.31', architectureOf(t))).toEqual({
        parameter: eksOptimizedAmiParameter('1.31', t),
      });
  });

  it('resolveImage asks SSM for the family parameter, and not at all for an unknown family', async () => {
    const asked: string[] = [];
    const ctx = (ig: InstanceGroup) =>
      ({
        ig,
        aws: {
          ssm: { getParameter: async (name: string) => (asked.push(name), 'ami-0123') },
          ec2: {
            describeImages: async (ids: string[]) =>
              ids.map((id) => ({ id, state: 'available', architecture: 'x86_64' })),
            describeInstanceTypes: async () => [],
          },
        },
      }) as unknown as GroupContext;
    const opts = { kubernetesVersion: '1.31', instanceType: 'm5.large' };
    const ok = await resolveImage(ctx(group('bottlerocket')), 'latest', opts, 'spec.eks.configuration.image');
    expect(ok).toEqual({ value: 'ami-0123', problems: [] });
    expect(asked).toEqual(['/aws/service/bottlerocket/aws-k8s-1.31/x86_64/latest/image_id']);
    const bad = await resolveImage(ctx(group('ubuntu')), 'latest', opts, 'spec.eks.configuration.image');
    expect(bad.problems).toEqual([{ field: FIELD, message: expect.stringContaining('"ubuntu"') }]);
    expect(asked).toHaveLength(1);
  });
});

describe('amazonlinux2', () => {
  it('renders exactly what it rendered before the other families existed', () => {
    const golden =
      "#!/bin/bash\nset -o xtrace\n# stage prep\necho before\nif ! blkid '/dev/xvdb'; then mkfs.xfs '/dev/xvdb'; fi\nmkdir -p '/data'\nmount '/dev/xvdb' '/data'\n/etc/eks/bootstrap.sh 'prod' --kubelet-extra-args '--node-labels=instancemgr.keikoproj.io/lifecycle=normal,node.kubernetes.io/role=web,team=a --register-with-taints=dedicated=web:NoSchedule --max-pods=58 --v=2' --apiserver-endpoint 'https://ABC.gr7.us-west-2.eks.amazonaws.com' --b64-cluster-ca 'LS0tQ0E=' --use-max-pods false\nset +o xtrace\n# stage PostBootstrap\necho after\n";
    const i = input({
      taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }],
      volumes: [
        { name: '/dev/xvdb', type: 'gp3', size: 100, mountOptions: { fileSystem: 'xfs', mount: '/data' } },
      ],
    });
    expect(renderNodeUserData('amazonlinux2', i)).toBe(golden);
    expect(renderUserData(i)).toBe(golden);
    expect(userDataFamily(golden)).toBe('amazonlinux2');
  });

  it('gives a group without the annotation the same launch template as one that names amazonlinux2', () => {
    const resolved = {
      imageId: 'ami-1',
      securityGroupIds: ['sg-1'],
      instanceProfileArn: 'arn:p',
      serviceIpv4Cidr: '172.20.0.0/16',
    };
    const plain = renderLaunchTemplateData(group(undefined), resolved);
    expect(renderLaunchTemplateData(group('AmazonLinux2'), resolved)).toEqual(plain);
    expect(Buffer.from(plain.UserData ?? '', 'base64').toString()).toMatch(/^#!\/bin\/bash\n/);
  });
});

describe('amazonlinux2023 (nodeadm)', () => {
  const text = renderNodeUserData(
    'amazonlinux2023',
    input({
      bootstrapArguments: `--v=2 --kube-reserved=cpu=250m,memory=1Gi --node-labels=extra=yes --eviction-hard='memory.available<5%'`,
      stages: [
        { stage: 'PreBootstrap', name: 'prep', data: 'echo before' },
        { stage: 'PreBootstrap', name: 'py', data: "#!/usr/bin/env python3\nprint('hi')" },
        {
          stage: 'PostBootstrap',
          name: 'after',
          data: Buffer.from('echo after kubelet\n').toString('base64'),
        },
      ],
      volumes: [
        { name: '/dev/xvdb', type: 'gp3', size: 100, mountOptions: { fileSystem: 'xfs', mount: '/data' } },
      ],
    }),
  );
  const parts = mimeParts(text) ?? [];

  it('is a MIME multi-part document: stages and mounts as shell parts around one NodeConfig', () => {
    expect(text).toMatch(/^MIME-Version: 1\.0\nContent-Type: multipart\/mixed; boundary="[^"]+"\n/);
    expect(parts.map((p) => p.contentType)).toEqual([
      'text/x-shellscript; charset="utf-8"',
      'text/x-shellscript; charset="utf-8"',
      'text/x-shellscript; charset="utf-8"',
      'application/node.eks.aws',
      'text/x-shellscript; charset="utf-8"',
    ]);
    expect(parts[0]?.body).toBe('#!/bin/bash\n# stage prep (PreBootstrap)\necho before\n');
    expect(parts[1]?.body).toBe("#!/usr/bin/env python3\n# stage py (PreBootstrap)\nprint('hi')\n");
    expect(parts[2]?.body).toContain("mount '/dev/xvdb' '/data'");
    expect(text).not.toContain('bootstrap.sh');
    for (const p of parts)
      if (p.body.startsWith('#!/bin/bash'))
        expect([p.body.split('\n')[1], bashSyntax(p.body)]).toEqual([p.body.split('\n')[1], 'ok']);
  });

  it('holds the cluster, max pods and every kubelet flag in the NodeConfig', () => {
    const [config] = loadAllYaml(parts[3]?.body ?? '') as Array<Record<string, unknown>>;
    expect(config).toEqual({
      apiVersion: 'node.eks.aws/v1alpha1',
      kind: 'NodeConfig',
      spec: {
        cluster: {
          name: 'prod',
          apiServerEndpoint: 'https://ABC.gr7.us-west-2.eks.amazonaws.com',
          certificateAuthority: 'LS0tQ0E=',
          cidr: '172.20.0.0/16',
        },
        kubelet: {
          config: { maxPods: 58 },
          flags: [
            '--node-labels=instancemgr.keikoproj.io/lifecycle=normal,node.kubernetes.io/role=web,team=a',
            '--register-with-taints=dedicated=web:NoSchedule,gpu=:NoExecute',
            '--v=2',
            '--kube-reserved=cpu=250m,memory=1Gi',
            '--node-labels=extra=yes',
            '--eviction-hard=memory.available<5%',
          ],
        },
      },
    });
    expect(kubeletRegistrationFromUserData(text)).toEqual({
      ...registration,
      labels: { ...registration.labels, extra: 'yes' },
    });
    expect(userDataFamily(text)).toBe('amazonlinux2023');
  });

  it('runs PostBootstrap stages from a unit ordered after nodeadm-run.service (kubelet started)', () => {
    const post = parts[4]?.body ?? '';
    expect(bashSyntax(post)).toBe('ok');
    expect(post).toContain('After=nodeadm-run.service');
    expect(post).toContain('systemctl start --no-block instance-manager-post-bootstrap-1.service');
    const eof = /<<'(INSTANCE_MANAGER_\w+)'/.exec(post)?.[1] ?? '';
    const script = post.split(`<<'${eof}'\n`)[1]?.split(`\n${eof}\n`)[0];
    expect(script).toBe('#!/bin/bash\necho after kubelet');
  });

  it('leaves the CIDR out when it is not known, and max pods to nodeadm when not set', () => {
    const t = renderNodeUserData(
      'amazonlinux2023',
      input({ serviceIpv4Cidr: undefined, maxPods: undefined, stages: [] }),
    );
    const [config] = loadAllYaml((mimeParts(t) ?? [])[0]?.body ?? '') as Array<{
      spec: { cluster: object; kubelet: object };
    }>;
    expect(config?.spec.cluster).not.toHaveProperty('cidr');
    expect(config?.spec.kubelet).not.toHaveProperty('config');
  });

  it('splits bootstrapArguments as a shell would', () => {
    expect(splitArgs(` --a=1  --b="x y" --c='p q' --d=a\\"b --e="\\"q\\"" '' `)).toEqual([
      '--a=1',
      '--b=x y',
      '--c=p q',
      '--d=a"b',
      '--e="q"',
      '',
    ]);
    expect(splitArgs('')).toEqual([]);
  });
});

describe('bottlerocket', () => {
  const stages: BootstrapInput['stages'] = [
    {
      stage: 'PreBootstrap',
      name: 'kernel',
      data: 'settings.kernel.lockdown = "integrity"\n[settings.kernel.sysctl]\n"vm.max_map_count" = "262144"',
    },
    { stage: 'PostBootstrap', name: 'admin', data: '[settings.host-containers.admin]\nenabled = false' },
    {
      stage: 'PostBootstrap',
      name: 'eviction',
      data: '[settings.kubernetes.eviction-hard]\n"memory.available" = "10%"',
    },
  ];
  const taints = [...registration.taints, { key: 'dedicated', value: 'web', effect: 'NoExecute' as const }];
  const text = renderNodeUserData('bottlerocket', input({ stages, taints }));

  it('renders TOML settings a TOML parser reads as the group asked, the stages merged in', () => {
    const parsed = parseToml(text);
    expect(parsed).toEqual({
      ok: true,
      value: {
        settings: {
          kernel: { lockdown: 'integrity', sysctl: { 'vm.max_map_count': '262144' } },
          kubernetes: {
            'cluster-name': 'prod',
            'api-server': 'https://ABC.gr7.us-west-2.eks.amazonaws.com',
            'cluster-certificate': 'LS0tQ0E=',
            'max-pods': 58,
            'node-labels': registration.labels,
            'node-taints': { dedicated: ['web:NoExecute', 'web:NoSchedule'], gpu: ':NoExecute' },
            'eviction-hard': { 'memory.available': '10%' },
          },
          'host-containers': { admin: { enabled: false } },
        },
      },
    });
    expect(text).not.toMatch(/#!|bootstrap\.sh|kubelet-extra-args/);
    expect(text.indexOf('# stage kernel (PreBootstrap)')).toBeLessThan(text.indexOf('[settings.kubernetes]'));
    expect(text.indexOf('# stage admin (PostBootstrap)')).toBeGreaterThan(
      text.indexOf('[settings.kubernetes.node-taints]'),
    );
  });

  it('is read back by the node simulator with the same labels and taints', () => {
    expect(userDataFamily(text)).toBe('bottlerocket');
    expect(kubeletRegistrationFromUserData(text)).toEqual({
      labels: registration.labels,
      taints: expect.arrayContaining(taints),
    });
    expect(kubeletRegistrationFromUserData(text).taints).toHaveLength(3);
  });

  it('escapes strings as TOML wants them', () => {
    const s = 'a"b\\c\nd\u007f';
    expect(parseToml(`k = ${tomlString(s)}`)).toEqual({ ok: true, value: { k: s } });
  });

  it('refuses stages that would make the settings invalid or wrong, naming the stage', () => {
    const cases: Array<[string, boolean, RegExp]> = [
      ['#!/bin/bash\necho hi', true, /is a script.*bootstrap container/],
      ['echo hi', true, /is not TOML settings.*"echo hi"/],
      ['[settings.kubernetes]\ncluster-dns-ip = "10.0.0.10"', true, /declares \[settings\.kubernetes\]/],
      ['[settings.kubernetes.node-labels]\nx = "y"', false, /declares \[settings\.kubernetes\.node-labels\]/],
      ['settings.kubernetes.max-pods = 10', true, /sets settings\.kubernetes\.max-pods/],
      [
        '[settings]\nkubernetes.cluster-dns-ip = "10.0.0.10"',
        false,
        /sets settings\.kubernetes\.cluster-dns-ip/,
      ],
      ['enabled = false', false, /before any \[table\] header/],
    ];
    for (const [data, first, message] of cases) {
      const problem = bottlerocketStageProblem(data, first);
      expect([data, problem]).toEqual([data, expect.stringMatching(message)]);
    }
    // The refused fragments really would break the document (TOML says so), except the last, which
    // would silently become a taint.
    for (const [data, first] of cases.slice(1, 6)) {
      const doc = renderNodeUserData(
        'bottlerocket',
        input({ stages: [{ stage: first ? 'PreBootstrap' : 'PostBootstrap', data }] }),
      );
      expect(parseToml(doc).ok).toBe(false);
    }
    expect(bottlerocketStageProblem('settings.kernel.lockdown = "integrity"', true)).toBeUndefined();
    expect(
      bottlerocketStageProblem('[settings.kubernetes.eviction-hard]\n"memory.available" = "10%"', false),
    ).toBeUndefined();
    expect(
      bottlerocketStageProblem('# comment\n[settings.ntp]\ntime-servers = [\n  "a",\n  "b",\n]', false),
    ).toBeUndefined();

    const ig = group('bottlerocket', {
      bootstrapArguments: '--v=2',
      userData: [
        { stage: 'PostBootstrap', data: 'echo hi' },
        { stage: 'PreBootstrap', data: Buffer.from('#!/bin/bash\necho base64 script\n').toString('base64') },
        { stage: 'PreBootstrap', data: '[settings.motd]\nx = 1' },
        { stage: 'PostBootstrap', data: '[settings.motd]\ny = 2' },
      ],
      volumes: [
        { name: '/dev/xvdb', type: 'gp3', size: 10, mountOptions: { fileSystem: 'xfs', mount: '/data' } },
      ],
      bootstrapOptions: { containerRuntime: 'dockerd' },
    });
    expect(osFamilyProblems(ig).map((p) => p.field)).toEqual([
      'spec.eks.configuration.bootstrapOptions.containerRuntime',
      'spec.eks.configuration.volumes[0].mountOptions',
      'spec.eks.configuration.bootstrapArguments',
      'spec.eks.configuration.userData[0].data',
      'spec.eks.configuration.userData[1].data',
      'spec.eks.configuration.userData',
    ]);
    expect(() =>
      renderLaunchTemplateData(ig, { imageId: 'ami-1', securityGroupIds: [], instanceProfileArn: 'arn:p' }),
    ).toThrow(/spec\.eks\.configuration\.userData\[1\]\.data: is a script/);
  });

  it('renders the sandbox example, which has nothing to refuse', () => {
    const ig = normalizeInstanceGroup(example('instance-manager/bottlerocket.yaml'));
    expect(osFamilyProblems(ig)).toEqual([]);
    const data = renderLaunchTemplateData(ig, {
      imageId: 'ami-1',
      securityGroupIds: [],
      instanceProfileArn: 'arn:p',
      apiServerEndpoint: 'https://x',
      certificateAuthorityData: 'Q0E=',
    });
    const toml = Buffer.from(data.UserData ?? '', 'base64').toString();
    const parsed = parseToml(toml);
    expect(parsed.ok && parsed.value).toMatchObject({
      settings: {
        kubernetes: {
          'cluster-name': 'my-eks-cluster',
          'max-pods': 58,
          'node-labels': { team: 'data', 'node.kubernetes.io/role': 'bottlerocket' },
          'node-taints': { dedicated: 'data:NoSchedule' },
        },
        kernel: { sysctl: { 'vm.max_map_count': '262144' } },
      },
    });
  });
});

describe('windows', () => {
  it('quotes for PowerShell, doubling every character PowerShell takes for a single quote', () => {
    expect(psQuote("it's")).toBe("'it''s'");
    // U+2019 ends a single-quoted string in PowerShell as ' does: unescaped, this would run Stop-Computer.
    expect(psQuote('x\u2019; Stop-Computer; \u2018')).toBe("'x\u2019\u2019; Stop-Computer; \u2018\u2018'");
    expect(psQuote('\u201a\u201b')).toBe("'\u201a\u201a\u201b\u201b'");
  });

  const text = renderNodeUserData(
    'windows',
    input({
      stages: [
        { stage: 'PostBootstrap', name: 'after', data: 'Write-Output after' },
        { stage: 'PreBootstrap', name: 'prep', data: "Write-Output 'before'" },
      ],
    }),
  );

  it("calls Start-EKSBootstrap.ps1 with the cluster and kubelet's flags, stages around it, in one <powershell> block", () => {
    const lines = text.split('\n');
    expect(lines[0]).toBe('<powershell>');
    expect(text.endsWith('</powershell>\n')).toBe(true);
    const call = lines.findIndex((l) => l.startsWith('& $EKSBootstrapScriptFile'));
    expect(lines[call]).toBe(
      "& $EKSBootstrapScriptFile -EKSClusterName 'prod' -APIServerEndpoint 'https://ABC.gr7.us-west-2.eks.amazonaws.com' -Base64ClusterCA 'LS0tQ0E=' -KubeletExtraArgs '--node-labels=instancemgr.keikoproj.io/lifecycle=normal,node.kubernetes.io/role=web,team=a --register-with-taints=dedicated=web:NoSchedule,gpu=:NoExecute --max-pods=58 --v=2' 3>&1 4>&1 5>&1 6>&1",
    );
    expect(lines.indexOf("Write-Output 'before'")).toBeLessThan(call);
    expect(lines.indexOf('Write-Output after')).toBeGreaterThan(call);
    expect(text).toContain('Start-EKSBootstrap.ps1');
  });

  it('is read back by the node simulator as a Windows node with the same labels and taints', () => {
    expect(userDataFamily(text)).toBe('windows');
    expect(kubeletRegistrationFromUserData(text)).toEqual(registration);
    // PowerShell single quotes: a quote inside is doubled, and read back as one.
    const quoted = renderNodeUserData(
      'windows',
      input({ bootstrapArguments: "--pod-infra-container-image='img'" }),
    );
    expect(quoted).toContain("--pod-infra-container-image=''img''' 3>&1");
    expect(windowsKubeletExtraArgs(quoted)).toMatch(/ --pod-infra-container-image='img'$/);
  });

  it('refuses shell stages, volume mounts and arm64 instance types, naming the field', () => {
    expect(windowsStageProblem('#!/bin/bash\necho')).toMatch(/PowerShell/);
    expect(windowsStageProblem('</powershell><powershell>')).toMatch(/<powershell> tag/);
    expect(windowsStageProblem('Write-Output hi')).toBeUndefined();
    const ig = group('windows', {
      instanceType: 'm6g.large',
      mixedInstancesPolicy: { instanceTypes: [{ type: 'm5.large' }, { type: 'c7g.large' }] },
      userData: [{ stage: 'PreBootstrap', data: '#!/bin/bash\necho hi' }],
      volumes: [
        { name: '/dev/xvdb', type: 'gp3', size: 10, mountOptions: { mount: '/data', fileSystem: 'xfs' } },
      ],
    });
    expect(osFamilyProblems(ig).map((p) => p.field)).toEqual([
      'spec.eks.configuration.volumes[0].mountOptions',
      'spec.eks.configuration.userData[0].data',
      'spec.eks.configuration.instanceType',
      'spec.eks.configuration.mixedInstancesPolicy.instanceTypes[1].type',
    ]);
  });
});

describe('every family', () => {
  it('renders a launch template whose user data the node simulator reads back as the group asked', () => {
    const resolved = {
      imageId: 'ami-1',
      securityGroupIds: [],
      instanceProfileArn: 'arn:p',
      apiServerEndpoint: 'https://x',
      certificateAuthorityData: 'Q0E=',
      serviceIpv4Cidr: '10.100.0.0/16',
    };
    for (const family of OS_FAMILIES) {
      const ig = group(family, { mixedInstancesPolicy: undefined, spotPrice: '0.1' });
      const userData = Buffer.from(
        renderLaunchTemplateData(ig, resolved).UserData ?? '',
        'base64',
      ).toString();
      expect([family, userDataFamily(userData)]).toEqual([family, family]);
      expect([family, kubeletRegistrationFromUserData(userData)]).toEqual([
        family,
        {
          labels: {
            'instancemgr.keikoproj.io/lifecycle': 'spot',
            'node.kubernetes.io/role': 'general-purpose',
            team: 'platform',
          },
          taints: [{ key: 'dedicated', value: 'platform', effect: 'NoSchedule' }],
        },
      ]);
    }
  });
});
