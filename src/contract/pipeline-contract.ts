/**
 * The pipeline's wire contract with the outside world: workflow type, signal and query names,
 * failure types, and the shapes of its input, progress and result. These names are API: they are
 * stored in workflow histories, so they are never renamed; new fields are optional.
 */
import { ApplicationFailure } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { summarizeIssues, type PipelineSpecIssue } from '../pipeline/errors.js';
import type { PipelineGpuFacts } from '../pipeline/gpu-facts.js';
import type { Correlation } from '../pipeline/integration.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import type { StepKind } from '../pipeline/step-kinds.js';

export const PIPELINE_WORKFLOW_TYPE = 'generationPipeline' as const;
export const DEFAULT_TASK_QUEUE = 'generation-pipelines' as const;

/** Workflow id of a pipeline: derived from the caller's id, so starting the same id twice runs it once. */
export function pipelineWorkflowId(pipelineId: string): string {
  return `pipeline-${pipelineId}`;
}

/** Why a pipeline is being cancelled; shown in its progress and result. */
export interface CancelPipelineRequest {
  reason: string;
  requestedBy?: string;
}

export const cancelPipelineSignal = defineSignal<[CancelPipelineRequest]>('cancelPipeline');
export const pipelineProgressQuery = defineQuery<PipelineProgress>('pipelineProgress');

/**
 * A RunComfy webhook for one step's job, passed on by the webhook receiver after it checked the
 * URL's token. Only a nudge: the workflow then reads the job's status through the API, so nothing
 * here is trusted beyond which step and attempt the (authenticated) URL named.
 */
export interface JobNudge {
  stepId: string;
  attempt: number;
  /** The payload's `request_id`, when it had one (a mismatch makes the nudge ignored). */
  requestId?: string;
  /** The payload's status, for logs only. */
  status?: string;
}

export const jobNudgeSignal = defineSignal<[JobNudge]>('jobNudge');

/** `type` of the ApplicationFailures a pipeline ends with. */
export const PIPELINE_FAILURE_TYPES = {
  invalidSpec: 'InvalidPipelineSpec',
  invalidDeployment: 'InvalidDeploymentBinding',
  stepFailed: 'PipelineStepFailed',
} as const;

/** `type` of the step-level failures (the cause of a PipelineStepFailed). */
export const STEP_FAILURE_TYPES = {
  jobFailed: 'RunComfyJobFailed',
  jobCancelledRemotely: 'RunComfyJobCancelled',
  queueBudgetExceeded: 'QueueBudgetExceeded',
  runBudgetExceeded: 'RunBudgetExceeded',
  submitRejected: 'SubmitRejected',
  submitOutcomeUnknown: 'SubmitOutcomeUnknown',
  outputExpired: 'OutputExpired',
  noOutputs: 'NoOutputs',
  remoteApi: 'RunComfyApiError',
  storage: 'StorageError',
  /** An output URL's scheme, host or address is not allowed (private, loopback, not in OUTPUT_HOSTS). */
  outputSourceRejected: 'OutputSourceRejected',
  /** An output file is over MAX_OUTPUT_BYTES. */
  outputTooLarge: 'OutputTooLarge',
  /** An output source went quiet (idle timeout) or did not finish by its deadline. */
  outputSourceStalled: 'OutputSourceStalled',
  /** The object store refuses the copy for a reason retrying cannot fix (403, no such bucket, bad credentials). */
  storageMisconfigured: 'StorageMisconfigured',
} as const;

/** Input of the pipeline workflow. */
export interface PipelineWorkflowInput {
  spec: PipelineSpec;
}

export type PipelineStatus = 'preparing' | 'running' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';
export type StepState =
  | 'pending'
  | 'submitting'
  | 'waiting'
  | 'running'
  | 'fetching-result'
  | 'persisting'
  /** The copy failed because the object store is unreachable; it is retried within the outage budget. */
  | 'waiting-for-store'
  | 'retry-backoff'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'skipped';

/** An output file kept in R2 (references only: history never holds bytes). */
export interface PersistedOutput {
  key: string;
  bytes: number;
  sha256: string;
  contentType: string;
  nodeId: string;
  channel: string;
  filename: string;
  media: 'image' | 'video' | 'audio' | 'other';
  /** RunComfy's temporary URL the file was copied from. */
  sourceUrl: string;
}

/** One paid job submitted for a step. */
export interface JobAttempt {
  attempt: number;
  requestId?: string;
  submittedAt?: string;
  runStartedAt?: string;
  finishedAt?: string;
  /** RunComfy's `created_at` / `finished_at` from the job's result (its clock), when it gave them. */
  remoteCreatedAt?: string;
  remoteFinishedAt?: string;
  /** Last status seen: queued, running, succeeded, failed, cancelled, unknown. */
  status: string;
  error?: string;
  /**
   * Set when the pipeline asked RunComfy to cancel this job: `confirmed` (RunComfy says cancelled),
   * `already-finished` (it ended on its own first) or `unconfirmed` (no confirmation within the
   * cancel budget: the job may still be billing, someone must look).
   */
  cancelOutcome?: 'confirmed' | 'already-finished' | 'unconfirmed';
  /** How many times the workflow read this job's status, and how many of those reads a webhook prompted. */
  statusReads?: number;
  nudgedReads?: number;
}

export interface StepProgress {
  id: string;
  kind: StepKind;
  deploymentKey: string;
  state: StepState;
  attempts: JobAttempt[];
  /** The current or last RunComfy request id. */
  requestId?: string;
  startedAt?: string;
  finishedAt?: string;
  outputs: PersistedOutput[];
  error?: StepError;
  /** RunComfy deployment id the step's jobs ran on. */
  deploymentId?: string;
  /** RunComfy hardware SKUs of that deployment. */
  hardware?: string[];
  /** While the job waits in RunComfy's queue: how many jobs are ahead of it, as last reported. */
  queuePosition?: number;
  /** While the step waits for its job without holding an activity: what the last status read saw. */
  wait?: StepWait;
}

/** The live state of a step waiting for its RunComfy job (status reads on durable timers). */
export interface StepWait {
  /** RunComfy's own status word at the last read (in_queue, in_progress, …). */
  remoteStatus?: string;
  statusReads: number;
  lastReadAt?: string;
  /** When the next backstop read happens at the latest (a webhook may prompt one sooner). */
  nextReadBy?: string;
  /** Whether webhooks are expected to announce the job's changes. */
  webhooks: boolean;
}

export interface StepError {
  type: string;
  message: string;
  requestId?: string;
  remoteError?: string;
}

export interface PipelineProgress {
  pipelineId: string;
  status: PipelineStatus;
  startedAt: string;
  finishedAt?: string;
  cancelReason?: string;
  /** The step that made the pipeline fail. */
  failedStepId?: string;
  steps: StepProgress[];
  /** The backend's ids the pipeline was started with (spec.correlation). */
  correlation?: Correlation;
  /** The spec's labels. */
  labels?: Record<string, string>;
  /** Which steps spent GPU time and how much (added by the client to status and result). */
  gpu?: PipelineGpuFacts;
}

/** What a finished pipeline returns (also when cancelled by signal: outputs kept so far are listed). */
export type PipelineResult = PipelineProgress;

/** The failure a pipeline ends with when its spec is invalid: names every field and reason. */
export function invalidSpecFailure(issues: readonly PipelineSpecIssue[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: PIPELINE_FAILURE_TYPES.invalidSpec,
    message: summarizeIssues('invalid pipeline spec', issues),
    details: [issues],
    nonRetryable: true,
  });
}
