import { isCancellation } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import type { FetchJobResultOutput } from '../contract/activity-contract.js';
import { STEP_FAILURE_TYPES, type JobAttempt, type StepProgress } from '../contract/pipeline-contract.js';
import { waitForJob, type JobWaitInput, type NudgeBoard } from './job-wait.js';
import { oneReadAtATime } from './serial-reads.js';
import type { RunControl } from './run-control.js';
import type { StepActivities } from './step-activities.js';
import { StepFailure } from './step-failure.js';
import { asCancellation, describeFailure, failureType, isCancellationLike } from './workflow-failures.js';

/** One phase of the wait as one long poll activity (pipelines started before slot-free waiting). */
export async function waitPhase(
  acts: StepActivities,
  input: Parameters<PipelineActivities['awaitJob']>[0],
  control: RunControl,
): Promise<Awaited<ReturnType<PipelineActivities['awaitJob']>>> {
  try {
    return await acts.awaitJob(input);
  } catch (error) {
    if (isCancellation(error)) throw error;
    // The poll's worker was dead when the cancel came: the timeout is the cancellation.
    if (control.edges && isCancellationLike(error)) throw asCancellation(error);
    throw waitFailure(error, input.requestId);
  }
}

/** A failed wait as the step's failure: an exceeded budget keeps its type; anything else says the wait failed. */
function waitFailure(error: unknown, requestId: string): StepFailure {
  const type = failureType(error);
  if (type === STEP_FAILURE_TYPES.queueBudgetExceeded || type === STEP_FAILURE_TYPES.runBudgetExceeded) {
    return new StepFailure({ type, message: describeFailure(error), requestId });
  }
  return new StepFailure({ type: type ?? STEP_FAILURE_TYPES.remoteApi, message: `waiting for the job failed: ${describeFailure(error)}`, requestId });
}

/**
 * The whole wait (queue and run phases) without holding an activity: status reads on durable
 * timers, woken early by webhook nudges. Progress shows the last read live; failures map as the
 * poll activity's did, so a step fails with the same types either way.
 */
export async function waitWithoutSlot(
  acts: StepActivities,
  board: NudgeBoard,
  input: JobWaitInput,
  progress: StepProgress,
  record: JobAttempt,
  onChange: () => void,
): Promise<FetchJobResultOutput> {
  const webhooks = input.timings.webhookBackstopIntervalMs !== undefined;
  progress.wait = { statusReads: 0, webhooks };
  try {
    // One read in flight per run across parallel steps: see serial-reads.ts.
    const outcome = await waitForJob(oneReadAtATime(board, acts.readJobStatus), board, input, {
      onRead(read, statusReads, nextReadAtMs) {
        record.statusReads = statusReads;
        progress.wait = {
          statusReads,
          webhooks,
          lastReadAt: new Date().toISOString(),
          ...(read.remoteStatus !== undefined ? { remoteStatus: read.remoteStatus } : progress.wait?.remoteStatus !== undefined ? { remoteStatus: progress.wait.remoteStatus } : {}),
          ...(nextReadAtMs !== undefined ? { nextReadBy: new Date(nextReadAtMs).toISOString() } : {}),
        };
        if (read.status === 'queued' && read.queuePosition !== undefined) progress.queuePosition = read.queuePosition;
        else if (read.status !== 'unreadable') delete progress.queuePosition;
        onChange();
      },
      onRunning() {
        record.status = 'running';
        record.runStartedAt = new Date().toISOString();
        progress.state = 'running';
        delete progress.queuePosition;
      },
      onNudgedRead() {
        record.nudgedReads = (record.nudgedReads ?? 0) + 1;
      },
    });
    return outcome.result;
  } catch (error) {
    if (isCancellation(error)) throw error;
    throw waitFailure(error, input.requestId);
  } finally {
    delete progress.wait;
    onChange();
  }
}
