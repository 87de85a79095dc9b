/**
 * The multipart feed: cuts a byte stream into parts and uploads up to `queueSize` of them at once.
 *
 * Why not lib-storage's `Upload`: a copy's profile showed the worker paying per chunk for a stack
 * of stream adapters (meter → generator → Readable → lib-storage's generators), a fresh part
 * buffer allocated and concatenated for every part, and a SigV4 SHA-256 of every part on top of
 * the SHA-256 the meter already computes over the same bytes. Here each chunk is copied once, into
 * one of `queueSize + 1` part buffers that are reused for the whole copy, and the part's request
 * is built by the caller (see `unsignedPartPayload` in `s3-client.ts`).
 *
 * Memory: at most `queueSize` parts in flight plus the one being filled, `partSize × (queueSize + 1)`,
 * whatever the object's size. The source is pulled, never pushed: while every slot is busy nobody
 * reads it, and TCP flow control holds the sender.
 */

import { CreateMultipartUploadCommand, UploadPartCommand, type CreateMultipartUploadCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { ObjectStoreRequestError } from './errors.js';
import { withUnsignedPayload } from './s3-client.js';

/** Runs one S3 call with the caller's signal, typing its failure (the atomic writer's `call`). */
export type Call = <T>(operation: string, run: (options: { abortSignal?: AbortSignal }) => Promise<T>) => Promise<T>;

/** Uploads one part; the body is the caller's only until the returned promise settles. */
export type SendPart = (partNumber: number, body: Buffer) => Promise<string>;

export interface UploadedPart {
  PartNumber: number;
  ETag: string;
}

export interface UploadPartsArgs {
  chunks: AsyncIterable<Buffer>;
  partSizeBytes: number;
  queueSize: number;
  sendPart: SendPart;
  /**
   * Asked on a failure: whether to wait for the part uploads in flight before rejecting (default
   * yes). No when none of them can have sent anything yet (their upload is still being created).
   */
  waitForPartsOnFailure?: () => boolean;
}

/**
 * Reads `chunks` to the end, uploading every full part as soon as it is full and the last one
 * (shorter, possibly empty only when nothing was read) at the end. Resolves with the parts in
 * order once every upload finished. On a failure, of the source or of a part, it stops reading,
 * waits for the uploads in flight to settle (so the caller's abort of the multipart upload comes
 * after them) and rejects with the first error.
 */
export async function uploadParts(args: UploadPartsArgs): Promise<UploadedPart[]> {
  const { partSizeBytes, queueSize, sendPart } = args;
  const etags: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const free: Buffer[] = [];
  // Set by a failed part's callback: an object, so the checks below are not narrowed away.
  const failed: { first?: { error: unknown } } = {};
  let current: Buffer | undefined;
  let filled = 0;
  let partNumber = 0;

  const dispatch = (body: Buffer, whole: Buffer): void => {
    const number = ++partNumber;
    const task = sendPart(number, body).then(
      (etag) => {
        etags[number - 1] = etag;
        // Only a part whose request finished hands its buffer back; a failed one is dropped with the copy.
        free.push(whole);
      },
      (error: unknown) => {
        failed.first ??= { error };
      },
    );
    const tracked = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  const throwIfFailed = (): void => {
    if (failed.first) throw failed.first.error;
  };

  const settleAll = async (): Promise<void> => {
    while (inFlight.size > 0) await Promise.race(inFlight);
  };

  try {
    for await (const chunk of args.chunks) {
      let offset = 0;
      while (offset < chunk.byteLength) {
        throwIfFailed();
        if (current === undefined) {
          // A slot is taken before a buffer: the (queueSize + 1)th buffer is the one being filled.
          while (inFlight.size >= queueSize && failed.first === undefined) await Promise.race(inFlight);
          throwIfFailed();
          current = free.pop() ?? Buffer.allocUnsafe(partSizeBytes);
          filled = 0;
        }
        const copied = chunk.copy(current, filled, offset, Math.min(chunk.byteLength, offset + partSizeBytes - filled));
        filled += copied;
        offset += copied;
        if (filled === partSizeBytes) {
          dispatch(current, current);
          current = undefined;
        }
      }
    }
    throwIfFailed();
    if (current !== undefined || partNumber === 0) {
      const last = current ?? Buffer.alloc(0);
      dispatch(last.subarray(0, filled), last);
      current = undefined;
    }
    await settleAll();
    throwIfFailed();
  } catch (error) {
    // Whatever failed first is the error: the source's (a truncated download also breaks a part
    // upload) or the part's, thrown above on the next chunk.
    if (args.waitForPartsOnFailure?.() ?? true) await settleAll();
    throw error;
  }
  return etags.map((ETag, index) => ({ PartNumber: index + 1, ETag }));
}

/** One UploadPart; resolves with its ETag (what a resume compares stored parts against). */
export async function uploadOnePart(
  client: S3Client,
  call: Call,
  key: string,
  input: { Bucket: string; Key: string; UploadId: string; PartNumber: number; Body: Buffer },
  unsignedPayload: boolean,
): Promise<string> {
  const command = new UploadPartCommand({ ...input, ContentLength: input.Body.byteLength });
  const output = await call('UploadPart', (options) => client.send(unsignedPayload ? withUnsignedPayload(command) : command, options));
  if (!output.ETag) throw new ObjectStoreRequestError({ message: `S3 UploadPart for "${key}" returned no ETag`, operation: 'UploadPart', key, retryable: true });
  return output.ETag;
}

/** A multipart upload being created; see {@link startMultipartUpload}. */
export interface PendingUpload {
  /** True once CreateMultipartUpload answered (or failed). */
  readonly settled: boolean;
  /** The UploadId, once created; rejects when creation failed or the upload was abandoned. */
  uploadId(): Promise<string>;
  /** Aborts the upload: at once when it exists, else in the background as soon as it does. */
  abandon(): Promise<void>;
}

/**
 * Sends CreateMultipartUpload without waiting for it, so the source keeps being read (and
 * metered) meanwhile: a size limit or a truncation fails the copy as the bytes arrive, not after a
 * slow creation (a fresh Ceph creates its multipart pool on the first one, for seconds). Parts
 * wait for the UploadId; once abandoned, a part still waiting for it is never sent.
 */
export function startMultipartUpload(args: { key: string; input: CreateMultipartUploadCommandInput; client: S3Client; call: Call; abort: (uploadId: string | undefined) => Promise<void> }): PendingUpload {
  const { key } = args;
  const state = { settled: false, abandoned: false };
  const created = args.call('CreateMultipartUpload', (options) => args.client.send(new CreateMultipartUploadCommand(args.input), options)).then((output) => {
    if (output.UploadId) return output.UploadId;
    throw new ObjectStoreRequestError({ message: `S3 CreateMultipartUpload for "${key}" returned no UploadId`, operation: 'CreateMultipartUpload', key, retryable: true });
  });
  // Also handles `created`'s rejection for whoever never awaited it.
  const settledId = created.then(
    (id) => id,
    () => undefined,
  );
  void settledId.then(() => (state.settled = true));
  return {
    get settled() {
      return state.settled;
    },
    async uploadId() {
      const id = await created;
      if (state.abandoned) throw new Error(`the upload for "${key}" was abandoned`);
      return id;
    },
    async abandon() {
      state.abandoned = true;
      const aborted = settledId.then((id) => args.abort(id));
      if (state.settled) await aborted;
    },
  };
}
