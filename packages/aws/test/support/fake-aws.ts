// A tiny AWS query-protocol server on loopback for tests that need real HTTP behaviour the emulator
// cannot produce on demand: throttling, 429s, and pagination with small pages. The SDK clients talk to
// it exactly as to AWS (signing, retries, XML parsing); only the answers are scripted.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  action: string;
  params: URLSearchParams;
  /** performance.now() when the request arrived. */
  receivedAt: number;
}

export interface FakeReply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export type FakeHandler = (req: FakeRequest) => FakeReply;

export class FakeAwsServer {
  readonly requests: FakeRequest[] = [];
  private readonly server: http.Server;
  private readonly scripted = new Map<string, FakeReply[]>();

  constructor(private readonly handler: FakeHandler) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const request = { action: params.get('Action') ?? '', params, receivedAt: performance.now() };
        this.requests.push(request);
        const reply = this.scripted.get(request.action)?.shift() ?? this.handler(request);
        res.writeHead(reply.status, { 'content-type': 'text/xml', ...reply.headers });
        res.end(reply.body);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next replies to `action`, before the handler answers again. */
  script(action: string, ...replies: FakeReply[]): void {
    this.scripted.set(action, [...(this.scripted.get(action) ?? []), ...replies]);
  }

  requestsFor(action: string): FakeRequest[] {
    return this.requests.filter((r) => r.action === action);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** `Prefix.member.N` (awsQuery) or `Prefix.N` (ec2Query) list values, in order. */
export function listParam(params: URLSearchParams, prefix: string): string[] {
  const values: Array<[number, string]> = [];
  const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(?:member\\.)?(\\d+)$`);
  for (const [key, value] of params) {
    const m = pattern.exec(key);
    if (m) values.push([Number(m[1]), value]);
  }
  return values.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

export function asgError(code: string, message: string, status = 400): FakeReply {
  return {
    status,
    body: `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
  };
}

export function ec2Error(code: string, message: string, status = 400): FakeReply {
  return {
    status,
    body: `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fake</RequestID></Response>`,
  };
}

export function asgGroupXml(name: string): string {
  return (
    `<member><AutoScalingGroupName>${name}</AutoScalingGroupName><MinSize>0</MinSize><MaxSize>3</MaxSize>` +
    `<DesiredCapacity>1</DesiredCapacity><DefaultCooldown>300</DefaultCooldown>` +
    `<AvailabilityZones><member>us-west-2a</member></AvailabilityZones><HealthCheckType>EC2</HealthCheckType>` +
    `<CreatedTime>2024-01-01T00:00:00Z</CreatedTime>` +
    `<LaunchTemplate><LaunchTemplateId>lt-1</LaunchTemplateId><LaunchTemplateName>tpl</LaunchTemplateName><Version>$Latest</Version></LaunchTemplate>` +
    `<Instances><member><InstanceId>i-${name}</InstanceId><AvailabilityZone>us-west-2a</AvailabilityZone>` +
    `<LifecycleState>InService</LifecycleState><HealthStatus>Healthy</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn>` +
    `<LaunchTemplate><LaunchTemplateId>lt-1</LaunchTemplateId><LaunchTemplateName>tpl</LaunchTemplateName><Version>2</Version></LaunchTemplate>` +
    `</member></Instances>` +
    `<Tags><member><ResourceId>${name}</ResourceId><ResourceType>auto-scaling-group</ResourceType><Key>team</Key><Value>a</Value><PropagateAtLaunch>true</PropagateAtLaunch></member></Tags>` +
    `<VPCZoneIdentifier>subnet-1,subnet-2</VPCZoneIdentifier></member>`
  );
}

export function describeGroupsReply(names: readonly string[], nextToken?: string): FakeReply {
  return {
    status: 200,
    body:
      `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult>` +
      `<AutoScalingGroups>${names.map(asgGroupXml).join('')}</AutoScalingGroups>` +
      (nextToken ? `<NextToken>${nextToken}</NextToken>` : '') +
      `</DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`,
  };
}

export function describeInstancesReply(ids: readonly string[], nextToken?: string): FakeReply {
  const items = ids
    .map(
      (id) =>
        `<item><instanceId>${id}</instanceId><imageId>ami-1</imageId><instanceState><code>16</code><name>running</name></instanceState>` +
        `<instanceType>t3.micro</instanceType><placement><availabilityZone>us-west-2a</availabilityZone></placement>` +
        `<tagSet><item><key>aws:ec2launchtemplate:id</key><value>lt-1</value></item><item><key>aws:ec2launchtemplate:version</key><value>3</value></item></tagSet></item>`,
    )
    .join('');
  return {
    status: 200,
    body:
      `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake</requestId>` +
      `<reservationSet><item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${items}</instancesSet></item></reservationSet>` +
      (nextToken ? `<nextToken>${nextToken}</nextToken>` : '') +
      `</DescribeInstancesResponse>`,
  };
}
