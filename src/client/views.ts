/**
 * From Temporal's answers to the client's views: failures, summaries, list queries, live step
 * status from pending activities, and the pacing of `watch`. No I/O of its own.
 */
import { ApplicationFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/client';
import type { LoadedDataConverter } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import type { temporal } from '@temporalio/proto';
import { PIPELINE_FAILURE_TYPES, type PipelineProgress, type PipelineStatus } from '../contract/pipeline-contract.js';
import { pipelineStatusSearchAttribute } from '../contract/search-attributes.js';
import type { PipelineSpecIssue } from '../pipeline/errors.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import type { PipelineFailureInfo, StepOutput } from './errors.js';
import type { LiveStepStatus, PipelineListStatus, PipelineRunStatus, PipelineStatusView } from './types.js';

/** `PendingActivityState` values of Temporal's API (1 scheduled, 2 started, 3 cancel requested). */
const ACTIVITY_STATES: Record<number, LiveStepStatus['activityState']> = { 1: 'scheduled', 2: 'started', 3: 'cancel-requested' };

/**
 * Visibility clauses per listable status. Terminated/timed-out runs never upserted a final status, so
 * Temporal's own status completes the picture. The workflow upserts its final status just before it
 * returns: a run still open is listed as running, never yet under its final status.
 */
export const LIST_STATUS_QUERIES: Record<PipelineListStatus, string> = {
  running: `ExecutionStatus = 'Running'`,
  succeeded: `(${pipelineStatusSearchAttribute.name} = 'succeeded' AND ExecutionStatus != 'Running')`,
  failed: `((${pipelineStatusSearchAttribute.name} = 'failed' AND ExecutionStatus != 'Running') OR ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated' OR ExecutionStatus = 'TimedOut')`,
  cancelled: `((${pipelineStatusSearchAttribute.name} = 'cancelled' AND ExecutionStatus != 'Running') OR ExecutionStatus = 'Canceled')`,
};

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function timestampIso(time: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!time) return undefined;
  return new Date(Number(String(time.seconds ?? 0)) * 1000 + Math.floor((time.nanos ?? 0) / 1_000_000)).toISOString();
}

/** Oversized inline data is the one spec problem with a ready remedy: say what to call. */
export function withUploadHints(issues: readonly PipelineSpecIssue[]): PipelineSpecIssue[] {
  return issues.map((issue) =>
    /data URI is \d+ characters|pass media as URLs/.test(issue.message)
      ? { path: issue.path, message: `${issue.message}; use PipelineClient.uploadInput() (CLI: pass a local file path) and put the returned URL in the spec` }
      : issue,
  );
}

export function summaryOf(spec: PipelineSpec): string {
  const chain = spec.steps.map((step) => step.id).join(' → ');
  const text = `pipeline ${spec.pipelineId}: ${chain}`;
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** The failure a closed pipeline ended with, in the client's terms. */
export function failureInfoFromCause(cause: Error | undefined): PipelineFailureInfo {
  if (cause instanceof ApplicationFailure) {
    const detail = cause.details?.[0];
    if (cause.type === PIPELINE_FAILURE_TYPES.stepFailed && isRecord(detail)) {
      const stepId = optionalString(detail.stepId);
      const requestId = optionalString(detail.requestId);
      const remoteError = optionalString(detail.remoteError);
      return {
        failureType: optionalString(detail.type) ?? cause.type,
        message: cause.message,
        ...(stepId !== undefined ? { stepId } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
        ...(remoteError !== undefined ? { remoteError } : {}),
      };
    }
    return { failureType: cause.type ?? 'ApplicationFailure', message: cause.message };
  }
  if (cause instanceof TerminatedFailure) return { failureType: 'Terminated', message: `terminated: ${cause.message}` };
  if (cause instanceof TimeoutFailure) return { failureType: 'TimedOut', message: `timed out: ${cause.message}` };
  return { failureType: cause?.name ?? 'Unknown', message: cause?.message ?? 'the pipeline failed for an unknown reason' };
}

export function outputsOf(progress: PipelineProgress): StepOutput[] {
  return progress.steps.flatMap((step) => step.outputs.map((output) => ({ stepId: step.id, ...output })));
}

export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What changes between two views and matters to a watcher (heartbeat times alone do not count). */
export function changeKey(view: PipelineStatusView): string {
  const live = view.live ? Object.fromEntries(Object.entries(view.live).map(([stepId, { lastHeartbeatAt: _ignored, ...rest }]) => [stepId, rest])) : undefined;
  return JSON.stringify({ ...view, live });
}

/** Heartbeat details of the activities in flight, keyed by the step they belong to (`steps`: activity id → step id). */
export async function liveStepStatuses(
  pending: readonly temporal.api.workflow.v1.IPendingActivityInfo[],
  steps: ReadonlyMap<string, string>,
  converter: LoadedDataConverter,
): Promise<Record<string, LiveStepStatus>> {
    const live: Record<string, LiveStepStatus> = {};
    for (const activity of pending) {
      const stepId = steps.get(activity.activityId ?? '');
      if (stepId === undefined) continue;
      let details: unknown;
      try {
        details = (await decodeArrayFromPayloads(converter, activity.heartbeatDetails?.payloads ?? []))[0];
      } catch {
        details = undefined;
      }
      const beat = isRecord(details) ? details : {};
      const lastHeartbeatAt = timestampIso(activity.lastHeartbeatTime);
      const status: LiveStepStatus = {
        activity: activity.activityType?.name ?? 'unknown',
        activityState: ACTIVITY_STATES[activity.state ?? 0] ?? 'unknown',
        attempt: activity.attempt ?? 1,
        ...(typeof beat.requestId === 'string' ? { requestId: beat.requestId } : {}),
        ...(typeof beat.status === 'string' ? { remoteStatus: beat.status } : {}),
        ...(typeof beat.queuePosition === 'number' ? { queuePosition: beat.queuePosition } : {}),
        ...(typeof beat.statusReads === 'number' ? { statusReads: beat.statusReads } : {}),
        ...(typeof beat.bytesCopied === 'number' ? { bytesCopied: beat.bytesCopied } : {}),
        ...(typeof beat.filesDone === 'number' ? { filesDone: beat.filesDone } : {}),
        ...(typeof beat.filesTotal === 'number' ? { filesTotal: beat.filesTotal } : {}),
        ...(lastHeartbeatAt !== undefined && details !== undefined ? { lastHeartbeatAt } : {}),
        ...(activity.lastFailure?.message ? { lastFailure: activity.lastFailure.message } : {}),
      };
      // Two activities of one step at once (a poll being cancelled while the cancel runs): keep the poll's view.
      const existing = live[stepId];
      if (!existing || status.activity === 'awaitJob' || status.activity === 'persistOutputs') live[stepId] = status;
    }
    return live;
}

/** The `activity` of a step's live view while it waits on a durable timer between status reads. */
export const WAIT_FOR_JOB = 'waitForJob';

/**
 * Steps waiting for their job without an activity in flight (slot-free waiting): their live view
 * comes from the workflow's own progress, as of the last status read.
 */
export function addWaitingSteps(live: Record<string, LiveStepStatus>, progress: PipelineProgress): void {
  for (const step of progress.steps) {
    const wait = step.wait;
    if (!wait || live[step.id]) continue;
    live[step.id] = {
      activity: WAIT_FOR_JOB,
      activityState: 'timer',
      attempt: step.attempts.length,
      ...(step.requestId !== undefined ? { requestId: step.requestId } : {}),
      ...(wait.remoteStatus !== undefined ? { remoteStatus: wait.remoteStatus } : {}),
      ...(step.queuePosition !== undefined ? { queuePosition: step.queuePosition } : {}),
      statusReads: wait.statusReads,
      ...(wait.lastReadAt !== undefined ? { lastHeartbeatAt: wait.lastReadAt } : {}),
      ...(wait.nextReadBy !== undefined ? { nextReadBy: wait.nextReadBy } : {}),
      webhooks: wait.webhooks,
    };
  }
}

export function summaryStatus(runStatus: PipelineRunStatus, attribute: string | undefined): PipelineStatus {
  switch (runStatus) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      return attribute === 'cancelled' || attribute === 'failed' ? attribute : 'succeeded';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'failed';
  }
}
