import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isRunComfyError } from '../runcomfy/errors.js';
import { STATUS_READ_TIMEOUT_MS, type ReadJobInput, type ReadJobResult } from '../contract/activity-contract.js';
import type { ActivityDeps } from './deps.js';
import { readJobResult } from './fetch-job-result.js';
import { cancellationOf, runComfyFailure } from './failures.js';

/** A pause inside a read is only ever shorter than a durable timer's resolution. */
const MAX_DELAY_MS = 1_000;

/**
 * One read of a job's status, and of its result once it is terminal: a short activity the
 * workflow runs between durable timers (or when a webhook nudges it), so waiting for a 30-minute
 * video holds no activity slot and no heartbeat stream. A retryable RunComfy answer (429, 5xx,
 * timeout) is not a failure here: it comes back as `unreadable`, and the workflow reads again later,
 * as the server asked, within the phase's budget. Anything else (401, 404, a bad answer) fails the read.
 */
export function createReadJobStatus(deps: ActivityDeps) {
  return async function readJobStatus(input: ReadJobInput): Promise<ReadJobResult> {
    const ctx = Context.current();
    // A hung read must not hold the workflow task: give up and read again at the next wake-up.
    const signal = AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(STATUS_READ_TIMEOUT_MS)]);
    try {
      if (input.delayMs !== undefined && input.delayMs > 0) await ctx.sleep(Math.min(input.delayMs, MAX_DELAY_MS));
      const status = await deps.runcomfy.getStatus(input.deploymentId, input.requestId, { signal });
      deps.metrics?.statusRead();
      const seen: Pick<ReadJobResult, 'remoteStatus' | 'queuePosition'> = { remoteStatus: status.rawStatus, ...(status.queuePosition !== undefined ? { queuePosition: status.queuePosition } : {}) };
      if (!status.isTerminal) return { status: status.status === 'running' ? 'running' : 'queued', ...seen };
      // The result in the same activity: one round trip less between a job's end and its copy.
      const result = await readJobResult(deps, { deploymentId: input.deploymentId, requestId: input.requestId, ...(input.stepKind ? { stepKind: input.stepKind } : {}) }, signal);
      // A cancelled job's GPU time is counted by the cancel that stopped it, not twice.
      if (input.runStartedAtMs !== undefined && status.status !== 'cancelled') deps.metrics?.gpuSeconds?.(input.deploymentId, Math.max(0, Date.now() - input.runStartedAtMs) / 1000);
      return { status: status.status === 'cancelled' ? 'cancelled' : 'completed', ...seen, result };
    } catch (error) {
      const cancelled = cancellationOf(ctx);
      if (cancelled) throw cancelled;
      // The result read reports its errors already mapped; the RunComfy error is their cause.
      const cause = error instanceof ApplicationFailure ? error.cause : error;
      if (isRunComfyError(cause) && cause.retryable) {
        ctx.log.warn('status read failed; will read again', { requestId: input.requestId, code: cause.code });
        return { status: 'unreadable', reason: cause.code, ...(cause.retryAfterMs !== undefined ? { retryAfterMs: cause.retryAfterMs } : {}) };
      }
      throw runComfyFailure(error);
    }
  };
}
