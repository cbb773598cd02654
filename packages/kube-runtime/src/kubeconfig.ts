// Credentials for the apiserver without loading @kubernetes/client-node's KubeConfig: its module imports the
// whole generated API (every model and API class), which is most of an idle controller's memory (see
// docs/adr/0006-small-kubeconfig-loader.md). This loader reads what a controller runs with — the in-cluster
// service account, or a kubeconfig (files merged as kubectl merges $KUBECONFIG) with a token, token file,
// client certificate, basic auth or an exec credential plugin (client.authentication.k8s.io ExecCredential,
// as `aws eks get-token` answers). Legacy auth-provider entries (gcp, azure, oidc; removed from kubectl in
// 1.26) are refused with an error naming the user.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';

/** What the runtime needs from a kubeconfig (client-node's KubeConfig has the same two methods). */
export interface KubeCredentials {
  getCurrentCluster(): { name: string; server: string } | null;
  /** Sets TLS material (ca, cert, key, servername, rejectUnauthorized) and auth headers on `opts`. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** One resolved cluster + user, file paths made absolute. */
export interface ResolvedContext {
  cluster: {
    name: string;
    server: string;
    caFile?: string;
    caData?: string;
    skipTLSVerify?: boolean;
    tlsServerName?: string;
  };
  user: {
    name: string;
    token?: string;
    tokenFile?: string;
    certFile?: string;
    certData?: string;
    keyFile?: string;
    keyData?: string;
    username?: string;
    password?: string;
    exec?: ExecConfig;
    /** The name of a legacy auth-provider entry (not supported). */
    authProvider?: string;
  };
}

/** A kubeconfig user's `exec` entry (client.authentication.k8s.io). */
export interface ExecConfig {
  apiVersion?: string;
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
}

type Named<T> = { name?: string } & Record<string, T | undefined>;
interface RawConfig {
  'current-context'?: string;
  clusters?: Named<Record<string, unknown>>[];
  users?: Named<Record<string, unknown>>[];
  contexts?: Named<{ cluster?: string; user?: string }>[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const abs = (dir: string, f: string | undefined) => (f && !path.isAbsolute(f) ? path.join(dir, f) : f);

/**
 * The current context of one or more kubeconfig files, merged as kubectl merges $KUBECONFIG: the first file
 * that sets current-context wins, and the first file that defines a named cluster/user/context wins.
 */
export function resolveKubeconfig(files: { path: string; text: string }[]): ResolvedContext {
  const docs = files.map((f) => ({
    dir: path.dirname(path.resolve(f.path)),
    raw: (load(f.text) ?? {}) as RawConfig,
  }));
  const current = docs.map((d) => str(d.raw['current-context'])).find((c) => c);
  if (!current) throw new Error(`kubeconfig ${files.map((f) => f.path).join(':')} has no current-context`);
  const find = (key: 'clusters' | 'users' | 'contexts', name: string) => {
    for (const d of docs) {
      const hit = d.raw[key]?.find((e) => e.name === name);
      if (hit) return { dir: d.dir, name, value: (hit[key.slice(0, -1)] ?? {}) as Record<string, unknown> };
    }
    throw new Error(`kubeconfig: ${key.slice(0, -1)} "${name}" not found`);
  };
  const ctx = find('contexts', current).value;
  const c = find('clusters', String(ctx.cluster ?? ''));
  const u = find('users', String(ctx.user ?? ''));
  const server = str(c.value.server);
  if (!server) throw new Error(`kubeconfig: cluster "${c.name}" has no server`);
  return {
    cluster: {
      name: c.name,
      server,
      caFile: abs(c.dir, str(c.value['certificate-authority'])),
      caData: str(c.value['certificate-authority-data']),
      skipTLSVerify: c.value['insecure-skip-tls-verify'] === true,
      tlsServerName: str(c.value['tls-server-name']),
    },
    user: {
      name: u.name,
      token: str(u.value.token),
      tokenFile: abs(u.dir, str(u.value.tokenFile)),
      certFile: abs(u.dir, str(u.value['client-certificate'])),
      certData: str(u.value['client-certificate-data']),
      keyFile: abs(u.dir, str(u.value['client-key'])),
      keyData: str(u.value['client-key-data']),
      username: str(u.value.username),
      password: str(u.value.password),
      exec: execConfig(u.value.exec),
      authProvider:
        str((u.value['auth-provider'] as { name?: unknown } | undefined)?.name) ??
        (u.value['auth-provider'] ? '?' : undefined),
    },
  };
}

function execConfig(raw: unknown): ExecConfig | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const e = raw as Record<string, unknown>;
  const command = str(e.command);
  if (!command) throw new Error("kubeconfig: a user's exec entry has no command");
  return {
    apiVersion: str(e.apiVersion),
    command,
    args: Array.isArray(e.args) ? e.args.map(String) : undefined,
    env: Array.isArray(e.env) ? (e.env as { name: string; value: string }[]) : undefined,
  };
}

/** The in-cluster context: the service account's token and CA, the apiserver from KUBERNETES_SERVICE_*. */
export function inClusterContext(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR): ResolvedContext {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const server = `${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  return {
    cluster: { name: 'inCluster', server, caFile: path.join(dir, 'ca.crt') },
    user: { name: 'inClusterUser', tokenFile: path.join(dir, 'token') },
  };
}

/** Where client-node's loadFromDefault would look, in its order. */
export function defaultSource(
  env: NodeJS.ProcessEnv,
  exists: (f: string) => boolean = fs.existsSync,
): { files: string[] } | { inCluster: true } | { none: true } {
  const listed = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f);
  if (listed.length > 0) return { files: listed };
  const home = env.HOME ?? os.homedir();
  const config = home ? path.join(home, '.kube', 'config') : '';
  if (config && exists(config)) return { files: [config] };
  if (exists(path.join(SERVICE_ACCOUNT_DIR, 'token'))) return { inCluster: true };
  return { none: true };
}

/** Re-read at most this often: the kubelet rotates a projected token well before it expires. */
const TOKEN_FILE_TTL_MS = 60_000;
/** An exec credential without expirationTimestamp is asked for again after this long. */
const EXEC_DEFAULT_TTL_MS = 10 * 60_000;
/** An exec credential is renewed this long before it expires. */
const EXEC_RENEW_EARLY_MS = 60_000;

/** What an exec plugin answered (status of an ExecCredential). */
export interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

/** Runs an exec plugin and resolves to its printed ExecCredential's status. */
export type ExecRunner = (
  exec: ExecConfig,
  cluster: ResolvedContext['cluster'],
) => Promise<ExecCredentialStatus>;

export class LiteKubeConfig implements KubeCredentials {
  private token?: { value: string; readAt: number };
  private execCred?: Promise<{ status: ExecCredentialStatus; until: number }>;

  constructor(
    readonly context: ResolvedContext,
    private readonly runExec: ExecRunner = runExecPlugin,
  ) {
    if (context.user.authProvider)
      throw new Error(
        `kubeconfig user "${context.user.name}": auth-provider "${context.user.authProvider}" is not supported (kubectl removed auth providers in 1.26); use an exec credential plugin`,
      );
  }

  getCurrentCluster(): { name: string; server: string } {
    return { name: this.context.cluster.name, server: this.context.cluster.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const { cluster, user } = this.context;
    const o = opts as https.RequestOptions & { servername?: string };
    if (cluster.skipTLSVerify) o.rejectUnauthorized = false;
    if (cluster.tlsServerName) o.servername = cluster.tlsServerName;
    const ca = fileOrData(cluster.caFile, cluster.caData);
    if (ca) o.ca = ca;
    const exec = user.exec ? await this.execCredential(user.exec) : undefined;
    const cert = exec?.clientCertificateData
      ? Buffer.from(exec.clientCertificateData)
      : fileOrData(user.certFile, user.certData);
    if (cert) o.cert = cert;
    const key = exec?.clientKeyData
      ? Buffer.from(exec.clientKeyData)
      : fileOrData(user.keyFile, user.keyData);
    if (key) o.key = key;
    const token = exec?.token ?? user.token ?? this.fileToken();
    o.headers ??= {};
    if (token) (o.headers as Record<string, string>).Authorization = `Bearer ${token}`;
    if (user.username && user.password) o.auth = `${user.username}:${user.password}`;
  }

  private fileToken(): string | undefined {
    const file = this.context.user.tokenFile;
    if (!file) return undefined;
    if (!this.token || Date.now() - this.token.readAt > TOKEN_FILE_TTL_MS)
      this.token = { value: fs.readFileSync(file, 'utf8').trim(), readAt: Date.now() };
    return this.token.value;
  }

  /** The plugin's credential, asked for again shortly before it expires (one run at a time). */
  private async execCredential(exec: ExecConfig): Promise<ExecCredentialStatus> {
    const cached = this.execCred && (await this.execCred.catch(() => undefined));
    if (cached && Date.now() < cached.until) return cached.status;
    this.execCred = this.runExec(exec, this.context.cluster).then((status) => {
      const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : NaN;
      const until = Number.isFinite(expires)
        ? expires - EXEC_RENEW_EARLY_MS
        : Date.now() + EXEC_DEFAULT_TTL_MS;
      return { status, until };
    });
    return (await this.execCred).status;
  }
}

/** Runs the plugin as kubectl does: KUBERNETES_EXEC_INFO set, its stdout an ExecCredential (JSON). */
export async function runExecPlugin(
  exec: ExecConfig,
  cluster: ResolvedContext['cluster'],
): Promise<ExecCredentialStatus> {
  const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
  const info = {
    apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false, cluster: { server: cluster.server } },
  };
  const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      exec.command,
      exec.args ?? [],
      { env, timeout: 60_000, maxBuffer: 1 << 20 },
      (err, out, errOut) =>
        err
          ? reject(
              new Error(`kubeconfig exec plugin ${exec.command} failed: ${err.message} ${errOut}`.trim()),
            )
          : resolve(out),
    ),
  );
  const status = (JSON.parse(stdout) as { status?: ExecCredentialStatus }).status;
  if (!status?.token && !status?.clientCertificateData)
    throw new Error(
      `kubeconfig exec plugin ${exec.command} printed no status.token or status.clientCertificateData`,
    );
  return status;
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return fs.readFileSync(file);
  if (data) return Buffer.from(data, 'base64');
  return undefined;
}

/** --kubeconfig, else $KUBECONFIG (files merged), else ~/.kube/config, else the in-cluster service account. */
export function loadKubeConfig(file?: string, env: NodeJS.ProcessEnv = process.env): LiteKubeConfig {
  const source = file ? { files: [file] } : defaultSource(env);
  if ('inCluster' in source) return new LiteKubeConfig(inClusterContext(env));
  if ('none' in source) {
    return new LiteKubeConfig({
      cluster: { name: 'cluster', server: 'http://localhost:8080' },
      user: { name: 'user' },
    });
  }
  const files = source.files.map((f) => ({ path: f, text: fs.readFileSync(f, 'utf8') }));
  return new LiteKubeConfig(resolveKubeconfig(files));
}
