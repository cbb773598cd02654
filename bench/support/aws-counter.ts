// A counting HTTP proxy in front of the AWS emulator: one per controller, so each process's AWS calls are
// counted where they arrive (the emulator's side), not from what the controller says it did.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One AWS call as it reached the emulator. */
export interface AwsCall {
  at: number;
  /** The signing service (ec2, autoscaling, iam, ssm...). */
  service: string;
  /** The API operation (Action=..., X-Amz-Target, or METHOD path for REST APIs). */
  operation: string;
}

/** The service from a SigV4 Authorization header's credential scope (`Credential=KEY/DATE/REGION/SERVICE/...`). */
export function serviceOf(authorization: string | undefined): string {
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(authorization ?? '')?.[1] ?? 'unknown';
}

/** The operation of a query (Action=), JSON (X-Amz-Target) or REST (method + path) request. */
export function operationOf(method: string, url: string, target: string | undefined, body: string): string {
  if (target) return target.split('.').pop() ?? target;
  const action =
    new URLSearchParams(body).get('Action') ?? new URL(url, 'http://x').searchParams.get('Action');
  if (action) return action;
  return `${method} ${new URL(url, 'http://x').pathname.replace(/\/[^/]+/g, (s, i: number) => (i === 0 ? s : '/*'))}`;
}

export class AwsCallCounter {
  readonly calls: AwsCall[] = [];
  private server?: http.Server;

  constructor(private readonly upstream: string) {}

  /** Listens on a free loopback port; resolves to the URL to use as AWS_ENDPOINT_URL. */
  async start(): Promise<string> {
    const up = new URL(this.upstream);
    const agent = new http.Agent({ keepAlive: true });
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const target = req.headers['x-amz-target'];
        this.calls.push({
          at: Date.now(),
          service: serviceOf(req.headers.authorization),
          operation: operationOf(
            req.method ?? 'GET',
            req.url ?? '/',
            typeof target === 'string' ? target : undefined,
            body.toString('utf8'),
          ),
        });
        const out = http.request(
          {
            hostname: up.hostname,
            port: up.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
            agent,
          },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
          },
        );
        out.on('error', (err) => res.writeHead(502).end(`aws counter: upstream: ${err.message}\n`));
        out.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The calls made in [from, to). */
  between(from: number, to: number): AwsCall[] {
    return this.calls.filter((c) => c.at >= from && c.at < to);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
