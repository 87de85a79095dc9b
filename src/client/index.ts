/**
 * The backend's client of the pipeline service. Safe to load in any Node process: it uses
 * `@temporalio/client` only, never `@temporalio/worker`.
 */
export { PipelineClient } from './pipeline-client.js';
export { DEFAULT_CLIENT_PRESIGN_TTL_SECONDS, DEFAULT_QUERY_TIMEOUT_MS, DEFAULT_WATCH_INTERVAL_MS } from './types.js';
export type { PipelineClientCommonOptions, PipelineClientConnectOptions, PipelineClientOptions, WatchOptions } from './types.js';
export type { UploadInputOptions } from '../storage/inputs.js';
export {
  InvalidPipelineSpecError,
  isPipelineClientError,
  PIPELINE_CLIENT_ERROR_CODES,
  PipelineAlreadyStartedError,
  PipelineCancelledError,
  PipelineClientError,
  PipelineClientNotConfiguredError,
  PipelineFailedError,
  PipelineNotFoundError,
} from './errors.js';
export type { PipelineClientErrorCode, PipelineFailureInfo, StepOutput } from './errors.js';
export { PIPELINE_LIST_STATUSES } from './types.js';
export type {
  LiveStepStatus,
  PipelineListFilter,
  PipelineListStatus,
  PipelineRunStatus,
  PipelineStatusView,
  PipelineSummary,
  StartedPipeline,
  UploadedInput,
} from './types.js';
export { canonicalJson, specSha256 } from './spec-digest.js';
export { INPUT_KEY_PREFIX } from '../storage/input-key.js';
/** Re-exported so callers need no deep imports for the common types. */
export type { PipelineProgress, PipelineResult, PipelineStatus, PersistedOutput, StepProgress } from '../contract/pipeline-contract.js';
export type { PipelineSpec } from '../pipeline/spec.js';
export type { ObjectStoreConfig } from '../storage/s3-client.js';
export { CALLBACK_HEADERS, CallbackVerificationError, DEFAULT_CALLBACK_TOLERANCE_SECONDS, signCallback, verifyCallback } from '../callbacks/signature.js';
export type { CallbackHeaders, VerifiedCallback, VerifyCallbackOptions } from '../callbacks/signature.js';
export type { IntegrationChecks } from './correlation.js';
export { isUuid, KEY_TEMPLATE_PLACEHOLDERS, keyTemplateProblems } from '../pipeline/integration.js';
export type { CallbackSpec, Correlation } from '../pipeline/integration.js';
export { gpuFactsOf, stepGpuFacts } from '../pipeline/gpu-facts.js';
export type { AttemptGpuFacts, PipelineGpuFacts, StepGpuFacts } from '../pipeline/gpu-facts.js';
