import { ActivityFailure, ApplicationFailure, CancellationScope, log, sleep } from '@temporalio/workflow';
import type { PipelineSpec, PipelineStep } from '../pipeline/spec.js';
import type { PreparedPipeline, StepInputRef } from '../contract/activity-contract.js';
import { STEP_FAILURE_TYPES } from '../contract/pipeline-contract.js';
import { stopIfRequested, type RunControl } from './run-control.js';
import type { StepActivities } from './step-activities.js';
import { StepFailure } from './step-failure.js';
import { describeFailure, failureType, retryAfterFromDetails, retryDelayMs } from './workflow-failures.js';

/**
 * One submit, never retried blindly: a retry happens only when the error proves RunComfy did not
 * accept the job; an outcome that may hide an accepted job follows the configured policy.
 */
export async function submitOnce(
  step: PipelineStep,
  spec: PipelineSpec,
  prepared: PreparedPipeline,
  attempt: number,
  inputs: Record<string, StepInputRef>,
  record: { status: string; error?: string },
  control: RunControl,
  acts: StepActivities,
): Promise<string> {
  const resolved = prepared.steps[step.id]!;
  let ambiguousResubmits = 0;
  for (let retry = 0; ; retry++) {
    if (retry > 0) stopIfRequested(control, `before step "${step.id}" retried its submit`);
    try {
      // Non-cancellable: a submit in flight may be accepted, and its request id is needed to cancel it.
      const { requestId } = await CancellationScope.nonCancellable(() =>
        acts.submitJob({ pipelineId: spec.pipelineId, step, attempt, deploymentKey: resolved.deploymentKey, deployment: resolved.deployment, inputs, outputUrlMode: prepared.outputUrlMode }),
      );
      return requestId;
    } catch (error) {
      const type = failureType(error);
      const cause = error instanceof ActivityFailure ? error.cause : undefined;
      if (type === STEP_FAILURE_TYPES.submitRejected && cause instanceof ApplicationFailure && !cause.nonRetryable && retry < 8) {
        // Proven not accepted (429, 503, connection refused): wait as the server asked, and try again.
        const delayMs = (control.edges ? retryAfterFromDetails(cause) : undefined) ?? retryDelayMs(cause, retry);
        record.error = `submit rejected, retrying in ${delayMs} ms: ${cause.message}`;
        await sleep(delayMs);
        continue;
      }
      if (type === STEP_FAILURE_TYPES.submitRejected) {
        throw new StepFailure({ type, message: `RunComfy rejected the job: ${describeFailure(error)}` });
      }
      // Everything else may hide an accepted job: an answer lost after sending, a timeout, a worker crash.
      record.status = 'unknown';
      record.error = `submit outcome unknown: ${describeFailure(error)}`;
      if (prepared.ambiguousSubmitPolicy === 'resubmit' && ambiguousResubmits < 1) {
        ambiguousResubmits++;
        log.warn('submit outcome unknown; resubmitting by policy', { stepId: step.id, attempt, error: describeFailure(error) });
        await sleep(prepared.timings.jobRetryBackoffMs);
        continue;
      }
      throw new StepFailure({
        type: STEP_FAILURE_TYPES.submitOutcomeUnknown,
        message: `the submit's outcome is unknown (RunComfy may have accepted a job whose request id was lost): ${describeFailure(error)}`,
      });
    }
  }
}

