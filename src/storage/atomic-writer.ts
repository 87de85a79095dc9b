/**
 * The atomic writer: how bytes become an object that appears at its key only complete, with its
 * `sha256` and `source-bytes` metadata (see `object-store.ts` for the promises). Up to one part: one
 * PutObject. Larger: a multipart upload (to a staging key unless the hash is known beforehand),
 * then a server-side copy into place (CopyObject, or UploadPartCopy above the single-copy limit),
 * and on any failure an abort of the multipart upload. It knows nothing of where bytes come from.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { contentDispositionFor, SNIFF_BYTES } from './content-sniff.js';
import { isObjectStoreError, ObjectStoreRequestError } from './errors.js';
import { MAX_PARTS } from './memory-budget.js';
import { startMultipartUpload, uploadOnePart, uploadParts, type Call } from './part-upload.js';
import { findUnfinishedUploads, resumeUpload, type UnfinishedUpload } from './resumable-upload.js';
import { unsignedPartsAllowed } from './s3-client.js';
import { deleteStagingObject } from './staging-cleanup.js';
import { toObjectStoreRequestError } from './s3-errors.js';
import { abortedError, type StreamMeter } from './stream-meter.js';

/** User metadata every stored object carries (sent as `x-amz-meta-<name>`). */
export const OBJECT_METADATA_KEYS = {
  /** Lower-case hex SHA-256 of the object's bytes. */
  sha256: 'sha256',
  /** Decimal byte count verified while writing; equal to the object's size when it is complete. */
  bytes: 'source-bytes',
  /** The RunComfy request whose output this is: an object is reused only for the same request. */
  requestId: 'runcomfy-request-id',
} as const;

/** A written object, as the writer reports it. */
export interface WrittenObject {
  /** The key as the caller gave it (without the store's key prefix). */
  key: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  contentType: string;
  /** The store's ETag, without quotes. */
  etag: string;
  /** Bytes an earlier, crashed attempt had already uploaded and that were not sent again. */
  reusedBytes?: number;
}

export interface WriteArgs {
  key: string;
  fullKey: string;
  meter: StreamMeter;
  chunks: AsyncGenerator<Buffer, void, undefined>;
  contentType: string;
  signal: AbortSignal | undefined;
  partSizeBytes: number;
  /** Known before reading (a hashed file): the upload can go straight to the key. */
  knownSha256: string | undefined;
  knownBytes: number | undefined;
  onProgress: ((bytesCopied: number) => void) | undefined;
  /** Stops the source at once (abort, failure, cleanup); must be idempotent. */
  destroySource: () => void;
  /** Picks the stored type once the file's first bytes are known (downloads: the bytes beat the source's header). */
  contentTypeFromHead?: ((head: Buffer) => string) | undefined;
  /** Metadata stored besides the hash and size (e.g. the RunComfy request id). */
  extraMetadata?: Record<string, string> | undefined;
  /**
   * Deterministic staging name (under the staging prefix): a retry after a crash then finds and
   * aborts the upload the crashed attempt left. Default: a random name.
   */
  stagingName?: string | undefined;
}

/** Settings of an {@link AtomicWriter}, validated by the object store that owns it. */
export interface AtomicWriterSettings {
  client: S3Client;
  bucket: string;
  keyPrefix: string;
  stagingPrefix: string;
  queueSize: number;
  maxSingleCopyBytes: number;
  copyPartSizeBytes: number;
  copyConcurrency: number;
  progressKeepAliveMs: number;
  /** Part uploads without SigV4's payload hash; default: decided by the endpoint (`partPayloadMayBeUnsigned`). */
  unsignedPartPayloads?: boolean | undefined;
}

export class AtomicWriter {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly keyPrefix: string;
  private readonly stagingPrefix: string;
  private readonly queueSize: number;
  private readonly maxSingleCopyBytes: number;
  private readonly copyPartSizeBytes: number;
  private readonly copyConcurrency: number;
  private readonly progressKeepAliveMs: number;
  private readonly unsignedPartsSetting: boolean | undefined;
  private unsignedParts: Promise<boolean> | undefined;

  constructor(settings: AtomicWriterSettings) {
    this.client = settings.client;
    this.bucket = settings.bucket;
    this.keyPrefix = settings.keyPrefix;
    this.stagingPrefix = settings.stagingPrefix;
    this.queueSize = settings.queueSize;
    this.maxSingleCopyBytes = settings.maxSingleCopyBytes;
    this.copyPartSizeBytes = settings.copyPartSizeBytes;
    this.copyConcurrency = settings.copyConcurrency;
    this.progressKeepAliveMs = settings.progressKeepAliveMs;
    this.unsignedPartsSetting = settings.unsignedPartPayloads;
  }

  /**
   * Reads the stream up to one part. When it ends within that, the bytes and their hash are known:
   * one PutObject writes them with their metadata. Otherwise a multipart upload takes over, fed
   * with the buffered chunks and then the rest of the stream.
   */
  async write(writeArgs: WriteArgs): Promise<WrittenObject> {
    let args = writeArgs;
    const { key, fullKey, meter, chunks, signal } = args;
    // The download's own signal stops an undici body; files and caller streams need this.
    const onAbort = (): void => args.destroySource();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const pending: Buffer[] = [];
      let pendingBytes = 0;
      let ended = false;
      while (pendingBytes <= args.partSizeBytes) {
        const next = await chunks.next();
        if (next.done) {
          ended = true;
          break;
        }
        pending.push(next.value);
        pendingBytes += next.value.byteLength;
      }
      if (args.contentTypeFromHead && pending.length > 0) {
        const first = pending[0]!;
        const head = first.byteLength >= SNIFF_BYTES || pending.length === 1 ? first : Buffer.concat(pending).subarray(0, SNIFF_BYTES);
        args = { ...args, contentType: args.contentTypeFromHead(head) };
      }
      const { contentType } = args;
      if (!ended) return await this.storeMultipart(args, pending);

      const body = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending.length = 0;
      const sha256 = meter.sha256();
      const output = await this.call('PutObject', key, signal, (options) =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: fullKey,
            Body: body,
            ContentLength: body.byteLength,
            ContentType: contentType,
            ...dispositionParam(contentType),
            Metadata: objectMetadata(sha256, body.byteLength, args.extraMetadata),
          }),
          options,
        ),
      );
      return { key, bytes: body.byteLength, sha256, contentType, etag: unquoteEtag(output.ETag) };
    } catch (error) {
      throw this.typedFailure(error, meter, key, signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async storeMultipart(args: WriteArgs, pending: Buffer[]): Promise<WrittenObject> {
    const { key, fullKey, meter, contentType, signal } = args;
    const direct = args.knownSha256 !== undefined && args.knownBytes !== undefined;
    const target = direct ? fullKey : `${this.keyPrefix}${this.stagingPrefix}${args.stagingName ?? randomUUID()}`;
    // A crashed earlier attempt may have left an upload (or a staging object) at this staging key:
    // resume it when its parts fit, abort it otherwise.
    const unfinished = !direct && args.stagingName !== undefined ? await this.clearStaging(target, key, args.partSizeBytes, signal) : undefined;
    if (unfinished) return this.resumeStaged(args, pending, target, unfinished);
    const metadata = direct ? { Metadata: objectMetadata(args.knownSha256!, args.knownBytes!, args.extraMetadata) } : {};
    // Created while the source keeps being read (see `startMultipartUpload`).
    const call: Call = (operation, run) => this.call(operation, key, signal, run);
    const creation = startMultipartUpload({
      key,
      input: { Bucket: this.bucket, Key: target, ContentType: contentType, ...dispositionParam(contentType), ...metadata },
      call,
      client: this.client,
      abort: (uploadId) => this.abortMultipartQuietly(target, uploadId),
    });
    // Cancellation: the signal destroys the source (the meter fails) and aborts the part requests;
    // any failure ends with an abort of the upload once the requests in flight have settled.
    let uploadEtag: string | undefined;
    try {
      const unsigned = await this.partsUnsigned();
      const parts = await uploadParts({
        chunks: replay(pending, args.chunks),
        partSizeBytes: args.partSizeBytes,
        queueSize: this.queueSize,
        sendPart: async (partNumber, body) => uploadOnePart(this.client, call, key, { Bucket: this.bucket, Key: target, UploadId: await creation.uploadId(), PartNumber: partNumber, Body: body }, unsigned),
        waitForPartsOnFailure: () => creation.settled,
      });
      const uploadId = await creation.uploadId();
      const completed = await this.call('CompleteMultipartUpload', key, signal, (options) =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId, MultipartUpload: { Parts: parts } }), options),
      );
      uploadEtag = completed.ETag;
    } catch (error) {
      args.destroySource();
      await creation.abandon();
      throw error;
    }
    if (direct) {
      return { key, bytes: meter.bytes, sha256: args.knownSha256!, contentType, etag: await this.etagOf(uploadEtag, fullKey, key) };
    }
    return this.moveIntoPlace(args, target);
  }

  /** Whether part uploads skip SigV4's payload hash: decided once, from the client's endpoint. */
  private partsUnsigned(): Promise<boolean> {
    return (this.unsignedParts ??= this.unsignedPartsSetting === undefined ? unsignedPartsAllowed(this.client) : Promise.resolve(this.unsignedPartsSetting));
  }

  /** Resumes the upload a crashed attempt left, then moves the staging object into place. */
  private async resumeStaged(args: WriteArgs, pending: Buffer[], target: string, upload: UnfinishedUpload): Promise<WrittenObject> {
    let reusedBytes: number;
    try {
      ({ reusedBytes } = await resumeUpload({
        client: this.client,
        bucket: this.bucket,
        stagingKey: target,
        upload,
        partSizeBytes: args.partSizeBytes,
        chunks: replay(pending, args.chunks),
        queueSize: this.queueSize,
        uploadPart: async (partNumber, body) =>
          uploadOnePart(this.client, (operation, run) => this.call(operation, args.key, args.signal, run), args.key, { Bucket: this.bucket, Key: target, UploadId: upload.uploadId, PartNumber: partNumber, Body: body }, await this.partsUnsigned()),
        send: (operation, run) => this.call(operation, args.key, args.signal, run),
      }));
    } catch (error) {
      args.destroySource();
      await this.abortMultipartQuietly(target, upload.uploadId);
      throw error;
    }
    return { ...(await this.moveIntoPlace(args, target)), reusedBytes };
  }

  /** Server-side copy of a complete staging object to its key with the metadata, then its deletion. */
  private async moveIntoPlace(args: WriteArgs, target: string): Promise<WrittenObject> {
    const { key, fullKey, meter, contentType, signal } = args;
    const keepAlive = args.onProgress ? setInterval(() => args.onProgress?.(meter.bytes), this.progressKeepAliveMs) : undefined;
    try {
      if (signal?.aborted) throw abortedError(key, signal);
      const sha256 = meter.sha256();
      const etag = await this.copyIntoPlace(target, fullKey, key, meter.bytes, objectMetadata(sha256, meter.bytes, args.extraMetadata), contentType, signal);
      return { key, bytes: meter.bytes, sha256, contentType, etag };
    } finally {
      if (keepAlive) clearInterval(keepAlive);
      await this.deleteQuietly(target);
    }
  }

  /** Server-side copy of the complete staging object to its key, with the metadata; returns the ETag. */
  private async copyIntoPlace(
    stagingKey: string,
    fullKey: string,
    key: string,
    bytes: number,
    metadata: Record<string, string>,
    contentType: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const copySource = `${this.bucket}/${stagingKey.split('/').map(encodeURIComponent).join('/')}`;
    if (bytes <= this.maxSingleCopyBytes) {
      const output = await this.call('CopyObject', key, signal, (options) =>
        this.client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: fullKey,
            CopySource: copySource,
            MetadataDirective: 'REPLACE',
            Metadata: metadata,
            ContentType: contentType,
            ...dispositionParam(contentType),
          }),
          options,
        ),
      );
      return unquoteEtag(output.CopyObjectResult?.ETag);
    }

    // Above the single-copy limit: a multipart copy, equal-sized parts (R2 requires it), at most
    // 10,000 of them. The object appears only when the upload completes.
    const partSizeBytes = Math.max(this.copyPartSizeBytes, Math.ceil(bytes / MAX_PARTS));
    const partCount = Math.ceil(bytes / partSizeBytes);
    const created = await this.call('CreateMultipartUpload', key, signal, (options) =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, ContentType: contentType, ...dispositionParam(contentType), Metadata: metadata }), options),
    );
    const uploadId = created.UploadId;
    if (!uploadId) {
      throw new ObjectStoreRequestError({ message: `S3 CreateMultipartUpload for "${key}" returned no UploadId`, operation: 'CreateMultipartUpload', key, retryable: true });
    }
    try {
      const partEtags: string[] = new Array<string>(partCount).fill('');
      await forEachLimited(partCount, this.copyConcurrency, async (index) => {
        const start = index * partSizeBytes;
        const end = Math.min(bytes, start + partSizeBytes) - 1;
        const output = await this.call('UploadPartCopy', key, signal, (options) =>
          this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: fullKey,
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: copySource,
              CopySourceRange: `bytes=${start}-${end}`,
            }),
            options,
          ),
        );
        const etag = output.CopyPartResult?.ETag;
        if (!etag) {
          throw new ObjectStoreRequestError({ message: `S3 UploadPartCopy for "${key}" returned no ETag`, operation: 'UploadPartCopy', key, retryable: true });
        }
        partEtags[index] = etag;
      });
      const completed = await this.call('CompleteMultipartUpload', key, signal, (options) =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: fullKey,
            UploadId: uploadId,
            MultipartUpload: { Parts: partEtags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
          }),
          options,
        ),
      );
      return await this.etagOf(completed.ETag, fullKey, key);
    } catch (error) {
      await this.abortMultipartQuietly(fullKey, uploadId);
      throw error;
    }
  }

  /**
   * The ETag a completion answered with, or, when it answered none (radosgw sends an empty one for
   * CompleteMultipartUpload), the one HeadObject reports.
   */
  private async etagOf(answered: string | undefined, fullKey: string, key: string): Promise<string> {
    const etag = unquoteEtag(answered);
    if (etag !== '') return etag;
    const head = await this.call('HeadObject', key, undefined, (options) => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }), options));
    return unquoteEtag(head.ETag);
  }

  /** Runs one S3 call with the caller's signal and types its failure. */
  private async call<T>(operation: string, key: string, signal: AbortSignal | undefined, run: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T> {
    if (signal?.aborted) throw abortedError(key, signal);
    try {
      return await run(signal ? { abortSignal: signal } : {});
    } catch (error) {
      if (signal?.aborted) throw abortedError(key, signal);
      throw toObjectStoreRequestError(error, operation, key);
    }
  }

  private typedFailure(error: unknown, meter: StreamMeter, key: string, signal: AbortSignal | undefined): Error {
    if (signal?.aborted) return isObjectStoreError(error) && error.code === 'OBJECT_STORE_ABORTED' ? error : abortedError(key, signal);
    if (isObjectStoreError(error)) return error;
    // A source failure can surface wrapped (or as a part's failure): the meter kept the original.
    if (meter.failure) return meter.failure;
    return toObjectStoreRequestError(error, 'multipart upload', key);
  }

  /** Deliberately without the caller's signal: cleanup must run after a cancellation too. */
  private async abortMultipartQuietly(targetKey: string, uploadId: string | undefined): Promise<void> {
    if (!uploadId) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: targetKey, UploadId: uploadId }));
    } catch {
      // NoSuchUpload: it is gone already. Anything else: the bucket's lifecycle rule
      // for incomplete uploads collects it; the caller's error matters more than this one.
    }
  }

  /**
   * Deals with what a crashed attempt of the same copy left at `stagingKey`: returns the incomplete
   * upload worth resuming (parts cut the same way), aborts the others and deletes a staging object.
   */
  private async clearStaging(stagingKey: string, key: string, partSizeBytes: number, signal: AbortSignal | undefined): Promise<UnfinishedUpload | undefined> {
    const { resumable, others } = await findUnfinishedUploads(this.client, this.bucket, stagingKey, partSizeBytes, (operation, run) => this.call(operation, key, signal, run));
    for (const uploadId of others) await this.abortMultipartQuietly(stagingKey, uploadId);
    await this.deleteQuietly(stagingKey);
    return resumable;
  }

  private async deleteQuietly(targetKey: string): Promise<void> {
    await deleteStagingObject(this.client, this.bucket, targetKey);
  }

  /** A copy found already in place: the staging object its (crashed) writer may have left goes too. */
  async forgetStaging(stagingName: string): Promise<void> {
    await this.deleteQuietly(`${this.keyPrefix}${this.stagingPrefix}${stagingName}`);
  }
}

export function objectMetadata(sha256: string, bytes: number, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [OBJECT_METADATA_KEYS.sha256]: sha256, [OBJECT_METADATA_KEYS.bytes]: String(bytes) };
}

/** Yields the chunks read ahead, then the rest of the stream. Chunks are dropped once yielded. */
async function* replay(pending: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  while (pending.length > 0) yield pending.shift()!;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/** Runs `task(0..count-1)` with at most `concurrency` at a time; stops starting tasks after a failure. */
async function forEachLimited(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let nextIndex = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && nextIndex < count) {
      const index = nextIndex++;
      try {
        await task(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure) throw failure.error;
}

export function unquoteEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"(.*)"$/, '$1');
}

/** `attachment` for anything that is not a raster image or a video (see `content-sniff.ts`). */
function dispositionParam(contentType: string): { ContentDisposition?: string } {
  const disposition = contentDispositionFor(contentType);
  return disposition ? { ContentDisposition: disposition } : {};
}
