import { Counter, type Registry } from 'prom-client';

/** What happened to one webhook call; the label of `rcp_webhooks_received_total`. */
export const WEBHOOK_OUTCOMES = ['signaled', 'duplicate', 'closed', 'ignored', 'forged', 'oversize', 'throttled', 'error'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

/** The receiver's counter, registered in the worker's registry or the standalone service's own. */
export class WebhookMetrics {
  private readonly received: Counter<'outcome'>;

  constructor(readonly registry: Registry) {
    this.received = new Counter({
      name: 'rcp_webhooks_received_total',
      help: 'RunComfy webhook calls, by outcome (signaled, duplicate, closed = workflow gone, ignored = unknown shape, forged = bad token or unparseable request, oversize, throttled = too many events for one job, error = Temporal unavailable)',
      labelNames: ['outcome'],
      registers: [registry],
    });
    // Every outcome shows from the start: an alert on a rate of `forged` needs the series to exist.
    for (const outcome of WEBHOOK_OUTCOMES) this.received.inc({ outcome }, 0);
  }

  count(outcome: WebhookOutcome): void {
    this.received.inc({ outcome });
  }

  /** Current count of one outcome (tests, logs). */
  async value(outcome: WebhookOutcome): Promise<number> {
    const metric = await this.received.get();
    return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  }
}
