import type { JobFailurePlan, JobOutcome, JobState, JobSummary } from './admin-types.js';
import { isoTimestamp } from './deployments.js';
import type { NodeOutputs } from './outputs.js';
import type { CancelledSpelling, ErrorShape } from './settings.js';
import type { QueueMember } from './waiting-queue.js';
import type { Overrides, WorkflowGraph } from './workflow-graph.js';

/** One inference request and everything that happened to it. */
export interface Job extends QueueMember {
  readonly requestId: string;
  readonly deploymentId: string;
  state: JobState;
  outcome: JobOutcome | undefined;
  readonly overrides: Overrides;
  readonly workflow: WorkflowGraph;
  readonly dynamicWorkflow: boolean;
  readonly extraData: Record<string, unknown> | undefined;
  readonly webhook: { url: string; intermediate: boolean } | undefined;
  readonly inputUrls: string[];
  readonly submittedAtMs: number;
  startedAtMs: number | undefined;
  finishedAtMs: number | undefined;
  instanceId: string | undefined;
  plannedDurationMs: number | undefined;
  cancelRequestedAtMs: number | undefined;
  failure: JobFailurePlan | undefined;
  /** Set when an input download failed; the job fails with this message when it finishes. */
  inputError: string | undefined;
  pendingInputFetch: Promise<void> | undefined;
  outputs: Record<string, NodeOutputs> | undefined;
  error: unknown;
  outputsExpireAtMs: number | undefined;
  outputsPurged: boolean;
  timer: NodeJS.Timeout | undefined;
  cancelTimer: NodeJS.Timeout | undefined;
  readonly statusUrl: string;
  readonly resultUrl: string;
  readonly cancelUrl: string;
}

/** The `status` string the API shows for a job. */
export function apiStatus(job: Job, cancelledSpelling: CancelledSpelling): string {
  return job.state === 'cancelled' ? cancelledSpelling : job.state;
}

/** The outcome string for results and webhooks (`cancelled` follows the configured spelling). */
export function apiOutcome(outcome: JobOutcome, cancelledSpelling: CancelledSpelling): string {
  return outcome === 'cancelled' ? cancelledSpelling : outcome;
}

const TRANSIENT_FAILURE = {
  type: 'OutOfMemoryError',
  errorCode: 'EXECUTION_ERROR',
  message: 'CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 47.54 GiB total capacity). The instance was recycled; retrying the request may succeed.',
} as const;

const PERMANENT_FAILURE = {
  type: 'prompt_outputs_failed_validation',
  errorCode: 'VALIDATION_ERROR',
  message: 'Prompt outputs failed validation: Value not in list: ckpt_name: model file not found on the deployment.',
} as const;

/** The `error` field of a failed job's result, in one of the shapes RunComfy's sources show. */
export function failureError(failure: JobFailurePlan, defaultShape: ErrorShape, nodeId: string | undefined): unknown {
  const template = failure.kind === 'transient' ? TRANSIENT_FAILURE : PERMANENT_FAILURE;
  const message = failure.message ?? template.message;
  switch (failure.errorShape ?? defaultShape) {
    case 'string':
      return message;
    case 'object':
      return { type: template.type, message };
    case 'array':
      return [{ errorCode: template.errorCode, error: message, debugInfo: { exception_type: template.type, node_id: nodeId ?? null, transient: failure.kind === 'transient' } }];
  }
}

/** Body of GET .../status. */
export function statusBody(job: Job, cancelledSpelling: CancelledSpelling, queuePosition: number | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = { request_id: job.requestId, status: apiStatus(job, cancelledSpelling) };
  if (queuePosition !== undefined) body.queue_position = queuePosition;
  if (job.instanceId !== undefined) body.instance_id = job.instanceId;
  body.status_url = job.statusUrl;
  body.result_url = job.resultUrl;
  return body;
}

/** Body of GET .../result: the outcome when finished, the current status while not. */
export function resultBody(job: Job, cancelledSpelling: CancelledSpelling): Record<string, unknown> {
  const body: Record<string, unknown> = { request_id: job.requestId };
  if (job.outcome === undefined) {
    body.status = apiStatus(job, cancelledSpelling);
    body.created_at = isoTimestamp(job.submittedAtMs);
    return body;
  }
  body.status = apiOutcome(job.outcome, cancelledSpelling);
  if (job.outcome === 'succeeded') body.outputs = job.outputs ?? {};
  if (job.outcome === 'failed') body.error = job.error;
  body.created_at = isoTimestamp(job.submittedAtMs);
  body.finished_at = isoTimestamp(job.finishedAtMs ?? job.submittedAtMs);
  if (job.instanceId !== undefined) body.instance_id = job.instanceId;
  return body;
}

/** A job as the admin API lists it. */
export function jobSummary(job: Job, queuePosition: number | undefined): JobSummary {
  return {
    request_id: job.requestId,
    deployment_id: job.deploymentId,
    state: job.state,
    outcome: job.outcome ?? null,
    queue_position: queuePosition ?? null,
    instance_id: job.instanceId ?? null,
    overrides: job.overrides,
    dynamic_workflow: job.dynamicWorkflow,
    webhook: job.webhook ?? null,
    submitted_at_ms: job.submittedAtMs,
    started_at_ms: job.startedAtMs ?? null,
    finished_at_ms: job.finishedAtMs ?? null,
    planned_duration_ms: job.plannedDurationMs ?? null,
    cancel_requested_at_ms: job.cancelRequestedAtMs ?? null,
    failure: job.failure ?? null,
    outputs_expire_at_ms: job.outputsExpireAtMs ?? null,
    outputs_purged: job.outputsPurged,
  };
}
