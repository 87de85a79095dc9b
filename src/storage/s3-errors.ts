import { ObjectStoreRequestError } from './errors.js';

// 409: a conflicting operation on the same key (R2 throttles same-key writes with 429).
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 409, 429, 500, 502, 503, 504]);
const RETRYABLE_S3_CODES: ReadonlySet<string> = new Set(['RequestTimeout', 'SlowDown', 'InternalError', 'ServiceUnavailable', 'OperationAborted']);
const TRANSPORT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/**
 * Types an error of an S3 call. The message is built here from the operation, key, status and S3's
 * error code only: server text can echo request details, and it stays reachable through `cause`.
 */
export function toObjectStoreRequestError(error: unknown, operation: string, key: string): ObjectStoreRequestError {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const httpStatus = typeof shape.$metadata?.httpStatusCode === 'number' ? shape.$metadata.httpStatusCode : undefined;
  // Only service exceptions (they carry `$fault`) have an S3 error code as their name.
  const s3ErrorCode = shape.$fault !== undefined && typeof shape.name === 'string' ? shape.name : undefined;
  const transportCode = typeof shape.code === 'string' && TRANSPORT_CODES.has(shape.code) ? shape.code : undefined;
  const timedOut = shape.name === 'TimeoutError';
  const retryable =
    (httpStatus !== undefined && RETRYABLE_STATUSES.has(httpStatus)) ||
    (s3ErrorCode !== undefined && RETRYABLE_S3_CODES.has(s3ErrorCode)) ||
    (httpStatus === undefined && (transportCode !== undefined || timedOut || shape.$retryable !== undefined));
  const details = [httpStatus === undefined ? undefined : `HTTP ${httpStatus}`, s3ErrorCode, transportCode, timedOut ? 'timeout' : undefined].filter(Boolean);
  return new ObjectStoreRequestError({
    message: `S3 ${operation} for "${key}" failed${details.length > 0 ? `: ${details.join(' ')}` : ''}`,
    operation,
    key,
    retryable,
    cause: error,
    ...(httpStatus === undefined ? {} : { httpStatus }),
    ...(s3ErrorCode === undefined ? {} : { s3ErrorCode }),
  });
}

/** True when an S3 error means "there is no such upload/object" (an abort or delete already done). */
export function isS3NotFound(error: unknown): boolean {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  return shape.$metadata?.httpStatusCode === 404 || shape.name === 'NoSuchUpload' || shape.name === 'NoSuchKey' || shape.name === 'NotFound';
}
