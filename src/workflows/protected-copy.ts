/**
 * How a paid-for output copy meets a pipeline cancellation. Workflow code: sandbox-safe imports only.
 */
import { CancellationScope, patched, sleep } from '@temporalio/workflow';

/** Patch id (wire name, never renamed): a cancelled pipeline gives a running copy a grace period, then cancels it. */
const PERSIST_CANCEL_GRACE_PATCH = 'persist-cancel-grace';
/** Grace when the worker's settings predate PERSIST_CANCEL_GRACE_MS. */
export const DEFAULT_PERSIST_CANCEL_GRACE_MS = 10_000;

/**
 * Runs a paid-for copy so a pipeline cancellation does not stop it at once, but does stop it after
 * `graceMs`: an ordinary file finishes within the grace, while a hostile source (a drip, a stall,
 * an endless stream) cannot hold the worker past it. The grace starts when `guard.outer` (the
 * step's scope, captured before any non-cancellable wrapper) is cancelled, or at once when the run
 * was already stopping. Histories from before the patch keep the old, fully protected behaviour.
 */
export async function protectedCopy<T>(graceMs: number, guard: { outer: CancellationScope; stopRequested: () => boolean }, run: () => Promise<T>): Promise<T> {
  if (!patched(PERSIST_CANCEL_GRACE_PATCH)) return CancellationScope.nonCancellable(run);
  let done = false;
  return CancellationScope.nonCancellable(async () => {
    const copy = new CancellationScope();
    const startGrace = (): void => {
      if (done) return;
      void CancellationScope.nonCancellable(() => sleep(graceMs)).then(() => {
        if (!done) copy.cancel();
      });
    };
    if (guard.stopRequested()) startGrace();
    else guard.outer.cancelRequested.catch(startGrace);
    try {
      return await copy.run(run);
    } finally {
      done = true;
    }
  });
}
