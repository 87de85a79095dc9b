/**
 * The callbacks a pipeline sends its backend, and the wire names of the outbox workflow that
 * delivers them. Events are derived from the pipeline's progress (pure and sandbox-safe), numbered
 * by a per-pipeline sequence, and identified by `<pipelineId>` + sequence so redeliveries dedupe.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { gpuFactsOf, stepGpuFacts, type PipelineGpuFacts, type StepGpuFacts } from '../pipeline/gpu-facts.js';
import type { Correlation } from '../pipeline/integration.js';
import type { PipelineProgress, PipelineStatus, StepProgress } from '../contract/pipeline-contract.js';
import { PIPELINE_FAILURE_TYPES, STEP_FAILURE_TYPES } from '../contract/pipeline-contract.js';

export const CALLBACK_EVENT_TYPES = [
  'step.started',
  'step.progress',
  'step.succeeded',
  'step.failed',
  'step.cancelled',
  'pipeline.completed',
  'pipeline.failed',
  'pipeline.cancelled',
] as const;
export type CallbackEventType = (typeof CALLBACK_EVENT_TYPES)[number];

/** One callback's JSON body. */
export interface CallbackEvent {
  /** Same for every delivery of this event: dedupe on it. Also sent as the `webhook-id` header. */
  id: string;
  type: CallbackEventType;
  /**
   * 1, 2, 3… per pipeline, in the order things happened. Given when the outbox hands the event to
   * delivery, to sent events only: a superseded progress event gets none, so the backend sees no gap
   * unless an event was given up after its retry window (recorded `undelivered` in the outbox).
   */
  sequence: number;
  pipelineId: string;
  correlation?: Correlation;
  labels?: Record<string, string>;
  /** Workflow time of the change. */
  occurredAt: string;
  /** Whole-pipeline estimate 0–100. */
  progress: number;
  data: StepEventData | PipelineEventData;
}

/** `data` of the `step.*` events. */
export interface StepEventData {
  stepId: string;
  kind: string;
  attempt?: number;
  requestId?: string;
  /** step.progress: submitting, queued, running, persisting, retrying. */
  phase?: string;
  /** step.progress: the step's own estimate 0–100. */
  stepProgress?: number;
  /** step.progress while queued: jobs ahead of this one at RunComfy, when it reported it. */
  queuePosition?: number;
  /** step.succeeded: the R2 keys written (presign on read). */
  outputs?: { key: string; bytes: number; sha256: string; contentType: string; media: string }[];
  /** step.failed: what went wrong, and whether running the job again may succeed. */
  error?: { type: string; message: string; requestId?: string };
  retryable?: boolean;
  /** step.succeeded / failed / cancelled: the step's GPU facts. */
  gpu?: StepGpuFacts;
}

/** `data` of the `pipeline.*` events. */
export interface PipelineEventData {
  status: PipelineStatus;
  failedStepId?: string;
  cancelReason?: string;
  /** pipeline.failed: why (also a refusal at preparation, before any step ran). */
  error?: { type: string; message: string };
  /** pipeline.failed: whether starting the same job again may succeed. */
  retryable?: boolean;
  outputs: { stepId: string; key: string; bytes: number; sha256: string; contentType: string; media: string }[];
  gpu: PipelineGpuFacts;
}

/** Signal to the outbox: one event to deliver. */
export const callbackEventSignal = defineSignal<[CallbackEvent]>('callbackEvent');
/** Query of the outbox: what was delivered. */
export const callbackDeliveriesQuery = defineQuery<CallbackDeliveryRecord[]>('callbackDeliveries');
/** Workflow type of the outbox (wire name). */
export const CALLBACK_OUTBOX_WORKFLOW_TYPE = 'pipelineCallbacks' as const;
/** Workflow id of a pipeline's outbox. */
export function callbackOutboxWorkflowId(pipelineId: string): string {
  return `callbacks-${pipelineId}`;
}

/** What happened to one event. */
export interface CallbackDeliveryRecord {
  id: string;
  /** The sequence the event was sent with (none for a superseded event, which was never sent). */
  sequence?: number;
  type: CallbackEventType;
  /** delivered (2xx), rejected (4xx other than 408/429: not retried), undelivered (retry window over), superseded (a newer progress event of the step was pending). */
  outcome: 'delivered' | 'rejected' | 'undelivered' | 'superseded';
  httpStatus?: number;
  attempts?: number;
  error?: string;
}

const STEP_PHASES: Partial<Record<StepProgress['state'], { phase: string; stepProgress: number }>> = {
  submitting: { phase: 'submitting', stepProgress: 5 },
  waiting: { phase: 'queued', stepProgress: 10 },
  running: { phase: 'running', stepProgress: 40 },
  'fetching-result': { phase: 'running', stepProgress: 80 },
  persisting: { phase: 'persisting', stepProgress: 90 },
  'retry-backoff': { phase: 'retrying', stepProgress: 5 },
};

// A failure that running the same job again will not cure.
const PERMANENT_FAILURES = new Set<string>([PIPELINE_FAILURE_TYPES.invalidSpec, PIPELINE_FAILURE_TYPES.invalidDeployment, STEP_FAILURE_TYPES.jobFailed, STEP_FAILURE_TYPES.noOutputs]);

/** Whether the backend may retry a job whose step failed with this type. */
export function failureRetryable(type: string): boolean {
  return !PERMANENT_FAILURES.has(type);
}

function pipelineProgressOf(progress: PipelineProgress): number {
  if (progress.steps.length === 0) return 0;
  const sum = progress.steps.reduce((total, step) => {
    if (step.state === 'succeeded' || step.state === 'failed' || step.state === 'cancelled' || step.state === 'skipped') return total + 100;
    return total + (STEP_PHASES[step.state]?.stepProgress ?? 0);
  }, 0);
  return Math.min(99, Math.floor(sum / progress.steps.length));
}

/** What the event builder remembers between two looks at the progress. */
export interface StepMemory {
  state: string;
  attempts: number;
  queuePosition?: number;
}

/** The events that explain how `step` changed since `before` (none when nothing that matters did). */
export function stepEvents(step: StepProgress, before: StepMemory | undefined, atIso: string): { type: CallbackEventType; data: StepEventData }[] {
  const events: { type: CallbackEventType; data: StepEventData }[] = [];
  const was = before ?? { state: 'pending', attempts: 0 };
  if (step.state === was.state && step.attempts.length === was.attempts && step.queuePosition === was.queuePosition) return events;
  if (step.state === 'pending' || step.state === 'skipped') return events;
  const attempt = step.attempts.at(-1);
  const base: StepEventData = { stepId: step.id, kind: step.kind, ...(attempt ? { attempt: attempt.attempt } : {}), ...(step.requestId ? { requestId: step.requestId } : {}) };
  if (was.state === 'pending') events.push({ type: 'step.started', data: { ...base } });
  const phase = STEP_PHASES[step.state];
  if (phase) events.push({ type: 'step.progress', data: { ...base, ...phase, ...(step.state === 'waiting' && step.queuePosition !== undefined ? { queuePosition: step.queuePosition } : {}) } });
  if (step.state === 'succeeded') {
    events.push({ type: 'step.succeeded', data: { ...base, outputs: step.outputs.map(({ key, bytes, sha256, contentType, media }) => ({ key, bytes, sha256, contentType, media })), gpu: stepGpuFacts(step, atIso) } });
  } else if (step.state === 'failed') {
    const error = step.error ?? { type: 'Unknown', message: 'the step failed' };
    events.push({ type: 'step.failed', data: { ...base, error: { type: error.type, message: error.message, ...(error.requestId ? { requestId: error.requestId } : {}) }, retryable: failureRetryable(error.type), gpu: stepGpuFacts(step, atIso) } });
  } else if (step.state === 'cancelled') {
    events.push({ type: 'step.cancelled', data: { ...base, gpu: stepGpuFacts(step, atIso) } });
  }
  return events;
}

/** The terminal event of a pipeline that ended with `progress`. */
export function pipelineEvent(progress: PipelineProgress, failure?: { type: string; message: string }): { type: CallbackEventType; data: PipelineEventData } {
  const type: CallbackEventType = progress.status === 'succeeded' ? 'pipeline.completed' : progress.status === 'cancelled' ? 'pipeline.cancelled' : 'pipeline.failed';
  // A step's failure decides whether a retry may help; otherwise the pipeline's own (a refused spec will be refused again).
  const failedStep = progress.failedStepId ? progress.steps.find((step) => step.id === progress.failedStepId) : undefined;
  const retryType = failedStep?.error?.type ?? failure?.type;
  return {
    type,
    data: {
      status: progress.status,
      ...(progress.failedStepId ? { failedStepId: progress.failedStepId } : {}),
      ...(type === 'pipeline.failed' && failure ? { error: { type: failure.type, message: failure.message.slice(0, 2000) } } : {}),
      ...(type === 'pipeline.failed' && failure && retryType ? { retryable: failureRetryable(retryType) } : {}),
      ...(progress.cancelReason ? { cancelReason: progress.cancelReason } : {}),
      outputs: progress.steps.flatMap((step) => step.outputs.map(({ key, bytes, sha256, contentType, media }) => ({ stepId: step.id, key, bytes, sha256, contentType, media }))),
      gpu: gpuFactsOf(progress, progress.finishedAt),
    },
  };
}

/** The whole-pipeline progress estimate for an event. */
export function eventProgress(progress: PipelineProgress, terminal: boolean): number {
  return terminal ? 100 : pipelineProgressOf(progress);
}

/** True for the `pipeline.*` events: the last of a pipeline. */
export function isTerminalEvent(type: CallbackEventType): boolean {
  return type.startsWith('pipeline.');
}
