/**
 * Typed errors of the pipeline client. Each has a stable `name` and `code` a caller can branch on;
 * messages name pipeline ids, steps and RunComfy request ids, never credentials.
 */
import type { PipelineSpecIssue } from '../pipeline/errors.js';
import { summarizeIssues } from '../pipeline/errors.js';
import type { PersistedOutput, PipelineResult } from '../contract/pipeline-contract.js';

/** Stable `code` values of the client's errors; part of the client's contract, never renamed. */
export const PIPELINE_CLIENT_ERROR_CODES = {
  notFound: 'PIPELINE_NOT_FOUND',
  alreadyStarted: 'PIPELINE_ALREADY_STARTED',
  failed: 'PIPELINE_FAILED',
  cancelled: 'PIPELINE_CANCELLED',
  invalidSpec: 'PIPELINE_SPEC_INVALID',
  notConfigured: 'PIPELINE_CLIENT_NOT_CONFIGURED',
} as const;

/** One of {@link PIPELINE_CLIENT_ERROR_CODES}. */
export type PipelineClientErrorCode = (typeof PIPELINE_CLIENT_ERROR_CODES)[keyof typeof PIPELINE_CLIENT_ERROR_CODES];

/** Base class of every error the client throws on purpose. */
export abstract class PipelineClientError extends Error {
  abstract readonly code: PipelineClientErrorCode;
}

/** No pipeline with this id was ever started (in this namespace). */
export class PipelineNotFoundError extends PipelineClientError {
  override readonly name = 'PipelineNotFoundError';
  readonly code = PIPELINE_CLIENT_ERROR_CODES.notFound;
  constructor(
    readonly pipelineId: string,
    options?: { cause?: unknown },
  ) {
    super(`pipeline "${pipelineId}" not found`, options);
  }
}

/**
 * A pipeline with this id exists and was started with a different spec (or by something other than
 * this client). Pipeline ids are never reused: pick a new id for a new spec.
 */
export class PipelineAlreadyStartedError extends PipelineClientError {
  override readonly name = 'PipelineAlreadyStartedError';
  readonly code = PIPELINE_CLIENT_ERROR_CODES.alreadyStarted;
  constructor(
    readonly pipelineId: string,
    /** Temporal status of the existing pipeline (e.g. RUNNING, COMPLETED). */
    readonly existingRunStatus: string,
    options?: { cause?: unknown },
  ) {
    super(`pipeline "${pipelineId}" was already started with a different spec (it is ${existingRunStatus.toLowerCase()}); pipeline ids are never reused, choose a new id`, options);
  }
}

/** What {@link PipelineFailedError} knows about the failure. */
export interface PipelineFailureInfo {
  /** Failure type, e.g. `PipelineStepFailed`'s step cause `RunComfyJobFailed`, or `InvalidDeploymentBinding`, `Terminated`, `TimedOut`. */
  failureType: string;
  message: string;
  stepId?: string;
  /** The RunComfy request of the failed job, to look it up at RunComfy. */
  requestId?: string;
  /** RunComfy's own error text for the job. */
  remoteError?: string;
}

/** The pipeline ended without its outputs: a step failed, the spec or a binding was refused, or it was terminated. */
export class PipelineFailedError extends PipelineClientError {
  override readonly name = 'PipelineFailedError';
  readonly code = PIPELINE_CLIENT_ERROR_CODES.failed;
  readonly failureType: string;
  readonly stepId: string | undefined;
  readonly requestId: string | undefined;
  readonly remoteError: string | undefined;

  constructor(
    readonly pipelineId: string,
    info: PipelineFailureInfo,
    options?: { cause?: unknown },
  ) {
    super(`pipeline "${pipelineId}" failed: ${info.message}`, options);
    this.failureType = info.failureType;
    this.stepId = info.stepId;
    this.requestId = info.requestId;
    this.remoteError = info.remoteError;
  }

  /** The failure as plain data (for JSON output). */
  toInfo(): PipelineFailureInfo {
    return {
      failureType: this.failureType,
      message: this.message,
      ...(this.stepId !== undefined ? { stepId: this.stepId } : {}),
      ...(this.requestId !== undefined ? { requestId: this.requestId } : {}),
      ...(this.remoteError !== undefined ? { remoteError: this.remoteError } : {}),
    };
  }
}

/** A persisted output together with the step that produced it. */
export type StepOutput = PersistedOutput & { stepId: string };

/**
 * The pipeline was cancelled (by the `cancelPipeline` signal or a Temporal cancellation). Outputs
 * already copied to R2 are kept and listed in `outputs`.
 */
export class PipelineCancelledError extends PipelineClientError {
  override readonly name = 'PipelineCancelledError';
  readonly code = PIPELINE_CLIENT_ERROR_CODES.cancelled;

  constructor(
    readonly pipelineId: string,
    /** Why it was cancelled, as given by whoever cancelled it. */
    readonly reason: string,
    /** Outputs persisted before the cancellation; they stay in R2. */
    readonly outputs: readonly StepOutput[],
    /** The pipeline's final progress when known (always for a signal cancellation). */
    readonly result?: PipelineResult,
    options?: { cause?: unknown },
  ) {
    super(`pipeline "${pipelineId}" was cancelled: ${reason}${outputs.length > 0 ? ` (${outputs.length} output file${outputs.length === 1 ? '' : 's'} kept)` : ''}`, options);
  }
}

/** The spec was refused before anything started; `issues` name each field and the reason. */
export class InvalidPipelineSpecError extends PipelineClientError {
  override readonly name = 'InvalidPipelineSpecError';
  readonly code = PIPELINE_CLIENT_ERROR_CODES.invalidSpec;
  constructor(
    readonly issues: readonly PipelineSpecIssue[],
    options?: { cause?: unknown },
  ) {
    super(summarizeIssues('invalid pipeline spec', issues), options);
  }
}

/** The client was asked for something its configuration does not allow (e.g. an upload without an object store). */
export class PipelineClientNotConfiguredError extends PipelineClientError {
  override readonly name = 'PipelineClientNotConfiguredError';
  readonly code = PIPELINE_CLIENT_ERROR_CODES.notConfigured;
}

/** True for every error the client throws on purpose (they all carry a stable `code`). */
export function isPipelineClientError(error: unknown): error is PipelineClientError {
  return error instanceof PipelineClientError;
}
