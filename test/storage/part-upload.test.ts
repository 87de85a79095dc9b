/**
 * The multipart feed of the copy path: parts cut exactly from chunks of any size, bounded buffers,
 * failures that wait for the uploads in flight; part payloads unsigned only where the transport
 * already protects them; and, against the local S3 server, that the recorded SHA-256 of a
 * multi-part object is right either way and that a resume re-sends every part whose stored MD5
 * does not match.
 */
import { CreateMultipartUploadCommand, DeleteObjectsCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { ObjectStore } from '../../src/storage/object-store.js';
import type { ObjectStoreOptions } from '../../src/storage/object-store.js';
import { uploadParts } from '../../src/storage/part-upload.js';
import { deleteStagingObject } from '../../src/storage/staging-cleanup.js';
import { createObjectStoreClient, partPayloadMayBeUnsigned } from '../../src/storage/s3-client.js';
import { testS3, uniqueName } from '../support/local-stack.js';
import { deterministicChunks, deterministicSha256, startSourceServer } from './source-server.js';

const MiB = 1024 * 1024;

async function* chunksOf(sizes: number[], fill: (offset: number) => number): AsyncGenerator<Buffer> {
  let offset = 0;
  for (const size of sizes) {
    const chunk = Buffer.alloc(size);
    for (let i = 0; i < size; i++) chunk[i] = fill(offset + i);
    offset += size;
    await delay(0);
    yield chunk;
  }
}

describe('uploadParts', () => {
  it('cuts chunks of any size into exact parts, at most queueSize in flight, reusing queueSize + 1 buffers', async () => {
    const partSize = 1000;
    const sizes = [1, 999, 1500, 7, 2493, 3000, 1000, 1]; // 9,001 bytes: nine full parts and a 1-byte last one
    const fill = (offset: number): number => (offset * 31 + 7) % 251;
    const received: Buffer[] = [];
    const buffers = new Set<Buffer>();
    let inFlight = 0;
    let maxInFlight = 0;
    const parts = await uploadParts({
      chunks: chunksOf(sizes, fill),
      partSizeBytes: partSize,
      queueSize: 2,
      sendPart: async (partNumber, body) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (body.length === partSize) buffers.add(body);
        received[partNumber - 1] = Buffer.from(body); // a copy: the buffer is reused once this settles
        await delay(5);
        inFlight--;
        return `"etag-${partNumber}"`;
      },
    });
    assert.deepEqual(
      parts.map((p) => p.PartNumber),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.equal(parts[9]!.ETag, '"etag-10"');
    assert.deepEqual(
      received.map((b) => b.length),
      [...Array<number>(9).fill(partSize), 1],
    );
    const all = Buffer.concat(received);
    assert.ok(all.every((byte, offset) => byte === fill(offset)), 'the parts hold the bytes in order');
    assert.ok(maxInFlight <= 2, `at most queueSize parts in flight (saw ${maxInFlight})`);
    assert.ok(buffers.size <= 3, `part buffers are reused: ${buffers.size} allocated for 10 parts`);
  });

  it('a failed part fails the feed after the parts in flight settled, and stops reading the source', async () => {
    let read = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 100; i++) {
        read++;
        await delay(1);
        yield Buffer.alloc(100, i);
      }
    }
    let settledAfterFailure = 0;
    const failure = new Error('part 2 refused');
    await assert.rejects(
      uploadParts({
        chunks: source(),
        partSizeBytes: 100,
        queueSize: 3,
        sendPart: async (partNumber) => {
          if (partNumber === 2) throw failure;
          await delay(30);
          settledAfterFailure++;
          return 'e';
        },
      }),
      (error) => error === failure,
    );
    const settledAtRejection = settledAfterFailure;
    await delay(60);
    assert.equal(settledAfterFailure, settledAtRejection, 'no part upload was still running when the feed rejected');
    assert.ok(read < 100, `the source is not read to its end after a failure (${read} chunks read)`);
  });

  it('a failing source rejects with its own error', async () => {
    const broken = new Error('source broke');
    async function* source(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(150);
      throw broken;
    }
    await assert.rejects(uploadParts({ chunks: source(), partSizeBytes: 100, queueSize: 2, sendPart: async () => 'e' }), (error) => error === broken);
  });
});

describe('unsigned part payloads', () => {
  it('only over https or to loopback', () => {
    for (const endpoint of ['https://acct.r2.cloudflarestorage.com', 'http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000']) {
      assert.equal(partPayloadMayBeUnsigned(endpoint), true, endpoint);
    }
    for (const endpoint of ['http://10.0.0.5:9000', 'http://s3.internal.example', 'http://128.0.0.1', 'not a url']) {
      assert.equal(partPayloadMayBeUnsigned(endpoint), false, endpoint);
    }
  });
});

describe('multipart copies against the local S3 server', async () => {
  const s3 = await testS3();
  const client = createObjectStoreClient({ ...s3, maxSockets: 8 });
  // What each UploadPart request carried as its payload hash, after signing.
  const partPayloadHashes: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (context.commandName === 'UploadPartCommand' && request.headers) partPayloadHashes.push(request.headers['x-amz-content-sha256'] ?? '(none)');
      return next(args);
    },
    // The deserialize step sees the request as sent, after signing.
    { step: 'deserialize', name: 'recordPartPayloadHash' },
  );
  const source = await startSourceServer();
  const keyPrefix = `${uniqueName('part-upload-test')}/`;
  const makeStore = (overrides: Partial<ObjectStoreOptions> = {}): ObjectStore =>
    new ObjectStore({ client, bucket: s3.bucket, keyPrefix, partSizeBytes: 5 * MiB, queueSize: 2, sourcePolicy: { allowLoopback: true, allowedHosts: [] }, ...overrides });

  after(async () => {
    await source.close();
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: keyPrefix }));
    const keys = (listed.Contents ?? []).map((object) => ({ Key: object.Key ?? '' }));
    if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: s3.bucket, Delete: { Objects: keys } }));
    client.destroy();
  });

  async function storedSha256(key: string): Promise<string> {
    const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${keyPrefix}${key}` }));
    const hash = createHash('sha256');
    for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  for (const unsigned of [undefined, false] as const) {
    it(`records the right SHA-256 for a multi-part object (${unsigned === undefined ? 'loopback default: unsigned payloads' : 'signed payloads'})`, async () => {
      const size = 17 * MiB + 123; // three full parts and a short one
      const name = `multi-${String(unsigned)}.bin`;
      partPayloadHashes.length = 0;
      const stored = await makeStore(unsigned === undefined ? {} : { unsignedPartPayloads: unsigned }).persistFromUrl({
        sourceUrl: source.url(`/bytes/${name}?size=${size}`),
        key: `multi/${name}`,
        signal: new AbortController().signal,
      });
      assert.equal(stored.bytes, size);
      assert.equal(stored.sha256, deterministicSha256(size, name));
      assert.equal(await storedSha256(`multi/${name}`), stored.sha256, 'the stored bytes are the bytes hashed');
      assert.equal(partPayloadHashes.length, 4);
      if (unsigned === undefined) assert.ok(partPayloadHashes.every((hash) => hash === 'UNSIGNED-PAYLOAD'), partPayloadHashes.join(', '));
      else assert.ok(partPayloadHashes.every((hash) => /^[0-9a-f]{64}$/.test(hash)), partPayloadHashes.join(', '));
    });
  }

  it('a resume keeps a stored part only when its MD5 matches the bytes read again', async () => {
    const size = 12 * MiB; // parts: 5 MiB, 5 MiB, 2 MiB
    const name = 'resumed.bin';
    const key = `resume/${name}`;
    const stagingKey = `${keyPrefix}.staging/${key}`;
    const bytes = Buffer.concat([...deterministicChunks(size, name)]);
    // A crashed attempt left part 1 intact and a part 2 of the right size but other bytes.
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: stagingKey }));
    const uploadId = created.UploadId!;
    await client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: stagingKey, UploadId: uploadId, PartNumber: 1, Body: bytes.subarray(0, 5 * MiB) }));
    await client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: stagingKey, UploadId: uploadId, PartNumber: 2, Body: Buffer.alloc(5 * MiB, 0x5a) }));

    partPayloadHashes.length = 0;
    const stored = await makeStore().persistFromUrl({ sourceUrl: source.url(`/bytes/${name}?size=${size}`), key, stagingName: key, signal: new AbortController().signal });
    assert.equal(stored.reusedBytes, 5 * MiB, 'only the matching part is reused');
    assert.equal(partPayloadHashes.length, 2, 'parts 2 and 3 are sent again');
    assert.equal(stored.sha256, deterministicSha256(size, name));
    assert.equal(await storedSha256(key), stored.sha256);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: keyPrefix }));
    assert.deepEqual(uploads.Uploads ?? [], [], 'no incomplete upload is left');
  });

  it('a copy found in place removes the staging object its crashed writer left behind', async () => {
    const size = 6 * MiB;
    const name = 'left-staging.bin';
    const key = `left/${name}`;
    const stagingKey = `${keyPrefix}.staging/${key}`;
    const store = makeStore();
    const first = await store.persistFromUrl({ sourceUrl: source.url(`/bytes/${name}?size=${size}`), key, stagingName: key, requestId: 'req-1', signal: new AbortController().signal });
    // The writer moved its copy into place, then died before deleting the staging object.
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: stagingKey, Body: Buffer.alloc(1024, 1) }));
    const again = await store.persistFromUrl({ sourceUrl: source.url(`/bytes/${name}?size=${size}`), key, stagingName: key, requestId: 'req-1', signal: new AbortController().signal });
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.sha256, first.sha256);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${keyPrefix}.staging/` }));
    assert.deepEqual((listed.Contents ?? []).map((object) => object.Key), [], 'no staging object is left');
  });
});

describe('deleting a staging object', () => {
  it('tries again through a short outage, and gives up quietly after the last pause', async () => {
    let calls = 0;
    const flaky = { send: async () => (++calls <= 2 ? Promise.reject(new Error('connect ECONNREFUSED')) : {}) } as unknown as S3Client;
    assert.equal(await deleteStagingObject(flaky, 'bucket', 'key', [1, 1, 1]), true);
    assert.equal(calls, 3);
    let down = 0;
    const gone = { send: async () => Promise.reject(new Error(`down ${++down}`)) } as unknown as S3Client;
    assert.equal(await deleteStagingObject(gone, 'bucket', 'key', [1, 1]), false);
    assert.equal(down, 3, 'one try and one per pause');
  });
});
