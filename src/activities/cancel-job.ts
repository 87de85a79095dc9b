import { Context } from '@temporalio/activity';
import { ERROR_CODES, isRunComfyError } from '../runcomfy/errors.js';
import type { CancelJobInput, CancelJobResult } from '../contract/activity-contract.js';
import type { ActivityDeps } from './deps.js';
import { cancellationOf, runComfyFailure } from './failures.js';

/**
 * Cancels a RunComfy request and, since a cancel is a request rather than proof, reads its status
 * until it is terminal or `confirmWithinMs` has passed: an abandoned job keeps billing.
 */
export function createCancelJob(deps: ActivityDeps) {
  return async function cancelJob(input: CancelJobInput): Promise<CancelJobResult> {
    const ctx = Context.current();
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
          deps.metrics?.jobCancelled('unconfirmed');
          return { outcome: 'unconfirmed', finalStatus: status.rawStatus };
        }
        ctx.heartbeat({ requestId: input.requestId, status: status.rawStatus });
        await ctx.sleep(waitMs);
        waitMs = Math.min(waitMs * 2, 2_000);
      }
    } catch (error) {
      const cancelled = cancellationOf(ctx);
      if (cancelled) throw cancelled;
      // A request RunComfy no longer knows cannot be running.
      if (isRunComfyError(error) && error.code === ERROR_CODES.notFound) return { outcome: 'not_cancellable', finalStatus: 'not_found' };
      throw runComfyFailure(error);
    }
  };
}
