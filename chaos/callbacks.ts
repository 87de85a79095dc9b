/**
 * The callbacks invariant, ready for backend callbacks: a receiver run by the campaign that itself
 * fails (5xx) and stalls at random, recording every delivery, and the check over what it received —
 * every closed pipeline's terminal event arrived at least once with a valid signature, and each
 * pipeline's events, grouped by webhook-id, carry sequences 1..N with no gap, the one terminal
 * event last.
 *
 * What the service sends is read through {@link CallbackFormat}; {@link callbackFormat} is the
 * service's own format, checked with the client package's `verifyCallback`.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyCallback } from '../src/client/index.js';
import type { Prng } from './prng.js';

/** One delivery as received, before any judgement. */
export interface ReceivedCallback {
  atMs: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered: 2xx counts as delivered. */
  answered: number | 'stalled';
}

/** How to read the service's callbacks: supplied by the callbacks feature's public client API. */
export interface CallbackFormat {
  /** True when the signature over (headers, body) was valid for the campaign's secret when it arrived. */
  verify(headers: IncomingHttpHeaders, body: string, receivedAtMs: number): boolean;
  /** The event a body carries. */
  parse(body: string): { eventId: string; pipelineId: string; sequence: number; type: string } | undefined;
  /** Event types that end a pipeline (e.g. pipeline.completed | failed | cancelled). */
  terminalTypes: readonly string[];
}

export interface CallbackReceiver {
  readonly url: string;
  readonly received: ReceivedCallback[];
  close(): Promise<void>;
}

/** A receiver that answers 503 to about `failRate` of deliveries and stalls about `stallRate` of them for `stallMs`. */
export async function startCallbackReceiver(prng: Prng, o: { failRate: number; stallRate: number; stallMs: number }): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const roll = prng.float();
      const record: ReceivedCallback = { atMs: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered: 204 };
      received.push(record);
      if (roll < o.stallRate) {
        record.answered = 'stalled';
        setTimeout(() => res.destroy(), o.stallMs).unref();
        return;
      }
      record.answered = roll < o.stallRate + o.failRate ? 503 : 204;
      res.writeHead(record.answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callbacks`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CallbackProblem {
  pipelineId: string;
  evidence: string;
}

/**
 * Judges the deliveries for the given closed pipelines. Deliveries are grouped by their `webhook-id`
 * (the event id): every delivery of one event carries the same body and sequence. The outbox numbers
 * only the events it hands to delivery (1, 2, 3…; a superseded progress event gets none and is never
 * sent), so the distinct sequences must be exactly 1..N. The one gap the service allows is an event
 * whose delivery window ran out, which the campaign's day-long window never reaches: no gap at all is
 * accepted. Exactly one `pipeline.*` event, and it carries the highest sequence.
 */
export function checkCallbacks(format: CallbackFormat, received: readonly ReceivedCallback[], closedPipelineIds: readonly string[], { sequences: checkSequences = true } = {}): CallbackProblem[] {
  const problems: CallbackProblem[] = [];
  const byPipeline = new Map<string, Map<string, { sequence: number; type: string; body: string; delivered: boolean }>>();
  for (const delivery of received) {
    const event = format.parse(delivery.body);
    if (!event) {
      problems.push({ pipelineId: '-', evidence: `an unreadable callback body: ${delivery.body.slice(0, 120)}` });
      continue;
    }
    if (!format.verify(delivery.headers, delivery.body, delivery.atMs)) {
      problems.push({ pipelineId: event.pipelineId, evidence: `event ${event.eventId} (${event.type}) has an invalid signature` });
      continue;
    }
    const header = delivery.headers['webhook-id'];
    const groupId = typeof header === 'string' ? header : event.eventId;
    if (groupId !== event.eventId) problems.push({ pipelineId: event.pipelineId, evidence: `webhook-id ${groupId} differs from the body's event id ${event.eventId}` });
    const events = byPipeline.get(event.pipelineId) ?? new Map();
    byPipeline.set(event.pipelineId, events);
    const seen = events.get(groupId);
    if (seen && (seen.sequence !== event.sequence || seen.type !== event.type || seen.body !== delivery.body)) {
      problems.push({ pipelineId: event.pipelineId, evidence: `event ${groupId} arrived twice with different contents (${seen.type} #${seen.sequence}, ${event.type} #${event.sequence})` });
    }
    const delivered = typeof delivery.answered === 'number' && delivery.answered < 300;
    events.set(groupId, { sequence: event.sequence, type: event.type, body: seen?.body ?? delivery.body, delivered: (seen?.delivered ?? false) || delivered });
  }
  for (const pipelineId of closedPipelineIds) {
    const events = [...(byPipeline.get(pipelineId)?.entries() ?? [])].map(([id, e]) => ({ id, ...e }));
    const terminal = events.filter((e) => format.terminalTypes.includes(e.type));
    if (terminal.length === 0) problems.push({ pipelineId, evidence: 'no terminal callback arrived' });
    else if (!terminal.some((e) => e.delivered)) problems.push({ pipelineId, evidence: 'the terminal callback was never answered 2xx (no retry got through)' });
    if (!checkSequences) continue;
    if (terminal.length > 1) problems.push({ pipelineId, evidence: `${terminal.length} terminal events: ${terminal.map((e) => `${e.id} ${e.type} #${e.sequence}`).join(', ')}` });
    const bySequence = new Map<number, string[]>();
    for (const e of events) bySequence.set(e.sequence, [...(bySequence.get(e.sequence) ?? []), e.id]);
    for (const [sequence, ids] of bySequence) if (ids.length > 1) problems.push({ pipelineId, evidence: `sequence ${sequence} carried by ${ids.length} events: ${ids.join(', ')}` });
    const sequences = [...bySequence.keys()].sort((a, b) => a - b);
    const highest = sequences.at(-1) ?? 0;
    const missing: number[] = [];
    for (let s = 1; s <= highest; s += 1) if (!bySequence.has(s)) missing.push(s);
    if (missing.length > 0) problems.push({ pipelineId, evidence: `sequence gaps: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? '…' : ''} missing of 1…${highest}` });
    const last = terminal.length === 1 ? terminal[0]! : undefined;
    if (last && last.sequence !== highest) problems.push({ pipelineId, evidence: `the terminal event ${last.id} (${last.type} #${last.sequence}) is not the last: #${highest} came after it` });
  }
  return problems;
}

/** The service's callbacks: a JSON event body, Standard-Webhooks-style headers checked by `verifyCallback`. */
export function callbackFormat(secret: string): CallbackFormat {
  return {
    verify(headers, body, receivedAtMs) {
      try {
        // Judged at its arrival: the check runs minutes later, past the timestamp tolerance.
        verifyCallback(secret, headers, body, { nowMs: receivedAtMs });
        return true;
      } catch {
        return false;
      }
    },
    parse(body) {
      try {
        const event = JSON.parse(body) as { id?: unknown; pipelineId?: unknown; sequence?: unknown; type?: unknown };
        if (typeof event.id !== 'string' || typeof event.pipelineId !== 'string' || typeof event.sequence !== 'number' || typeof event.type !== 'string') return undefined;
        return { eventId: event.id, pipelineId: event.pipelineId, sequence: event.sequence, type: event.type };
      } catch {
        return undefined;
      }
    },
    terminalTypes: ['pipeline.completed', 'pipeline.failed', 'pipeline.cancelled'],
  };
}
