/**
 * The one place where errors from the RunComfy client and the object store become Temporal
 * ApplicationFailures: an explicit `type`, `nonRetryable`, and `nextRetryDelay` from Retry-After.
 * Messages come from errors that never carry secrets; the original error stays as `cause`.
 */
import type { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { PipelineSpecError } from '../pipeline/errors.js';
import { isRunComfyError } from '../runcomfy/errors.js';
import { stripUrlQueries, stripUrlQueriesDeep } from '../net/redact-urls.js';
import { PIPELINE_FAILURE_TYPES, STEP_FAILURE_TYPES } from '../contract/pipeline-contract.js';

interface StoreErrorLike {
  name: string;
  message: string;
  code?: string;
  retryable?: boolean;
}

function isStoreError(error: unknown): error is StoreErrorLike {
  return error instanceof Error && typeof (error as { retryable?: unknown }).retryable === 'boolean';
}

/** Maps an error thrown by a submit. Only a proven non-acceptance may be retried. */
export function submitFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof PipelineSpecError) {
    return redactedFailure({ type: PIPELINE_FAILURE_TYPES.invalidSpec, message: error.message, details: [error.issues], nonRetryable: true });
  }
  if (isRunComfyError(error)) {
    if (error.jobMayHaveBeenAccepted) {
      return redactedFailure({ type: STEP_FAILURE_TYPES.submitOutcomeUnknown, message: error.message, cause: error, nonRetryable: true, details: [error.toJSON()] });
    }
    return redactedFailure({
      type: STEP_FAILURE_TYPES.submitRejected,
      message: error.message,
      cause: error,
      nonRetryable: !error.retryable,
      details: [error.toJSON()],
      ...(error.retryAfterMs !== undefined ? { nextRetryDelay: error.retryAfterMs } : {}),
    });
  }
  // Anything unexpected happened somewhere between building the request and reading the answer.
  return redactedFailure({ type: STEP_FAILURE_TYPES.submitOutcomeUnknown, message: errorMessage(error), nonRetryable: true });
}

/** Maps an error of any other RunComfy call (status, result, cancel, deployments). */
export function runComfyFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (isRunComfyError(error)) {
    return redactedFailure({
      type: STEP_FAILURE_TYPES.remoteApi,
      message: error.message,
      cause: error,
      nonRetryable: !error.retryable,
      details: [error.toJSON()],
      ...(error.retryAfterMs !== undefined ? { nextRetryDelay: error.retryAfterMs } : {}),
    });
  }
  return redactedFailure({ type: STEP_FAILURE_TYPES.remoteApi, message: errorMessage(error), nonRetryable: false });
}

/** Maps an error of the object store or of an output download. */
export function storageFailure(error: unknown, context?: { stepId: string; requestId: string }): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (isStoreError(error) && error.code !== undefined && UNTRUSTED_SOURCE_TYPES[error.code] !== undefined) {
    // Retried only when the error says so (a silence): a hostile source answers the same way again,
    // and each retry holds a copy slot; the retry policy bounds the silences.
    const json = typeof (error as { toJSON?: unknown }).toJSON === 'function' ? (error as unknown as { toJSON(): Record<string, unknown> }).toJSON() : {};
    return redactedFailure({
      type: UNTRUSTED_SOURCE_TYPES[error.code]!,
      message: context ? `step "${context.stepId}" (RunComfy request ${context.requestId}): ${error.message}` : error.message,
      details: [{ ...json, ...(context ?? {}), reason: error.code }],
      nonRetryable: !error.retryable,
    });
  }
  if (isStoreError(error)) {
    const expired = error.name === 'SourceNotFoundError' || error.code === 'SOURCE_NOT_FOUND';
    // A refusal by the store itself (403, no such bucket, bad credentials) needs a person, not a retry.
    const misconfigured = !expired && !error.retryable && error.name === 'ObjectStoreRequestError';
    return redactedFailure({
      type: expired ? STEP_FAILURE_TYPES.outputExpired : misconfigured ? STEP_FAILURE_TYPES.storageMisconfigured : STEP_FAILURE_TYPES.storage,
      message: expired
        ? `the output file is gone at its source (expired or deleted): ${error.message}`
        : misconfigured
          ? `the object store refused the copy; check the bucket name, the credentials and their permissions (R2_BUCKET, R2_ACCESS_KEY_ID): ${error.message}`
          : error.message,
      cause: error,
      nonRetryable: expired || !error.retryable,
    });
  }
  return redactedFailure({ type: STEP_FAILURE_TYPES.storage, message: errorMessage(error), nonRetryable: false });
}

/**
 * `ApplicationFailure.create` with every URL's query string removed from the message and the
 * details: remote error text can echo presigned URLs, and failures are stored in history.
 */
function redactedFailure(options: Parameters<typeof ApplicationFailure.create>[0]): ApplicationFailure {
  return ApplicationFailure.create({
    ...options,
    ...(options.message === undefined ? {} : { message: stripUrlQueries(options.message) }),
    ...(options.details === undefined ? {} : { details: stripUrlQueriesDeep([...options.details]) }),
  });
}

/** The failure `type` for a storage error code that means an untrusted source misbehaved. */
const UNTRUSTED_SOURCE_TYPES: Readonly<Record<string, string>> = {
  OUTPUT_SOURCE_REJECTED: STEP_FAILURE_TYPES.outputSourceRejected,
  OUTPUT_TOO_LARGE: STEP_FAILURE_TYPES.outputTooLarge,
  OUTPUT_SOURCE_STALLED: STEP_FAILURE_TYPES.outputSourceStalled,
};

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The error to throw when the activity was cancelled while a call was in flight. The aborted call
 * fails with its own error type, which the SDK would report as a failure (and the workflow would
 * take for a broken step); the signal's CancelledFailure is reported as a cancellation.
 */
export function cancellationOf(ctx: Context): CancelledFailure | undefined {
  if (!ctx.cancellationSignal.aborted) return undefined;
  const reason: unknown = ctx.cancellationSignal.reason;
  return reason instanceof CancelledFailure ? reason : new CancelledFailure(String(reason ?? 'activity cancelled'));
}
