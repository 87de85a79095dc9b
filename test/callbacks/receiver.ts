/**
 * A backend's callback endpoint for tests, on 127.0.0.1: records every request (raw body and
 * headers), verifies its signature, and answers per path (`/ok`, `/flaky` = 503 for the first
 * delivery of each event then 200, `/reject` = 400, `/down` = 500).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import type { CallbackEvent } from '../../src/callbacks/events.js';
import { verifyCallback } from '../../src/callbacks/signature.js';

export interface ReceivedCallback {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  event: CallbackEvent;
  verified: boolean;
  answered: number;
  receivedAtMs: number;
}

export interface CallbackReceiver {
  url(path: string): string;
  received: ReceivedCallback[];
  /** Distinct events of one pipeline that were answered 2xx, in sequence order. */
  deliveredFor(pipelineId: string): CallbackEvent[];
}

export async function startCallbackReceiver(secret: string): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  const seenOnFlaky = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        verifyCallback(secret, req.headers, body);
        verified = true;
      } catch {
        verified = false;
      }
      const path = req.url ?? '/';
      const event = JSON.parse(body) as CallbackEvent;
      let answered = 200;
      if (!verified) answered = 401;
      else if (path === '/reject') answered = 400;
      else if (path === '/down') answered = 500;
      else if (path === '/flaky' && !seenOnFlaky.has(event.id)) {
        seenOnFlaky.add(event.id);
        answered = 503;
      }
      received.push({ path, headers: req.headers, body, event, verified, answered, receivedAtMs: Date.now() });
      res.writeHead(answered, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    deliveredFor(pipelineId) {
      const byId = new Map<string, CallbackEvent>();
      for (const r of received) if (r.event.pipelineId === pipelineId && r.answered < 300) byId.set(r.event.id, r.event);
      return [...byId.values()].sort((a, b) => a.sequence - b.sequence);
    },
  };
}
