import { emptyIntegrationSettings } from '../callbacks/config.js';
import type { CallbackTarget } from '../contract/activity-contract.js';
import { callbackHostAllowed } from '../pipeline/integration.js';
import type { ActivityDeps } from './deps.js';

/** Input of {@link createCallbackTarget}'s activity: only what names a callback URL. */
export interface CallbackTargetInput {
  callbackUrl?: string;
}

/**
 * Where a pipeline's callbacks go, decided before its preparation (which may refuse the pipeline or
 * be cancelled): the spec's URL when its host is allowed, else none (a refused URL is never called);
 * without one, the deployment's CALLBACK_URL. None when the worker has no CALLBACK_SECRET.
 */
export function createCallbackTarget(deps: ActivityDeps) {
  return async function callbackTarget(input: CallbackTargetInput): Promise<CallbackTarget | null> {
    const integration = deps.settings.integration ?? emptyIntegrationSettings();
    if (!integration.callbacksEnabled) return null;
    const url = input.callbackUrl ?? integration.defaultCallbackUrl;
    if (url === undefined || !callbackHostAllowed(url, integration.callbackHosts)) return null;
    return { url, retryWindowMs: integration.callbackRetryWindowMs, timeoutMs: integration.callbackTimeoutMs };
  };
}
