// The S3 port against the AWS emulator (moto): encryption and ACL on every write, the checksum sent with
// a small object, a multipart stream hashed on the way and read back to the same SHA-256.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { CreateBucketCommand, GetObjectAclCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { bucketNameProblem, createS3Client, parseS3Uri, S3Store } from '../src/index';

describe('S3 URIs and bucket names', () => {
  it('splits s3://bucket/prefix and names what is wrong', () => {
    expect(parseS3Uri('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Uri('s3://my-bucket/a/b/')).toEqual({ bucket: 'my-bucket', prefix: 'a/b' });
    expect(parseS3Uri('https://x')).toMatch(/not an s3:\/\/bucket/);
    expect(parseS3Uri('s3://Bad_Bucket')).toMatch(/lowercase/);
    expect(bucketNameProblem('ab')).toMatch(/3 to 63/);
    expect(bucketNameProblem('a..b')).toMatch(/adjacent dots/);
    expect(bucketNameProblem('192.168.1.1')).toMatch(/IP address/);
    expect(bucketNameProblem('my-forensics-bucket-123456789012-us-west-2')).toBeUndefined();
  });
});

describe('S3Store against moto', () => {
  const client = createS3Client();
  const store = new S3Store(client, { sse: 'AES256' });
  const bucket = `s3-test-${Date.now().toString(36)}`;

  beforeAll(async () => {
    await client.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: 'us-west-2' },
      }),
    );
  });

  it('knows whether a bucket exists', async () => {
    expect(await store.bucketState(bucket)).toBe('exists');
    expect(await store.bucketState(`${bucket}-missing`)).toBe('missing');
  });

  it('puts a small object encrypted, bucket-owner-full-control, with its SHA-256', async () => {
    const res = await store.put(bucket, 'a/b.json', '{"x":1}', 'application/json');
    expect(res).toEqual({ size: 7, sha256: createHash('sha256').update('{"x":1}').digest('hex') });
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a/b.json' }));
    expect(head.ServerSideEncryption).toBe('AES256');
    const acl = await client.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'a/b.json' }));
    expect(acl.Grants?.some((g) => g.Permission === 'FULL_CONTROL')).toBe(true);
    expect(await store.text(bucket, 'a/b.json')).toBe('{"x":1}');
    expect(await store.keys(bucket, 'a/')).toEqual(['a/b.json']);
  });

  it('streams a multipart upload and reads back the same digest', async () => {
    const data = randomBytes(11 * 1024 * 1024 + 17);
    const res = await store.upload(
      bucket,
      'big.tar',
      Readable.from([data.subarray(0, 3e6), data.subarray(3e6)]),
      {
        partSize: 5 * 1024 * 1024,
      },
    );
    const expected = createHash('sha256').update(data).digest('hex');
    expect(res).toEqual({ size: data.length, sha256: expected });
    expect(await store.digest(bucket, 'big.tar')).toEqual({ size: data.length, sha256: expected });
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big.tar' }));
    expect(head.ServerSideEncryption).toBe('AES256');
  });
});
