// npm run bench -- forensics [MiB]
// One PodCheckpoint of a one-container pod whose checkpoint archive is 200 MiB (the kubelet stand-in
// writes it), captured by the bundled controller; the collector Job's command (the same bundle) runs
// for real through the collector stand-in and streams the archive to the AWS emulator's S3. Prints:
// forensics bytes=.. upload_s=.. collector_rss_mb=.. controller_rss_mb=..
// upload_s and collector_rss_mb are the collector's own report (upload + read-back verification, peak
// RSS); controller_rss_mb is the controller's peak resident memory sampled from /metrics during the
// capture. Streaming means neither grows with the archive: compare `npm run bench -- forensics 20`.
import {
  buildApp,
  COLLECTOR_IMAGE,
  ControllerProcess,
  createNamespace,
  ForensicsWorld,
  freePort,
  installChartCrds,
  kubeConfigFromEnv,
  startTestEnv,
} from '@keiko/testenv';

const mib = Number(process.argv[2] ?? 200);
const env = await startTestEnv({ verbose: true });
Object.assign(process.env, env.env);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const kc = kubeConfigFromEnv();
let controller: ControllerProcess | undefined;
let world: ForensicsWorld | undefined;
try {
  await installChartCrds(kc, 'kube-forensics');
  world = await new ForensicsWorld(kc, buildApp('kube-forensics')).start(['supported'], mib * 1024 * 1024);
  const ns = await createNamespace('bench-forensics');
  const bucket = await world.bucket(`bench-forensics-${Date.now().toString(36)}`);
  await world.pod(ns, 'big', ['app']);
  const metricsPort = await freePort();
  controller = new ControllerProcess({
    bundle: world.bundle,
    args: [
      `--namespace=${ns}`,
      '--leader-elect=false',
      `--metrics-port=${metricsPort}`,
      '--health-port=0',
      '--bind-address=127.0.0.1',
      `--kubelet-ca-file=${world.caFile}`,
      `--collector-image=${COLLECTOR_IMAGE}`,
      `--collector-namespace=${ns}`,
    ],
  }).start();
  let controllerPeak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      const rss = Number(/^process_resident_memory_bytes (\S+)/m.exec(text)?.[1] ?? 0);
      controllerPeak = Math.max(controllerPeak, rss);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  say(`capturing a pod whose checkpoint archive is ${mib} MiB`);
  await world.podCheckpoint(ns, 'big', { pod: 'big', namespace: ns, destination: `s3://${bucket}` });
  const done = await world.finished(ns, 'big', 600_000);
  sampling = false;
  await sampler;
  if (done.type !== 'Complete') throw new Error(`capture ${done.type}: ${done.reason}: ${done.message}`);
  const report = world.collector?.runs
    .flatMap((r) => r.output.split('\n'))
    .map((l) => {
      try {
        return JSON.parse(l) as { msg?: string; bytes?: number; seconds?: number; maxRssMb?: number };
      } catch {
        return {};
      }
    })
    .find((l) => l.msg === 'archive uploaded and verified');
  if (!report) throw new Error('the collector did not report its upload');
  console.log(
    `forensics bytes=${report.bytes} upload_s=${report.seconds?.toFixed(1)} collector_rss_mb=${report.maxRssMb} controller_rss_mb=${Math.round(controllerPeak / 1024 / 1024)}`,
  );
} finally {
  await controller?.stop();
  await world?.stop();
  await env.stop();
}
