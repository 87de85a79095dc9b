/**
 * Typed errors of the object store layer.
 *
 * Every failure is an {@link ObjectStoreError} subclass with a stable `name` and `code` and a
 * `retryable` flag saying whether repeating the same call may succeed. Messages name the object key
 * and the source URL without its query string (output URLs may be signed), never credentials or
 * server-provided text; the original error stays in `cause`.
 *
 * This file has no Node imports: the key helpers in `output-key.ts` (sandbox-safe) throw from it.
 */

/** Stable `code` of every error class. Values are wire names (failure types): never rename them. */
export const OBJECT_STORE_ERROR_CODES = {
  sourceNotFound: 'SOURCE_NOT_FOUND',
  sourceRejected: 'SOURCE_REJECTED',
  sourceUnavailable: 'SOURCE_UNAVAILABLE',
  sourceTruncated: 'SOURCE_TRUNCATED',
  sourceSizeMismatch: 'SOURCE_SIZE_MISMATCH',
  sourceChanged: 'SOURCE_CHANGED',
  requestFailed: 'OBJECT_STORE_REQUEST_FAILED',
  aborted: 'OBJECT_STORE_ABORTED',
  invalidKey: 'INVALID_OBJECT_KEY',
  outputSourceRejected: 'OUTPUT_SOURCE_REJECTED',
  outputTooLarge: 'OUTPUT_TOO_LARGE',
  outputSourceStalled: 'OUTPUT_SOURCE_STALLED',
} as const;

/** One of the values of {@link OBJECT_STORE_ERROR_CODES}. */
export type ObjectStoreErrorCode = (typeof OBJECT_STORE_ERROR_CODES)[keyof typeof OBJECT_STORE_ERROR_CODES];

/** Fields common to every {@link ObjectStoreError}. */
export interface ObjectStoreErrorInit {
  /** Complete message; must not contain secrets or signed query strings. */
  readonly message: string;
  readonly retryable: boolean;
  /** Object key the call was about (relative to the store's key prefix). */
  readonly key?: string;
  /** HTTP status of the source or of the object store, when a response arrived. */
  readonly httpStatus?: number;
  /** Delay the source asked for via `Retry-After`, in milliseconds. */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

const OBJECT_STORE_ERROR_BRAND = Symbol.for('runcomfy-pipelines.object-store-error');

/** Base class of every error thrown by `src/storage`. Branch on `code` or on the subclass. */
export class ObjectStoreError extends Error {
  /** Stable machine-readable code, one of {@link OBJECT_STORE_ERROR_CODES}. */
  readonly code: ObjectStoreErrorCode;
  /** True when repeating the same call is safe and may succeed (honour {@link retryAfterMs} first). */
  readonly retryable: boolean;
  readonly key?: string;
  readonly httpStatus?: number;
  readonly retryAfterMs?: number;

  constructor(init: ObjectStoreErrorInit, code: ObjectStoreErrorCode, name: string) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    // Assigned explicitly (not from constructor.name) so bundling or minification cannot change it.
    Object.defineProperty(this, 'name', { value: name, enumerable: false, configurable: true, writable: true });
    Object.defineProperty(this, OBJECT_STORE_ERROR_BRAND, { value: true, enumerable: false });
    this.code = code;
    this.retryable = init.retryable;
    if (init.key !== undefined) this.key = init.key;
    if (init.httpStatus !== undefined) this.httpStatus = init.httpStatus;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }

  /** A plain, secret-free description for logs and failure details. */
  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = { name: this.name, code: this.code, message: this.message, retryable: this.retryable };
    for (const field of ['key', 'httpStatus', 'retryAfterMs'] as const) {
      if (this[field] !== undefined) json[field] = this[field];
    }
    return json;
  }
}

/** True for any {@link ObjectStoreError}, also across module copies (checks a global brand). */
export function isObjectStoreError(value: unknown): value is ObjectStoreError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[OBJECT_STORE_ERROR_BRAND] === true;
}

/** The source answered 404 or 410: the output URL expired or never existed. Not retryable. */
export class SourceNotFoundError extends ObjectStoreError {
  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'>) {
    super({ ...init, retryable: false }, OBJECT_STORE_ERROR_CODES.sourceNotFound, 'SourceNotFoundError');
  }
}

/**
 * The source refused the download for good: another 4xx, a URL that is not http(s), too many
 * redirects, an unexpected success status. Not retryable.
 */
export class SourceRejectedError extends ObjectStoreError {
  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'>) {
    super({ ...init, retryable: false }, OBJECT_STORE_ERROR_CODES.sourceRejected, 'SourceRejectedError');
  }
}

/** The source failed transiently: 5xx, 408, 429, a refused or reset connection, a timeout. Retryable. */
export class SourceUnavailableError extends ObjectStoreError {
  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'>) {
    super({ ...init, retryable: true }, OBJECT_STORE_ERROR_CODES.sourceUnavailable, 'SourceUnavailableError');
  }
}

/** The download ended before the announced number of bytes arrived. Nothing was stored. Retryable. */
export class SourceTruncatedError extends ObjectStoreError {
  readonly expectedBytes: number;
  readonly receivedBytes: number;

  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'> & { expectedBytes: number; receivedBytes: number }) {
    super({ ...init, retryable: true }, OBJECT_STORE_ERROR_CODES.sourceTruncated, 'SourceTruncatedError');
    this.expectedBytes = init.expectedBytes;
    this.receivedBytes = init.receivedBytes;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), expectedBytes: this.expectedBytes, receivedBytes: this.receivedBytes };
  }
}

/**
 * The source sent more bytes than announced, or announced a size other than the caller expected.
 * Nothing was stored. Not retryable: the same source gives the same answer.
 */
export class SourceSizeMismatchError extends ObjectStoreError {
  readonly expectedBytes: number;
  /** Bytes received (a lower bound when the download was stopped early) or announced. */
  readonly actualBytes: number;

  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'> & { expectedBytes: number; actualBytes: number }) {
    super({ ...init, retryable: false }, OBJECT_STORE_ERROR_CODES.sourceSizeMismatch, 'SourceSizeMismatchError');
    this.expectedBytes = init.expectedBytes;
    this.actualBytes = init.actualBytes;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), expectedBytes: this.expectedBytes, actualBytes: this.actualBytes };
  }
}

/**
 * A local source (file or stream) produced different bytes on the second read than on the first,
 * i.e. it changed while being stored. Nothing was stored. Retryable.
 */
export class SourceChangedError extends ObjectStoreError {
  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'>) {
    super({ ...init, retryable: true }, OBJECT_STORE_ERROR_CODES.sourceChanged, 'SourceChangedError');
  }
}

/**
 * An S3 call failed. `retryable` follows the status: 408, 409, 429 and 5xx, S3's `RequestTimeout`
 * and transport failures (reset, refused, timeout) are retryable; 403, 404 (e.g. no such bucket)
 * and other 4xx are not.
 */
export class ObjectStoreRequestError extends ObjectStoreError {
  /** The S3 operation, e.g. `PutObject`, `CompleteMultipartUpload`. */
  readonly operation: string;
  /** S3's error code, e.g. `AccessDenied`, `SlowDown`, `NoSuchBucket`. */
  readonly s3ErrorCode?: string;

  constructor(init: ObjectStoreErrorInit & { operation: string; s3ErrorCode?: string }) {
    super(init, OBJECT_STORE_ERROR_CODES.requestFailed, 'ObjectStoreRequestError');
    this.operation = init.operation;
    if (init.s3ErrorCode !== undefined) this.s3ErrorCode = init.s3ErrorCode;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), operation: this.operation, ...(this.s3ErrorCode === undefined ? {} : { s3ErrorCode: this.s3ErrorCode }) };
  }
}

/**
 * The caller's `AbortSignal` fired. Named `AbortError` like the platform's own abort errors, so
 * generic cancellation handling recognises it; `cause` holds the signal's reason. Any multipart
 * upload begun for the call has been aborted before this is thrown.
 */
export class ObjectStoreAbortedError extends ObjectStoreError {
  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'>) {
    super({ ...init, retryable: false }, OBJECT_STORE_ERROR_CODES.aborted, 'AbortError');
  }
}

/** A key or key segment cannot be stored safely (empty, too long). Not retryable. */
export class InvalidObjectKeyError extends ObjectStoreError {
  constructor(init: Omit<ObjectStoreErrorInit, 'retryable'>) {
    super({ ...init, retryable: false }, OBJECT_STORE_ERROR_CODES.invalidKey, 'InvalidObjectKeyError');
  }
}
