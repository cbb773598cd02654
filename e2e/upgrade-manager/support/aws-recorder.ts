// An HTTP proxy in front of the AWS emulator that records every API call passing through it, so a
// test can count what the controller asked AWS to do (e.g. TerminateInstanceInAutoScalingGroup per
// instance) without trusting the controller's own account of it. The controller under test gets the
// proxy as AWS_ENDPOINT_URL; everything else talks to the emulator directly.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  at: number;
  /** Query protocol `Action`, or the JSON protocol's X-Amz-Target operation. */
  action: string;
  params: Record<string, string>;
  status: number;
}

export class AwsCallRecorder {
  readonly calls: RecordedCall[] = [];
  private server?: http.Server;
  endpoint = '';

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    const upstream = new URL(this.target);
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const call = parseCall(req.headers, body.toString('utf8'));
        const forward = http.request(
          {
            hostname: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: upstream.host },
          },
          (answer) => {
            this.calls.push({ ...call, at: Date.now(), status: answer.statusCode ?? 0 });
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', (err) => {
          res.writeHead(502);
          res.end(String(err));
        });
        forward.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  /** Calls of one action, optionally only those whose params match. */
  find(action: string, params: Record<string, string> = {}): RecordedCall[] {
    return this.calls.filter(
      (c) => c.action === action && Object.entries(params).every(([k, v]) => c.params[k] === v),
    );
  }

  /** Successful TerminateInstanceInAutoScalingGroup calls, by instance id. */
  terminations(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.find('TerminateInstanceInAutoScalingGroup')) {
      if (c.status >= 300) continue;
      const id = c.params.InstanceId ?? '';
      out.set(id, (out.get(id) ?? 0) + 1);
    }
    return out;
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}

function parseCall(headers: http.IncomingHttpHeaders, body: string): Omit<RecordedCall, 'at' | 'status'> {
  const target = headers['x-amz-target'];
  if (typeof target === 'string') {
    let params: Record<string, string> = {};
    try {
      params = Object.fromEntries(
        Object.entries(JSON.parse(body) as Record<string, unknown>).map(([k, v]) => [
          k,
          typeof v === 'string' ? v : JSON.stringify(v),
        ]),
      );
    } catch {
      // not JSON: keep the action only
    }
    return { action: target.split('.').pop() ?? target, params };
  }
  const form = new URLSearchParams(body);
  return { action: form.get('Action') ?? '', params: Object.fromEntries(form.entries()) };
}
