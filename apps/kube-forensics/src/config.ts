// kube-forensics' flags on top of every controller's (kube-runtime's parseManagerConfig).
import { flagValue, Option, parseManagerConfig, type ManagerConfig } from '@keiko/kube-runtime';
import type { PodCheckpointControllerOptions } from './podcheckpoint/controller';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function options(): Option[] {
  return [
    new Option(
      '--kubelet-route <route>',
      'how to reach kubelets: direct (node InternalIP:kubelet port, as metrics-server) or apiserver (/api/v1/nodes/{node}/proxy)',
    )
      .env('KEIKO_KUBELET_ROUTE')
      .choices(['direct', 'apiserver'])
      .default('direct'),
    new Option(
      '--kubelet-ca-file <file>',
      "CA bundle of the kubelets' serving certificates (direct route)",
    ).env('KEIKO_KUBELET_CA_FILE'),
    new Option('--kubelet-insecure-tls', "do not verify kubelets' serving certificates (direct route)")
      .env('KEIKO_KUBELET_INSECURE_TLS')
      .default(false),
    new Option('--kubelet-timeout <s>', 'how long to wait for a kubelet answer, seconds')
      .env('KEIKO_KUBELET_TIMEOUT')
      .argParser(flagValue.seconds('--kubelet-timeout'))
      .default(120_000, '120'),
    new Option('--checkpoint-timeout <s>', "the kubelet checkpoint request's ?timeout=, seconds")
      .env('KEIKO_CHECKPOINT_TIMEOUT')
      .argParser(flagValue.int('--checkpoint-timeout'))
      .default(60),
    new Option('--max-log-bytes <n>', 'bytes of each container log captured (limitBytes)')
      .env('KEIKO_MAX_LOG_BYTES')
      .argParser(flagValue.int('--max-log-bytes'))
      .default(64 * 1024 * 1024, '67108864 (64 MiB)'),
    new Option('--collector-image <image>', "image of the collector Jobs (this app's own image)")
      .env('KEIKO_COLLECTOR_IMAGE')
      .default('ghcr.io/keikoproj/kube-forensics:latest'),
    new Option(
      '--collector-namespace <ns>',
      'namespace the collector Jobs run in (default: the pod namespace)',
    ).env('KEIKO_COLLECTOR_NAMESPACE'),
    new Option(
      '--collector-service-account <name>',
      "the collector pods' ServiceAccount (its IAM role writes to S3)",
    ).env('KEIKO_COLLECTOR_SERVICE_ACCOUNT'),
    new Option('--collector-timeout <s>', "a collector Job's activeDeadlineSeconds")
      .env('KEIKO_COLLECTOR_TIMEOUT')
      .argParser(flagValue.int('--collector-timeout'))
      .default(1800),
    new Option('--checkpoints-dir <path>', "the kubelet's checkpoints directory on nodes")
      .env('KEIKO_CHECKPOINTS_DIR')
      .default('/var/lib/kubelet/checkpoints'),
    new Option('--sse <mode>', 'server-side encryption of every object')
      .env('KEIKO_SSE')
      .choices(['AES256', 'aws:kms'])
      .default('AES256'),
    new Option('--sse-kms-key-id <id>', 'KMS key id for --sse=aws:kms').env('KEIKO_SSE_KMS_KEY_ID'),
    new Option(
      '--allowed-namespaces <list>',
      'comma-separated namespaces whose pods may be captured (default: any)',
    )
      .env('KEIKO_ALLOWED_NAMESPACES')
      .argParser(list)
      .default([] as string[], 'any'),
    new Option(
      '--ttl <s>',
      'delete finished PodCheckpoint objects (not the S3 data) this long after completion, seconds (0: never)',
    )
      .env('KEIKO_TTL')
      .argParser(flagValue.seconds('--ttl', { allowZero: true }))
      .default(0, '0'),
  ];
}

export interface ForensicsConfig {
  manager: ManagerConfig;
  controller: PodCheckpointControllerOptions;
}

/** AWS settings the collector gets as the controller has them (region, endpoints). */
function collectorEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_STS_REGIONAL_ENDPOINTS',
  ])
    if (env[k]) out[k] = env[k] as string;
  return out;
}

export function parseConfig(
  argv: string[] = process.argv,
  env: NodeJS.ProcessEnv = process.env,
): ForensicsConfig {
  const { config, extra } = parseManagerConfig('kube-forensics', argv, (cmd) => {
    for (const o of options()) cmd.addOption(o);
  });
  const e = extra as Record<string, unknown>;
  const sse = e.sse as 'AES256' | 'aws:kms';
  const kmsKeyId = e.sseKmsKeyId ? String(e.sseKmsKeyId) : undefined;
  const insecure = e.kubeletInsecureTls === true || e.kubeletInsecureTls === 'true';
  return {
    manager: config,
    controller: {
      dryRun: config.dryRun,
      kubelet: {
        route: e.kubeletRoute as 'direct' | 'apiserver',
        ...(e.kubeletCaFile ? { caFile: String(e.kubeletCaFile) } : {}),
        insecureTls: insecure,
        timeoutMs: Number(e.kubeletTimeout),
      },
      checkpointTimeoutSeconds: Number(e.checkpointTimeout),
      maxLogBytes: Number(e.maxLogBytes),
      allowedNamespaces: e.allowedNamespaces as string[],
      ttlMs: Number(e.ttl),
      encryption: { sse, ...(kmsKeyId ? { kmsKeyId } : {}) },
      collector: {
        image: String(e.collectorImage),
        namespace: String(e.collectorNamespace ?? '') || config.leaderElectionNamespace,
        ...(e.collectorServiceAccount ? { serviceAccountName: String(e.collectorServiceAccount) } : {}),
        checkpointsDir: String(e.checkpointsDir),
        timeoutSeconds: Number(e.collectorTimeout),
        sse,
        ...(kmsKeyId ? { kmsKeyId } : {}),
        env: collectorEnv(env),
      },
    },
  };
}
