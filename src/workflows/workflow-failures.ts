import { ActivityFailure, ApplicationFailure, CancelledFailure, isCancellation, TimeoutFailure } from '@temporalio/workflow';

/** Longest `Retry-After` the workflow honours on a submit retry; a larger hint is cut to this. */
export const MAX_RETRY_AFTER_MS = 120_000;

export function describeFailure(error: unknown): string {
  if (error instanceof ActivityFailure && error.cause) return describeFailure(error.cause);
  if (error instanceof Error) return error.message;
  return String(error);
}

export function failureType(error: unknown): string | undefined {
  if (error instanceof ActivityFailure) return failureType(error.cause);
  if (error instanceof ApplicationFailure) return error.type ?? undefined;
  return undefined;
}

/**
 * A cancellation in any of its shapes. With the activity's worker dead, a cancel arrives as an
 * activity timeout whose retry state is CANCEL_REQUESTED rather than as a CancelledFailure.
 */
export function isCancellationLike(error: unknown): boolean {
  if (isCancellation(error)) return true;
  return error instanceof ActivityFailure && error.retryState === 'CANCEL_REQUESTED' && error.cause instanceof TimeoutFailure;
}

/** The same failure as a plain cancellation, so the pipeline ends cancelled rather than failed. */
export function asCancellation(error: unknown): unknown {
  if (isCancellation(error) || !isCancellationLike(error)) return error;
  return new CancelledFailure(`cancelled while the activity's worker was unreachable: ${describeFailure(error)}`);
}

/**
 * The server's `Retry-After`, carried in the failure's details: `nextRetryDelay` does not reach
 * workflow code (the failure converter of SDK 1.24 drops it). Capped at {@link MAX_RETRY_AFTER_MS}.
 */
export function retryAfterFromDetails(failure: ApplicationFailure): number | undefined {
  for (const detail of failure.details ?? []) {
    const value = typeof detail === 'object' && detail !== null ? (detail as { retryAfterMs?: unknown }).retryAfterMs : undefined;
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.min(Math.round(value), MAX_RETRY_AFTER_MS);
  }
  return undefined;
}

/** The delay an older history chose: `nextRetryDelay` when it arrived, else an exponential backoff. */
export function retryDelayMs(failure: ApplicationFailure, retry: number): number {
  const hinted = failure.nextRetryDelay;
  if (typeof hinted === 'number') return hinted;
  if (typeof hinted === 'string') {
    const seconds = /^(\d+(?:\.\d+)?)\s*s$/.exec(hinted)?.[1];
    if (seconds) return Math.round(Number(seconds) * 1000);
    const ms = /^(\d+)\s*ms$/.exec(hinted)?.[1];
    if (ms) return Number(ms);
  }
  return Math.min(1_000 * 2 ** retry, 30_000);
}
