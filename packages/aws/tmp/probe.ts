import { AutoScalingClient, CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, UpdateAutoScalingGroupCommand, TerminateInstanceInAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { EC2Client, CreateLaunchTemplateCommand, CreateLaunchTemplateVersionCommand, DescribeInstancesCommand, DescribeSubnetsCommand, DescribeLaunchTemplateVersionsCommand } from '@aws-sdk/client-ec2';
const cfg = { region: 'us-west-2', endpoint: process.env.AWS_ENDPOINT_URL };
const asg = new AutoScalingClient(cfg); const ec2 = new EC2Client(cfg);
const n = 'probe-' + Date.now();
const subnets = await ec2.send(new DescribeSubnetsCommand({}));
console.log(JSON.stringify(subnets.Subnets?.map(s => [s.SubnetId, s.AvailabilityZone, s.Tags])));
const lt = await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: n, LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' } }));
console.log(JSON.stringify(lt.LaunchTemplate));
await ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateName: n, LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.small' } }));
await asg.send(new CreateAutoScalingGroupCommand({ AutoScalingGroupName: n, MinSize: 0, MaxSize: 5, DesiredCapacity: 2, LaunchTemplate: { LaunchTemplateName: n, Version: '$Latest' }, VPCZoneIdentifier: subnets.Subnets![0]!.SubnetId }));
let d = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [n] }));
console.log(JSON.stringify(d.AutoScalingGroups, null, 1));
const ids = d.AutoScalingGroups![0]!.Instances!.map(i => i.InstanceId!);
await asg.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: ids[0], ShouldDecrementDesiredCapacity: false }));
try { const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [ids[0]!, 'i-0123456789abcdef0'] })); console.log('desc', JSON.stringify(r.Reservations?.flatMap(x => x.Instances?.map(i => [i.InstanceId, i.State?.Name]))));} catch (e) { console.log('err', (e as Error).name, (e as Error).message); }
try { const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [ids[0]!] })); console.log('desc', JSON.stringify(r.Reservations?.flatMap(x => x.Instances?.map(i => [i.InstanceId, i.State?.Name]))));} catch (e) { console.log('err', (e as Error).name, (e as Error).message); }
await asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: n, LaunchTemplate: { LaunchTemplateName: n, Version: '$Default' } }));
d = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [n] }));
console.log(JSON.stringify(d.AutoScalingGroups![0]!.LaunchTemplate), JSON.stringify(d.AutoScalingGroups![0]!.Instances));
const v = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: n, Versions: ['$Latest', '$Default'] }));
console.log(JSON.stringify(v.LaunchTemplateVersions?.map(x => [x.VersionNumber, x.DefaultVersion, x.LaunchTemplateData?.InstanceType])));
const p = await asg.send(new DescribeAutoScalingGroupsCommand({ MaxRecords: 1 }));
console.log('page', p.AutoScalingGroups?.length, p.NextToken);
