/**
 * How much memory one streaming copy may hold, and the part-size rules of R2/S3 multipart uploads.
 *
 * Where the bytes of a copy live at any moment (`part-upload.ts`):
 * - `queueSize` parts in flight, each in a part buffer held until its UploadPart request finishes;
 * - one part being filled from the download (the "+ 1"); the `queueSize + 1` part buffers are
 *   reused for the whole copy, each chunk is copied once into one of them;
 * - at the start, the first part's chunks as they arrived (the writer reads one part ahead to
 *   choose between PutObject and a multipart upload) while they are copied into a part buffer;
 * - the stream buffers between the socket and the feed: undici's body stream (a high-water mark,
 *   a few chunks of at most 64 KiB).
 * The download is pulled, never pushed: when every slot is busy nobody reads the body, its
 * buffer fills, and TCP flow control stops the source. So a copy never holds more than
 * about `partSize × (queueSize + 2) + stream buffers`, whatever the object's size; the steady state is
 * `partSize × (queueSize + 1)`. A small object (at most one part) is held once, plus one copy while
 * it is joined into the PutObject body.
 *
 * These are live bytes. The chunks the download delivered become garbage that the GC frees later,
 * so a process's external memory (`process.memoryUsage().arrayBuffers`) can peak above the
 * budget without growing with the object's size. Leave a margin when choosing how many copies a
 * worker runs at once.
 */

/** R2 and S3 refuse smaller parts (except the last). */
export const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;
/** R2 accepts parts of at most 5 GiB minus 5 MiB. */
export const MAX_PART_SIZE_BYTES = 5 * 1024 * 1024 * 1024 - 5 * 1024 * 1024;
/** R2 and S3 accept at most this many parts per multipart upload. */
export const MAX_PARTS = 10_000;
/** Largest object R2 copies in one CopyObject call (the single-request upload limit). */
export const MAX_SINGLE_COPY_BYTES = MAX_PART_SIZE_BYTES;

export const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_QUEUE_SIZE = 4;
/**
 * Allowance for everything that is not a part: the stream buffers between socket and uploader
 * (undici body, upload feed), socket buffers, the chunk by which a part overshoots.
 */
export const DEFAULT_STREAM_BUFFER_BYTES = 4 * 1024 * 1024;

/** Settings that bound a copy's memory. */
export interface CopyMemoryBudgetOptions {
  partSizeBytes?: number;
  queueSize?: number;
  /** Defaults to {@link DEFAULT_STREAM_BUFFER_BYTES}. */
  streamBufferBytes?: number;
}

/**
 * Upper bound, in bytes, of the payload memory one streaming copy holds:
 * `partSize × (queueSize + 2) + streamBuffers` (see the module comment for the terms). Size the
 * number of concurrent copies of a worker by this figure.
 */
export function copyMemoryBudgetBytes(options: CopyMemoryBudgetOptions = {}): number {
  const partSizeBytes = options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES;
  const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  const streamBufferBytes = options.streamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
  return partSizeBytes * (queueSize + 2) + streamBufferBytes;
}

/**
 * The part size to use for an object of `totalBytes` (when known): the configured size, raised to
 * the next MiB when 10,000 parts of it would not hold the object. Raising it raises the memory
 * budget proportionally; only objects above ~78 GiB at the 8 MiB default need it.
 */
export function effectivePartSizeBytes(configuredPartSizeBytes: number, totalBytes: number | undefined): number {
  if (totalBytes === undefined || totalBytes <= configuredPartSizeBytes * MAX_PARTS) return configuredPartSizeBytes;
  const mebibyte = 1024 * 1024;
  return Math.min(MAX_PART_SIZE_BYTES, Math.ceil(totalBytes / MAX_PARTS / mebibyte) * mebibyte);
}
