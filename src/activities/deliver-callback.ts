import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';
import type { CallbackDeliveryRecord, CallbackEvent } from '../callbacks/events.js';
import { callbackSecrets } from '../callbacks/config.js';
import { signCallback } from '../callbacks/signature.js';
import { callbackHostAllowed } from '../pipeline/integration.js';
import type { ActivityDeps } from './deps.js';
import { cancellationOf } from './failures.js';

/** Input of {@link createDeliverCallback}'s activity. */
export interface DeliverCallbackInput {
  url: string;
  event: CallbackEvent;
  timeoutMs: number;
}

/**
 * POSTs one signed callback. 2xx → delivered; a 4xx other than 408/429 → recorded as rejected and
 * not retried (the backend said no, and will say no again); 408, 429, 5xx, timeouts and connection
 * errors → a retryable failure, retried by Temporal with backoff within the outbox's window.
 * Each attempt is signed afresh (a new timestamp) over the same event id and body.
 */
export function createDeliverCallback(deps: ActivityDeps) {
  return async function deliverCallback(input: DeliverCallbackInput): Promise<Pick<CallbackDeliveryRecord, 'outcome' | 'httpStatus' | 'attempts'>> {
    const ctx = Context.current();
    const secret = deps.callbackSecret;
    if (!secret) throw ApplicationFailure.nonRetryable('CALLBACK_SECRET is not set on this worker: callbacks are always signed', 'CallbackNotConfigured');
    // The allow-list is checked again where the connection is made: history is not a trusted source.
    if (!callbackHostAllowed(input.url, deps.settings.integration?.callbackHosts ?? [])) {
      throw ApplicationFailure.nonRetryable('the callback host is not in CALLBACK_ALLOWED_HOSTS', 'CallbackHostNotAllowed');
    }
    const body = JSON.stringify(input.event);
    const headers = signCallback(callbackSecrets(secret), { id: input.event.id, timestampSeconds: Date.now() / 1000, body });
    const signal = AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(input.timeoutMs)]);
    let status: number;
    try {
      const response = await request(input.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'generation-pipelines-callbacks/1' },
        body,
        signal,
      });
      status = response.statusCode;
      // Unconsumed bodies hold sockets.
      await response.body.dump({ limit: 64 * 1024 });
    } catch (error) {
      const cancelled = cancellationOf(ctx);
      if (cancelled) throw cancelled;
      throw ApplicationFailure.retryable(`callback delivery failed: ${error instanceof Error ? error.name : 'error'}${error instanceof Error && 'code' in error ? ` (${String(error.code)})` : ''}`, 'CallbackDeliveryFailed');
    }
    const attempts = ctx.info.attempt;
    deps.metrics?.callbackAttempt?.(status);
    if (status >= 200 && status < 300) return { outcome: 'delivered', httpStatus: status, attempts };
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { outcome: 'rejected', httpStatus: status, attempts };
    throw ApplicationFailure.retryable(`the backend answered HTTP ${status}`, 'CallbackDeliveryFailed');
  };
}
