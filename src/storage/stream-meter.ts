import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import {
  isObjectStoreError,
  ObjectStoreAbortedError,
  SourceChangedError,
  SourceSizeMismatchError,
  SourceTruncatedError,
} from './errors.js';
import { OutputTooLargeError } from './source-errors.js';

/** Settings of a {@link StreamMeter}. */
export interface StreamMeterOptions {
  /** Object key the bytes are for (error messages). */
  key: string;
  /** Where the bytes come from, safe to show (no query string). */
  sourceDescription: string;
  /** Exact size the stream must have; more fails at once, fewer fails at the end. */
  expectedBytes?: number;
  /** Hard limit on the bytes accepted, whatever was announced: one more fails at once. */
  maxBytes?: number;
  /** When known in advance (a file hashed first): a different digest at the end fails the stream. */
  expectedSha256?: string;
  /** Raw progress: called after every chunk with the running total. Must not throw. */
  onProgress?: (bytesCopied: number) => void;
  signal?: AbortSignal;
  /** Turns a read error of the source into a typed error; `receivedBytes` counted so far. */
  classifyReadError: (error: unknown, receivedBytes: number) => Error;
}

/**
 * Counts, hashes (SHA-256) and checks the bytes of a stream while they pass through, without
 * holding any of them: {@link meter} yields each chunk as it arrives. The error it throws is kept in
 * {@link failure}, so the caller can report it even after a library wrapped or replaced it.
 */
export class StreamMeter {
  bytes = 0;
  failure: Error | undefined;
  private readonly hash: Hash = createHash('sha256');
  private digestHex: string | undefined;

  constructor(private readonly options: StreamMeterOptions) {}

  /** Hex SHA-256 of everything metered; only valid once {@link meter} has finished. */
  sha256(): string {
    this.digestHex ??= this.hash.digest('hex');
    return this.digestHex;
  }

  /**
   * Yields the chunks of `source` after counting and hashing them. Throws a typed error when the
   * source fails, is aborted, exceeds or falls short of `expectedBytes`, or hashes differently
   * than `expectedSha256`; the end-of-stream checks run before the consumer sees the end, so an
   * upload fed by this generator fails instead of completing.
   */
  async *meter(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer, void, undefined> {
    const iterator = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await iterator.next();
        } catch (error) {
          throw this.fail(this.classifyReadFailure(error));
        }
        if (next.done) break;
        const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        this.bytes += chunk.byteLength;
        const { expectedBytes, maxBytes } = this.options;
        if (maxBytes !== undefined && this.bytes > maxBytes) {
          throw this.fail(
            new OutputTooLargeError({
              message: `${this.options.sourceDescription} sent more than the ${maxBytes}-byte limit (MAX_OUTPUT_BYTES) for "${this.options.key}"`,
              key: this.options.key,
              maxBytes,
              bytes: this.bytes,
            }),
          );
        }
        if (expectedBytes !== undefined && this.bytes > expectedBytes) {
          throw this.fail(
            new SourceSizeMismatchError({
              message: `${this.options.sourceDescription} sent more than the ${expectedBytes} bytes announced for "${this.options.key}"`,
              key: this.options.key,
              expectedBytes,
              actualBytes: this.bytes,
            }),
          );
        }
        this.hash.update(chunk);
        this.options.onProgress?.(this.bytes);
        yield chunk;
      }
      this.checkEnd();
    } finally {
      // Ends (destroys) the source when the consumer stopped early or a check failed.
      await iterator.return?.();
    }
  }

  private checkEnd(): void {
    const { expectedBytes, expectedSha256, key, sourceDescription } = this.options;
    if (this.options.signal?.aborted) throw this.fail(abortedError(key, this.options.signal));
    if (expectedBytes !== undefined && this.bytes < expectedBytes) {
      throw this.fail(
        new SourceTruncatedError({
          message: `${sourceDescription} ended after ${this.bytes} of ${expectedBytes} bytes for "${key}"`,
          key,
          expectedBytes,
          receivedBytes: this.bytes,
        }),
      );
    }
    if (expectedSha256 !== undefined && this.sha256() !== expectedSha256) {
      throw this.fail(new SourceChangedError({ message: `${sourceDescription} changed while "${key}" was being stored`, key }));
    }
  }

  private classifyReadFailure(error: unknown): Error {
    const { signal, key, expectedBytes, sourceDescription } = this.options;
    if (signal?.aborted) return abortedError(key, signal);
    if (isObjectStoreError(error)) return error;
    // A source that went quiet is a stall, whatever it announced: the caller's classifier says so.
    const code = (error as { code?: unknown } | null | undefined)?.code;
    if (code === 'UND_ERR_BODY_TIMEOUT') return this.options.classifyReadError(error, this.bytes);
    if (expectedBytes !== undefined && this.bytes < expectedBytes) {
      return new SourceTruncatedError({
        message: `${sourceDescription} broke off after ${this.bytes} of ${expectedBytes} bytes for "${key}"`,
        key,
        expectedBytes,
        receivedBytes: this.bytes,
        cause: error,
      });
    }
    return this.options.classifyReadError(error, this.bytes);
  }

  private fail(error: Error): Error {
    this.failure ??= error;
    return error;
  }
}

/** The typed error for a copy stopped by its caller's signal. */
export function abortedError(key: string, signal: AbortSignal): ObjectStoreAbortedError {
  return new ObjectStoreAbortedError({ message: `storing "${key}" was aborted`, key, cause: signal.reason });
}
