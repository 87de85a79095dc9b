/**
 * The client over real HTTP against a tiny scripted server, for the shapes and failures an emulator
 * does not produce on demand: tolerant/strict schema cases, exact request encoding, transport phases.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  ERROR_CODES,
  RunComfyAbortedError,
  RunComfyClient,
  RunComfyConnectionError,
  RunComfyProtocolError,
  RunComfyTimeoutError,
  createRunComfyDispatcher,
  extractOutputFiles,
  isRunComfyError,
} from '../../src/runcomfy/index.js';
import type { RunComfyError } from '../../src/runcomfy/index.js';

const TOKEN = 'rc_test_TOKEN_abcdef0123456789';
const DEPLOYMENT = '0f1e2d3c-4b5a-4c6d-8e7f-001122334455';

interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Handler = (request: SeenRequest, response: ServerResponse, raw: IncomingMessage) => void;

let handler: Handler = (_request, response) => response.end();
const seen: SeenRequest[] = [];
let connections = 0;
let baseUrl = '';
const server = createServer((raw, response) => {
  const chunks: Buffer[] = [];
  raw.on('data', (chunk: Buffer) => chunks.push(chunk));
  raw.on('end', () => {
    const request = { method: raw.method ?? '', url: raw.url ?? '', headers: raw.headers, body: Buffer.concat(chunks).toString('utf8') };
    seen.push(request);
    handler(request, response, raw);
  });
});
server.on('connection', () => {
  connections += 1;
});

function sendJson(response: ServerResponse, httpStatus: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(httpStatus, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

function client(overrides: Partial<ConstructorParameters<typeof RunComfyClient>[0]> = {}): RunComfyClient {
  return new RunComfyClient({ baseUrl, token: TOKEN, timeouts: { connectMs: 500, headersMs: 2000, bodyMs: 2000 }, ...overrides });
}

async function rejection(promise: Promise<unknown>): Promise<RunComfyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isRunComfyError(error), `expected a RunComfyError, got ${inspect(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
  connections = 0;
  handler = (_request, response) => response.end();
});

describe('request encoding', () => {
  it('submits overrides, workflow_api_json, extra_data and a query webhook with the bearer token; 202 accepted', async () => {
    const rc = client();
    try {
      handler = (request, response) => {
        const requestId = 'req-42';
        const origin = `http://${request.headers.host}`;
        const base = `${origin}/prod/v1/deployments/${DEPLOYMENT}/requests/${requestId}`;
        sendJson(response, 202, { request_id: requestId, status_url: `${base}/status`, result_url: `${base}/result`, cancel_url: `${base}/cancel`, extra: 'kept' });
      };
      const job = await rc.submit(DEPLOYMENT, {
        overrides: { '6': { inputs: { text: 'a red fox' } }, '68:8': { inputs: { seed: 7 } } },
        workflowApiJson: { '9': { class_type: 'SaveImage', inputs: {} } },
        extraData: { api_key_comfy_org: 'comfy-key' },
        webhook: { url: 'https://hooks.example.test/runcomfy?sig=a b', intermediateStatus: true },
      });
      const [request] = seen;
      assert.ok(request);
      assert.equal(request.method, 'POST');
      const url = new URL(request.url, 'http://x');
      assert.equal(url.pathname, `/prod/v1/deployments/${DEPLOYMENT}/inference`);
      assert.equal(url.searchParams.get('webhook'), 'https://hooks.example.test/runcomfy?sig=a b');
      assert.equal(url.searchParams.get('webhook_intermediate_status'), 'true');
      assert.equal(request.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(request.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(request.body), {
        overrides: { '6': { inputs: { text: 'a red fox' } }, '68:8': { inputs: { seed: 7 } } },
        workflow_api_json: { '9': { class_type: 'SaveImage', inputs: {} } },
        extra_data: { api_key_comfy_org: 'comfy-key' },
      });
      assert.equal(job.requestId, 'req-42');
      assert.equal(job.httpStatus, 202);
      assert.equal(job.raw.extra, 'kept');
      assert.deepEqual(
        { statusUrl: job.statusUrl, resultUrl: job.resultUrl, cancelUrl: job.cancelUrl },
        rc.requestUrls(DEPLOYMENT, 'req-42'),
        'the id-based URLs are the absolute URLs of the submit response',
      );
    } finally {
      await rc.close();
    }
  });

  it('sends the legacy body form of the webhook, uses the v2 prefix when configured, fills missing URLs', async () => {
    const rc = client({ inferenceApiVersion: 'v2' });
    try {
      handler = (_request, response) => sendJson(response, 200, { request_id: 'r1' });
      const job = await rc.submit(DEPLOYMENT, { webhook: { url: 'https://hooks.example.test/x', intermediateStatus: false, placement: 'body' } });
      const [request] = seen;
      assert.equal(new URL(request?.url ?? '', 'http://x').pathname, `/prod/v2/deployments/${DEPLOYMENT}/inference`);
      assert.deepEqual(JSON.parse(request?.body ?? ''), { webhook: 'https://hooks.example.test/x', webhook_intermediate_status: false });
      assert.equal(job.statusUrl, `${baseUrl}prod/v2/deployments/${DEPLOYMENT}/requests/r1/status`);
    } finally {
      await rc.close();
    }
  });

  it('rejects a bad webhook URL and empty ids before any request', async () => {
    const rc = client();
    try {
      const badWebhook = await rejection(rc.submit(DEPLOYMENT, { webhook: { url: 'ftp://nope' } }));
      assert.equal(badWebhook.code, ERROR_CODES.validation);
      assert.equal(badWebhook.jobMayHaveBeenAccepted, false);
      const emptyId = await rejection(rc.getStatus(DEPLOYMENT, ''));
      assert.equal(emptyId.code, ERROR_CODES.validation);
      assert.equal(seen.length, 0);
    } finally {
      await rc.close();
    }
  });

  it('encodes list filters as repeated ids/includes and get includes', async () => {
    const rc = client();
    try {
      handler = (request, response) => {
        if (request.url.startsWith('/prod/v2/deployments?')) sendJson(response, 200, { deployments: [{ id: 'a', name: 'A', hardware: 'AMPERE_48' }] });
        else sendJson(response, 200, { deployment: { id: DEPLOYMENT, name: 'x', payload: { workflow_api_json: JSON.stringify({ '6': { class_type: 'CLIPTextEncode', inputs: { text: 'hi' } } }), object_info_url: 'https://x.test/oi.json' }, readme: '# hi' } });
      };
      const list = await rc.listDeployments({ ids: ['a', 'b'], includes: ['payload', 'readme'] });
      const url = new URL(seen[0]?.url ?? '', 'http://x');
      assert.deepEqual(url.searchParams.getAll('ids'), ['a', 'b']);
      assert.deepEqual(url.searchParams.getAll('includes'), ['payload', 'readme']);
      assert.deepEqual(list.map((deployment) => [deployment.id, deployment.hardware]), [['a', ['AMPERE_48']]]);

      const one = await rc.getDeployment(DEPLOYMENT, { includes: ['payload'] });
      assert.equal(new URL(seen[1]?.url ?? '', 'http://x').searchParams.get('includes'), 'payload');
      assert.deepEqual(one.payload?.workflowApiJson, { '6': { class_type: 'CLIPTextEncode', inputs: { text: 'hi' } } }, 'a stringified graph is parsed');
      assert.equal(one.payload?.objectInfoUrl, 'https://x.test/oi.json');
      assert.equal(one.readme, '# hi');
    } finally {
      await rc.close();
    }
  });
});

describe('tolerant and strict response parsing', () => {
  it('accepts canceled, numeric-string queue positions and unknown fields in status', async () => {
    const rc = client();
    try {
      handler = (_request, response) => sendJson(response, 200, { request_id: 'r1', status: 'canceled', queue_position: '3', surprise: { nested: true } });
      const status = await rc.getStatus(DEPLOYMENT, 'r1');
      assert.equal(status.status, 'cancelled');
      assert.equal(status.rawStatus, 'canceled');
      assert.equal(status.isTerminal, true);
      assert.equal(status.queuePosition, 3);
    } finally {
      await rc.close();
    }
  });

  it('accepts `output` for `outputs` and an array-shaped failure', async () => {
    const rc = client();
    try {
      handler = (_request, response) =>
        sendJson(response, 200, {
          request_id: 'r1',
          status: 'failed',
          output: { '9': { images: [{ url: 'https://cdn.example.test/a.png', filename: 'a.png', subfolder: '', type: 'output' }] } },
          error: [{ errorCode: 'E1', error: 'node 31 exploded', debugInfo: {} }],
        });
      const result = await rc.getResult(DEPLOYMENT, 'r1');
      assert.equal(result.status, 'failed');
      assert.equal(result.failure?.message, 'node 31 exploded');
      assert.equal(extractOutputFiles(result.outputs).length, 1);
    } finally {
      await rc.close();
    }
  });

  it('turns strict violations into protocol errors, never a raw zod error', async () => {
    const rc = client();
    try {
      const cases: Array<[string, () => Promise<unknown>, unknown]> = [
        ['empty request_id on submit', () => rc.submit(DEPLOYMENT), { request_id: '' }],
        ['javascript: status_url', () => rc.submit(DEPLOYMENT), { request_id: 'r', status_url: 'javascript:alert(1)' }],
        ['unknown status', () => rc.getStatus(DEPLOYMENT, 'r1'), { request_id: 'r1', status: 'levitating' }],
        ['foreign request id', () => rc.getStatus(DEPLOYMENT, 'r1'), { request_id: 'r2', status: 'in_queue' }],
        ['output file with a file: url', () => rc.getResult(DEPLOYMENT, 'r1'), { status: 'succeeded', outputs: { '9': { images: [{ url: 'file:///etc/passwd' }] } } }],
        ['list that is an object', () => rc.listDeployments(), { items: [] }],
        ['deployment without id', () => rc.getDeployment(DEPLOYMENT), { name: 'x' }],
        ['another deployment', () => rc.getDeployment(DEPLOYMENT), { id: 'other' }],
      ];
      for (const [label, call, body] of cases) {
        handler = (_request, response) => sendJson(response, 200, body);
        const error = await rejection(call());
        assert.ok(error instanceof RunComfyProtocolError, label);
        assert.ok(error.issues.length > 0, `${label}: issues listed`);
        assert.doesNotMatch(error.message, /ZodError|\n/, label);
      }
    } finally {
      await rc.close();
    }
  });

  it('treats a 200 submit whose body is not JSON as an ambiguous protocol error', async () => {
    const rc = client();
    try {
      handler = (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"request_id": "r1", "status_u');
      };
      const error = await rejection(rc.submit(DEPLOYMENT));
      assert.ok(error instanceof RunComfyProtocolError);
      assert.equal(error.jobMayHaveBeenAccepted, true);
      assert.equal(error.retryable, false);
      assert.equal(error.bodyExcerpt, '{"request_id": "r1", "status_u');
    } finally {
      await rc.close();
    }
  });

  it('accepts an empty 202 on cancel and a 204 on delete', async () => {
    const rc = client();
    try {
      handler = (request, response) => {
        response.writeHead(request.method === 'DELETE' ? 204 : 202);
        response.end();
      };
      const cancelled = await rc.cancel(DEPLOYMENT, 'r1');
      assert.equal(cancelled.httpStatus, 202);
      assert.equal(cancelled.outcome, undefined);
      await rc.deleteDeployment(DEPLOYMENT);
      assert.deepEqual(seen.map((request) => request.method), ['POST', 'DELETE']);
    } finally {
      await rc.close();
    }
  });

  it('refuses a body above maxResponseBytes and keeps working afterwards', async () => {
    const rc = client({ maxResponseBytes: 1024 });
    try {
      handler = (_request, response) => sendJson(response, 200, [{ id: 'x', readme: 'y'.repeat(5000) }]);
      const error = await rejection(rc.listDeployments());
      assert.equal(error.code, ERROR_CODES.protocol);
      handler = (_request, response) => sendJson(response, 200, []);
      assert.deepEqual(await rc.listDeployments(), []);
    } finally {
      await rc.close();
    }
  });
});

describe('connections and transport failures', () => {
  it('consumes error bodies so one keep-alive socket serves many failed calls', async () => {
    // With a single socket per origin an unconsumed body would pin it and the second call would hang.
    const dispatcher = createRunComfyDispatcher({ connectionsPerOrigin: 1 });
    const rc = client({ dispatcher });
    try {
      handler = (_request, response) => sendJson(response, 404, { error_code: 404001, error_message: 'Request not found', padding: 'z'.repeat(20_000) });
      for (let attempt = 0; attempt < 15; attempt++) {
        const error = await rejection(rc.getResult(DEPLOYMENT, `r${attempt}`));
        assert.equal(error.code, ERROR_CODES.notFound);
      }
      assert.equal(connections, 1);
    } finally {
      await rc.close();
      await dispatcher.close();
    }
  });

  it('connection refused: before-send, not accepted, retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const rc = client({ baseUrl: `http://127.0.0.1:${port}` });
    try {
      const error = await rejection(rc.submit(DEPLOYMENT));
      assert.ok(error instanceof RunComfyConnectionError);
      assert.equal(error.phase, 'before-send');
      assert.equal(error.jobMayHaveBeenAccepted, false);
      assert.equal(error.retryable, true);
    } finally {
      await rc.close();
    }
  });

  it('socket dropped after the server read the submit: ambiguous', async () => {
    const rc = client();
    try {
      handler = (_request, response) => response.socket?.destroy();
      const error = await rejection(rc.submit(DEPLOYMENT, { overrides: { '6': { inputs: { text: 'x' } } } }));
      assert.ok(error instanceof RunComfyConnectionError);
      assert.equal(error.phase, 'after-send');
      assert.equal(error.jobMayHaveBeenAccepted, true);
      assert.equal(error.retryable, false);
      assert.equal(seen.length, 1, 'the server did receive the submit');
    } finally {
      await rc.close();
    }
  });

  it('headers timeout on submit: ambiguous; body timeout on status: retryable', async () => {
    const rc = client({ timeouts: { connectMs: 500, headersMs: 150, bodyMs: 150 } });
    try {
      handler = () => undefined; // never answers
      const headers = await rejection(rc.submit(DEPLOYMENT));
      assert.ok(headers instanceof RunComfyTimeoutError);
      assert.equal(headers.phase, 'headers');
      assert.equal(headers.jobMayHaveBeenAccepted, true);

      handler = (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"request_id":"r1",');
      };
      const body = await rejection(rc.getStatus(DEPLOYMENT, 'r1'));
      assert.ok(body instanceof RunComfyTimeoutError);
      assert.equal(body.phase, 'body');
      assert.equal(body.httpStatus, 200);
      assert.equal(body.retryable, true);
    } finally {
      server.closeAllConnections();
      await rc.close();
    }
  });

  it('abort: an already-aborted signal sends nothing; an abort while queued for a socket is not ambiguous; mid-flight is', async () => {
    const dispatcher = createRunComfyDispatcher({ connectionsPerOrigin: 1 });
    const rc = client({ dispatcher });
    try {
      const preAborted = await rejection(rc.submit(DEPLOYMENT, {}, { signal: AbortSignal.abort() }));
      assert.ok(preAborted instanceof RunComfyAbortedError);
      assert.equal(preAborted.jobMayHaveBeenAccepted, false);
      assert.equal(seen.length, 0);

      handler = () => undefined; // hold the only socket
      const blocker = new AbortController();
      const blocking = rejection(rc.getStatus(DEPLOYMENT, 'r1', { signal: blocker.signal }));
      await waitFor(() => seen.length === 1);
      const queued = new AbortController();
      const queuedSubmit = rejection(rc.submit(DEPLOYMENT, {}, { signal: queued.signal }));
      queued.abort(new Error('worker shutting down'));
      const queuedError = await queuedSubmit;
      assert.equal(queuedError.code, ERROR_CODES.aborted);
      assert.equal(queuedError.jobMayHaveBeenAccepted, false, 'the submit never reached a socket');
      blocker.abort();
      assert.equal((await blocking).code, ERROR_CODES.aborted);

      const inFlight = new AbortController();
      const flying = rejection(rc.submit(DEPLOYMENT, {}, { signal: inFlight.signal }));
      await waitFor(() => seen.some((request) => request.method === 'POST'));
      inFlight.abort();
      const flyingError = await flying;
      assert.equal(flyingError.code, ERROR_CODES.aborted);
      assert.equal(flyingError.jobMayHaveBeenAccepted, true);
    } finally {
      server.closeAllConnections();
      await rc.close();
      await dispatcher.close();
    }
  });
});

describe('the token stays secret', () => {
  it('is absent from JSON.stringify and util.inspect of the client and of errors with causes', async () => {
    const rc = client();
    try {
      assert.ok(!JSON.stringify(rc).includes(TOKEN));
      assert.ok(!inspect(rc, { depth: 10, showHidden: true }).includes(TOKEN));
      assert.ok(!String(rc).includes(TOKEN));
      handler = (request, response) => sendJson(response, 401, { error_code: 401001, error_message: `bad token ${request.headers.authorization ?? ''}` });
      const unauthorized = await rejection(rc.getStatus(DEPLOYMENT, 'r1'));
      handler = (_request, response) => response.socket?.destroy();
      const dropped = await rejection(rc.getStatus(DEPLOYMENT, 'r1'));
      for (const error of [unauthorized, dropped]) {
        for (const rendering of [JSON.stringify(error), inspect(error, { depth: 10, showHidden: true }), error.message, String(error.stack)]) {
          assert.ok(!rendering.includes(TOKEN), `token leaked from ${error.name}`);
        }
      }
      assert.equal(unauthorized.code, ERROR_CODES.unauthorized);
      assert.match(unauthorized.message, /bad token Bearer \[redacted\]/);
    } finally {
      await rc.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
