/**
 * The object store: streaming, verified, idempotent copies into R2 (or any S3 server) and presigned
 * reads. Only references leave this module (keys, sizes, hashes, URLs), never bytes.
 *
 * How a copy keeps its promises:
 * - Atomic: an object appears at its key only complete and with its `sha256` and `source-bytes`
 *   metadata. A file of at most one part is hashed while it is buffered and written with one
 *   PutObject. A larger one is streamed by a multipart upload to a staging key
 *   (`<keyPrefix>.staging/<name>`: the output key when the caller gives one, so a retry after a
 *   crash resumes or aborts what the crash left; else a random name), because S3 fixes metadata
 *   when a multipart upload starts, before the hash is known; once complete it is copied server-side to its key with the metadata
 *   (CopyObject, or UploadPartCopy above R2's 5 GiB single-copy limit) and the staging object is
 *   deleted. A crash leaves at most an incomplete upload or a staging object under `.staging/`,
 *   never anything at the key; give the bucket a lifecycle rule that expires `.staging/` and aborts
 *   incomplete uploads after a day.
 * - Idempotent: `persistFromUrl` first reads the key's metadata; an object (of the same RunComfy
 *   request, when the caller names one in `requestId`) with a `sha256` and a
 *   `source-bytes` equal to its size is returned as is, without downloading.
 * - Verified: bytes are counted and hashed as they stream; fewer than announced (truncation), more
 *   than announced, or a failed read fails the upload before it completes, and the multipart upload
 *   is aborted before the call rejects.
 * - Bounded memory: see `memory-budget.ts` (`copyMemoryBudgetBytes`).
 *
 * Each write opens its source (`write-source.ts`), meters it and hands it to the atomic writer
 * (`atomic-writer.ts`), which owns the PutObject / multipart / copy-into-place / abort sequence.
 */
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DEFAULT_CONTENT_TYPE, resolveContentType } from './content-type.js';
import { AtomicWriter, OBJECT_METADATA_KEYS, unquoteEtag, type WriteArgs, type WrittenObject } from './atomic-writer.js';
import {
  DEFAULT_PART_SIZE_BYTES,
  DEFAULT_QUEUE_SIZE,
  effectivePartSizeBytes,
  MAX_PART_SIZE_BYTES,
  MAX_SINGLE_COPY_BYTES,
  MIN_PART_SIZE_BYTES,
  MAX_PARTS,
} from './memory-budget.js';
import { assertObjectKeyLength, keyBasename } from './output-key.js';
import { isS3NotFound, toObjectStoreRequestError } from './s3-errors.js';
import { abortedError, StreamMeter } from './stream-meter.js';
import { DEFAULT_ADDRESS_POLICY } from '../net/address-guard.js';
import type { AddressPolicy } from '../net/address-guard.js';
import { OutputSourceStalledError } from './source-errors.js';
import { DEFAULT_FIRST_BYTE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, describeSourceUrl } from './source-download.js';
import type { DownloadSettings } from './write-source.js';
import { hashFile, openWriteSource, type WriteSource } from './write-source.js';

export { OBJECT_METADATA_KEYS };

/** Folder, under the key prefix, of multipart uploads waiting for their server-side copy. */
export const DEFAULT_STAGING_PREFIX = '.staging/';
/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_PRESIGN_TTL_SECONDS = 3600;
export const DEFAULT_COPY_PART_SIZE_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_REDIRECTIONS = 5;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Construction settings of an {@link ObjectStore}. */
export interface ObjectStoreOptions {
  /** From `createObjectStoreClient`; the store does not destroy it. */
  client: S3Client;
  bucket: string;
  /** Multipart part size, 5 MiB–5 GiB (default 8 MiB). Memory per copy ≈ partSize × (queueSize + 2). */
  partSizeBytes?: number;
  /** Parts uploaded in parallel per copy (default 4). */
  queueSize?: number;
  /** Default lifetime of presigned URLs (default 3600, at most 7 days). */
  presignTtlSeconds?: number;
  /** Prepended to every key (e.g. `staging-env/`); a missing trailing '/' is added. */
  keyPrefix?: string;
  /** Folder (under the key prefix) for uploads awaiting their final copy (default `.staging/`). */
  stagingPrefix?: string;
  /** Objects up to this size are moved into place with one CopyObject (default: R2's limit, 5 GiB − 5 MiB). */
  maxSingleCopyBytes?: number;
  /** Part size of the server-side multipart copy used above `maxSingleCopyBytes` (default 1 GiB). */
  copyPartSizeBytes?: number;
  /** Parallel UploadPartCopy requests (default 2: R2 serves few parallel parts per upload). */
  copyConcurrency?: number;
  /** Default dispatcher for downloads (pooling, timeouts, an address guard); undici's global one otherwise. */
  fetchDispatcher?: Dispatcher;
  /** Redirects followed per download (default 5). */
  maxRedirections?: number;
  /** While the final server-side copy runs, `onProgress` repeats the total this often (default 1000 ms). */
  progressKeepAliveMs?: number;
  /** Which download targets are allowed (default: public addresses only, see `src/net/address-guard.ts`). */
  sourcePolicy?: AddressPolicy;
  /** Largest file a download may store, whatever the source announces (default {@link DEFAULT_MAX_OUTPUT_BYTES}). */
  maxOutputBytes?: number;
  /** Longest silence of a source between body chunks, and for headers unless shorter below (default 30 s). */
  downloadIdleTimeoutMs?: number;
  /** Longest wait for a source's response headers (default 5 s; capped by the idle timeout). */
  downloadFirstByteTimeoutMs?: number;
  /** Longest one download-and-store may take (default 15 min). */
  downloadDeadlineMs?: number;
  /**
   * Part uploads send `UNSIGNED-PAYLOAD` instead of SigV4's SHA-256 of the part. Default: yes over
   * https and to loopback, no over plain http elsewhere (`partPayloadMayBeUnsigned`, docs/security.md).
   */
  unsignedPartPayloads?: boolean;
}

/** Default MAX_OUTPUT_BYTES: 2 GiB, far above any image or short video a pipeline step makes. */
export const DEFAULT_MAX_OUTPUT_BYTES = 2 * 1024 * 1024 * 1024;
export const DEFAULT_DOWNLOAD_DEADLINE_MS = 15 * 60_000;

/** A stored object, as returned by the write operations. */
export type StoredObject = WrittenObject;

/** Result of an idempotent write. */
export interface PersistResult extends StoredObject {
  /** True when the object was already stored and nothing was downloaded or written. */
  alreadyPresent: boolean;
}

/** What {@link ObjectStore.head} reports about a stored object. */
export interface ObjectHead {
  bytes: number;
  /** Present only when the object carries a valid hash and its recorded size matches: a complete write of this store. */
  sha256?: string;
  contentType: string;
  etag: string;
  /** The RunComfy request recorded when the object was written, if any. */
  requestId?: string;
}

/** Input of {@link ObjectStore.persistFromUrl}. */
export interface PersistFromUrlInput {
  /** Temporary http(s) URL of the file; its query string never appears in errors. */
  sourceUrl: string;
  /** Destination key (e.g. from `deterministicOutputKey`). */
  key: string;
  /** Overrides the source's Content-Type and the file extension. */
  contentType?: string;
  /** Exact size when known beforehand; checked against Content-Length and the bytes received. */
  expectedBytes?: number;
  /** Stops the download and aborts the upload; the call then rejects with `ObjectStoreAbortedError`. */
  signal: AbortSignal;
  /** Raw progress: bytes read from the source so far, after every chunk. Throttle in the callback. Must not throw. */
  onProgress?: (bytesCopied: number) => void;
  /** Dispatcher for this download, overriding the store's. */
  fetchDispatcher?: Dispatcher;
  /**
   * The RunComfy request that produced the file: recorded in the object's metadata, and an object
   * already at the key is reused only when it records the same request (else the new bytes win).
   */
  requestId?: string;
  /**
   * Deterministic name of the staging object under the staging prefix (e.g. the output key, which
   * names pipeline and step): a retry after a crash finds and aborts the upload the crash left.
   */
  stagingName?: string;
}

/** Input of {@link ObjectStore.putObjectFromStream}. */
export interface PutObjectFromStreamInput {
  key: string;
  /** The bytes. A Readable is destroyed on abort or failure; a plain async iterable is only returned. */
  body: Readable | AsyncIterable<Uint8Array>;
  /** Default: by the key's extension, else `application/octet-stream`. */
  contentType?: string;
  expectedBytes?: number;
  signal?: AbortSignal;
  onProgress?: (bytesCopied: number) => void;
}

/** Input of {@link ObjectStore.putObjectFromFile}. */
export interface PutObjectFromFileInput {
  key: string;
  /** Local file path; read twice (hash, then upload), never loaded whole. */
  path: string;
  /** Default: by the key's extension, else by the file's, else `application/octet-stream`. */
  contentType?: string;
  signal?: AbortSignal;
  onProgress?: (bytesCopied: number) => void;
  /** Skip the upload when the key already holds these exact bytes (same hash and size). Default true. */
  skipIfPresent?: boolean;
}

/** Options of {@link ObjectStore.presignGet}. */
export interface PresignGetOptions {
  /** Default: the store's `presignTtlSeconds`. */
  expiresInSeconds?: number;
  /** e.g. `attachment; filename="out.mp4"`, returned by the store as Content-Disposition. */
  responseContentDisposition?: string;
}

/**
 * Streams files into an S3 bucket (Cloudflare R2 in production) with bounded memory, and hands out
 * presigned GET URLs. One instance per worker, shared by all activities; it holds no per-call state.
 */
export class ObjectStore {
  readonly bucket: string;
  readonly keyPrefix: string;
  readonly partSizeBytes: number;
  readonly queueSize: number;
  private readonly client: S3Client;
  private readonly presignTtlSeconds: number;
  private readonly fetchDispatcher: Dispatcher | undefined;
  private readonly maxRedirections: number;
  private readonly writer: AtomicWriter;
  private readonly download: Omit<DownloadSettings, 'fetchDispatcher' | 'maxRedirections'>;
  private readonly downloadDeadlineMs: number;

  constructor(options: ObjectStoreOptions) {
    if (options.bucket.length === 0) throw new RangeError('bucket must not be empty');
    this.client = options.client;
    this.bucket = options.bucket;
    this.partSizeBytes = integerInRange('partSizeBytes', options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES, MIN_PART_SIZE_BYTES, MAX_PART_SIZE_BYTES);
    this.queueSize = integerInRange('queueSize', options.queueSize ?? DEFAULT_QUEUE_SIZE, 1, 64);
    this.presignTtlSeconds = integerInRange('presignTtlSeconds', options.presignTtlSeconds ?? DEFAULT_PRESIGN_TTL_SECONDS, 1, MAX_PRESIGN_TTL_SECONDS);
    this.keyPrefix = withTrailingSlash(options.keyPrefix ?? '');
    this.fetchDispatcher = options.fetchDispatcher;
    this.maxRedirections = integerInRange('maxRedirections', options.maxRedirections ?? DEFAULT_MAX_REDIRECTIONS, 0, 20);
    this.download = {
      policy: options.sourcePolicy ?? DEFAULT_ADDRESS_POLICY,
      // The part size follows from this limit, never from a source's announced length.
      maxBytes: integerInRange('maxOutputBytes', options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES, 1, this.partSizeBytes * MAX_PARTS),
      idleTimeoutMs: integerInRange('downloadIdleTimeoutMs', options.downloadIdleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, 1, 3_600_000),
      firstByteTimeoutMs: integerInRange('downloadFirstByteTimeoutMs', options.downloadFirstByteTimeoutMs ?? DEFAULT_FIRST_BYTE_TIMEOUT_MS, 1, 3_600_000),
    };
    this.downloadDeadlineMs = integerInRange('downloadDeadlineMs', options.downloadDeadlineMs ?? DEFAULT_DOWNLOAD_DEADLINE_MS, 1, 24 * 3_600_000);
    this.writer = new AtomicWriter({
      client: this.client,
      bucket: this.bucket,
      keyPrefix: this.keyPrefix,
      stagingPrefix: withTrailingSlash(options.stagingPrefix ?? DEFAULT_STAGING_PREFIX),
      queueSize: this.queueSize,
      maxSingleCopyBytes: integerInRange('maxSingleCopyBytes', options.maxSingleCopyBytes ?? MAX_SINGLE_COPY_BYTES, 0, MAX_SINGLE_COPY_BYTES),
      copyPartSizeBytes: integerInRange('copyPartSizeBytes', options.copyPartSizeBytes ?? DEFAULT_COPY_PART_SIZE_BYTES, MIN_PART_SIZE_BYTES, MAX_PART_SIZE_BYTES),
      copyConcurrency: integerInRange('copyConcurrency', options.copyConcurrency ?? 2, 1, 16),
      progressKeepAliveMs: integerInRange('progressKeepAliveMs', options.progressKeepAliveMs ?? 1000, 1, 3_600_000),
      unsignedPartPayloads: options.unsignedPartPayloads,
    });
  }

  /** The key in the bucket for a caller's key: the key prefix plus the key. */
  storageKey(key: string): string {
    const fullKey = this.keyPrefix + key;
    assertObjectKeyLength(key);
    assertObjectKeyLength(fullKey);
    return fullKey;
  }

  /**
   * Copies the file at `sourceUrl` to `key`, streaming: download (undici), SHA-256 and byte count on
   * the fly, multipart upload, atomic appearance at the key. Idempotent: when the key already holds
   * a complete object written by this store (and of `expectedBytes`, when given), returns it with
   * `alreadyPresent: true` without downloading.
   *
   * Throws (all {@link ObjectStoreError}s): `SourceNotFoundError` (404/410, the URL expired; not
   * retryable), `SourceUnavailableError` (5xx, 408, 429, network; retryable), `SourceRejectedError`
   * (other 4xx, bad URL; not retryable), `SourceTruncatedError` (fewer bytes than announced;
   * retryable), `SourceSizeMismatchError` (more bytes than announced, or Content-Length ≠
   * expectedBytes; not retryable), `ObjectStoreRequestError` (S3; retryable by status),
   * `ObjectStoreAbortedError` (the signal fired). On every failure nothing is left at the key and
   * the multipart upload, if one began, has been aborted.
   */
  async persistFromUrl(input: PersistFromUrlInput): Promise<PersistResult> {
    const { key, signal } = input;
    const fullKey = this.storageKey(key);
    if (input.expectedBytes !== undefined) integerInRange('expectedBytes', input.expectedBytes, 0, Number.MAX_SAFE_INTEGER);
    if (signal.aborted) throw abortedError(key, signal);

    const existing = await this.head(key, { signal });
    const sameRequest = input.requestId === undefined || existing?.requestId === input.requestId;
    if (existing?.sha256 !== undefined && sameRequest && (input.expectedBytes === undefined || existing.bytes === input.expectedBytes)) {
      // An attempt that crashed between moving its copy into place and deleting the staging object.
      if (input.stagingName !== undefined) await this.writer.forgetStaging(input.stagingName);
      return { key, bytes: existing.bytes, sha256: existing.sha256, contentType: existing.contentType, etag: existing.etag, alreadyPresent: true };
    }

    const source: WriteSource = { kind: 'url', sourceUrl: input.sourceUrl, expectedBytes: input.expectedBytes, contentType: input.contentType, fetchDispatcher: input.fetchDispatcher };
    const extra = { ...(input.requestId === undefined ? {} : { extraMetadata: { [OBJECT_METADATA_KEYS.requestId]: input.requestId } }), stagingName: input.stagingName };
    // The deadline stops the download and the upload alike; the caller's signal still means "cancelled".
    const deadline = AbortSignal.timeout(this.downloadDeadlineMs);
    try {
      const stored = await this.write(key, fullKey, source, AbortSignal.any([signal, deadline]), input.onProgress, extra);
      return { ...stored, alreadyPresent: false };
    } catch (error) {
      if (!deadline.aborted || signal.aborted) throw error;
      throw new OutputSourceStalledError({
        message: `${describeSourceUrl(input.sourceUrl)} was not stored within ${this.downloadDeadlineMs} ms for "${key}"`,
        key,
        limit: 'deadline',
        limitMs: this.downloadDeadlineMs,
        cause: error,
      });
    }
  }

  /**
   * Stores a stream under `key` (always writes; the content is unknown until read). Same atomicity,
   * hashing and metadata as {@link persistFromUrl}. Errors from the stream itself are rethrown as
   * they are; store errors are typed.
   */
  async putObjectFromStream(input: PutObjectFromStreamInput): Promise<StoredObject> {
    const { key, body, signal } = input;
    const fullKey = this.storageKey(key);
    if (input.expectedBytes !== undefined) integerInRange('expectedBytes', input.expectedBytes, 0, Number.MAX_SAFE_INTEGER);
    if (signal?.aborted) {
      if (body instanceof Readable && !body.destroyed) body.destroy();
      throw abortedError(key, signal);
    }
    return this.write(key, fullKey, { kind: 'stream', body, expectedBytes: input.expectedBytes, contentType: input.contentType }, signal, input.onProgress);
  }

  /**
   * Stores a local file under `key`: hashes it first, so the upload carries its metadata from the
   * start and goes straight to the key (no staging copy), and skips the upload when the key already
   * holds the same bytes. A file that changes between the two reads fails with `SourceChangedError`.
   */
  async putObjectFromFile(input: PutObjectFromFileInput): Promise<PersistResult> {
    const { key, path, signal } = input;
    const fullKey = this.storageKey(key);
    if (signal?.aborted) throw abortedError(key, signal);
    const { size } = await stat(path);
    const sha256 = await hashFile(path, key, signal);
    const contentType = resolveContentType({ explicit: input.contentType, filenames: [keyBasename(key), basename(path)] });

    if (input.skipIfPresent ?? true) {
      const existing = await this.head(key, signal ? { signal } : {});
      if (existing?.sha256 === sha256 && existing.bytes === size) {
        return { key, bytes: size, sha256, contentType: existing.contentType, etag: existing.etag, alreadyPresent: true };
      }
    }

    const stored = await this.write(key, fullKey, { kind: 'file', path, bytes: size, sha256, contentType }, signal, input.onProgress);
    return { ...stored, alreadyPresent: false };
  }

  /**
   * Size, type, ETag and (for complete writes of this store) SHA-256 of the object at `key`, or
   * undefined when there is none. Throws `ObjectStoreRequestError` for other failures.
   */
  async head(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectHead | undefined> {
    const fullKey = this.storageKey(key);
    const { signal } = options;
    if (signal?.aborted) throw abortedError(key, signal);
    let output;
    try {
      output = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }), signal ? { abortSignal: signal } : {});
    } catch (error) {
      if (signal?.aborted) throw abortedError(key, signal);
      if (isS3NotFound(error)) return undefined;
      throw toObjectStoreRequestError(error, 'HeadObject', key);
    }
    const bytes = output.ContentLength ?? 0;
    const metadata = output.Metadata ?? {};
    const sha256 = metadata[OBJECT_METADATA_KEYS.sha256];
    const recordedBytes = metadata[OBJECT_METADATA_KEYS.bytes];
    const complete = sha256 !== undefined && SHA256_HEX.test(sha256) && recordedBytes === String(bytes);
    const requestId = metadata[OBJECT_METADATA_KEYS.requestId];
    return {
      bytes,
      contentType: output.ContentType ?? DEFAULT_CONTENT_TYPE,
      etag: unquoteEtag(output.ETag),
      ...(complete ? { sha256 } : {}),
      ...(requestId === undefined ? {} : { requestId }),
    };
  }

  /**
   * A presigned GET URL for `key`, valid `expiresInSeconds` (default the store's
   * `presignTtlSeconds`, at most 7 days). Computed locally: it does not check the object exists.
   */
  async presignGet(key: string, options: PresignGetOptions = {}): Promise<string> {
    const fullKey = this.storageKey(key);
    const expiresIn = integerInRange('expiresInSeconds', options.expiresInSeconds ?? this.presignTtlSeconds, 1, MAX_PRESIGN_TTL_SECONDS);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: fullKey,
      ...(options.responseContentDisposition === undefined ? {} : { ResponseContentDisposition: options.responseContentDisposition }),
    });
    return getSignedUrl(this.client, command, { expiresIn });
  }

  /** The one write path: opens the source, meters it, hands it to the atomic writer, closes the source. */
  private async write(
    key: string,
    fullKey: string,
    source: WriteSource,
    signal: AbortSignal | undefined,
    onProgress: ((bytesCopied: number) => void) | undefined,
    extra: Pick<WriteArgs, 'extraMetadata' | 'stagingName'> = {},
  ): Promise<StoredObject> {
    const opened = await openWriteSource(key, source, signal, { fetchDispatcher: this.fetchDispatcher, maxRedirections: this.maxRedirections, ...this.download });
    const isDownload = source.kind === 'url';
    try {
      const meter = new StreamMeter({
        key,
        sourceDescription: opened.description,
        ...(signal ? { signal } : {}),
        ...(opened.expectedBytes === undefined ? {} : { expectedBytes: opened.expectedBytes }),
        ...(isDownload ? { maxBytes: this.download.maxBytes } : {}),
        ...(source.kind === 'file' ? { expectedSha256: source.sha256 } : {}),
        ...(onProgress ? { onProgress } : {}),
        classifyReadError: opened.classifyReadError,
      });
      return await this.writer.write({
        key,
        fullKey,
        meter,
        chunks: meter.meter(opened.body),
        contentType: opened.contentType,
        signal,
        // Downloads: from the configured limit only, so an announced length never sizes the parts (memory).
        partSizeBytes: effectivePartSizeBytes(this.partSizeBytes, isDownload ? this.download.maxBytes : opened.expectedBytes),
        contentTypeFromHead: opened.contentTypeFromHead,
        knownSha256: source.kind === 'file' ? source.sha256 : undefined,
        knownBytes: opened.expectedBytes,
        onProgress,
        destroySource: opened.destroy,
        ...extra,
      });
    } finally {
      opened.destroy();
    }
  }


}

function withTrailingSlash(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function integerInRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}
