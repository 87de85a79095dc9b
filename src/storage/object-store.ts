/**
 * The object store: streaming, verified, idempotent copies into R2 (or any S3 server) and presigned
 * reads. Only references leave this module (keys, sizes, hashes, URLs), never bytes.
 *
 * How a copy keeps its promises:
 * - Atomic: an object appears at its key only complete and with its `sha256` and `source-bytes`
 *   metadata. A file of at most one part is hashed while it is buffered and written with one
 *   PutObject. A larger one is streamed by a multipart upload to a staging key
 *   (`<keyPrefix>.staging/<uuid>`), because S3 fixes metadata when a multipart upload starts, before
 *   the hash is known; once complete it is copied server-side to its key with the metadata
 *   (CopyObject, or UploadPartCopy above R2's 5 GiB single-copy limit) and the staging object is
 *   deleted. A crash leaves at most an incomplete upload or a staging object under `.staging/`,
 *   never anything at the key; give the bucket a lifecycle rule that expires `.staging/` and aborts
 *   incomplete uploads after a day.
 * - Idempotent: `persistFromUrl` first reads the key's metadata; an object with a `sha256` and a
 *   `source-bytes` equal to its size is returned as is, without downloading.
 * - Verified: bytes are counted and hashed as they stream; fewer than announced (truncation), more
 *   than announced, or a failed read fails the upload before it completes, and the multipart upload
 *   is aborted before the call rejects.
 * - Bounded memory: see `memory-budget.ts` (`copyMemoryBudgetBytes`).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DEFAULT_CONTENT_TYPE, resolveContentType } from './content-type.js';
import { isObjectStoreError, ObjectStoreRequestError, SourceSizeMismatchError } from './errors.js';
import {
  DEFAULT_PART_SIZE_BYTES,
  DEFAULT_QUEUE_SIZE,
  effectivePartSizeBytes,
  MAX_PART_SIZE_BYTES,
  MAX_PARTS,
  MAX_SINGLE_COPY_BYTES,
  MIN_PART_SIZE_BYTES,
} from './memory-budget.js';
import { assertObjectKeyLength, keyBasename } from './output-key.js';
import { isS3NotFound, toObjectStoreRequestError } from './s3-errors.js';
import { classifyTransportError, DEFAULT_IDLE_TIMEOUT_MS, describeSourceUrl, discardBody, openSource } from './source-download.js';
import { contentDispositionFor, SNIFF_BYTES, storedContentType } from './content-sniff.js';
import { OutputSourceStalledError } from './source-errors.js';
import { DEFAULT_ADDRESS_POLICY } from '../net/address-guard.js';
import type { AddressPolicy } from '../net/address-guard.js';
import { abortedError, StreamMeter } from './stream-meter.js';

/** User metadata every stored object carries (sent as `x-amz-meta-<name>`). */
export const OBJECT_METADATA_KEYS = {
  /** Lower-case hex SHA-256 of the object's bytes. */
  sha256: 'sha256',
  /** Decimal byte count verified while writing; equal to the object's size when it is complete. */
  bytes: 'source-bytes',
} as const;

/** Folder, under the key prefix, of multipart uploads waiting for their server-side copy. */
export const DEFAULT_STAGING_PREFIX = '.staging/';
/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_PRESIGN_TTL_SECONDS = 3600;
export const DEFAULT_COPY_PART_SIZE_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_REDIRECTIONS = 5;

// Small buffers between the source and the uploader: memory is bounded by parts, not streams.
const FEED_HIGH_WATER_MARK_BYTES = 64 * 1024;
const FILE_READ_CHUNK_BYTES = 256 * 1024;
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
  /** Longest silence of a source, for headers and between body chunks (default 30 s). */
  downloadIdleTimeoutMs?: number;
  /** Longest one download-and-store may take (default 15 min). */
  downloadDeadlineMs?: number;
}

/** Default MAX_OUTPUT_BYTES: 2 GiB, far above any image or short video a pipeline step makes. */
export const DEFAULT_MAX_OUTPUT_BYTES = 2 * 1024 * 1024 * 1024;
export const DEFAULT_DOWNLOAD_DEADLINE_MS = 15 * 60_000;

/** A stored object, as returned by the write operations. */
export interface StoredObject {
  /** The key as the caller gave it (without the store's key prefix). */
  key: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  contentType: string;
  /** The store's ETag, without quotes. */
  etag: string;
}

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

interface StoreArgs {
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
  contentTypeFromHead?: (head: Buffer) => string;
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
  private readonly stagingPrefix: string;
  private readonly maxSingleCopyBytes: number;
  private readonly copyPartSizeBytes: number;
  private readonly copyConcurrency: number;
  private readonly fetchDispatcher: Dispatcher | undefined;
  private readonly maxRedirections: number;
  private readonly progressKeepAliveMs: number;
  private readonly sourcePolicy: AddressPolicy;
  private readonly maxOutputBytes: number;
  private readonly downloadIdleTimeoutMs: number;
  private readonly downloadDeadlineMs: number;

  constructor(options: ObjectStoreOptions) {
    if (options.bucket.length === 0) throw new RangeError('bucket must not be empty');
    this.client = options.client;
    this.bucket = options.bucket;
    this.partSizeBytes = integerInRange('partSizeBytes', options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES, MIN_PART_SIZE_BYTES, MAX_PART_SIZE_BYTES);
    this.queueSize = integerInRange('queueSize', options.queueSize ?? DEFAULT_QUEUE_SIZE, 1, 64);
    this.presignTtlSeconds = integerInRange('presignTtlSeconds', options.presignTtlSeconds ?? DEFAULT_PRESIGN_TTL_SECONDS, 1, MAX_PRESIGN_TTL_SECONDS);
    this.keyPrefix = withTrailingSlash(options.keyPrefix ?? '');
    this.stagingPrefix = withTrailingSlash(options.stagingPrefix ?? DEFAULT_STAGING_PREFIX);
    this.maxSingleCopyBytes = integerInRange('maxSingleCopyBytes', options.maxSingleCopyBytes ?? MAX_SINGLE_COPY_BYTES, 0, MAX_SINGLE_COPY_BYTES);
    this.copyPartSizeBytes = integerInRange('copyPartSizeBytes', options.copyPartSizeBytes ?? DEFAULT_COPY_PART_SIZE_BYTES, MIN_PART_SIZE_BYTES, MAX_PART_SIZE_BYTES);
    this.copyConcurrency = integerInRange('copyConcurrency', options.copyConcurrency ?? 2, 1, 16);
    this.fetchDispatcher = options.fetchDispatcher;
    this.maxRedirections = integerInRange('maxRedirections', options.maxRedirections ?? DEFAULT_MAX_REDIRECTIONS, 0, 20);
    this.progressKeepAliveMs = integerInRange('progressKeepAliveMs', options.progressKeepAliveMs ?? 1000, 1, 3_600_000);
    this.sourcePolicy = options.sourcePolicy ?? DEFAULT_ADDRESS_POLICY;
    // The part size follows from this limit, never from a source's announced length.
    this.maxOutputBytes = integerInRange('maxOutputBytes', options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES, 1, this.partSizeBytes * MAX_PARTS);
    this.downloadIdleTimeoutMs = integerInRange('downloadIdleTimeoutMs', options.downloadIdleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, 1, 3_600_000);
    this.downloadDeadlineMs = integerInRange('downloadDeadlineMs', options.downloadDeadlineMs ?? DEFAULT_DOWNLOAD_DEADLINE_MS, 1, 24 * 3_600_000);
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
    if (existing?.sha256 !== undefined && (input.expectedBytes === undefined || existing.bytes === input.expectedBytes)) {
      return { key, bytes: existing.bytes, sha256: existing.sha256, contentType: existing.contentType, etag: existing.etag, alreadyPresent: true };
    }

    const description = describeSourceUrl(input.sourceUrl);
    const dispatcher = input.fetchDispatcher ?? this.fetchDispatcher;
    // The deadline stops the download and the upload alike; the caller's signal still means "cancelled".
    const deadline = AbortSignal.timeout(this.downloadDeadlineMs);
    const combined = AbortSignal.any([signal, deadline]);
    const overDeadline = (error: unknown): Error =>
      deadline.aborted && !signal.aborted
        ? new OutputSourceStalledError({ message: `${description} was not stored within ${this.downloadDeadlineMs} ms for "${key}"`, key, limit: 'deadline', limitMs: this.downloadDeadlineMs, cause: error })
        : (error as Error);
    let source;
    try {
      source = await openSource({
        sourceUrl: input.sourceUrl,
        key,
        signal: combined,
        maxRedirections: this.maxRedirections,
        policy: this.sourcePolicy,
        idleTimeoutMs: this.downloadIdleTimeoutMs,
        maxBytes: this.maxOutputBytes,
        ...(dispatcher ? { dispatcher } : {}),
      });
    } catch (error) {
      throw overDeadline(error);
    }
    const destroySource = (): void => discardBody(source.body);
    try {
      const { announcedBytes } = source;
      if (input.expectedBytes !== undefined && announcedBytes !== undefined && announcedBytes !== input.expectedBytes) {
        throw new SourceSizeMismatchError({
          message: `${description} announced ${announcedBytes} bytes for "${key}", expected ${input.expectedBytes}`,
          key,
          expectedBytes: input.expectedBytes,
          actualBytes: announcedBytes,
        });
      }
      const expectedBytes = input.expectedBytes ?? announcedBytes;
      const filenames = [keyBasename(key), urlBasename(input.sourceUrl)];
      const meter = new StreamMeter({
        key,
        sourceDescription: description,
        signal: combined,
        maxBytes: this.maxOutputBytes,
        ...(expectedBytes === undefined ? {} : { expectedBytes }),
        ...(input.onProgress ? { onProgress: input.onProgress } : {}),
        classifyReadError: (error) => classifyTransportError(error, `reading ${description} for "${key}" failed`, key, this.downloadIdleTimeoutMs),
      });
      const stored = await this.store({
        key,
        fullKey,
        meter,
        chunks: meter.meter(source.body),
        contentType: resolveContentType({ explicit: input.contentType, fromSource: source.contentType, filenames }),
        contentTypeFromHead: (head) => storedContentType({ explicit: input.contentType, head, fromSource: source.contentType, filenames }),
        signal: combined,
        // From the configured limit only: an announced length must not size the parts (memory).
        partSizeBytes: effectivePartSizeBytes(this.partSizeBytes, this.maxOutputBytes),
        knownSha256: undefined,
        knownBytes: expectedBytes,
        onProgress: input.onProgress,
        destroySource,
      });
      return { ...stored, alreadyPresent: false };
    } catch (error) {
      throw overDeadline(error);
    } finally {
      destroySource();
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
    const destroySource = (): void => {
      if (body instanceof Readable && !body.destroyed) body.destroy();
    };
    if (signal?.aborted) {
      destroySource();
      throw abortedError(key, signal);
    }
    const meter = new StreamMeter({
      key,
      sourceDescription: 'the stream',
      ...(signal ? { signal } : {}),
      ...(input.expectedBytes === undefined ? {} : { expectedBytes: input.expectedBytes }),
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      classifyReadError: (error) => asError(error),
    });
    try {
      return await this.store({
        key,
        fullKey,
        meter,
        chunks: meter.meter(body),
        contentType: resolveContentType({ explicit: input.contentType, filenames: [keyBasename(key)] }),
        signal,
        partSizeBytes: effectivePartSizeBytes(this.partSizeBytes, input.expectedBytes),
        knownSha256: undefined,
        knownBytes: input.expectedBytes,
        onProgress: input.onProgress,
        destroySource,
      });
    } finally {
      destroySource();
    }
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

    const file = createReadStream(path, { highWaterMark: FILE_READ_CHUNK_BYTES });
    const destroySource = (): void => {
      if (!file.destroyed) file.destroy();
    };
    const meter = new StreamMeter({
      key,
      sourceDescription: `file ${basename(path)}`,
      expectedBytes: size,
      expectedSha256: sha256,
      ...(signal ? { signal } : {}),
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      classifyReadError: (error) => asError(error),
    });
    try {
      const stored = await this.store({
        key,
        fullKey,
        meter,
        chunks: meter.meter(file),
        contentType,
        signal,
        partSizeBytes: effectivePartSizeBytes(this.partSizeBytes, size),
        knownSha256: sha256,
        knownBytes: size,
        onProgress: input.onProgress,
        destroySource,
      });
      return { ...stored, alreadyPresent: false };
    } finally {
      destroySource();
    }
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
    return {
      bytes,
      contentType: output.ContentType ?? DEFAULT_CONTENT_TYPE,
      etag: unquoteEtag(output.ETag),
      ...(complete ? { sha256 } : {}),
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

  /**
   * Reads the stream up to one part. When it ends within that, the bytes and their hash are known:
   * one PutObject writes them with their metadata. Otherwise a multipart upload takes over, fed
   * with the buffered chunks and then the rest of the stream.
   */
  private async store(storeArgs: StoreArgs): Promise<StoredObject> {
    let args = storeArgs;
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
      const disposition = contentDispositionFor(contentType);
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
            ...(disposition ? { ContentDisposition: disposition } : {}),
            Metadata: objectMetadata(sha256, body.byteLength),
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

  private async storeMultipart(args: StoreArgs, pending: Buffer[]): Promise<StoredObject> {
    const { key, fullKey, meter, contentType, signal } = args;
    const direct = args.knownSha256 !== undefined && args.knownBytes !== undefined;
    const target = direct ? fullKey : `${this.keyPrefix}${this.stagingPrefix}${randomUUID()}`;
    const body = Readable.from(replay(pending, args.chunks), { objectMode: false, highWaterMark: FEED_HIGH_WATER_MARK_BYTES });
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: target,
        Body: body,
        ContentType: contentType,
        ...dispositionParam(contentType),
        ...(direct ? { Metadata: objectMetadata(args.knownSha256!, args.knownBytes!) } : {}),
      },
      partSize: args.partSizeBytes,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    // Cancellation works by failing the body (the signal destroys the source), not by
    // `upload.abort()`: abort() makes done() reject at once while lib-storage sends
    // AbortMultipartUpload later in the background. A failed body makes done() settle only after
    // lib-storage aborted the upload, and the abort below repeats it by UploadId to be certain.
    let uploadEtag: string | undefined;
    try {
      uploadEtag = (await upload.done()).ETag;
    } catch (error) {
      body.destroy();
      args.destroySource();
      await this.abortMultipartQuietly(target, upload.uploadId);
      throw error;
    }
    if (direct) {
      return { key, bytes: meter.bytes, sha256: args.knownSha256!, contentType, etag: await this.etagOf(uploadEtag, fullKey, key) };
    }

    const keepAlive = args.onProgress ? setInterval(() => args.onProgress?.(meter.bytes), this.progressKeepAliveMs) : undefined;
    try {
      if (signal?.aborted) throw abortedError(key, signal);
      const sha256 = meter.sha256();
      const etag = await this.copyIntoPlace(target, fullKey, key, meter.bytes, objectMetadata(sha256, meter.bytes), contentType, signal);
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
    // lib-storage rethrows what the body failed with, possibly wrapped: the meter kept the original.
    if (meter.failure) return meter.failure;
    return toObjectStoreRequestError(error, 'multipart upload', key);
  }

  /** Deliberately without the caller's signal: cleanup must run after a cancellation too. */
  private async abortMultipartQuietly(targetKey: string, uploadId: string | undefined): Promise<void> {
    if (!uploadId) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: targetKey, UploadId: uploadId }));
    } catch {
      // NoSuchUpload: lib-storage aborted it already. Anything else: the bucket's lifecycle rule
      // for incomplete uploads collects it; the caller's error matters more than this one.
    }
  }

  private async deleteQuietly(targetKey: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: targetKey }));
    } catch {
      // A staging object left behind is collected by the lifecycle rule on the staging prefix.
    }
  }
}

function dispositionParam(contentType: string): { ContentDisposition?: string } {
  const disposition = contentDispositionFor(contentType);
  return disposition ? { ContentDisposition: disposition } : {};
}

function objectMetadata(sha256: string, bytes: number): Record<string, string> {
  return { [OBJECT_METADATA_KEYS.sha256]: sha256, [OBJECT_METADATA_KEYS.bytes]: String(bytes) };
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

async function hashFile(path: string, key: string, signal: AbortSignal | undefined): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: FILE_READ_CHUNK_BYTES, ...(signal ? { signal } : {}) })) hash.update(chunk as Buffer);
  } catch (error) {
    if (signal?.aborted) throw abortedError(key, signal);
    throw error;
  }
  return hash.digest('hex');
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

function urlBasename(sourceUrl: string): string {
  try {
    return keyBasename(new URL(sourceUrl).pathname);
  } catch {
    return '';
  }
}

function unquoteEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"(.*)"$/, '$1');
}

function withTrailingSlash(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function integerInRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error('the stream failed', { cause: value });
}
