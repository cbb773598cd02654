// Operating system families end to end in-process: the InstanceGroup controller against the real test
// cluster and the AWS emulator (moto). A Bottlerocket and a Windows eks group reach Ready; their launch
// templates' user data decodes to the family's document; testenv's node simulator (the kubelet
// stand-in, reading the user data as a kubelet would) registers their instances with the labels and taints that document gives. Groups
// whose family cannot be served report the field that says so.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { InstanceGroup } from '@keiko/api';
import { registeredTaints, SANDBOX_CLUSTER, SANDBOX_WINDOWS_IMAGE_PARAMETER } from '@keiko/testenv';
import { groupNameOf } from '../src/provisioners/eks/provisioner';
import { OS_FAMILY_ANNOTATION } from '../src/provisioners/os-family';
import { example } from './support/fixtures';
import { parseToml } from './support/parsers';
import { startWorld, type World } from './support/world';

const condition = (ig: InstanceGroup | undefined, type: string) =>
  ig?.status?.conditions?.find((c) => c.type === type);
const isReady = (ig: InstanceGroup) => ig.status?.currentState === 'Ready';

/** The sandbox's Bottlerocket example under another name, with the family and size given. */
function bottlerocket(name: string, family = 'bottlerocket', size = 2): InstanceGroup {
  const ig = structuredClone(example('instance-manager/bottlerocket.yaml'));
  ig.metadata = { name, annotations: { [OS_FAMILY_ANNOTATION]: family } };
  if (ig.spec.eks) {
    ig.spec.eks.minSize = size;
    ig.spec.eks.maxSize = size + 1;
  }
  return ig;
}

async function launchUserData(world: World, ig: InstanceGroup): Promise<string> {
  const template = await world.aws.ec2.describeLaunchTemplate({
    name: ig.status?.activeLaunchTemplateName ?? '',
  });
  const [version] = await world.aws.ec2.describeLaunchTemplateVersions({ id: template?.id ?? '' }, [
    '$Latest',
  ]);
  return Buffer.from(version?.data.UserData ?? '', 'base64').toString('utf8');
}

let world: World;

beforeAll(async () => {
  world = await startWorld({ prefix: 'im-os' });
}, 240_000);

afterAll(async () => {
  await world?.stop();
}, 180_000);

describe('eks groups of other operating systems', () => {
  it('a Bottlerocket group launches TOML settings and its nodes register with its labels and taints', async () => {
    await world.apply(bottlerocket('rocket'));
    const ig = await world.waitFor('rocket', 'Ready', isReady, 90_000);
    const cluster = await world.aws.eks.describeCluster(SANDBOX_CLUSTER);
    const userData = await launchUserData(world, ig);
    expect(userData).not.toMatch(/^#!|bootstrap\.sh/m);
    const parsed = parseToml(userData);
    expect(parsed).toMatchObject({
      ok: true,
      value: {
        settings: {
          kubernetes: {
            'cluster-name': SANDBOX_CLUSTER,
            'api-server': cluster?.endpoint,
            'cluster-certificate': cluster?.certificateAuthorityData,
            'max-pods': 58,
            'node-labels': {
              team: 'data',
              'node.kubernetes.io/role': 'rocket',
              'instancemgr.keikoproj.io/lifecycle': 'normal',
            },
            'node-taints': { dedicated: 'data:NoSchedule' },
          },
          kernel: { sysctl: { 'vm.max_map_count': '262144' } },
          'host-containers': { admin: { enabled: false } },
        },
      },
    });
    expect(cluster?.endpoint).toBeTruthy();

    const nodes = await world.groupNodes(groupNameOf(ig));
    expect(nodes).toHaveLength(2);
    for (const n of nodes) {
      expect(n.metadata?.labels).toMatchObject({
        team: 'data',
        'node.kubernetes.io/role': 'rocket',
        'instancemgr.keikoproj.io/lifecycle': 'normal',
        'kubernetes.io/os': 'linux',
      });
      expect(registeredTaints(n)).toEqual([{ key: 'dedicated', value: 'data', effect: 'NoSchedule' }]);
    }
    expect(condition(ig, 'NodesReady')).toMatchObject({ status: 'True' });
    await world.remove('rocket');
  }, 150_000);

  it('a Windows group launches PowerShell calling Start-EKSBootstrap.ps1, and its nodes register as Windows nodes', async () => {
    const ig0 = bottlerocket('windows', 'windows', 1);
    const c = ig0.spec.eks?.configuration;
    if (!c) throw new Error('fixture');
    c.image = `ssm://${SANDBOX_WINDOWS_IMAGE_PARAMETER}`;
    c.userData = [{ name: 'hello', stage: 'PostBootstrap', data: 'Write-Output "joined"' }];
    await world.apply(ig0);
    const ig = await world.waitFor('windows', 'Ready', isReady, 90_000);
    const userData = await launchUserData(world, ig);
    const lines = userData.trimEnd().split('\n');
    expect([lines[0], lines.at(-1)]).toEqual(['<powershell>', '</powershell>']);
    const call = lines.findIndex((l) => l.startsWith('& $EKSBootstrapScriptFile'));
    expect(lines[call]).toMatch(
      /^& \$EKSBootstrapScriptFile -EKSClusterName 'my-eks-cluster' -APIServerEndpoint '\S+' -Base64ClusterCA '\S+' -KubeletExtraArgs '--node-labels=instancemgr\.keikoproj\.io\/lifecycle=normal,node\.kubernetes\.io\/role=windows,team=data --register-with-taints=dedicated=data:NoSchedule --max-pods=58' /,
    );
    expect(lines.indexOf('Write-Output "joined"')).toBeGreaterThan(call);

    const nodes = await world.groupNodes(groupNameOf(ig));
    expect(nodes).toHaveLength(1);
    expect(nodes[0]?.metadata?.labels).toMatchObject({
      'kubernetes.io/os': 'windows',
      'node.kubernetes.io/role': 'windows',
      team: 'data',
    });
    expect(registeredTaints(nodes[0]!)).toEqual([{ key: 'dedicated', value: 'data', effect: 'NoSchedule' }]);
    await world.remove('windows');
  }, 150_000);

  it('an unknown os-family is an error naming the annotation, and nothing is created', async () => {
    const ig0 = bottlerocket('ubuntu', 'ubuntu', 1);
    if (ig0.spec.eks?.configuration) ig0.spec.eks.configuration.image = 'latest';
    await world.apply(ig0);
    const ig = await world.waitFor('ubuntu', 'Error', (g) => g.status?.currentState === 'Error');
    expect(condition(ig, 'Ready')?.message).toContain(
      `metadata.annotations[${OS_FAMILY_ANNOTATION}]: unknown operating system family "ubuntu"; one of amazonlinux2, amazonlinux2023, bottlerocket, windows`,
    );
    expect(await world.aws.ec2.describeLaunchTemplate({ name: groupNameOf(ig) })).toBeUndefined();
    expect(await world.aws.autoScaling.describeGroup(groupNameOf(ig))).toBeUndefined();
    await world.remove('ubuntu');
  }, 60_000);

  it('a shell script as a Bottlerocket stage is refused naming the stage, and no launch template is made', async () => {
    const ig0 = bottlerocket('scripted', 'bottlerocket', 1);
    if (ig0.spec.eks?.configuration)
      ig0.spec.eks.configuration.userData = [{ stage: 'PreBootstrap', data: '#!/bin/bash\necho hello' }];
    await world.apply(ig0);
    const ig = await world.waitFor('scripted', 'a refusal', (g) =>
      /userData\[0\]\.data: is a script/.test(condition(g, 'Ready')?.message ?? ''),
    );
    expect(condition(ig, 'Ready')).toMatchObject({ status: 'False' });
    expect(await world.aws.ec2.describeLaunchTemplate({ name: groupNameOf(ig) })).toBeUndefined();
    await world.remove('scripted');
  }, 60_000);
});
