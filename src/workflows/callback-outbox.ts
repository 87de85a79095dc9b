import { ActivityFailure, ApplicationFailure, condition, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { callbackDeliveriesQuery, callbackEventSignal, isTerminalEvent, type CallbackDeliveryRecord, type CallbackEvent } from '../callbacks/events.js';
import type { CallbackTarget } from '../contract/activity-contract.js';

/** Input of the outbox workflow. */
export interface CallbackOutboxInput {
  pipelineId: string;
  target: CallbackTarget;
}

/** How long an outbox waits for its pipeline's next event before it gives up (a terminated pipeline sends no terminal event). */
const IDLE_LIMIT = '7 days';

/**
 * Delivers one pipeline's callbacks, in sequence order, each at least once: its own workflow, so a
 * backend that is down delays callbacks and never the pipeline (which only signals events here and
 * goes on). An event is retried with backoff within the target's window; a 4xx other than 408/429
 * is recorded and not retried. Ends after the pipeline's terminal event.
 */
export async function pipelineCallbacks(input: CallbackOutboxInput): Promise<CallbackDeliveryRecord[]> {
  const pending = new Map<number, CallbackEvent>();
  const records: CallbackDeliveryRecord[] = [];
  let next = 1;
  setHandler(callbackEventSignal, (event) => {
    if (Number.isInteger(event?.sequence) && event.sequence >= next) pending.set(event.sequence, event);
  });
  setHandler(callbackDeliveriesQuery, () => records.map((record) => ({ ...record })));

  const { deliverCallback } = proxyActivities<PipelineActivities>({
    startToCloseTimeout: input.target.timeoutMs + 5_000,
    // The window bounds all retries of one event; the terminal event gets the same window.
    scheduleToCloseTimeout: input.target.retryWindowMs,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes', nonRetryableErrorTypes: ['CallbackHostNotAllowed'] },
  });

  for (;;) {
    if (!(await condition(() => pending.has(next), IDLE_LIMIT))) {
      log.warn('callback outbox gave up waiting for its pipeline', { pipelineId: input.pipelineId, next });
      return records;
    }
    const event = pending.get(next)!;
    pending.delete(next);
    next++;
    // A progress event with a newer event of the same step already waiting says nothing new.
    const superseded = event.type === 'step.progress' && [...pending.values()].some((later) => 'stepId' in later.data && 'stepId' in event.data && later.data.stepId === event.data.stepId);
    if (superseded) {
      records.push({ id: event.id, sequence: event.sequence, type: event.type, outcome: 'superseded' });
      continue;
    }
    try {
      const outcome = await deliverCallback({ url: input.target.url, event, timeoutMs: input.target.timeoutMs });
      records.push({ id: event.id, sequence: event.sequence, type: event.type, ...outcome });
    } catch (error) {
      const cause = error instanceof ActivityFailure ? error.cause : error;
      const message = cause instanceof ApplicationFailure || cause instanceof Error ? cause.message : String(cause);
      log.warn('callback undelivered', { pipelineId: input.pipelineId, sequence: event.sequence, type: event.type, error: message });
      records.push({ id: event.id, sequence: event.sequence, type: event.type, outcome: 'undelivered', error: message.slice(0, 300) });
    }
    if (isTerminalEvent(event.type)) return records;
  }
}
