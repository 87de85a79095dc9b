import { log } from '@temporalio/workflow';
import type { JobAttempt } from '../contract/pipeline-contract.js';
import type { PreparedPipeline } from '../contract/activity-contract.js';
import type { RunControl } from './run-control.js';
import type { StepActivities } from './step-activities.js';
import { describeFailure } from './workflow-failures.js';

/**
 * Asks RunComfy to stop a job and records what came of it on the attempt. Returns true when the job
 * had already finished on its own (its outputs may then be worth keeping).
 */
export async function stopJob(
  acts: StepActivities,
  args: { stepId: string; deploymentId: string; requestId: string; timings: PreparedPipeline['timings']; control: RunControl; record: JobAttempt | undefined },
): Promise<boolean> {
  const { stepId, requestId, control, record } = args;
  try {
    const cancelled = await acts.cancelJob({
      deploymentId: args.deploymentId,
      requestId,
      confirmWithinMs: args.timings.cancelTimeoutMs,
      ...(control.edges ? { retryForMs: acts.cancelRetryBudgetMs, stepId } : {}),
      ...(control.slotFree && record?.runStartedAt !== undefined ? { runStartedAtMs: Date.parse(record.runStartedAt) } : {}),
    });
    if (!control.edges) {
      log.info('cancelled RunComfy job', { stepId, requestId, outcome: cancelled.outcome });
      return false;
    }
    const outcome = cancelled.outcome === 'cancelled' ? 'confirmed' : cancelled.outcome === 'not_cancellable' ? 'already-finished' : 'unconfirmed';
    if (record) record.cancelOutcome = outcome;
    if (outcome === 'unconfirmed') log.error('the cancel of a RunComfy job is unconfirmed: it may still be billing', { stepId, requestId, finalStatus: cancelled.finalStatus });
    else log.info('cancelled RunComfy job', { stepId, requestId, outcome });
    return outcome === 'already-finished' && cancelled.finalStatus !== 'not_found' && !/cancel/i.test(cancelled.finalStatus ?? '');
  } catch (cancelError) {
    if (control.edges && record) record.cancelOutcome = 'unconfirmed';
    log.error('could not cancel RunComfy job', { stepId, requestId, error: describeFailure(cancelError) });
    return false;
  }
}

