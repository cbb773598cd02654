// Talking to a node's kubelet, the way metrics-server does: directly at the node's InternalIP and
// status.daemonEndpoints.kubeletEndpoint.Port with the controller's own credentials (the kubelet checks
// them with a TokenReview and a SubjectAccessReview), or through the apiserver's node proxy
// (/api/v1/nodes/{node}/proxy/...) where pods cannot reach kubelets.
import fs from 'node:fs';
import https from 'node:https';
import type * as k8s from '@kubernetes/client-node';
import type { KubeCredentials } from '@keiko/kube-runtime';

export type KubeletRoute = 'direct' | 'apiserver';

export interface KubeletClientOptions {
  route: KubeletRoute;
  /** CA bundle that signed the kubelets' serving certificates (direct route). */
  caFile?: string;
  /** Skip verifying the kubelet's certificate (direct route; kubelets with self-signed certs). */
  insecureTls?: boolean;
  timeoutMs: number;
}

export interface KubeletRequest {
  url: string;
  method: 'GET' | 'POST';
}

/** The node's kubelet address for the direct route, or why there is none. */
export function kubeletAddress(node: k8s.V1Node): { host: string; port: number } | string {
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!ip) return `node ${node.metadata?.name} has no InternalIP`;
  if (!port) return `node ${node.metadata?.name} reports no kubelet port (status.daemonEndpoints)`;
  return { host: ip.includes(':') ? `[${ip}]` : ip, port };
}

/** The request for a kubelet path (e.g. /checkpoint/ns/pod/c?timeout=60) on a node, by route. */
export function kubeletRequest(
  route: KubeletRoute,
  node: k8s.V1Node,
  apiServer: string,
  method: KubeletRequest['method'],
  kubeletPath: string,
): KubeletRequest {
  if (route === 'apiserver') {
    const base = apiServer.replace(/\/+$/, '');
    return {
      method,
      url: `${base}/api/v1/nodes/${encodeURIComponent(node.metadata?.name ?? '')}/proxy${kubeletPath}`,
    };
  }
  const addr = kubeletAddress(node);
  if (typeof addr === 'string') throw new Error(addr);
  return { method, url: `https://${addr.host}:${addr.port}${kubeletPath}` };
}

export const checkpointPath = (ns: string, pod: string, container: string, timeoutSeconds: number) =>
  `/checkpoint/${enc(ns)}/${enc(pod)}/${enc(container)}?timeout=${timeoutSeconds}`;

export const logsPath = (ns: string, pod: string, container: string, previous: boolean, limitBytes: number) =>
  `/containerLogs/${enc(ns)}/${enc(pod)}/${enc(container)}?${previous ? 'previous=true&' : ''}limitBytes=${limitBytes}`;

const enc = encodeURIComponent;

export interface KubeletResponse {
  status: number;
  body: Buffer;
}

export class KubeletClient {
  private readonly ca?: Buffer;

  constructor(
    private readonly kc: KubeCredentials,
    private readonly opts: KubeletClientOptions,
  ) {
    this.ca = opts.caFile ? fs.readFileSync(opts.caFile) : undefined;
  }

  /** Sends one request; the body is kept up to `maxBytes` (more is cut). */
  async send(
    node: k8s.V1Node,
    method: KubeletRequest['method'],
    path: string,
    maxBytes: number,
    signal?: AbortSignal,
  ): Promise<KubeletResponse> {
    const server = this.kc.getCurrentCluster()?.server ?? '';
    const req = kubeletRequest(this.opts.route, node, server, method, path);
    const options: https.RequestOptions = {
      method: req.method,
      headers: {},
      timeout: this.opts.timeoutMs,
      signal,
    };
    // Credentials (bearer token or client certificate) and, for the apiserver route, its CA.
    await this.kc.applyToHTTPSOptions(options);
    if (this.opts.route === 'direct') {
      delete options.ca;
      if (this.ca) options.ca = this.ca;
      if (this.opts.insecureTls) options.rejectUnauthorized = false;
    }
    return new Promise((resolve, reject) => {
      const r = https.request(req.url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          if (size < maxBytes) chunks.push(d.subarray(0, maxBytes - size));
          size += d.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      r.on('timeout', () =>
        r.destroy(new Error(`kubelet ${req.url}: no answer within ${this.opts.timeoutMs / 1000}s`)),
      );
      r.on('error', (err) => reject(new Error(`kubelet ${method} ${req.url}: ${err.message}`)));
      r.end();
    });
  }
}
