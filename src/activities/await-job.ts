import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { isRunComfyError } from '../runcomfy/errors.js';
import type { AwaitJobHeartbeat, AwaitJobInput, AwaitJobResult } from '../contract/activity-contract.js';
import { STEP_FAILURE_TYPES } from '../contract/pipeline-contract.js';
import { formatDuration } from '../format.js';
import type { ActivityDeps } from './deps.js';
import { readJobResult } from './fetch-job-result.js';
import { cancellationOf, runComfyFailure } from './failures.js';

/** Longest pause between polls relative to the phase's budget: a 30-minute video is read less often than a 2-minute image. */
const BUDGET_FRACTION_PER_POLL = 1 / 40;
const INTERVAL_GROWTH = 1.5;

/**
 * Polls one RunComfy request through one phase: `queue` returns when the job starts running (or
 * ends); `run` returns when it ends. It heartbeats every read (request id, status, queue position),
 * starts quick and slows down, honours cancellation, enforces the phase's budget from the phase's
 * start time in workflow history (so a restarted worker resumes the same request with the same
 * deadline), and rides out transient API errors without failing the step.
 */
export function createAwaitJob(deps: ActivityDeps) {
  const poll = async function pollPhase(input: AwaitJobInput): Promise<AwaitJobResult> {
    const ctx = Context.current();
    const resumed = ctx.info.heartbeatDetails as AwaitJobHeartbeat | undefined;
    let statusReads = resumed?.statusReads ?? 0;
    const maxIntervalMs = Math.max(input.initialIntervalMs, Math.min(input.maxIntervalMs, input.budgetMs * BUDGET_FRACTION_PER_POLL));
    // A resumed poll already knows the job is not brand new: no need to start at the quickest pace.
    let intervalMs = resumed ? maxIntervalMs : input.initialIntervalMs;
    // Sleeps are cut into pieces shorter than the heartbeat timeout, so a quiet job never looks like a dead worker.
    const heartbeatTimeoutMs = ctx.info.heartbeatTimeoutMs ?? 60_000;
    const sleepSliceMs = Math.max(10, Math.floor(heartbeatTimeoutMs / 3));
    let last: AwaitJobHeartbeat = { requestId: input.requestId, status: resumed?.status ?? 'unknown', statusReads };
    if (resumed?.queuePosition !== undefined) last.queuePosition = resumed.queuePosition;

    const pause = async (ms: number): Promise<void> => {
      let left = ms;
      while (left > 0) {
        const slice = Math.min(left, sleepSliceMs);
        await ctx.sleep(slice);
        left -= slice;
        ctx.heartbeat(last);
      }
    };

    // A slow answer is not a dead worker: heartbeats go on while a call is in flight (this is also
    // how a cancellation reaches the call).
    const whileHeartbeating = async <T>(call: () => Promise<T>): Promise<T> => {
      const ticker = setInterval(() => ctx.heartbeat(last), sleepSliceMs);
      try {
        return await call();
      } finally {
        clearInterval(ticker);
      }
    };

    if (input.firstReadDelayMs !== undefined && !resumed) await pause(input.firstReadDelayMs);

    for (;;) {
      const elapsedMs = Date.now() - input.phaseStartedAtMs;
      if (elapsedMs > input.budgetMs) {
        const queue = input.phase === 'queue';
        throw ApplicationFailure.create({
          type: queue ? STEP_FAILURE_TYPES.queueBudgetExceeded : STEP_FAILURE_TYPES.runBudgetExceeded,
          message: `RunComfy request ${input.requestId} was still ${queue ? 'queued' : 'running'} after ${formatDuration(elapsedMs)} (the ${input.phase} budget is ${formatDuration(input.budgetMs)})`,
          nonRetryable: true,
        });
      }
      try {
        const status = await whileHeartbeating(() => deps.runcomfy.getStatus(input.deploymentId, input.requestId, { signal: ctx.cancellationSignal }));
        statusReads++;
        deps.metrics?.statusRead();
        last = { requestId: input.requestId, status: status.rawStatus, statusReads };
        if (status.queuePosition !== undefined) last.queuePosition = status.queuePosition;
        ctx.heartbeat(last);
        if (status.isTerminal) {
          const done: AwaitJobResult = { status: status.status === 'cancelled' ? 'cancelled' : 'completed', statusReads };
          // Inside the try: a cancellation while the result is read is a cancellation, not a failure.
          if (input.includeResult) {
            done.result = await whileHeartbeating(() => readJobResult(deps, { deploymentId: input.deploymentId, requestId: input.requestId, ...(input.stepKind ? { stepKind: input.stepKind } : {}) }, ctx.cancellationSignal));
          }
          return done;
        }
        if (input.phase === 'queue' && status.status === 'running') return { status: 'running', statusReads };
        // A new place in the queue is worth one activity: the backend shows it to its user.
        if (input.phase === 'queue' && input.returnOnQueueMove && status.queuePosition !== undefined && status.queuePosition !== input.knownQueuePosition) {
          return { status: 'queued', statusReads, queuePosition: status.queuePosition };
        }
      } catch (error) {
        const cancelled = cancellationOf(ctx);
        if (cancelled) throw cancelled;
        if (!isRunComfyError(error) || !error.retryable) throw runComfyFailure(error);
        // 429, 5xx, timeouts: the job is still there; read again later, as the server asks.
        ctx.log.warn('status read failed; will read again', { requestId: input.requestId, code: error.code });
        ctx.heartbeat(last);
        const remainingMs = input.budgetMs - (Date.now() - input.phaseStartedAtMs);
        await pause(Math.max(0, Math.min(Math.max(error.retryAfterMs ?? 0, intervalMs), remainingMs + 1)));
        intervalMs = Math.min(intervalMs * INTERVAL_GROWTH, maxIntervalMs);
        continue;
      }
      const remainingMs = input.budgetMs - (Date.now() - input.phaseStartedAtMs);
      await pause(Math.max(0, Math.min(intervalMs, remainingMs + 1)));
      intervalMs = Math.min(intervalMs * INTERVAL_GROWTH, maxIntervalMs);
    }
  };

  return async function awaitJob(input: AwaitJobInput): Promise<AwaitJobResult> {
    if (input.phase !== 'run') return poll(input);
    // GPU time per deployment, counted once per job when its run phase ends: finished, cancelled or over budget.
    let ended = false;
    try {
      const result = await poll(input);
      ended = true;
      return result;
    } catch (error) {
      ended = error instanceof CancelledFailure || (error instanceof ApplicationFailure && error.type === STEP_FAILURE_TYPES.runBudgetExceeded);
      throw error;
    } finally {
      if (ended) deps.metrics?.gpuSeconds?.(input.deploymentId, Math.max(0, Date.now() - input.phaseStartedAtMs) / 1000);
    }
  };
}
