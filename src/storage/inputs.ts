/**
 * The backend's storage facade: puts pipeline inputs into the bucket and hands out presigned links to
 * inputs and outputs. Kept apart from `src/client` (which talks to Temporal only) so a backend that
 * starts pipelines need not load the AWS SDK, and one that only uploads need not load Temporal.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { inputKey, sniffMedia } from './input-key.js';
import { ObjectStore } from './object-store.js';
import { createObjectStoreClient, type ObjectStoreConfig } from './s3-client.js';

/** Default lifetime of presigned URLs handed to the backend: a day, long enough for a queued pipeline to read its inputs. */
export const DEFAULT_INPUT_PRESIGN_TTL_SECONDS = 24 * 3600;

/** Options of {@link PipelineStorage.uploadInput}. */
export interface UploadInputOptions {
  /** Key in the bucket (default `inputs/<sha256>/<file name>`: the same file always gets the same key). */
  key?: string;
  /** Default: from the key's extension, else from the bytes' magic number. */
  contentType?: string;
}

/** An input stored by {@link PipelineStorage.uploadInput}. */
export interface UploadedInput {
  key: string;
  /** `r2://<key>`: what to put in a spec. The worker presigns it when it submits the job, so no signed URL reaches history. */
  ref: string;
  /** Presigned GET URL, valid for the storage's presign lifetime: for the caller's own use, never for a spec. */
  url: string;
  bytes: number;
  sha256: string;
  contentType: string;
}

export class PipelineStorage {
  readonly #presignTtlSeconds: number;
  #owned: S3Client | undefined;

  /** Wraps an existing object store; `close()` then leaves it open. */
  constructor(
    readonly store: ObjectStore,
    presignTtlSeconds: number = DEFAULT_INPUT_PRESIGN_TTL_SECONDS,
  ) {
    this.#presignTtlSeconds = presignTtlSeconds;
  }

  /** Opens an S3 client for the bucket; the returned storage owns it: call {@link close} when done. */
  static connect(config: ObjectStoreConfig, presignTtlSeconds: number = DEFAULT_INPUT_PRESIGN_TTL_SECONDS): PipelineStorage {
    const s3 = createObjectStoreClient(config);
    const storage = new PipelineStorage(new ObjectStore({ client: s3, bucket: config.bucket, presignTtlSeconds }), presignTtlSeconds);
    storage.#owned = s3;
    return storage;
  }

  /**
   * Stores an input file (a face image, a reference video…) in the bucket and returns its key and a
   * presigned GET URL to put in a spec: specs carry URLs, never bytes.
   */
  async uploadInput(input: { path: string } | { bytes: Uint8Array }, options: UploadInputOptions = {}): Promise<UploadedInput> {
    const store = this.store;
    if ('path' in input) {
      const key = options.key ?? inputKey(basename(input.path), await sha256OfFile(input.path));
      // An identical object already at the key is kept as is (putObjectFromFile compares hashes).
      const stored = await store.putObjectFromFile({ key, path: input.path, ...(options.contentType !== undefined ? { contentType: options.contentType } : {}) });
      const url = await this.presign(key);
      return { key, ref: `r2://${key}`, url, bytes: stored.bytes, sha256: stored.sha256, contentType: stored.contentType };
    }
    const bytes = Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const sniffed = sniffMedia(bytes);
    const key = options.key ?? inputKey(`input${sniffed?.extension ?? ''}`, sha256);
    const contentType = options.contentType ?? sniffed?.contentType;
    const existing = await store.head(key);
    if (existing?.sha256 === sha256 && existing.bytes === bytes.byteLength) {
      return { key, ref: `r2://${key}`, url: await this.presign(key), bytes: existing.bytes, sha256, contentType: existing.contentType };
    }
    const stored = await store.putObjectFromStream({
      key,
      body: Readable.from([bytes]),
      expectedBytes: bytes.byteLength,
      ...(contentType !== undefined ? { contentType } : {}),
    });
    const url = await this.presign(key);
    return { key, ref: `r2://${key}`, url, bytes: stored.bytes, sha256: stored.sha256, contentType: stored.contentType };
  }

  /** A presigned GET URL for an output's key (valid for the presign lifetime). */
  presignOutput(key: string): Promise<string> {
    return this.presign(key);
  }

  /** Destroys the S3 client {@link connect} opened. Idempotent. */
  close(): void {
    this.#owned?.destroy();
    this.#owned = undefined;
  }

  private presign(key: string): Promise<string> {
    return this.store.presignGet(key, { expiresInSeconds: this.#presignTtlSeconds });
  }
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
