// `kube-forensics collect`: the collector Job's command (same bundle, same image as the controller).
// Streams one checkpoint archive from the kubelet's checkpoints directory to S3 (multipart, constant
// memory), reads it back to verify its SHA-256, writes `<key>.sha256`, deletes the archive from the node,
// and exits 0 — or non-zero with the reason on stderr (the pod's termination message) at any failure.
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { createS3Client, S3Store } from '@keiko/aws';

export interface CollectArgs {
  archive: string;
  bucket: string;
  key: string;
  sse: 'AES256' | 'aws:kms';
  sseKmsKeyId?: string;
  partSizeMb: number;
  keepArchive: boolean;
}

export function parseCollectArgs(argv: string[]): CollectArgs {
  const cmd = new Command('collect')
    .exitOverride()
    .requiredOption('--archive <path>', 'the checkpoint archive (under the mounted checkpoints directory)')
    .requiredOption('--bucket <name>', 'destination bucket')
    .requiredOption('--key <key>', 'destination key')
    .addOption(
      new Option('--sse <mode>', 'server-side encryption').choices(['AES256', 'aws:kms']).default('AES256'),
    )
    .option('--sse-kms-key-id <id>', 'KMS key for aws:kms')
    .option('--part-size-mb <n>', 'multipart part size, MiB (at least 5)', (v) => Number(v), 8)
    .option('--keep-archive', 'leave the archive on the node after upload', false);
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<{
    archive: string;
    bucket: string;
    key: string;
    sse: 'AES256' | 'aws:kms';
    sseKmsKeyId?: string;
    partSizeMb: number;
    keepArchive: boolean;
  }>();
  return { ...o };
}

const log = (msg: string, fields: Record<string, unknown> = {}) =>
  console.log(
    JSON.stringify({
      time: new Date().toISOString(),
      level: 'info',
      component: 'kube-forensics-collector',
      msg,
      ...fields,
    }),
  );

/** Runs the collection; resolves with the process exit code. */
export async function collect(args: CollectArgs): Promise<number> {
  const started = Date.now();
  try {
    const st = fs.statSync(args.archive);
    log('uploading checkpoint archive', {
      archive: args.archive,
      bytes: st.size,
      target: `s3://${args.bucket}/${args.key}`,
    });
    const store = new S3Store(createS3Client({ userAgentAppId: 'kube-forensics-collector' }), {
      sse: args.sse,
      ...(args.sseKmsKeyId ? { kmsKeyId: args.sseKmsKeyId } : {}),
    });
    const sent = await store.upload(
      args.bucket,
      args.key,
      fs.createReadStream(args.archive, { highWaterMark: 1024 * 1024 }),
      {
        contentType: 'application/x-tar',
        partSize: Math.max(5, args.partSizeMb) * 1024 * 1024,
      },
    );
    const stored = await store.digest(args.bucket, args.key);
    if (stored.sha256 !== sent.sha256 || stored.size !== sent.size)
      throw new Error(
        `verification failed: sent ${sent.size} bytes sha256 ${sent.sha256}, S3 holds ${stored.size} bytes sha256 ${stored.sha256}`,
      );
    await store.put(
      args.bucket,
      `${args.key}.sha256`,
      `${sent.sha256}  ${args.key.split('/').pop()}\n`,
      'text/plain',
    );
    if (!args.keepArchive) fs.rmSync(args.archive);
    log('archive uploaded and verified', {
      bytes: sent.size,
      sha256: sent.sha256,
      seconds: (Date.now() - started) / 1000,
      deleted: !args.keepArchive,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    });
    return 0;
  } catch (err) {
    console.error(
      `collect ${args.archive} -> s3://${args.bucket}/${args.key}: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
}
