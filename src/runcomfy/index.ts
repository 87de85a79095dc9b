/**
 * RunComfy serverless API client: typed calls, zod-checked responses, typed errors, output-file
 * extraction and status normalisation. Everything other modules need is exported from here.
 */
export { RunComfyClient, INFERENCE_API_VERSIONS } from './client.js';
export { InferenceResource } from './inference.js';
export { DeploymentsResource } from './deployments.js';
export type {
  CreateDeploymentInput,
  DeploymentInclude,
  GetDeploymentQuery,
  InferenceApiVersion,
  ListDeploymentsQuery,
  RequestUrls,
  RunComfyCallOptions,
  RunComfyClientOptions,
  RunComfyClientTimeouts,
  SubmitJobInput,
  UpdateDeploymentInput,
  WebhookTarget,
} from './client.js';
export { createRunComfyDispatcher, DEFAULT_RUNCOMFY_DISPATCHER_OPTIONS } from './dispatcher.js';
export type { RunComfyDispatcherOptions } from './dispatcher.js';
export {
  ERROR_CODES,
  RUNCOMFY_API_ERROR_CODES,
  RUNCOMFY_OPERATIONS,
  TRANSPORT_PHASES,
  RunComfyError,
  RunComfyAbortedError,
  RunComfyApiError,
  RunComfyConnectionError,
  RunComfyDeploymentDeletedError,
  RunComfyDeploymentDisabledError,
  RunComfyForbiddenError,
  RunComfyInsufficientFundsError,
  RunComfyNotFoundError,
  RunComfyProtocolError,
  RunComfyRateLimitedError,
  RunComfyServerError,
  RunComfyTimeoutError,
  RunComfyUnauthorizedError,
  RunComfyValidationError,
  isNonIdempotentOperation,
  isRunComfyError,
  isRunComfyErrorWithCode,
} from './errors.js';
export type { RunComfyErrorCode, RunComfyErrorInit, RunComfyOperation, TransportPhase, ValidationIssue } from './errors.js';
export { extractOutputFiles, OUTPUT_KIND } from './outputs.js';
export type { ExtractOutputFilesOptions, OutputFile, OutputKind } from './outputs.js';
export { parseRetryAfterMs, MAX_RETRY_AFTER_MS } from './retry-after.js';
export { REDACTED, redactSecret } from './redact.js';
export { CANCEL_OUTCOMES, HARDWARE_SKUS, normalizeCancelOutcome, toJobFailure } from './schemas.js';
export type {
  CancelOutcome,
  CancelResult,
  Deployment,
  DeploymentPayload,
  HardwareSku,
  JobFailure,
  JobResult,
  JobStatus,
  RunComfyOutputs,
  SubmittedJob,
  WorkflowApiJson,
  WorkflowOverrides,
} from './schemas.js';
export { RUN_STATUS, isTerminalStatus, normalizeStatus } from './status.js';
export type { NormalizedStatus, RunStatus } from './status.js';
