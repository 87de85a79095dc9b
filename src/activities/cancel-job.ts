import { Context } from '@temporalio/activity';
import { ERROR_CODES, isRunComfyError } from '../runcomfy/errors.js';
import type { CancelJobInput, CancelJobResult } from '../contract/activity-contract.js';
import type { ActivityDeps } from './deps.js';
import { cancellationOf, errorMessage, runComfyFailure } from './failures.js';

/** Longest pause between two cancel tries during RunComfy trouble. */
const MAX_RETRY_PAUSE_MS = 30_000;

/**
 * Cancels a RunComfy request and, since a cancel is a request rather than proof, reads its status
 * until it is terminal or `confirmWithinMs` has passed: an abandoned job keeps billing.
 *
 * With `retryForMs`, retryable RunComfy errors (429, 5xx, timeouts) are ridden out for that long
 * (heartbeating, honouring Retry-After); when the budget runs out the outcome is `unconfirmed`,
 * counted and logged at error, rather than a failure the workflow could only log.
 */
export function createCancelJob(deps: ActivityDeps) {
  const cancelJob = cancelWithRetries(deps);
  return async function countedCancelJob(input: CancelJobInput): Promise<CancelJobResult> {
    const result = await cancelJob(input);
    // A job cancelled while it ran spent GPU time until now (the status reads never saw it end).
    if (input.runStartedAtMs !== undefined) deps.metrics?.gpuSeconds?.(input.deploymentId, Math.max(0, Date.now() - input.runStartedAtMs) / 1000);
    return result;
  };
}

function cancelWithRetries(deps: ActivityDeps) {
  return async function cancelJob(input: CancelJobInput): Promise<CancelJobResult> {
    const ctx = Context.current();
    const startedAtMs = Date.now();
    const resumed = ctx.info.heartbeatDetails as { firstTryAtMs?: number } | undefined;
    // A retried attempt (worker crash) keeps the original budget.
    const firstTryAtMs = resumed?.firstTryAtMs ?? startedAtMs;
    const retryDeadlineMs = input.retryForMs !== undefined ? firstTryAtMs + input.retryForMs : undefined;
    // At least about twenty tries within the budget, however short it is configured.
    const maxPauseMs = Math.min(MAX_RETRY_PAUSE_MS, Math.max(100, Math.floor((input.retryForMs ?? 0) / 20)));
    let pauseMs = Math.min(500, maxPauseMs);
    let lastError = '';
    for (;;) {
      try {
        return await cancelOnce(deps, ctx, input, firstTryAtMs);
      } catch (error) {
        const cancelled = cancellationOf(ctx);
        if (cancelled) throw cancelled;
        const retryable = isRunComfyError(error) && error.retryable;
        if (retryDeadlineMs === undefined || !retryable) {
          if (retryDeadlineMs !== undefined) {
            // A permanent answer (401, 403…) cannot be fixed by waiting: the job may still bill.
            return unconfirmed(deps, ctx, input, errorMessage(error));
          }
          throw runComfyFailure(error);
        }
        lastError = errorMessage(error);
        const waitMs = Math.min(Math.max(pauseMs, error.retryAfterMs ?? 0), MAX_RETRY_PAUSE_MS);
        if (Date.now() + waitMs > retryDeadlineMs) return unconfirmed(deps, ctx, input, lastError);
        ctx.log.warn('cancel of RunComfy job failed; trying again', { stepId: input.stepId, requestId: input.requestId, error: lastError, retryInMs: waitMs });
        await sleepHeartbeating(ctx, waitMs, { firstTryAtMs });
        pauseMs = Math.min(pauseMs * 2, maxPauseMs);
      }
    }
  };
}

function unconfirmed(deps: ActivityDeps, ctx: Context, input: CancelJobInput, reason: string): CancelJobResult {
  deps.metrics?.jobCancelled('unconfirmed');
  ctx.log.error('could not confirm the cancel of a RunComfy job: it may still be billing', { stepId: input.stepId, requestId: input.requestId, deploymentId: input.deploymentId, reason });
  return { outcome: 'unconfirmed', finalStatus: `unconfirmed: ${reason}`.slice(0, 500) };
}

async function sleepHeartbeating(ctx: Context, ms: number, details: unknown): Promise<void> {
  const sliceMs = Math.max(10, Math.floor((ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
  for (let left = ms; left > 0; left -= sliceMs) {
    ctx.heartbeat(details);
    await ctx.sleep(Math.min(left, sliceMs));
  }
  ctx.heartbeat(details);
}

async function cancelOnce(deps: ActivityDeps, ctx: Context, input: CancelJobInput, firstTryAtMs: number): Promise<CancelJobResult> {
  try {
    const answer = await deps.runcomfy.cancel(input.deploymentId, input.requestId, { signal: ctx.cancellationSignal });
    if (answer.outcome === 'not_cancellable') {
      deps.metrics?.jobCancelled('not_cancellable');
      return { outcome: 'not_cancellable', ...(answer.rawStatus ? { finalStatus: answer.rawStatus } : {}) };
    }
    const deadline = Date.now() + input.confirmWithinMs;
    let waitMs = 100;
    for (;;) {
      const status = await deps.runcomfy.getStatus(input.deploymentId, input.requestId, { signal: ctx.cancellationSignal });
      deps.metrics?.statusRead();
      if (status.isTerminal) {
        const outcome = status.status === 'cancelled' ? 'cancelled' : 'not_cancellable';
        deps.metrics?.jobCancelled(outcome);
        return { outcome, finalStatus: status.rawStatus };
      }
      if (Date.now() + waitMs > deadline) {
        if (input.retryForMs !== undefined) return unconfirmed(deps, ctx, input, `still ${status.rawStatus} ${input.confirmWithinMs} ms after the cancel`);
        deps.metrics?.jobCancelled('unconfirmed');
        return { outcome: 'unconfirmed', finalStatus: status.rawStatus };
      }
      ctx.heartbeat({ requestId: input.requestId, status: status.rawStatus, firstTryAtMs });
      await ctx.sleep(waitMs);
      waitMs = Math.min(waitMs * 2, 2_000);
    }
  } catch (error) {
    // A request RunComfy no longer knows cannot be running.
    if (isRunComfyError(error) && error.code === ERROR_CODES.notFound) return { outcome: 'not_cancellable', finalStatus: 'not_found' };
    throw error;
  }
}
