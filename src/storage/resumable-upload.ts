/**
 * Resuming a multipart upload that a crashed copy left at a deterministic staging key. The source is
 * read again from the start (the SHA-256 of the whole object needs every byte, and the meter checks
 * size and truncation as usual), cut into the same parts as before, and a part is uploaded again
 * only when the stored one differs: same size and an ETag equal to the MD5 of the bytes just read
 * (what S3 and Ceph give an unencrypted part) means the stored part holds exactly these bytes.
 */
import { CompleteMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { uploadParts, type SendPart } from './part-upload.js';

export interface StoredPart {
  etag: string;
  bytes: number;
}

/** An incomplete upload found at a staging key, with the parts it already holds. */
export interface UnfinishedUpload {
  uploadId: string;
  parts: Map<number, StoredPart>;
}

type Send = <T>(operation: string, run: (options: { abortSignal?: AbortSignal }) => Promise<T>) => Promise<T>;

/**
 * The incomplete uploads at exactly `stagingKey`: the one worth resuming (the most parts, all but
 * the last of `partSizeBytes`) and the others, to abort.
 */
export async function findUnfinishedUploads(client: S3Client, bucket: string, stagingKey: string, partSizeBytes: number, send: Send): Promise<{ resumable?: UnfinishedUpload; others: string[] }> {
  const listed = await send('ListMultipartUploads', (options) => client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: stagingKey }), options));
  let resumable: UnfinishedUpload | undefined;
  const others: string[] = [];
  for (const upload of listed.Uploads ?? []) {
    if (upload.Key !== stagingKey || !upload.UploadId) continue;
    const listedParts = await send('ListParts', (options) => client.send(new ListPartsCommand({ Bucket: bucket, Key: stagingKey, UploadId: upload.UploadId }), options));
    const parts = new Map<number, StoredPart>();
    for (const part of listedParts.Parts ?? []) {
      if (part.PartNumber !== undefined && part.ETag && part.Size !== undefined) parts.set(part.PartNumber, { etag: part.ETag, bytes: part.Size });
    }
    // Parts cut differently (another part size) cannot be matched: that upload is only aborted.
    const sameCut = [...parts.values()].every((p) => p.bytes === partSizeBytes) && !listedParts.IsTruncated;
    if (sameCut && parts.size > 0 && (!resumable || parts.size > resumable.parts.size)) {
      if (resumable) others.push(resumable.uploadId);
      resumable = { uploadId: upload.UploadId, parts };
    } else {
      others.push(upload.UploadId);
    }
  }
  return { ...(resumable ? { resumable } : {}), others };
}

/**
 * Uploads `chunks` into the unfinished upload, `queueSize` parts at a time like a fresh copy,
 * skipping the parts it already holds; completes it. A stored part is trusted only when its size
 * and its ETag (the MD5 of its bytes on S3 and Ceph) match the part just read, so the MD5 is
 * computed only for parts that were stored before.
 */
export async function resumeUpload(args: {
  client: S3Client;
  bucket: string;
  stagingKey: string;
  upload: UnfinishedUpload;
  partSizeBytes: number;
  queueSize: number;
  chunks: AsyncIterable<Buffer>;
  /** Sends one part that has to be uploaded again; resolves with its ETag. */
  uploadPart: SendPart;
  send: Send;
}): Promise<{ etag: string | undefined; reusedBytes: number }> {
  const { client, bucket, stagingKey, upload, send } = args;
  let reusedBytes = 0;
  const parts = await uploadParts({
    chunks: args.chunks,
    partSizeBytes: args.partSizeBytes,
    queueSize: args.queueSize,
    sendPart: async (partNumber, body) => {
      const stored = upload.parts.get(partNumber);
      if (stored && stored.bytes === body.byteLength && stored.etag.replace(/"/g, '') === createHash('md5').update(body).digest('hex')) {
        reusedBytes += body.byteLength;
        return stored.etag;
      }
      return args.uploadPart(partNumber, body);
    },
  });
  const done = await send('CompleteMultipartUpload', (options) =>
    client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: stagingKey, UploadId: upload.uploadId, MultipartUpload: { Parts: parts } }), options),
  );
  return { etag: done.ETag, reusedBytes };
}
