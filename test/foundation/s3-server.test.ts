import { GetObjectCommand, HeadObjectCommand, NotFound, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { startS3Server } from '../../src/devstack/ceph-s3-server.js';
import { createObjectStoreClient } from '../../src/storage/s3-client.js';
import { testS3, uniqueName } from '../support/local-stack.js';

const s3 = await testS3();
const client = createObjectStoreClient({ ...s3, region: 'auto', forcePathStyle: true });
after(() => client.destroy());

test('a 20 MiB object round-trips through a multipart upload with the R2 client settings', async () => {
  const bytes = randomBytes(20 * 1024 * 1024);
  const expected = createHash('sha256').update(bytes).digest('hex');
  const key = `${uniqueName('roundtrip')}/blob.bin`;
  // A stream of unknown length forces lib-storage into a real multipart upload (4 parts of 5 MiB).
  const body = Readable.from((function* () {
    for (let offset = 0; offset < bytes.length; offset += 1024 * 1024) yield bytes.subarray(offset, offset + 1024 * 1024);
  })());
  let parts = 0;
  const upload = new Upload({ client, params: { Bucket: s3.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' }, partSize: 5 * 1024 * 1024, queueSize: 2 });
  upload.on('httpUploadProgress', (p) => { if (p.part !== undefined) parts = Math.max(parts, p.part); });
  await upload.done();
  assert.ok(parts >= 4, `expected a multipart upload, saw ${parts} part(s)`);
  const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
  assert.match(String(head.ETag), /-4"?$/, 'the stored object is the 4-part multipart upload');

  const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  assert.equal(object.ContentLength, bytes.length);
  const hash = createHash('sha256');
  for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
  assert.equal(hash.digest('hex'), expected);
});

test('HeadObject on a missing key is a typed not-found', async () => {
  await assert.rejects(
    client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `${uniqueName('missing')}/nothing.png` })),
    (error: unknown) => {
      assert.ok(error instanceof NotFound, `expected NotFound, got ${(error as Error).name}`);
      assert.equal(error.$metadata.httpStatusCode, 404);
      return true;
    },
  );
});

test('a file-backed server (BlueStore on a sparse file, for multi-GiB copies) starts, stores and stops', async () => {
  const server = await startS3Server({ storage: 'file', capacityBytes: 4 * 1024 ** 3 });
  const fileClient = createObjectStoreClient({ ...server });
  try {
    const key = `${uniqueName('file-backed')}/note.txt`;
    await fileClient.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: 'kept on disk' }));
    const object = await fileClient.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
    assert.equal(await object.Body?.transformToString(), 'kept on disk');
  } finally {
    fileClient.destroy();
    await server.stop();
  }
});
