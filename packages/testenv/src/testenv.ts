import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { ARGO_ENV, argoEnabled, startArgo, type ArgoInfo } from './argo';
import { repoRoot, stateDir } from './paths';
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
  /** Argo's workflow-controller in the test cluster (absent with KEIKO_ARGO=false or an existing cluster). */
  argo?: ArgoInfo;
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
  /** The workflow-controller's instanceID (default none; also KEIKO_ARGO_INSTANCE_ID). */
  argoInstanceID?: string;
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

  const owner = readState(dir)?.ownerPid;
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
    // Another run in this checkout (npm test and npm run e2e at once) owns the cluster here, and stops it
    // when it ends: never share it or clean it up; start one of our own in a directory of our own.
    process.env.KEIKO_TESTENV_DIR = path.join(dir, 'runs', String(process.pid));
    say(`another run (pid ${owner}) owns the test cluster in ${dir}; starting one in ${stateDir()}`);
    return startTestEnv({ ...opts, reuse: false });
  }
  if (opts.reuse !== false) {
    // A cluster whose owner has exited: kept by `npm run testenv -- up`.
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
    return { ...info, owned: true, stop: () => stopState(dir, state) };
  } catch (err) {
    await stopState(dir, state);
    throw err;
  }
}

/** Stops whatever the state dir says is running and removes its data. Safe to call when nothing runs. */
export async function stopTestEnv(): Promise<void> {
  const dir = stateDir();
  const state = readState(dir);
  if (state) await stopState(dir, state);
}

/**
 * Stops exactly the processes of `state` (what one run started, held in its memory) and removes the
 * state dir's files only while they still describe that run: a run that ends late never stops, nor
 * erases the description of, a newer cluster started in the same directory.
 */
async function stopState(dir: string, state: State): Promise<void> {
  // While the state file still describes this run, it also names processes restarted since
  // (restartApiserver): stop those too.
  const current = readState(dir);
  const ours = current?.dataDir === state.dataDir;
  const restarted = ours
    ? current.processes.filter((p) => !state.processes.some((q) => q.pid === p.pid))
    : [];
  // Reverse start order: simulators and controllers before the apiserver, etcd last.
  for (const p of [...state.processes, ...restarted].reverse()) await stopProcess(p);
  fs.rmSync(state.dataDir, { recursive: true, force: true });
  if (!ours) return;
  for (const f of [STATE_FILE, 'kubeconfig', 'env']) fs.rmSync(path.join(dir, f), { force: true });
  if (path.basename(path.dirname(dir)) === 'runs') fs.rmSync(dir, { recursive: true, force: true });
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

/** What the control plane's start steps share: where things go, and how a component is started. */
interface PlaneCtx {
  tools: ToolPaths;
  dataDir: string;
  logs: string;
  opts: StartOptions;
  say: (msg: string) => void;
  /** Starts a component logging to logs/<name>.log, recorded in the state at once. */
  run: (name: string, bin: string, args: string[]) => ManagedProcess;
  track: (p: ManagedProcess) => void;
}

/**
 * The control plane in named steps: etcd, kube-apiserver (with its kubeconfigs), controller-manager
 * and scheduler, KWOK, then Argo's workflow-controller unless KEIKO_ARGO=false.
 */
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
  const track = (p: ManagedProcess) => {
    processes.push(p);
    saveState();
  };
  const run = (name: string, bin: string, args: string[]) => {
    const p = startProcess(name, bin, args, logFile(logs, name));
    track(p);
    return p;
  };
  const ctx: PlaneCtx = { tools, dataDir, logs, opts, say, run, track };
  const etcdUrl = await startEtcd(ctx);
  const api = await startApiserver(ctx, etcdUrl);
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, kubeconfigYaml(api.server, api.token, fs.readFileSync(api.caFile)));
  const componentKubeconfig = path.join(api.pki, 'admin.kubeconfig');
  fs.copyFileSync(kubeconfig, componentKubeconfig);
  await startKubeControllers(ctx, api, componentKubeconfig);
  await startKwok(ctx, componentKubeconfig);
  const argo = await startArgoIfEnabled(ctx, componentKubeconfig);
  return {
    kubeconfig,
    server: api.server,
    token: api.token,
    awsEndpoint,
    etcdUrl,
    pkiDir: api.pki,
    kubernetesVersion: VERSIONS.kubernetes,
    existingCluster: false,
    env: { ...awsEnv(awsEndpoint, kubeconfig), ...(argo ? { [ARGO_ENV]: argo.namespace } : {}) },
    ...(argo ? { argo } : {}),
  };
}

function logFile(logs: string, name: string): string {
  const f = path.join(logs, `${name}.log`);
  fs.writeFileSync(f, '');
  return f;
}

async function startEtcd(ctx: PlaneCtx): Promise<string> {
  const [etcdPort, etcdPeerPort] = [await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  const etcd = ctx.run('etcd', ctx.tools.etcd, [
    `--data-dir=${path.join(ctx.dataDir, 'etcd')}`,
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
  ctx.say(`etcd ${VERSIONS.etcd} at ${etcdUrl}`);
  return etcdUrl;
}

interface Apiserver {
  server: string;
  token: string;
  pki: string;
  caFile: string;
  saKey: string;
}

/** Service-account signing keys and an admin token for the apiserver, in <dataDir>/pki. */
function writePki(dataDir: string): { pki: string; saKey: string; saPub: string; token: string } {
  const pki = path.join(dataDir, 'pki');
  fs.mkdirSync(pki, { recursive: true });
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = path.join(pki, 'sa.key');
  const saPub = path.join(pki, 'sa.pub');
  fs.writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  const token = crypto.randomBytes(24).toString('hex');
  fs.writeFileSync(path.join(pki, 'tokens.csv'), `${token},admin,admin,system:masters\n`);
  return { pki, saKey, saPub, token };
}

/** kube-apiserver: RBAC on, an admin token, service-account signing keys. */
async function startApiserver(ctx: PlaneCtx, etcdUrl: string): Promise<Apiserver> {
  const { pki, saKey, saPub, token } = writePki(ctx.dataDir);
  const apiPort = await freePort();
  const server = `https://127.0.0.1:${apiPort}`;
  const extraArgs = [
    ...(ctx.opts.apiserverArgs ?? []),
    ...(process.env.KEIKO_TESTENV_APISERVER_ARGS?.split(/\s+/).filter(Boolean) ?? []),
  ];
  const apiserver = ctx.run('kube-apiserver', ctx.tools.kubeApiserver, [
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
  ctx.say(`kube-apiserver ${VERSIONS.kubernetes} at ${server}`);
  return { server, token, pki, caFile: path.join(pki, 'apiserver.crt'), saKey };
}

/**
 * kube-controller-manager: ReplicaSets, Jobs, garbage collection, namespaces, service accounts,
 * node lifecycle. kube-scheduler binds pods to nodes.
 */
async function startKubeControllers(ctx: PlaneCtx, api: Apiserver, kubeconfig: string): Promise<void> {
  const kc = [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
  ];
  const kcmPort = await freePort();
  const kcm = ctx.run('kube-controller-manager', ctx.tools.kubeControllerManager, [
    ...kc,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${kcmPort}`,
    `--service-account-private-key-file=${api.saKey}`,
    `--root-ca-file=${api.caFile}`,
    '--use-service-account-credentials=false',
    '--controllers=*,-nodeipam,-csrsigning,-csrapproving,-csrcleaner,-bootstrapsigner,-tokencleaner',
    '--concurrent-gc-syncs=5',
    // KWOK's heartbeats can lag on a loaded 2-core machine; a node must not flap NotReady (and its pods
    // with it) because a test machine is busy. Tests that want NotReady set it themselves.
    '--node-monitor-grace-period=2m',
  ]);
  const schedPort = await freePort();
  const sched = ctx.run('kube-scheduler', ctx.tools.kubeScheduler, [
    ...kc,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${schedPort}`,
  ]);
  for (const [p, port] of [
    [kcm, kcmPort],
    [sched, schedPort],
  ] as const) {
    await waitFor(p.name, () => httpsOk(`https://127.0.0.1:${port}/healthz`), {
      timeoutMs: 60_000,
      process: p,
      log: p.log,
    });
  }
  ctx.say('kube-controller-manager and kube-scheduler running');
}

/**
 * KWOK plays every kubelet: all nodes are simulated. A node annotated kwok.x-k8s.io/status=custom
 * keeps the status a test gives it (e.g. NotReady). Its Stages: the module's "fast" set, and the
 * stand-in that ends Argo's step pods (kwok/argo-stages.yaml).
 */
async function startKwok(ctx: PlaneCtx, kubeconfig: string): Promise<void> {
  const kwokPort = await freePort();
  const argoStages = path.join(repoRoot(import.meta.dirname), 'packages/testenv/kwok/argo-stages.yaml');
  const kwok = ctx.run('kwok', ctx.tools.kwok, [
    `--kubeconfig=${kubeconfig}`,
    `--config=${ctx.tools.kwokStages}`,
    `--config=${argoStages}`,
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
  ctx.say(`kwok ${VERSIONS.kwok} simulating nodes`);
}

/** Argo's workflow-controller and its stand-ins (argo.ts), unless KEIKO_ARGO=false. */
async function startArgoIfEnabled(ctx: PlaneCtx, kubeconfig: string): Promise<ArgoInfo | undefined> {
  if (!argoEnabled()) {
    ctx.say('KEIKO_ARGO=false: no Argo workflow-controller (tests that need it will fail, saying so)');
    return undefined;
  }
  return startArgo({
    tools: ctx.tools,
    adminKubeconfig: kubeconfig,
    dataDir: ctx.dataDir,
    logDir: ctx.logs,
    track: ctx.track,
    say: ctx.say,
    instanceID: ctx.opts.argoInstanceID ?? process.env.KEIKO_ARGO_INSTANCE_ID,
  });
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

/**
 * Kills the test cluster's kube-apiserver (SIGKILL by default: no graceful shutdown, every watch and
 * connection cut), keeps it down for `downMs`, and starts it again with the same command line on the same
 * port (same etcd, same certificates: clients reconnect as to a restarted apiserver). Resolves once it
 * answers /readyz again. For chaos tests: every other user of this cluster sees the outage too.
 */
export async function restartApiserver(
  opts: { downMs?: number; signal?: 'SIGKILL' | 'SIGTERM' } = {},
): Promise<{ downMs: number }> {
  const dir = stateDir();
  const state = readState(dir);
  const p = state?.processes.find((x) => x.name === 'kube-apiserver');
  if (!state || !p || state.info.existingCluster)
    throw new Error('restartApiserver: no kube-apiserver of the test cluster in the state dir');
  // Linux: the exact command line of the running apiserver.
  const argv = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const started = Date.now();
  if (opts.signal === 'SIGTERM') await stopProcess(p);
  else {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      process.kill(p.pid, 'SIGKILL');
    }
    while (isAlive(p.pid)) await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, opts.downMs ?? 0));
  const [command, ...args] = argv;
  const next = startProcess('kube-apiserver', command ?? '', args, p.log);
  state.processes = state.processes.map((x) => (x === p ? next : x));
  fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2));
  await waitFor(
    'kube-apiserver (restarted)',
    () => apiserverReady(state.info.server, state.info.token ?? ''),
    {
      timeoutMs: 120_000,
      process: next,
      log: next.log,
    },
  );
  return { downMs: Date.now() - started };
}
