/**
 * The object store against the real local S3 server (Ceph RADOS Gateway), with a local HTTP server
 * standing in for RunComfy's output file host.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import { request } from 'undici';
import {
  ObjectStoreAbortedError,
  ObjectStoreRequestError,
  SourceNotFoundError,
  SourceRejectedError,
  SourceSizeMismatchError,
  SourceTruncatedError,
  SourceUnavailableError,
} from '../../src/storage/errors.js';
import type { ObjectStoreError } from '../../src/storage/errors.js';
import { OutputSourceRejectedError } from '../../src/storage/source-errors.js';
import { ObjectStore } from '../../src/storage/object-store.js';
import type { ObjectStoreOptions } from '../../src/storage/object-store.js';
import { deterministicOutputKey } from '../../src/storage/output-key.js';
import { createObjectStoreClient } from '../../src/storage/s3-client.js';
import { testS3, uniqueName } from '../support/local-stack.js';
import { deterministicChunks, deterministicSha256, startSourceServer } from './source-server.js';

const MiB = 1024 * 1024;
const s3 = await testS3();
const client = createObjectStoreClient({ ...s3, maxSockets: 8 });
const source = await startSourceServer();
// Every key of this file lives under one prefix: leftovers are easy to list and to delete.
const keyPrefix = `${uniqueName('object-store-test')}/`;

after(async () => {
  await source.close();
  await deleteEverythingUnder(keyPrefix);
  client.destroy();
});

/** Small parts keep multipart paths cheap: 5 MiB parts, 2 in flight. */
function makeStore(overrides: Partial<ObjectStoreOptions> = {}): ObjectStore {
  return new ObjectStore({ client, bucket: s3.bucket, keyPrefix, partSizeBytes: 5 * MiB, queueSize: 2, sourcePolicy: { allowLoopback: true, allowedHosts: [] }, ...overrides });
}

const store = makeStore();

async function listMultipartUploads(prefix: string): Promise<string[]> {
  const output = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: prefix }));
  return (output.Uploads ?? []).map((upload) => upload.Key ?? '');
}

async function listKeys(prefix: string): Promise<string[]> {
  const output = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (output.Contents ?? []).map((object) => object.Key ?? '');
}

async function deleteEverythingUnder(prefix: string): Promise<void> {
  const keys = await listKeys(prefix);
  if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: s3.bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
}

async function storedSha256(fullKey: string): Promise<string> {
  const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: fullKey }));
  const hash = createHash('sha256');
  for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Nothing at the key, no multipart upload and no staging object left under this file's prefix. */
async function assertNothingLeft(key: string): Promise<void> {
  assert.equal(await store.head(key), undefined, `no object may exist at ${key}`);
  assert.deepEqual(await listMultipartUploads(keyPrefix), [], 'no multipart upload may be left');
  assert.deepEqual(await listKeys(`${keyPrefix}.staging/`), [], 'no staging object may be left');
}

async function waitForMultipartUpload(): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    if ((await listMultipartUploads(keyPrefix)).length > 0) return;
    await delay(20);
  }
  throw new Error('no multipart upload began');
}

function isTyped(expectedClass: abstract new (...args: never[]) => ObjectStoreError, code: string, retryable: boolean) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof expectedClass, `expected ${expectedClass.name}, got ${(error as Error).name}: ${(error as Error).message}`);
    assert.equal(error.code, code);
    assert.equal(error.retryable, retryable);
    return true;
  };
}

test('a 24 MiB multipart copy stores the exact bytes with sha256 and size metadata, then is idempotent', async () => {
  const size = 24 * MiB;
  const path = '/bytes/render.mp4';
  const key = deterministicOutputKey({ pipelineId: 'p1', stepId: 'i2v', nodeId: '12', filename: 'render.mp4' });
  const expectedSha256 = deterministicSha256(size, 'render.mp4');
  const progress: number[] = [];

  const result = await store.persistFromUrl({ sourceUrl: source.url(`${path}?size=${size}`), key, signal: new AbortController().signal, onProgress: (bytes) => progress.push(bytes) });
  assert.deepEqual({ ...result, etag: undefined }, { key, bytes: size, sha256: expectedSha256, contentType: 'video/mp4', etag: undefined, alreadyPresent: false });
  assert.ok(result.etag.length > 0);
  assert.equal(progress.at(-1), size);
  assert.ok(progress.every((bytes, index) => index === 0 || bytes >= progress[index - 1]!), 'progress never goes back');

  const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keyPrefix + key }));
  assert.equal(head.ContentLength, size);
  assert.equal(head.ContentType, 'video/mp4');
  assert.deepEqual(head.Metadata, { sha256: expectedSha256, 'source-bytes': String(size) });
  assert.equal(await storedSha256(keyPrefix + key), expectedSha256);
  assert.deepEqual(await store.head(key), { bytes: size, sha256: expectedSha256, contentType: 'video/mp4', etag: result.etag });
  assert.deepEqual(await listMultipartUploads(keyPrefix), []);
  assert.deepEqual(await listKeys(`${keyPrefix}.staging/`), [], 'the staging object is deleted after the copy');

  // A retry of the activity: answered from the stored metadata, without a second download.
  const again = await store.persistFromUrl({ sourceUrl: source.url(`${path}?size=${size}`), key, signal: new AbortController().signal });
  assert.deepEqual(again, { ...result, alreadyPresent: true });
  assert.equal(source.requestCount(path), 1, 'the source must be downloaded once');
});

test('a truncated download (Content-Length larger than the bytes sent) fails typed and leaves nothing', async () => {
  const key = `truncated/${uniqueName('cut')}.bin`;
  const name = 'cut-large.bin';
  const copy = store.persistFromUrl({ sourceUrl: source.url(`/truncate/${name}?size=${12 * MiB}&send=${7 * MiB}`), key, signal: new AbortController().signal });
  // The connection breaks only once the multipart upload exists, so its abort is really exercised.
  await waitForMultipartUpload();
  source.release(name);
  await assert.rejects(copy, (error: unknown) => {
    isTyped(SourceTruncatedError, 'SOURCE_TRUNCATED', true)(error);
    const truncated = error as SourceTruncatedError;
    assert.equal(truncated.expectedBytes, 12 * MiB);
    assert.ok(truncated.receivedBytes <= 7 * MiB);
    return true;
  });
  await assertNothingLeft(key);
});

test('a truncated small file (below one part) fails typed and leaves nothing', async () => {
  const key = `truncated/${uniqueName('small')}.png`;
  source.release('cut-small.png');
  await assert.rejects(
    store.persistFromUrl({ sourceUrl: source.url('/truncate/cut-small.png?size=4000&send=1500'), key, signal: new AbortController().signal }),
    isTyped(SourceTruncatedError, 'SOURCE_TRUNCATED', true),
  );
  await assertNothingLeft(key);
});

test('an expired output URL (404, 410) is a non-retryable SourceNotFoundError', async () => {
  for (const status of [404, 410]) {
    const key = `missing/${status}.png`;
    await assert.rejects(store.persistFromUrl({ sourceUrl: source.url(`/status/${status}?token=secret-token`), key, signal: new AbortController().signal }), (error: unknown) => {
      isTyped(SourceNotFoundError, 'SOURCE_NOT_FOUND', false)(error);
      assert.equal((error as ObjectStoreError).httpStatus, status);
      assert.ok(!(error as Error).message.includes('secret-token'), 'the query string never reaches the message');
      return true;
    });
    await assertNothingLeft(key);
  }
});

test('source 5xx, 429 and refused connections are retryable; other 4xx are not', async () => {
  const signal = new AbortController().signal;
  await assert.rejects(store.persistFromUrl({ sourceUrl: source.url('/status/503?retryAfter=7'), key: 'errors/503.png', signal }), (error: unknown) => {
    isTyped(SourceUnavailableError, 'SOURCE_UNAVAILABLE', true)(error);
    assert.equal((error as ObjectStoreError).retryAfterMs, 7000);
    return true;
  });
  await assert.rejects(store.persistFromUrl({ sourceUrl: source.url('/status/429'), key: 'errors/429.png', signal }), isTyped(SourceUnavailableError, 'SOURCE_UNAVAILABLE', true));
  await assert.rejects(store.persistFromUrl({ sourceUrl: source.url('/status/403'), key: 'errors/403.png', signal }), isTyped(SourceRejectedError, 'SOURCE_REJECTED', false));
  await assert.rejects(store.persistFromUrl({ sourceUrl: 'ftp://127.0.0.1/x.png', key: 'errors/ftp.png', signal }), isTyped(OutputSourceRejectedError, 'OUTPUT_SOURCE_REJECTED', false));
  // A port nobody listens on (the source server's, once closed).
  const closed = await startSourceServer();
  const closedUrl = closed.url('/bytes/x.png?size=10');
  await closed.close();
  await assert.rejects(store.persistFromUrl({ sourceUrl: closedUrl, key: 'errors/refused.png', signal }), (error: unknown) => {
    isTyped(SourceUnavailableError, 'SOURCE_UNAVAILABLE', true)(error);
    assert.match((error as Error).message, /ECONNREFUSED/);
    return true;
  });
});

test('cancellation mid-copy stops the download, aborts the multipart upload and rejects with AbortError', async () => {
  const key = `cancelled/${uniqueName('job')}.mp4`;
  const name = 'stalled.mp4';
  const controller = new AbortController();
  let lastProgress = 0;
  const copy = store.persistFromUrl({
    sourceUrl: source.url(`/stall/${name}?size=${40 * MiB}&send=${12 * MiB}`),
    key,
    signal: controller.signal,
    onProgress: (bytes) => (lastProgress = bytes),
  });
  await waitForMultipartUpload();
  controller.abort(new Error('pipeline cancelled'));
  await assert.rejects(copy, (error: unknown) => {
    assert.ok(error instanceof ObjectStoreAbortedError);
    assert.equal(error.name, 'AbortError');
    assert.equal(error.code, 'OBJECT_STORE_ABORTED');
    assert.equal(error.retryable, false);
    return true;
  });
  assert.ok(lastProgress > 5 * MiB && lastProgress <= 12 * MiB, `copied ${lastProgress} bytes before the abort`);
  // Rejection comes only after the cleanup: nothing to wait for here.
  await assertNothingLeft(key);
  await source.closedByClient(name);
});

test('an already aborted signal does nothing at all', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    store.persistFromUrl({ sourceUrl: source.url('/bytes/never.png?size=10'), key: 'cancelled/never.png', signal: controller.signal }),
    ObjectStoreAbortedError,
  );
  assert.equal(source.requestCount('/bytes/never.png'), 0);
});

test('content type comes from the argument, else the file signature, else the extension, else a believable response header', async () => {
  const signal = new AbortController().signal;
  const cases = [
    { key: 'types/a.png', query: '', explicit: undefined, expected: 'image/png' },
    { key: 'types/b.mp4', query: '&type=application/octet-stream', explicit: undefined, expected: 'video/mp4' },
    // An image type the bytes do not back up (no WebP signature) is not believed.
    { key: 'types/c.bin', query: '&type=image/webp', explicit: undefined, expected: 'application/octet-stream' },
    { key: 'types/c.json', query: '&type=application/x-ndjson', explicit: undefined, expected: 'application/json' },
    { key: 'types/d.png', query: '&type=image/jpeg', explicit: 'image/x-special', expected: 'image/x-special' },
    { key: 'types/e', query: '', explicit: undefined, expected: 'audio/wav', sourceName: 'voice.wav' },
    { key: 'types/f', query: '', explicit: undefined, expected: 'application/octet-stream' },
  ];
  for (const entry of cases) {
    const sourceName = entry.sourceName ?? entry.key.split('/')[1]!;
    const result = await store.persistFromUrl({
      sourceUrl: source.url(`/bytes/${sourceName}?size=2048${entry.query}`),
      key: entry.key,
      signal,
      ...(entry.explicit ? { contentType: entry.explicit } : {}),
    });
    assert.equal(result.contentType, entry.expected, entry.key);
    assert.equal((await store.head(entry.key))?.contentType, entry.expected, entry.key);
    assert.equal(result.sha256, deterministicSha256(2048, sourceName));
  }
});

test('a chunked source longer than expectedBytes, or announcing another size, is a size mismatch', async () => {
  const signal = new AbortController().signal;
  await assert.rejects(
    store.persistFromUrl({ sourceUrl: source.url('/bytes/longer.png?size=9000&chunked=1'), key: 'mismatch/longer.png', expectedBytes: 4000, signal }),
    isTyped(SourceSizeMismatchError, 'SOURCE_SIZE_MISMATCH', false),
  );
  await assert.rejects(
    store.persistFromUrl({ sourceUrl: source.url('/bytes/announced.png?size=9000'), key: 'mismatch/announced.png', expectedBytes: 4000, signal }),
    isTyped(SourceSizeMismatchError, 'SOURCE_SIZE_MISMATCH', false),
  );
  await assertNothingLeft('mismatch/longer.png');
  await assertNothingLeft('mismatch/announced.png');
  // Without a Content-Length, a chunked source of exactly the expected size is fine.
  const exact = await store.persistFromUrl({ sourceUrl: source.url('/bytes/exact.png?size=9000&chunked=1'), key: 'mismatch/exact.png', expectedBytes: 9000, signal });
  assert.equal(exact.bytes, 9000);
});

test('redirects are followed; an object without this store\'s metadata is overwritten, not trusted', async () => {
  const key = 'redirected/out.png';
  await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: keyPrefix + key, Body: 'stale bytes from elsewhere' }));
  assert.equal((await store.head(key))?.sha256, undefined);
  const result = await store.persistFromUrl({
    sourceUrl: source.url(`/redirect?to=${encodeURIComponent('/bytes/moved.png?size=3000')}`),
    key,
    signal: new AbortController().signal,
  });
  assert.equal(result.alreadyPresent, false);
  assert.equal(result.sha256, deterministicSha256(3000, 'moved.png'));
  assert.equal(await storedSha256(keyPrefix + key), result.sha256);
});

test('above the single-copy limit the staging object is moved by a multipart server-side copy', async () => {
  const bigCopies = makeStore({ maxSingleCopyBytes: 6 * MiB, copyPartSizeBytes: 5 * MiB });
  const size = 13 * MiB + 123;
  const key = 'multipart-copy/big.webm';
  const result = await bigCopies.persistFromUrl({ sourceUrl: source.url(`/bytes/big.webm?size=${size}`), key, signal: new AbortController().signal });
  assert.equal(result.sha256, deterministicSha256(size, 'big.webm'));
  assert.match(result.etag, /-3$/, 'three copied parts');
  assert.equal(await storedSha256(keyPrefix + key), result.sha256);
  assert.deepEqual(await bigCopies.head(key), { bytes: size, sha256: result.sha256, contentType: 'video/webm', etag: result.etag });
  assert.deepEqual(await listMultipartUploads(keyPrefix), []);
});

test('a presigned GET URL serves the stored bytes', async () => {
  const key = deterministicOutputKey({ pipelineId: 'p2', stepId: 'face swap', nodeId: '3', filename: '../../portrait.png' });
  assert.equal(key, 'pipelines/p2/face%20swap/3/..%2F..%2Fportrait.png');
  const stored = await store.persistFromUrl({ sourceUrl: source.url('/bytes/portrait.png?size=70000'), key, signal: new AbortController().signal });
  assert.deepEqual(await listKeys(`${keyPrefix}pipelines/p2/`), [`${keyPrefix}${key}`], 'the hostile name stayed inside its folder');

  const url = await store.presignGet(key, { expiresInSeconds: 60 });
  assert.match(url, /X-Amz-Expires=60/);
  const response = await request(url);
  assert.equal(response.statusCode, 200);
  assert.equal(response.headers['content-type'], 'image/png');
  const bytes = Buffer.from(await response.body.arrayBuffer());
  assert.equal(createHash('sha256').update(bytes).digest('hex'), stored.sha256);
  await assert.rejects(store.presignGet(key, { expiresInSeconds: 8 * 24 * 3600 }), RangeError);
});

test('putObjectFromFile stores a local file (multipart, straight to the key) and skips an identical re-upload', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'object-store-test-'));
  try {
    const path = join(dir, 'input.jpg');
    const size = 11 * MiB + 5;
    writeFileSync(path, Buffer.concat([...deterministicChunks(size, 'input.jpg')]));
    const key = 'inputs/face.jpg';
    const first = await store.putObjectFromFile({ key, path });
    assert.equal(first.alreadyPresent, false);
    assert.equal(first.sha256, deterministicSha256(size, 'input.jpg'));
    assert.equal(first.contentType, 'image/jpeg');
    assert.deepEqual(await store.head(key), { bytes: size, sha256: first.sha256, contentType: 'image/jpeg', etag: first.etag });
    assert.equal(await storedSha256(keyPrefix + key), first.sha256);
    assert.deepEqual(await store.putObjectFromFile({ key, path }), { ...first, alreadyPresent: true });

    const smallPath = join(dir, 'small.png');
    writeFileSync(smallPath, 'tiny');
    const small = await store.putObjectFromFile({ key: 'inputs/small', path: smallPath });
    assert.deepEqual({ bytes: small.bytes, sha256: small.sha256, contentType: small.contentType }, {
      bytes: 4,
      sha256: createHash('sha256').update('tiny').digest('hex'),
      contentType: 'image/png',
    });
    assert.deepEqual(await listKeys(`${keyPrefix}.staging/`), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('putObjectFromStream stores a stream of unknown content through the staging copy', async () => {
  const size = 11 * MiB;
  const key = 'inputs/streamed.webp';
  const result = await store.putObjectFromStream({ key, body: Readable.from(deterministicChunks(size, 'streamed.webp')) });
  assert.equal(result.sha256, deterministicSha256(size, 'streamed.webp'));
  assert.equal(result.contentType, 'image/webp');
  assert.equal((await store.head(key))?.sha256, result.sha256);
  await assert.rejects(
    store.putObjectFromStream({ key: 'inputs/short.bin', body: Readable.from([Buffer.alloc(10)]), expectedBytes: 20 }),
    isTyped(SourceTruncatedError, 'SOURCE_TRUNCATED', true),
  );
  await assertNothingLeft('inputs/short.bin');
});

test('S3 failures are typed by status and never show credentials', async () => {
  const signal = new AbortController().signal;
  const noBucket = makeStore({ bucket: `missing-${uniqueName('bucket')}`.slice(0, 60) });
  for (const size of [5000, 6 * MiB]) {
    await assert.rejects(noBucket.persistFromUrl({ sourceUrl: source.url(`/bytes/nobucket-${size}.png?size=${size}`), key: `nobucket/${size}.png`, signal }), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreRequestError, `got ${(error as Error).name}: ${(error as Error).message}`);
      assert.equal(error.code, 'OBJECT_STORE_REQUEST_FAILED');
      assert.equal(error.httpStatus, 404);
      assert.equal(error.s3ErrorCode, 'NoSuchBucket');
      assert.equal(error.retryable, false);
      return true;
    });
  }

  const secretAccessKey = 'definitely-not-the-secret-key';
  const badClient = createObjectStoreClient({ ...s3, secretAccessKey });
  try {
    const badStore = new ObjectStore({ client: badClient, bucket: s3.bucket, keyPrefix });
    await assert.rejects(badStore.persistFromUrl({ sourceUrl: source.url('/bytes/denied.png?size=10'), key: 'denied.png', signal }), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreRequestError);
      assert.equal(error.httpStatus, 403);
      assert.equal(error.retryable, false);
      const serialised = `${error.message} ${JSON.stringify(error)}`;
      assert.ok(!serialised.includes(secretAccessKey) && !serialised.includes(s3.accessKeyId), serialised);
      return true;
    });
  } finally {
    badClient.destroy();
  }
});
