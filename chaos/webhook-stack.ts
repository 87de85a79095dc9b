/**
 * How the campaign wires webhooks. Every worker process serves its own in-worker receiver on a port
 * of its own (kept across restarts). Even-numbered worker slots name that receiver in the URLs they
 * sign, so killing such a worker also takes down the address its jobs' webhooks go to until its
 * successor listens again; odd-numbered slots name the shared standalone receiver
 * (`src/webhooks/main.ts`), which the `receiver-down` fault stops and restarts. Either way a
 * receiver that is down must cost only latency: RunComfy retries, and the backstop read follows.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_WEBHOOK_PATH } from '../src/webhooks/config.js';

/**
 * The backstop read interval the campaign's workers use. Jobs here run 0.5–2.5 s, so nearly every
 * job ends long before its first backstop read: its end is found by a webhook or not at all until
 * the backstop, which makes a broken webhook path visible as latency.
 */
export const WEBHOOK_BACKSTOP_MS = 8_000;

export interface WebhookPlan {
  /** Signs and verifies the per-job tokens (a secret: never in history or logs). */
  secret: string;
  /** Port of the shared standalone receiver. */
  receiverPort: number;
  /** Port of each worker slot's in-worker receiver, by slot index. */
  slotPorts: number[];
  backstopMs: number;
}

export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Which receiver a slot's signed URLs name: its own for even slots, the shared one for odd slots. */
export function urlPortOfSlot(plan: WebhookPlan, slotIndex: number): number {
  return slotIndex % 2 === 0 ? plan.slotPorts[slotIndex]! : plan.receiverPort;
}

export function webhookWorkerEnv(plan: WebhookPlan, slotIndex: number): NodeJS.ProcessEnv {
  return {
    WEBHOOK_PUBLIC_URL: `http://127.0.0.1:${urlPortOfSlot(plan, slotIndex)}${DEFAULT_WEBHOOK_PATH}`,
    WEBHOOK_ALLOW_HTTP: '1',
    WEBHOOK_PORT: String(plan.slotPorts[slotIndex]!),
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_SECRETS: plan.secret,
    WEBHOOK_BACKSTOP_INTERVAL_MS: String(plan.backstopMs),
  };
}

export function webhookReceiverEnv(plan: WebhookPlan): NodeJS.ProcessEnv {
  return {
    WEBHOOK_PORT: String(plan.receiverPort),
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_SECRETS: plan.secret,
    LOG_LEVEL: 'INFO',
  };
}
