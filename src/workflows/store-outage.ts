import { CancellationScope, sleep } from '@temporalio/workflow';
import type { PersistOutputsResult, PipelineTimings } from '../contract/activity-contract.js';
import { STEP_FAILURE_TYPES, type JobAttempt, type StepProgress } from '../contract/pipeline-contract.js';
import { describeFailure, failureType } from './workflow-failures.js';
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/** RunComfy deletes output files 7 days after the job (API.md §3): copying later is pointless. */
export const RUNCOMFY_OUTPUT_EXPIRY_MS = 7 * 24 * 3_600_000;
/** Margin kept before the expiry, so the last try still finds the files. */
const EXPIRY_MARGIN_MS = 3_600_000;
export const DEFAULT_STORE_OUTAGE_BUDGET_MS = 6 * 3_600_000;
const DEFAULT_MAX_BACKOFF_MS = 60_000;

/** The store could not be reached or answered 5xx: a later try may succeed. */
function isStoreOutage(error: unknown): boolean {
  if (failureType(error) !== STEP_FAILURE_TYPES.storage) return false;
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof ApplicationFailure && !cause.nonRetryable;
}

/**
 * Runs a copy of paid outputs to completion through store outages: availability errors are retried
 * with capped backoff for the configured budget (never past RunComfy's output expiry) while the step
 * shows `waiting-for-store`; any other failure, or the end of the budget, is thrown. Nothing here is
 * cancellable: the job is paid for, and a cancel must not throw its outputs away.
 */
export async function persistThroughOutages(
  copy: () => Promise<PersistOutputsResult>,
  ctx: { timings: PipelineTimings; progress: StepProgress; record: JobAttempt; jobFinishedAtMs: number },
): Promise<PersistOutputsResult> {
  const { timings, progress, record } = ctx;
  const budgetMs = Math.min(timings.storeOutageBudgetMs ?? DEFAULT_STORE_OUTAGE_BUDGET_MS, RUNCOMFY_OUTPUT_EXPIRY_MS - EXPIRY_MARGIN_MS);
  const maxBackoffMs = timings.storeOutageMaxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  let outageStartedAtMs: number | undefined;
  let pauseMs = Math.min(1_000, maxBackoffMs);
  return CancellationScope.nonCancellable(async () => {
    for (;;) {
      try {
        const result = await copy();
        if (outageStartedAtMs !== undefined) delete record.error;
        return result;
      } catch (error) {
        if (!isStoreOutage(error)) throw error;
        outageStartedAtMs ??= Date.now();
        const waitedMs = Date.now() - outageStartedAtMs;
        const expiresInMs = ctx.jobFinishedAtMs + RUNCOMFY_OUTPUT_EXPIRY_MS - EXPIRY_MARGIN_MS - Date.now();
        if (waitedMs + pauseMs > budgetMs || pauseMs > expiresInMs) {
          throw ApplicationFailure.create({
            type: STEP_FAILURE_TYPES.storage,
            message: `the object store stayed unavailable for ${Math.round(waitedMs / 1000)} s (the outage budget is ${Math.round(budgetMs / 1000)} s): ${describeFailure(error)}`,
            nonRetryable: true,
          });
        }
        progress.state = 'waiting-for-store';
        record.error = `object store unavailable for ${Math.round(waitedMs / 1000)} s, copying again in ${Math.round(pauseMs / 1000)} s: ${describeFailure(error)}`;
        await sleep(pauseMs);
        pauseMs = Math.min(pauseMs * 2, maxBackoffMs);
        progress.state = 'persisting';
      }
    }
  });
}
