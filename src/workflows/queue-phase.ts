import { patched } from '@temporalio/workflow';
import type { AwaitJobInput, AwaitJobResult } from '../contract/activity-contract.js';

/**
 * Patch id (wire name): the queue phase comes back to the workflow whenever RunComfy reports a new
 * queue position, so status and `step.progress` callbacks carry it. One activity per change of
 * position: cheap next to the polls, and deterministic (the position is an activity result).
 */
const QUEUE_POSITION_PATCH = 'queue-position-progress';

/** Waits for a queued job to start (or end), telling `onPosition` each new queue position. */
export async function waitInQueue(wait: (input: AwaitJobInput) => Promise<AwaitJobResult>, input: AwaitJobInput, onPosition: (position: number) => void): Promise<AwaitJobResult> {
  if (!patched(QUEUE_POSITION_PATCH)) return wait(input);
  let known: number | undefined;
  for (;;) {
    // The same phase start (and budget) each time; a position just read needs no immediate re-read.
    const result = await wait({ ...input, returnOnQueueMove: true, ...(known !== undefined ? { knownQueuePosition: known, firstReadDelayMs: input.initialIntervalMs } : {}) });
    if (result.status !== 'queued' || result.queuePosition === undefined) return result;
    known = result.queuePosition;
    onPosition(known);
  }
}
