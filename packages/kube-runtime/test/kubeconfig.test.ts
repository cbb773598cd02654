import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { KubeClient, ResourceTypes } from '../src';
import {
  defaultSource,
  inClusterContext,
  LiteKubeConfig,
  loadKubeConfig,
  resolveKubeconfig,
  type ExecConfig,
} from '../src/kubeconfig';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeconfig-test-'));
const write = (name: string, text: string) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};
const b64 = (s: string) => Buffer.from(s).toString('base64');

async function applied(kc: { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }) {
  const o: https.RequestOptions & { servername?: string } = {};
  await kc.applyToHTTPSOptions(o);
  return o;
}

describe('resolveKubeconfig', () => {
  const a = `
current-context: a
contexts: [{ name: a, context: { cluster: c1, user: u1 } }]
clusters: [{ name: c1, cluster: { server: 'https://one:6443', certificate-authority: ca.crt, tls-server-name: api.one } }]
users: [{ name: u1, user: { token: tok-a } }]
`;
  const b = `
current-context: b
contexts: [{ name: b, context: { cluster: c2, user: u2 } }]
clusters:
  - { name: c1, cluster: { server: 'https://shadowed:6443' } }
  - { name: c2, cluster: { server: 'https://two:6443', insecure-skip-tls-verify: true } }
users: [{ name: u2, user: { client-certificate-data: ${b64('CERT')}, client-key: keys/u2.key } }]
`;

  it('takes current-context from the first file that sets it, each name from the first file defining it', () => {
    const ctx = resolveKubeconfig([
      { path: path.join(tmp, 'a'), text: a },
      { path: path.join(tmp, 'sub', 'b'), text: b },
    ]);
    expect(ctx.cluster).toMatchObject({ name: 'c1', server: 'https://one:6443', tlsServerName: 'api.one' });
    expect(ctx.cluster.caFile).toBe(path.join(tmp, 'ca.crt'));
    expect(ctx.user.token).toBe('tok-a');
  });

  it('makes relative files absolute against the file that names them', () => {
    const ctx = resolveKubeconfig([{ path: path.join(tmp, 'sub', 'b'), text: b }]);
    expect(ctx.cluster).toMatchObject({ server: 'https://two:6443', skipTLSVerify: true });
    expect(ctx.user.keyFile).toBe(path.join(tmp, 'sub', 'keys', 'u2.key'));
  });

  it('names what is missing', () => {
    expect(() => resolveKubeconfig([{ path: 'x', text: 'clusters: []' }])).toThrow(/no current-context/);
    expect(() => resolveKubeconfig([{ path: 'x', text: 'current-context: nope\ncontexts: []' }])).toThrow(
      /context "nope" not found/,
    );
  });
});

describe('LiteKubeConfig', () => {
  it('sets CA, client certificate, key, server name and bearer token', async () => {
    const kc = new LiteKubeConfig({
      cluster: { name: 'c', server: 'https://x', caData: b64('CA'), tlsServerName: 'api.x' },
      user: { name: 'u', certData: b64('CERT'), keyFile: write('k.key', 'KEY'), token: 'T' },
    });
    const o = await applied(kc);
    expect(String(o.ca)).toBe('CA');
    expect(String(o.cert)).toBe('CERT');
    expect(String(o.key)).toBe('KEY');
    expect(o.servername).toBe('api.x');
    expect(o.headers).toEqual({ Authorization: 'Bearer T' });
    expect(o.rejectUnauthorized).toBeUndefined();
  });

  it('reads a token file and basic auth; honours insecure-skip-tls-verify', async () => {
    const kc = new LiteKubeConfig({
      cluster: { name: 'c', server: 'https://x', skipTLSVerify: true },
      user: { name: 'u', tokenFile: write('token', 'from-file\n'), username: 'me', password: 'pw' },
    });
    const o = await applied(kc);
    expect(o.headers).toEqual({ Authorization: 'Bearer from-file' });
    expect(o.auth).toBe('me:pw');
    expect(o.rejectUnauthorized).toBe(false);
  });

  it('refuses a legacy auth-provider, naming the user', () => {
    const text = `
current-context: a
contexts: [{ name: a, context: { cluster: c, user: gke } }]
clusters: [{ name: c, cluster: { server: 'https://x' } }]
users: [{ name: gke, user: { auth-provider: { name: gcp } } }]
`;
    expect(() => loadKubeConfig(write('gcp.yaml', text))).toThrow(/user "gke": auth-provider "gcp"/);
  });

  it('runs an exec plugin with KUBERNETES_EXEC_INFO, and again only once its credential expires', async () => {
    const log = write('exec.log', '');
    const plugin = write(
      'plugin.mjs',
      `import fs from 'node:fs';
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
fs.appendFileSync(${JSON.stringify(log)}, info.spec.cluster.server + ' ' + process.env.EXTRA + '\\n');
const n = fs.readFileSync(${JSON.stringify(log)}, 'utf8').trim().split('\\n').length;
console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential',
  status: { token: 'exec-' + n, expirationTimestamp: process.argv[2] } }));`,
    );
    const exec = (expires: string): ExecConfig => ({
      apiVersion: 'client.authentication.k8s.io/v1',
      command: process.execPath,
      args: [plugin, expires],
      env: [{ name: 'EXTRA', value: 'set' }],
    });
    const cluster = { name: 'c', server: 'https://eks.example' };
    const fresh = new LiteKubeConfig({ cluster, user: { name: 'u', exec: exec('2999-01-01T00:00:00Z') } });
    expect((await applied(fresh)).headers).toEqual({ Authorization: 'Bearer exec-1' });
    expect((await applied(fresh)).headers).toEqual({ Authorization: 'Bearer exec-1' });
    expect(fs.readFileSync(log, 'utf8')).toBe('https://eks.example set\n');

    const expired = new LiteKubeConfig({ cluster, user: { name: 'u', exec: exec('2000-01-01T00:00:00Z') } });
    expect((await applied(expired)).headers).toEqual({ Authorization: 'Bearer exec-2' });
    expect((await applied(expired)).headers).toEqual({ Authorization: 'Bearer exec-3' });
  });
});

describe('where credentials come from', () => {
  it('in-cluster: the service address (IPv6 in brackets, http on 8080), the token and CA files', () => {
    const ctx = inClusterContext(
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
      '/sa',
    );
    expect(ctx.cluster).toMatchObject({ server: 'https://[fd00::1]:443', caFile: '/sa/ca.crt' });
    expect(ctx.user.tokenFile).toBe('/sa/token');
    expect(
      inClusterContext({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '8080' }).cluster
        .server,
    ).toBe('http://10.0.0.1:8080');
  });

  it('$KUBECONFIG first, then ~/.kube/config, then the service account', () => {
    const none = () => false;
    expect(defaultSource({ KUBECONFIG: `a${path.delimiter}b`, HOME: '/h' }, none)).toEqual({
      files: ['a', 'b'],
    });
    expect(defaultSource({ HOME: '/h' }, (f) => f === '/h/.kube/config')).toEqual({
      files: ['/h/.kube/config'],
    });
    expect(defaultSource({ HOME: '/h' }, (f) => f.endsWith('/serviceaccount/token'))).toEqual({
      inCluster: true,
    });
    expect(defaultSource({ HOME: '/h' }, none)).toEqual({ none: true });
  });
});

describe('against the test cluster', () => {
  it("gives what client-node's KubeConfig gives for the same file, and a client made from it works", async () => {
    const file = process.env.KUBECONFIG ?? '';
    const full = new k8s.KubeConfig();
    full.loadFromFile(file);
    const lite = loadKubeConfig(file);
    expect(lite.getCurrentCluster().server).toBe(full.getCurrentCluster()?.server);
    const [mine, theirs] = await Promise.all([applied(lite), applied(full)]);
    for (const k of ['ca', 'cert', 'key'] as const)
      expect(String(mine[k] ?? '')).toBe(String(theirs[k] ?? ''));
    expect((mine.headers as Record<string, string>).Authorization).toBe(
      (theirs.headers as Record<string, string>).Authorization,
    );
    const ns = await new KubeClient(lite).get(ResourceTypes.Namespace, undefined, 'default');
    expect(ns?.metadata?.name).toBe('default');
  });
});
