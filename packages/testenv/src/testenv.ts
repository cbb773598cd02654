import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { stateDir } from './paths';
import { freePort, isAlive, startProcess, stopProcess, waitFor, type ManagedProcess } from './process';
import { installTools, VERSIONS, type ToolPaths } from './tools';

/** Everything a test or a controller needs to reach the test cluster and the AWS emulator. */
export interface TestEnvInfo {
  /** Absolute path of the admin kubeconfig. */
  kubeconfig: string;
  /** https://127.0.0.1:<port> of the kube-apiserver (or the existing cluster's server). */
  server: string;
  /** Bearer token of the admin user (absent for an existing cluster). */
  token?: string;
  /** http://127.0.0.1:<port> of moto_server. */
  awsEndpoint: string;
  /** etcd client URL (absent for an existing cluster): tests use it to force compaction. */
  etcdUrl?: string;
  /**
   * The kube-apiserver's --cert-dir (absent for an existing cluster): its self-signed serving pair
   * apiserver.crt / apiserver.key, which the kubeconfig trusts; ApiFaultProxy serves the same pair.
   */
  pkiDir?: string;
  /** Kubernetes version of the control plane. */
  kubernetesVersion: string;
  /** The environment a process needs: KUBECONFIG, AWS_ENDPOINT_URL, AWS_REGION, dummy credentials. */
  env: Record<string, string>;
  /** True when the control plane is the user's cluster (KEIKO_USE_EXISTING_CLUSTER=true). */
  existingCluster: boolean;
}

export interface TestEnv extends TestEnvInfo {
  /** Stops every process this TestEnv started (a reused environment is left running). */
  stop(): Promise<void>;
  /** True when this call started the processes (and stop() will end them). */
  owned: boolean;
}

export interface StartOptions {
  /** Reuse a live environment described by the state dir instead of starting another (default true). */
  reuse?: boolean;
  /** Extra kube-apiserver flags, e.g. ['--watch-cache=false']. Also read from KEIKO_TESTENV_APISERVER_ARGS. */
  apiserverArgs?: string[];
  /** Print progress to stderr. */
  verbose?: boolean;
}

interface State {
  version: 1;
  ownerPid: number;
  dataDir: string;
  info: TestEnvInfo;
  processes: ManagedProcess[];
}

export const AWS_REGION = 'us-west-2';
const STATE_FILE = 'state.json';

/**
 * Starts (or reuses) the test cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
 * KWOK (simulated kubelets) and moto_server, each on a free loopback port. Writes kubeconfig, env and
 * state into the state dir (.testenv/ at the repo root).
 *
 * With KEIKO_USE_EXISTING_CLUSTER=true it uses $KUBECONFIG's cluster instead of starting a control plane
 * (the AWS emulator still starts), like controller-runtime's envtest USE_EXISTING_CLUSTER.
 */
export async function startTestEnv(opts: StartOptions = {}): Promise<TestEnv> {
  const dir = stateDir();
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const say = (msg: string) => opts.verbose && process.stderr.write(`[testenv] ${msg}\n`);

  if (opts.reuse !== false) {
    const live = await readLiveState(dir);
    if (live) {
      say(`reusing the running test cluster at ${live.info.server}`);
      return { ...live.info, owned: false, stop: async () => {} };
    }
  }
  await stopTestEnv(); // whatever a dead owner left behind

  const tools = installTools();
  const existing = process.env.KEIKO_USE_EXISTING_CLUSTER === 'true';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-testenv-'));
  const processes: ManagedProcess[] = [];
  const state: State = { version: 1, ownerPid: process.pid, dataDir, info: undefined as never, processes };
  const saveState = () => fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2));

  try {
    const awsEndpoint = await startMoto(tools, dir, processes, saveState);
    say(`AWS emulator (moto ${VERSIONS.moto}) at ${awsEndpoint}`);
    let info: TestEnvInfo;
    if (existing) {
      const kubeconfig = process.env.KUBECONFIG;
      if (!kubeconfig)
        throw new Error('KEIKO_USE_EXISTING_CLUSTER=true needs KUBECONFIG to name the cluster to use');
      info = {
        kubeconfig: path.resolve(kubeconfig),
        server: '(from KUBECONFIG)',
        awsEndpoint,
        kubernetesVersion: 'existing',
        existingCluster: true,
        env: awsEnv(awsEndpoint, path.resolve(kubeconfig)),
      };
    } else {
      info = await startControlPlane(tools, dir, dataDir, awsEndpoint, processes, saveState, opts, say);
    }
    state.info = info;
    saveState();
    writeEnvFile(dir, info);
    return { ...info, owned: true, stop: () => stopTestEnv() };
  } catch (err) {
    await stopTestEnv();
    throw err;
  }
}

/** Stops whatever the state dir says is running and removes its data. Safe to call when nothing runs. */
export async function stopTestEnv(): Promise<void> {
  const dir = stateDir();
  const state = readState(dir);
  if (!state) return;
  // Reverse start order: simulators and controllers before the apiserver, etcd last.
  for (const p of [...state.processes].reverse()) await stopProcess(p);
  fs.rmSync(state.dataDir, { recursive: true, force: true });
  for (const f of [STATE_FILE, 'kubeconfig', 'env']) fs.rmSync(path.join(dir, f), { force: true });
}

/** The running environment, or undefined when none is up and healthy. */
export async function testEnvStatus(): Promise<TestEnvInfo | undefined> {
  return (await readLiveState(stateDir()))?.info;
}

function readState(dir: string): State | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as State;
  } catch {
    return undefined;
  }
}

async function readLiveState(dir: string): Promise<State | undefined> {
  const state = readState(dir);
  if (!state?.info) return undefined;
  // State written before pkiDir was recorded: the apiserver's --cert-dir is always <dataDir>/pki.
  if (!state.info.existingCluster) state.info.pkiDir ??= path.join(state.dataDir, 'pki');
  if (!state.processes.every((p) => isAlive(p.pid))) return undefined;
  if (!state.info.existingCluster && !(await apiserverReady(state.info.server, state.info.token ?? '')))
    return undefined;
  return state;
}

async function startMoto(
  tools: ToolPaths,
  dir: string,
  processes: ManagedProcess[],
  saveState: () => void,
): Promise<string> {
  const port = await freePort();
  const log = path.join(dir, 'logs', 'moto.log');
  fs.writeFileSync(log, '');
  // AWS managed IAM policies exist in the emulator as in AWS (instance-manager attaches them).
  const p = startProcess(
    'moto_server',
    tools.motoServer.command,
    [...tools.motoServer.args, '-H', '127.0.0.1', '-p', String(port)],
    log,
    {
      MOTO_IAM_LOAD_MANAGED_POLICIES: 'true',
    },
  );
  processes.push(p);
  saveState();
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor('AWS emulator', () => httpOk(`${endpoint}/moto-api/`), {
    timeoutMs: 60_000,
    log,
    process: p,
  });
  return endpoint;
}

async function startControlPlane(
  tools: ToolPaths,
  dir: string,
  dataDir: string,
  awsEndpoint: string,
  processes: ManagedProcess[],
  saveState: () => void,
  opts: StartOptions,
  say: (msg: string) => void,
): Promise<TestEnvInfo> {
  const logs = path.join(dir, 'logs');
  const logFile = (name: string) => {
    const f = path.join(logs, `${name}.log`);
    fs.writeFileSync(f, '');
    return f;
  };
  const run = (name: string, bin: string, args: string[]) => {
    const p = startProcess(name, bin, args, logFile(name));
    processes.push(p);
    saveState();
    return p;
  };

  // etcd
  const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  const etcd = run('etcd', tools.etcd, [
    `--data-dir=${path.join(dataDir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=default=${peerUrl}`,
    '--unsafe-no-fsync', // a throwaway test store: durability buys nothing, fsync costs seconds
    '--log-level=warn',
  ]);
  await waitFor('etcd', () => httpOk(`${etcdUrl}/health`), {
    timeoutMs: 30_000,
    process: etcd,
    log: etcd.log,
  });
  say(`etcd ${VERSIONS.etcd} at ${etcdUrl}`);

  // kube-apiserver: RBAC on, an admin token, service-account signing keys.
  const pki = path.join(dataDir, 'pki');
  fs.mkdirSync(pki, { recursive: true });
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = path.join(pki, 'sa.key');
  const saPub = path.join(pki, 'sa.pub');
  fs.writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  const token = crypto.randomBytes(24).toString('hex');
  fs.writeFileSync(path.join(pki, 'tokens.csv'), `${token},admin,admin,system:masters\n`);
  const server = `https://127.0.0.1:${apiPort}`;
  const extraArgs = [
    ...(opts.apiserverArgs ?? []),
    ...(process.env.KEIKO_TESTENV_APISERVER_ARGS?.split(/\s+/).filter(Boolean) ?? []),
  ];
  const apiserver = run('kube-apiserver', tools.kubeApiserver, [
    `--etcd-servers=${etcdUrl}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--cert-dir=${pki}`,
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--token-auth-file=${path.join(pki, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--allow-privileged=true',
    '--endpoint-reconciler-type=none',
    // PodTemplates skip the watch cache, so their watches read etcd directly and an etcd compaction
    // really expires an old resourceVersion (410 Gone): the informer's re-list path is testable.
    '--watch-cache-sizes=podtemplates#0',
    ...extraArgs,
  ]);
  await waitFor('kube-apiserver', () => apiserverReady(server, token), {
    timeoutMs: 120_000,
    process: apiserver,
    log: apiserver.log,
  });
  say(`kube-apiserver ${VERSIONS.kubernetes} at ${server}`);

  const caFile = path.join(pki, 'apiserver.crt');
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, kubeconfigYaml(server, token, fs.readFileSync(caFile)));
  const componentKubeconfig = path.join(pki, 'admin.kubeconfig');
  fs.copyFileSync(kubeconfig, componentKubeconfig);
  const kc = [
    `--kubeconfig=${componentKubeconfig}`,
    `--authentication-kubeconfig=${componentKubeconfig}`,
    `--authorization-kubeconfig=${componentKubeconfig}`,
  ];

  // kube-controller-manager: ReplicaSets, Jobs, garbage collection, namespaces, service accounts,
  // node lifecycle. kube-scheduler binds pods to nodes.
  const kcmPort = await freePort();
  const kcm = run('kube-controller-manager', tools.kubeControllerManager, [
    ...kc,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${kcmPort}`,
    `--service-account-private-key-file=${saKey}`,
    `--root-ca-file=${caFile}`,
    '--use-service-account-credentials=false',
    '--controllers=*,-nodeipam,-csrsigning,-csrapproving,-csrcleaner,-bootstrapsigner,-tokencleaner',
    '--concurrent-gc-syncs=5',
    // KWOK's heartbeats can lag on a loaded 2-core machine; a node must not flap NotReady (and its pods
    // with it) because a test machine is busy. Tests that want NotReady set it themselves.
    '--node-monitor-grace-period=2m',
  ]);
  const schedPort = await freePort();
  const sched = run('kube-scheduler', tools.kubeScheduler, [
    ...kc,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${schedPort}`,
  ]);
  await waitFor('kube-controller-manager', () => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`), {
    timeoutMs: 60_000,
    process: kcm,
    log: kcm.log,
  });
  await waitFor('kube-scheduler', () => httpsOk(`https://127.0.0.1:${schedPort}/healthz`), {
    timeoutMs: 60_000,
    process: sched,
    log: sched.log,
  });
  say('kube-controller-manager and kube-scheduler running');

  // KWOK plays every kubelet: all nodes are simulated. A node annotated kwok.x-k8s.io/status=custom
  // keeps the status a test gives it (e.g. NotReady).
  const kwokPort = await freePort();
  const kwok = run('kwok', tools.kwok, [
    `--kubeconfig=${componentKubeconfig}`,
    `--config=${tools.kwokStages}`,
    '--manage-all-nodes=true',
    '--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom',
    '--cidr=10.244.0.0/16',
    '--node-ip=10.0.0.1',
    `--server-address=127.0.0.1:${kwokPort}`,
  ]);
  await waitFor('kwok', () => httpOk(`http://127.0.0.1:${kwokPort}/healthz`), {
    timeoutMs: 60_000,
    process: kwok,
    log: kwok.log,
  });
  say(`kwok ${VERSIONS.kwok} simulating nodes`);

  return {
    kubeconfig,
    server,
    token,
    awsEndpoint,
    etcdUrl,
    pkiDir: pki,
    kubernetesVersion: VERSIONS.kubernetes,
    existingCluster: false,
    env: awsEnv(awsEndpoint, kubeconfig),
  };
}

function awsEnv(awsEndpoint: string, kubeconfig: string): Record<string, string> {
  return {
    KUBECONFIG: kubeconfig,
    AWS_ENDPOINT_URL: awsEndpoint,
    AWS_REGION,
    AWS_DEFAULT_REGION: AWS_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
}

function writeEnvFile(dir: string, info: TestEnvInfo): void {
  const lines = Object.entries(info.env).map(([k, v]) => `export ${k}=${JSON.stringify(v)}`);
  fs.writeFileSync(
    path.join(dir, 'env'),
    `# written by packages/testenv; source it: . .testenv/env\n${lines.join('\n')}\n`,
  );
}

function kubeconfigYaml(server: string, token: string, ca: Buffer): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: keiko-testenv
  cluster:
    server: ${server}
    certificate-authority-data: ${ca.toString('base64')}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: keiko-testenv
  context:
    cluster: keiko-testenv
    user: admin
current-context: keiko-testenv
`;
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** The components' health ports serve self-signed certificates; only reachability matters here. */
function httpsOk(url: string, token?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      url,
      {
        rejectUnauthorized: false,
        timeout: 2000,
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

function apiserverReady(server: string, token: string): Promise<boolean> {
  return httpsOk(`${server}/readyz`, token);
}
