import { ActivityFailure, ApplicationFailure, condition, log, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { callbackDeliveriesQuery, callbackEventSignal, isTerminalEvent, type CallbackDeliveryRecord, type CallbackEvent } from '../callbacks/events.js';
import type { CallbackTarget } from '../contract/activity-contract.js';

/** Input of the outbox workflow. */
export interface CallbackOutboxInput {
  pipelineId: string;
  target: CallbackTarget;
}

/**
 * Patch id (wire name): each event is retried only until its own deadline (queued + the window), so
 * a long outage delays the terminal event by at most one window, never one window per earlier event;
 * pending `step.progress` events are superseded once the terminal event is queued; and sequence
 * numbers are given when an event is handed to delivery, to sent events only (no gaps for superseded ones).
 */
const DEADLINES_PATCH = 'callback-delivery-deadlines';

/** Below this much of its window left, an event gets one attempt and no retries. */
const LAST_CHANCE_MS = 1_000;

/** How long an outbox waits for its pipeline's next event before it gives up (a terminated pipeline sends no terminal event). */
const IDLE_LIMIT = '7 days';

/**
 * Delivers one pipeline's callbacks, in sequence order, each at least once: its own workflow, so a
 * backend that is down delays callbacks and never the pipeline (which only signals events here and
 * goes on). An event is retried with backoff until its deadline (the time it was queued plus the
 * target's window); a 4xx other than 408/429 is recorded and not retried. Ends after the pipeline's
 * terminal event.
 */
export async function pipelineCallbacks(input: CallbackOutboxInput): Promise<CallbackDeliveryRecord[]> {
  const pending = new Map<number, CallbackEvent>();
  const queuedAtMs = new Map<number, number>();
  const records: CallbackDeliveryRecord[] = [];
  let next = 1;
  setHandler(callbackEventSignal, (event) => {
    if (!Number.isInteger(event?.sequence) || event.sequence < next) return;
    pending.set(event.sequence, event);
    if (!queuedAtMs.has(event.sequence)) queuedAtMs.set(event.sequence, Date.now());
  });
  setHandler(callbackDeliveriesQuery, () => records.map((record) => ({ ...record })));
  const deadlines = patched(DEADLINES_PATCH);
  // The sequence the backend sees (with deadlines): 1, 2, 3… over the events handed to delivery.
  let sent = 0;

  const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes', nonRetryableErrorTypes: ['CallbackHostNotAllowed'] };
  const { deliverCallback } = proxyActivities<PipelineActivities>({
    startToCloseTimeout: input.target.timeoutMs + 5_000,
    // Older runs: the window bounds all retries of one event, and every event gets a whole window.
    scheduleToCloseTimeout: input.target.retryWindowMs,
    retry,
  });
  // With deadlines: retried until the event's deadline; an event whose deadline has (nearly) passed
  // still gets one attempt, so one queued long ago goes out once the backend is back.
  const deliverBy = (deadlineMs: number) => {
    const remainingMs = deadlineMs - Date.now();
    const expired = remainingMs < LAST_CHANCE_MS;
    return proxyActivities<PipelineActivities>({
      startToCloseTimeout: input.target.timeoutMs + 5_000,
      scheduleToCloseTimeout: expired ? input.target.timeoutMs + 5_000 : remainingMs,
      retry: expired ? { ...retry, maximumAttempts: 1 } : retry,
    }).deliverCallback;
  };

  for (;;) {
    if (!(await condition(() => pending.has(next), IDLE_LIMIT))) {
      log.warn('callback outbox gave up waiting for its pipeline', { pipelineId: input.pipelineId, next });
      return records;
    }
    const origin = next;
    const queued = pending.get(origin)!;
    pending.delete(origin);
    next++;
    const later = [...pending.values()];
    // A progress event with a newer event of the same step already waiting says nothing new; nor
    // (with deadlines) one queued before the terminal event, which carries the whole outcome.
    const superseded =
      queued.type === 'step.progress' &&
      (later.some((event) => 'stepId' in event.data && 'stepId' in queued.data && event.data.stepId === queued.data.stepId) || (deadlines && later.some((event) => isTerminalEvent(event.type))));
    if (superseded) {
      records.push({ id: queued.id, ...(deadlines ? {} : { sequence: queued.sequence }), type: queued.type, outcome: 'superseded' });
      continue;
    }
    const event: CallbackEvent = deadlines ? { ...queued, sequence: ++sent } : queued;
    const deliver = deadlines ? deliverBy((queuedAtMs.get(origin) ?? Date.now()) + input.target.retryWindowMs) : deliverCallback;
    queuedAtMs.delete(origin);
    try {
      const outcome = await deliver({ url: input.target.url, event, timeoutMs: input.target.timeoutMs });
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
