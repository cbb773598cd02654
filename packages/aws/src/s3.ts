// S3 port: what a capture tool needs — does the bucket exist, put a small object, stream a large one
// (multipart through @aws-sdk/lib-storage, constant memory), read one back to verify it — always with
// server-side encryption and the bucket-owner-full-control ACL, and a SHA-256 of what was sent.
import { createHash } from 'node:crypto';
import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { awsClientConfig, type AwsClientOptions } from './config';

/** Server-side encryption of every object written: SSE-S3 (AES256) or SSE-KMS with an optional key. */
export interface S3Encryption {
  sse: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
}

export interface PutResult {
  size: number;
  /** Hex SHA-256 of the bytes sent. */
  sha256: string;
}

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing slash ('' for the bucket's root). */
  prefix: string;
}

export type BucketState = 'exists' | 'missing' | 'forbidden';

/** Minimum multipart part size S3 accepts; lib-storage's default. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** An S3 client for Keiko's config; path-style addressing when an endpoint (an emulator) is set. */
export function createS3Client(options: AwsClientOptions = {}): S3Client {
  const config = awsClientConfig(options);
  return new S3Client({ ...config, ...(config.endpoint ? { forcePathStyle: true } : {}) });
}

/** `s3://bucket[/prefix]` → bucket and prefix; an error message naming what is wrong otherwise. */
export function parseS3Uri(uri: string): S3Location | string {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri.trim());
  if (!m) return `"${uri}" is not an s3://bucket[/prefix] URI`;
  const bucket = m[1] ?? '';
  const problem = bucketNameProblem(bucket);
  if (problem) return problem;
  return { bucket, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

/** Why `name` is not a valid S3 bucket name (AWS's general purpose bucket naming rules), or undefined. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `bucket name "${name}" must be 3 to 63 characters long`;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name))
    return `bucket name "${name}" may only hold lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`;
  if (name.includes('..')) return `bucket name "${name}" must not hold two adjacent dots`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `bucket name "${name}" must not look like an IP address`;
  return undefined;
}

/** A pass-through stream that hashes and counts what flows through it. */
export function hashingStream(): Transform & { result(): PutResult } {
  const hash = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { result(): PutResult };
  t.result = () => ({ size, sha256: hash.digest('hex') });
  return t;
}

export class S3Store {
  constructor(
    readonly client: S3Client,
    private readonly encryption: S3Encryption = { sse: 'AES256' },
  ) {}

  private writeParams(bucket: string, key: string, contentType: string) {
    return {
      Bucket: bucket,
      Key: key,
      ContentType: contentType,
      ACL: 'bucket-owner-full-control' as const,
      ServerSideEncryption: this.encryption.sse as ServerSideEncryption,
      ...(this.encryption.sse === 'aws:kms' && this.encryption.kmsKeyId
        ? { SSEKMSKeyId: this.encryption.kmsKeyId }
        : {}),
    };
  }

  async bucketState(bucket: string, signal?: AbortSignal): Promise<BucketState> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
      return 'exists';
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return 'missing';
      if (status === 403) return 'forbidden';
      throw err;
    }
  }

  /**
   * A small object in one PutObject, with its SHA-256 sent as the S3 checksum (S3 rejects the write when
   * the bytes it received differ), then its size checked with HeadObject.
   */
  async put(
    bucket: string,
    key: string,
    body: Buffer | string,
    contentType = 'application/octet-stream',
    signal?: AbortSignal,
  ): Promise<PutResult> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const digest = createHash('sha256').update(bytes).digest();
    await this.client.send(
      new PutObjectCommand({
        ...this.writeParams(bucket, key, contentType),
        Body: bytes,
        ChecksumSHA256: digest.toString('base64'),
      }),
      { abortSignal: signal },
    );
    const size = await this.size(bucket, key, signal);
    if (size !== bytes.length)
      throw new Error(`s3://${bucket}/${key}: ${size ?? 'no'} bytes stored, ${bytes.length} sent`);
    return { size: bytes.length, sha256: digest.toString('hex') };
  }

  /**
   * A stream of any size: multipart upload in `partSize` parts, `queueSize` at a time (memory stays at
   * about partSize × queueSize whatever the size), hashed on the way.
   */
  async upload(
    bucket: string,
    key: string,
    body: Readable,
    opts: { contentType?: string; partSize?: number; queueSize?: number; signal?: AbortSignal } = {},
  ): Promise<PutResult> {
    const hashing = hashingStream();
    const pass = new PassThrough();
    const piping = pipeline(body, hashing, pass);
    const upload = new Upload({
      client: this.client,
      params: {
        ...this.writeParams(bucket, key, opts.contentType ?? 'application/octet-stream'),
        Body: pass,
      },
      partSize: Math.max(MIN_PART_SIZE, opts.partSize ?? 8 * 1024 * 1024),
      queueSize: opts.queueSize ?? 2,
      leavePartsOnError: false,
      ...(opts.signal ? { abortController: abortControllerOf(opts.signal) } : {}),
    });
    await Promise.all([upload.done(), piping]);
    return hashing.result();
  }

  /** Reads the object back and returns its SHA-256 and size (the check after an upload). */
  async digest(bucket: string, key: string, signal?: AbortSignal): Promise<PutResult> {
    const got = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    const hashing = hashingStream();
    const sink = new Writable({ write: (_chunk, _enc, cb) => cb() });
    await pipeline(got.Body as Readable, hashing, sink);
    return hashing.result();
  }

  async size(bucket: string, key: string, signal?: AbortSignal): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
      return head.ContentLength;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
        return undefined;
      throw err;
    }
  }

  async text(bucket: string, key: string, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
      return await (got.Body as { transformToString(): Promise<string> }).transformToString();
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async keys(bucket: string, prefix: string, signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        { abortSignal: signal },
      );
      out.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
}

function abortControllerOf(signal: AbortSignal): AbortController {
  const ac = new AbortController();
  if (signal.aborted) ac.abort();
  else signal.addEventListener('abort', () => ac.abort(), { once: true });
  return ac;
}
