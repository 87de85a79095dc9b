/**
 * The callbacks invariant, ready for backend callbacks: a receiver run by the campaign that itself
 * fails (5xx) and stalls at random, recording every delivery, and the check over what it received —
 * every closed pipeline's terminal event arrived at least once with a valid signature, and each
 * pipeline's events form a gap-free sequence once duplicates (same event id) are dropped.
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

/** Judges the deliveries for the given closed pipelines. */
export function checkCallbacks(format: CallbackFormat, received: readonly ReceivedCallback[], closedPipelineIds: readonly string[], { sequences: checkSequences = true } = {}): CallbackProblem[] {
  const problems: CallbackProblem[] = [];
  const byPipeline = new Map<string, Map<string, { sequence: number; type: string; delivered: boolean }>>();
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
    const events = byPipeline.get(event.pipelineId) ?? new Map();
    byPipeline.set(event.pipelineId, events);
    const seen = events.get(event.eventId);
    if (seen && (seen.sequence !== event.sequence || seen.type !== event.type)) {
      problems.push({ pipelineId: event.pipelineId, evidence: `event ${event.eventId} arrived twice with different contents (${seen.type} #${seen.sequence}, ${event.type} #${event.sequence})` });
    }
    const delivered = typeof delivery.answered === 'number' && delivery.answered < 300;
    events.set(event.eventId, { sequence: event.sequence, type: event.type, delivered: (seen?.delivered ?? false) || delivered });
  }
  for (const pipelineId of closedPipelineIds) {
    const events = [...(byPipeline.get(pipelineId)?.values() ?? [])];
    const terminal = events.filter((e) => format.terminalTypes.includes(e.type));
    if (terminal.length === 0) problems.push({ pipelineId, evidence: 'no terminal callback arrived' });
    else if (!terminal.some((e) => e.delivered)) problems.push({ pipelineId, evidence: 'the terminal callback was never answered 2xx (no retry got through)' });
    const sequences = [...new Set(events.map((e) => e.sequence))].sort((a, b) => a - b);
    const missing: number[] = [];
    for (let s = sequences[0] ?? 1, i = 0; i < sequences.length; s += 1) {
      if (sequences[i] === s) i += 1;
      else missing.push(s);
    }
    if (checkSequences && missing.length > 0) problems.push({ pipelineId, evidence: `sequence gaps: ${missing.slice(0, 10).join(', ')} missing of ${sequences[0]}…${sequences.at(-1)}` });
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
