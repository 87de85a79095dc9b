/**
 * Failures of downloads from untrusted sources: a refused address, a file over the size limit, a
 * source that stalls or overruns its deadline. Only a silence is retryable, a bounded number of times
 * (a file server that hung once is worth asking again); for the rest, asking the same source again
 * gets the same answer, and a hostile source must not hold a copy slot through every retry.
 */
import { OBJECT_STORE_ERROR_CODES, ObjectStoreError } from './errors.js';
import type { ObjectStoreErrorInit } from './errors.js';

/** The URL's scheme, host or address is not allowed (see `src/net/address-guard.ts`). Nothing was requested from it. */
export class OutputSourceRejectedError extends ObjectStoreError {
  /** The host as the URL names it; never the path's query or credentials. */
  readonly host: string;
  readonly reason: string;

  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'> & { host: string; reason: string }) {
    super({ ...init, retryable: false }, OBJECT_STORE_ERROR_CODES.outputSourceRejected, 'OutputSourceRejectedError');
    this.host = init.host;
    this.reason = init.reason;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), host: this.host, reason: this.reason };
  }
}

/** The file is larger than MAX_OUTPUT_BYTES (announced, or counted as it arrived). Nothing was stored. */
export class OutputTooLargeError extends ObjectStoreError {
  readonly maxBytes: number;
  /** What the source announced, or the bytes received when the limit was crossed. */
  readonly bytes: number;

  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'> & { maxBytes: number; bytes: number }) {
    super({ ...init, retryable: false }, OBJECT_STORE_ERROR_CODES.outputTooLarge, 'OutputTooLargeError');
    this.maxBytes = init.maxBytes;
    this.bytes = init.bytes;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), maxBytes: this.maxBytes, bytes: this.bytes };
  }
}

/**
 * The source sent nothing for the idle timeout, or the file was not done by its deadline. Nothing was
 * stored. A silence is retryable (a file server that hung once usually answers the next request; the
 * activity's retry policy bounds how often a source that always hangs holds a copy slot); a missed
 * deadline is not (a drip would hold the slot for a whole deadline again).
 */
export class OutputSourceStalledError extends ObjectStoreError {
  readonly limit: 'idle' | 'deadline';
  readonly limitMs: number;

  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'> & { limit: 'idle' | 'deadline'; limitMs: number }) {
    super({ ...init, retryable: init.limit === 'idle' }, OBJECT_STORE_ERROR_CODES.outputSourceStalled, 'OutputSourceStalledError');
    this.limit = init.limit;
    this.limitMs = init.limitMs;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), limit: this.limit, limitMs: this.limitMs };
  }
}
