import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { WebhookDeliveryKind, WebhookDeliveryRecord } from './admin-types.js';
import type { Counters } from './counters.js';
import type { WebhookSettings } from './settings.js';

/** One event to POST to a job's webhook. */
export interface WebhookEvent {
  requestId: string;
  deploymentId: string;
  /** The event's status (in_queue, in_progress, succeeded, failed, cancelled/canceled). */
  eventStatus: string;
  url: string;
  payload: Record<string, unknown>;
}

const MAX_RECORDS = 10_000;

/** The URL with its `token` query parameter changed (or added): what a forger without the secret sends. */
export function tamperedUrl(url: string): string {
  const parsed = new URL(url);
  const token = parsed.searchParams.get('token');
  parsed.searchParams.set('token', token ? `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` : 'forged');
  return parsed.toString();
}

/**
 * At-least-once webhook delivery: every event is POSTed until a 2xx or `maxAttempts`, with
 * exponential backoff. Optionally sends duplicate copies and holds intermediate events until after
 * the final one, so receivers meet the duplicates and reordering RunComfy warns about; loses a
 * share of events; and sends forged calls alongside, so receivers meet those too.
 */
export class WebhookDispatcher {
  private readonly records = new Map<string, WebhookDeliveryRecord>();
  private readonly heldByRequest = new Map<string, WebhookEvent[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly agent = new Agent({ keepAliveTimeout: 1000, connections: 64 });
  private readonly closing = new AbortController();
  /** Bumped by clear(): attempts that started before a reset do not schedule retries after it. */
  private generation = 0;
  /** Running sum of `lossRate`: an event is lost each time it reaches 1 (reproducible, unlike a coin). */
  private lossCredit = 0;

  constructor(
    private readonly settings: () => WebhookSettings,
    private readonly counters: Counters,
    private readonly log: (line: string) => void,
  ) {}

  /** Sends an event; intermediate events wait for the final one when reordering is on. */
  send(event: WebhookEvent, isFinal: boolean): void {
    if (this.closing.signal.aborted) return;
    const settings = this.settings();
    if (settings.reorder && !isFinal) {
      const held = this.heldByRequest.get(event.requestId) ?? [];
      held.push(event);
      this.heldByRequest.set(event.requestId, held);
      return;
    }
    this.dispatch(event);
    if (isFinal) {
      const held = this.heldByRequest.get(event.requestId);
      this.heldByRequest.delete(event.requestId);
      for (const heldEvent of (held ?? []).reverse()) this.dispatch(heldEvent);
    }
  }

  /** One event leaving the emulator: maybe lost, maybe escorted by forged calls. */
  private dispatch(event: WebhookEvent): void {
    const settings = this.settings();
    this.lossCredit += Math.min(1, Math.max(0, settings.lossRate));
    if (this.lossCredit >= 1 - 1e-9) {
      this.lossCredit -= 1;
      this.record(event, 0, 'lost');
    } else {
      this.deliver(event, 0);
    }
    for (let index = 0; index < settings.forged; index++) {
      const otherRequest = index % 2 === 1;
      const forgedEvent: WebhookEvent = {
        ...event,
        url: tamperedUrl(event.url),
        ...(otherRequest ? { payload: { ...event.payload, request_id: `${event.requestId}-forged` } } : {}),
      };
      const record = this.record(forgedEvent, 0, otherRequest ? 'forged_request' : 'forged_token');
      void this.attempt(forgedEvent, record, JSON.stringify(forgedEvent.payload), true);
    }
  }

  /** Delivery records, oldest first, optionally for one request. */
  list(requestId?: string): WebhookDeliveryRecord[] {
    const all = [...this.records.values()];
    return requestId === undefined ? all : all.filter((record) => record.request_id === requestId);
  }

  clear(): void {
    this.generation++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.records.clear();
    this.heldByRequest.clear();
    this.lossCredit = 0;
  }

  /** Stops retries and aborts deliveries in flight. */
  async close(): Promise<void> {
    this.closing.abort();
    this.clear();
    await this.agent.destroy().catch(() => undefined);
  }

  private deliver(event: WebhookEvent, copy: number): void {
    const record = this.record(event, copy, copy === 0 ? 'event' : 'duplicate');
    void this.attempt(event, record, JSON.stringify(event.payload));
  }

  private record(event: WebhookEvent, copy: number, kind: WebhookDeliveryKind): WebhookDeliveryRecord {
    const record: WebhookDeliveryRecord = {
      delivery_id: randomUUID(),
      request_id: event.requestId,
      deployment_id: event.deploymentId,
      event_status: event.eventStatus,
      url: event.url,
      copy,
      kind,
      attempts: [],
      delivered: false,
      gave_up: false,
    };
    this.records.set(record.delivery_id, record);
    if (this.records.size > MAX_RECORDS) this.records.delete(this.records.keys().next().value!);
    return record;
  }

  /** One POST; a forged call is sent once and counted in no delivery counter (RunComfy never sent it). */
  private async attempt(event: WebhookEvent, record: WebhookDeliveryRecord, body: string, forged = false): Promise<void> {
    const settings = this.settings();
    const generation = this.generation;
    const counters = forged ? { webhookAttempts: 0, webhookDeliveries: 0, webhookFailures: 0 } : this.counters.of(event.deploymentId);
    counters.webhookAttempts++;
    const attempt: WebhookDeliveryRecord['attempts'][number] = { at_ms: Date.now(), status_code: null, error: null };
    record.attempts.push(attempt);
    try {
      const response = await request(event.url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'user-agent': 'runcomfy-emulator-webhook' },
        dispatcher: this.agent,
        signal: AbortSignal.any([this.closing.signal, AbortSignal.timeout(settings.timeoutMs)]),
      });
      attempt.status_code = response.statusCode;
      await response.body.dump();
      if (response.statusCode >= 200 && response.statusCode < 300) {
        record.delivered = true;
        counters.webhookDeliveries++;
        if (!forged && record.copy === 0 && generation === this.generation) for (let copy = 1; copy <= settings.duplicates; copy++) this.deliver(event, copy);
        return;
      }
    } catch (error) {
      attempt.error = (error as Error).message;
    }
    counters.webhookFailures++;
    if (forged || this.closing.signal.aborted || generation !== this.generation) return;
    if (record.attempts.length >= settings.maxAttempts) {
      record.gave_up = true;
      this.log(`emulator: webhook ${event.eventStatus} for ${event.requestId} gave up after ${record.attempts.length} attempts`);
      return;
    }
    const delayMs = Math.min(settings.initialBackoffMs * 2 ** (record.attempts.length - 1), settings.maxBackoffMs);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(event, record, body);
    }, delayMs);
    this.timers.add(timer);
  }
}
