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
 * an endless stream) cannot hold the worker past it. Histories from before the patch keep the old,
 * fully protected behaviour.
 */
export async function protectedCopy<T>(graceMs: number, run: () => Promise<T>): Promise<T> {
  if (!patched(PERSIST_CANCEL_GRACE_PATCH)) return CancellationScope.nonCancellable(run);
  const outer = CancellationScope.current();
  let done = false;
  return CancellationScope.nonCancellable(async () => {
    const copy = new CancellationScope();
    outer.cancelRequested.catch(() => {
      if (done) return;
      void CancellationScope.nonCancellable(() => sleep(graceMs)).then(() => {
        if (!done) copy.cancel();
      });
    });
    try {
      return await copy.run(run);
    } finally {
      done = true;
    }
  });
}
