/**
 * The benchmark's webhooks mode: the worker runs its webhook receiver in-process on a free loopback
 * port and passes the emulator a webhook URL with every submit; the emulator (started with
 * `--allow-http`, since the receiver is plain http on 127.0.0.1) posts each job's events there.
 * Whether webhooks were really in effect is measured, not assumed: the emulator counts deliveries
 * and the worker counts what its receiver accepted (`rcp_webhooks_received_total{outcome}`).
 */
import { randomBytes } from 'node:crypto';
import type { CountersDelta } from './measure.js';
import { scrape, type PromSample } from './prom-text.js';
import type { WorkerProcess } from './stack.js';

export const WEBHOOKS_RECEIVED_METRIC = 'rcp_webhooks_received_total';

/** A fresh secret per run, long enough for the worker's ≥ 32-character rule; never written to results. */
export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Where the receiver listens for calls; the public URL names the same path (it is the whole address RunComfy calls). */
export const WEBHOOK_PATH = '/runcomfy/webhook';

/** The worker environment that turns webhooks on, receiver on `port` of 127.0.0.1. */
export function webhookWorkerEnv(port: number, secret: string, backstopIntervalMs: number | undefined): Record<string, string> {
  return {
    WEBHOOK_PUBLIC_URL: `http://127.0.0.1:${port}${WEBHOOK_PATH}`,
    WEBHOOK_PATH,
    WEBHOOK_PORT: String(port),
    // Listen on loopback only: the emulator is the only caller.
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_SECRETS: secret,
    // Loopback plain http is refused unless asked for: this is the local stack.
    WEBHOOK_ALLOW_HTTP: '1',
    ...(backstopIntervalMs === undefined ? {} : { WEBHOOK_BACKSTOP_INTERVAL_MS: String(backstopIntervalMs) }),
  };
}

/** Worker settings as the results record them: secrets replaced. */
export function redactSettings(settings: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).map(([name, value]) => [name, /SECRET/.test(name) ? '<redacted>' : value]));
}

function receivedByOutcome(samples: readonly PromSample[] | undefined): Record<string, number> | null {
  const picked = (samples ?? []).filter((sample) => sample.name === WEBHOOKS_RECEIVED_METRIC);
  if (picked.length === 0) return null;
  const byOutcome: Record<string, number> = {};
  for (const sample of picked) {
    const outcome = sample.labels['outcome'] ?? '';
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + sample.value;
  }
  return byOutcome;
}

/** Webhook traffic over one measured run. */
export interface WebhookTraffic {
  /** Emulator: POST attempts (retries, duplicates included), 2xx answers, failures. */
  attempts: number;
  deliveries: number;
  failures: number;
  /** Worker: webhooks its receiver counted, by outcome (null when the worker exposes no such metric). */
  received: Record<string, number> | null;
  /** Webhooks reached the worker: the emulator saw 2xx answers. */
  inEffect: boolean;
}

/** Counts what the worker's receiver accepted from now until `stop()`. */
export function startWebhookTraffic(worker: WorkerProcess): { stop(counters: CountersDelta): Promise<WebhookTraffic> } {
  const before = scrape(worker.metricsUrl).then(receivedByOutcome);
  return {
    async stop(counters) {
      const [start, end] = [await before, receivedByOutcome(await scrape(worker.metricsUrl))];
      let received: Record<string, number> | null = null;
      if (end) {
        received = {};
        for (const [outcome, value] of Object.entries(end)) {
          const delta = value - (start?.[outcome] ?? 0);
          if (delta !== 0) received[outcome] = delta;
        }
      }
      const total = counters.total;
      return { attempts: total.webhookAttempts, deliveries: total.webhookDeliveries, failures: total.webhookFailures, received, inEffect: total.webhookDeliveries > 0 };
    },
  };
}
