/**
 * The copy section's reference: uploads a local file with the same SDK and settings the object
 * store uses (lib-storage `Upload`, same part size and queue size, same S3 client options), and
 * nothing else (no download, no hashing, no staging copy). Runs as its own process so its memory
 * is measured alone.
 *
 *   node --import tsx bench/raw-upload.ts '<json RawUploadInput>'
 *
 * Prints one JSON line, a {@link RawUploadOutput}.
 */
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream, statSync } from 'node:fs';
import { createObjectStoreClient } from '../src/storage/s3-client.js';

export interface RawUploadInput {
  s3: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; region: string };
  file: string;
  key: string;
  partSizeBytes: number;
  queueSize: number;
}

export interface RawUploadOutput {
  bytes: number;
  elapsedMs: number;
  startRssBytes: number;
  peakRssBytes: number;
  cpuSeconds: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as RawUploadInput;
const client = createObjectStoreClient({ ...input.s3, maxSockets: 64 });
const bytes = statSync(input.file).size;
const startRssBytes = process.memoryUsage.rss();
const cpuBefore = process.cpuUsage();
const startedAt = performance.now();
// The same read chunk size as the store's file reads (256 KiB).
const upload = new Upload({
  client,
  params: { Bucket: input.s3.bucket, Key: input.key, Body: createReadStream(input.file, { highWaterMark: 256 * 1024 }), ContentType: 'application/octet-stream' },
  partSize: input.partSizeBytes,
  queueSize: input.queueSize,
  leavePartsOnError: false,
});
await upload.done();
const elapsedMs = performance.now() - startedAt;
const cpu = process.cpuUsage(cpuBefore);
const output: RawUploadOutput = {
  bytes,
  elapsedMs: Math.round(elapsedMs),
  startRssBytes,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
};
console.log(JSON.stringify(output));
client.destroy();
