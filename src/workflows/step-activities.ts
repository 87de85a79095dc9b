import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { STATUS_READ_TIMEOUT_MS, type PreparedPipeline } from '../contract/activity-contract.js';
import { STEP_FAILURE_TYPES } from '../contract/pipeline-contract.js';

/** Default of `cancelRetryBudgetMs` for timings frozen before it existed. */
export const DEFAULT_CANCEL_RETRY_BUDGET_MS = 45 * 60_000;

/**
 * Activity stubs for one step, with timeouts from the worker's prepared timings. `edges` selects the
 * options of pipelines started after the cancellation and store-outage changes (see patched()).
 */
export function stepActivities(prepared: PreparedPipeline, stepId: string, edges = false) {
  const t = prepared.timings;
  const base: ActivityOptions = { summary: stepId };
  const submit = proxyActivities<PipelineActivities>({ ...base, startToCloseTimeout: t.submitTimeoutMs, retry: { maximumAttempts: 1 } });
  const poll = proxyActivities<PipelineActivities>({
    ...base,
    // The budget is enforced inside the poll (it survives restarts); this is a backstop.
    startToCloseTimeout: 48 * 3600_000,
    heartbeatTimeout: t.pollHeartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1 second',
      maximumInterval: '30 seconds',
      maximumAttempts: 20,
      nonRetryableErrorTypes: [STEP_FAILURE_TYPES.queueBudgetExceeded, STEP_FAILURE_TYPES.runBudgetExceeded],
    },
  });
  // A status read is a short activity: it holds a slot for milliseconds, and eager dispatch runs it on
  // this worker without a matching hop. Not a local activity: with parallel steps, local activities'
  // results can reach a replay in other groupings than the live run, and the commands then come in
  // another order (a nondeterminism the chaos campaign found). Retryable RunComfy answers come back
  // as results; these retries cover the worker's own trouble.
  const read = proxyActivities<PipelineActivities>({
    ...base,
    startToCloseTimeout: STATUS_READ_TIMEOUT_MS + 10_000,
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 },
  });
  const quick = proxyActivities<PipelineActivities>({
    ...base,
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
  });
  const persist = proxyActivities<PipelineActivities>({
    ...base,
    startToCloseTimeout: t.persistTimeoutMs,
    heartbeatTimeout: t.persistHeartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    // With `edges`, a store outage is ridden out by the workflow (its state is then visible to
    // `status`), so a few quick tries are enough here; a misconfigured store fails at once.
    retry: edges
      ? { initialInterval: '1 second', maximumInterval: '5 seconds', maximumAttempts: 3, nonRetryableErrorTypes: [STEP_FAILURE_TYPES.outputExpired, STEP_FAILURE_TYPES.storageMisconfigured] }
      : { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 6, nonRetryableErrorTypes: [STEP_FAILURE_TYPES.outputExpired] },
  });
  const cancelBudgetMs = t.cancelRetryBudgetMs ?? DEFAULT_CANCEL_RETRY_BUDGET_MS;
  const cancel = proxyActivities<PipelineActivities>(
    edges
      ? {
          ...base,
          // The activity rides out RunComfy trouble itself for the budget; these retries cover a dead worker.
          startToCloseTimeout: cancelBudgetMs + t.cancelTimeoutMs + 120_000,
          heartbeatTimeout: Math.max(t.pollHeartbeatTimeoutMs, 120_000),
          retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
        }
      : { ...base, startToCloseTimeout: t.cancelTimeoutMs + 30_000, retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 } },
  );
  return {
    submitJob: submit.submitJob,
    awaitJob: poll.awaitJob,
    readJobStatus: read.readJobStatus,
    fetchJobResult: quick.fetchJobResult,
    persistOutputs: persist.persistOutputs,
    cancelJob: cancel.cancelJob,
    cancelRetryBudgetMs: cancelBudgetMs,
  };
}

export type StepActivities = ReturnType<typeof stepActivities>;
