/**
 * The keep-alive race on submit, made deterministic: a raw loopback HTTP server answers the first
 * request of each connection and keeps it open, then closes the connection as soon as a second
 * request arrives on it — the moment a server closing an idle socket and a client reusing it cross.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Agent } from 'undici';
import { ERROR_CODES, RunComfyClient, RunComfyConnectionError, createRunComfyDispatcher, isRunComfyError } from '../../src/runcomfy/index.js';
import type { RunComfyError } from '../../src/runcomfy/index.js';

const TOKEN = 'rc_test_TOKEN_abcdef0123456789';
const DEPLOYMENT = '0f1e2d3c-4b5a-4c6d-8e7f-001122334455';

interface SeenRequest {
  readonly connection: number;
  readonly indexOnConnection: number;
  readonly method: string;
  readonly path: string;
  readonly connectionHeader: string | undefined;
}

const seen: SeenRequest[] = [];
let connections = 0;

// Just enough HTTP/1.1: requests with a content-length body, answers with a fixed JSON per method.
const server = createServer((socket: Socket) => {
  const connection = ++connections;
  let served = 0;
  let buffered = Buffer.alloc(0);
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const headerEnd = buffered.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const lines = buffered.subarray(0, headerEnd).toString('latin1').split('\r\n');
      const headers = new Map(lines.slice(1).map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      const length = Number(headers.get('content-length') ?? '0');
      if (buffered.length < headerEnd + 4 + length) return;
      buffered = buffered.subarray(headerEnd + 4 + length);
      const [method = '', path = ''] = (lines[0] ?? '').split(' ');
      served += 1;
      seen.push({ connection, indexOnConnection: served, method, path, connectionHeader: headers.get('connection') });
      if (served > 1) {
        // the server had already decided this idle connection was done: the request was read, never answered
        socket.end();
        return;
      }
      const body = JSON.stringify(method === 'POST' ? { request_id: 'r1' } : { request_id: 'r1', status: 'in_queue' });
      const close = headers.get('connection')?.toLowerCase() === 'close';
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          (close ? 'connection: close\r\n\r\n' : 'connection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n') +
          body,
      );
      if (close) socket.end();
    }
  });
});

let baseUrl = '';

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
});

async function rejection(promise: Promise<unknown>): Promise<RunComfyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isRunComfyError(error), `expected a RunComfyError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('keep-alive race on submit', () => {
  it('the client never sends a submit on an idle pooled connection, so the race cannot make it ambiguous', async () => {
    // one pooled connection per origin, so the pool has no choice but the idle one (as in production once warm)
    const dispatcher = createRunComfyDispatcher({ connectionsPerOrigin: 1, connectTimeoutMs: 1000 });
    const rc = new RunComfyClient({ baseUrl, token: TOKEN, dispatcher, timeouts: { headersMs: 2000, bodyMs: 2000 } });
    try {
      await rc.getStatus(DEPLOYMENT, 'r1'); // leaves an idle keep-alive connection in the pool
      const job = await rc.submit(DEPLOYMENT, { overrides: { '6': { inputs: { text: 'x' } } } });
      assert.equal(job.requestId, 'r1');
      const submit = seen.find((request) => request.method === 'POST');
      assert.ok(submit);
      assert.equal(submit.indexOnConnection, 1, 'the submit opened its own connection');
      assert.notEqual(submit.connection, seen[0]?.connection);
      assert.equal(submit.connectionHeader?.toLowerCase(), 'close', 'and asked the server not to keep it');

      // a read still reuses the pool; when the race hits it the failure is retryable, never "may be accepted"
      const read = await rejection(rc.getStatus(DEPLOYMENT, 'r1'));
      assert.ok(read instanceof RunComfyConnectionError);
      assert.equal(read.retryable, true);
      assert.equal(seen.at(-1)?.connection, seen[0]?.connection, 'the read rode on the first, pooled connection');
    } finally {
      await rc.close();
      await dispatcher.close();
    }
  });

  it('with a plain keep-alive pool the race hits the submit, and the outcome is classified as unknown', async () => {
    const plain = new Agent({ keepAliveTimeout: 60_000, pipelining: 1, connections: 1 });
    const rc = new RunComfyClient({ baseUrl, token: TOKEN, dispatcher: plain, timeouts: { headersMs: 2000, bodyMs: 2000 } });
    try {
      await rc.getStatus(DEPLOYMENT, 'r1');
      const error = await rejection(rc.submit(DEPLOYMENT));
      assert.ok(error instanceof RunComfyConnectionError);
      assert.equal(error.code, ERROR_CODES.connection);
      assert.equal(error.phase, 'after-send');
      assert.equal(error.jobMayHaveBeenAccepted, true, 'the server read the submit: it may have created the job');
      assert.equal(error.retryable, false);
      const submit = seen.find((request) => request.method === 'POST');
      assert.equal(submit?.indexOnConnection, 2, 'the submit was written on the reused connection');
    } finally {
      await rc.close();
      await plain.close();
    }
  });
});
