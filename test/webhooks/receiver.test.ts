/**
 * The webhook receiver against a real Temporal dev server: a valid call becomes a `jobNudge` signal
 * in the target workflow's history; every kind of bad call gets its status code and metric, and
 * leaves the history untouched. Target workflows run on a task queue no worker polls: a signal is
 * recorded whether or not the workflow has a handler, or even a worker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { Registry } from 'prom-client';
import { AesGcmPayloadCodec, encryptingDataConverter } from '../../src/codec/aes-gcm-codec.js';
import { parsePayloadKeys } from '../../src/codec/payload-keys.js';
import { getFreePort } from '../../src/devstack/ports.js';
import { WebhookMetrics, type WebhookOutcome } from '../../src/webhooks/metrics.js';
import { temporalNudge } from '../../src/webhooks/nudge.js';
import { createWebhookReceiver, listenWebhookReceiver, NudgeAllowance, type RunningWebhookReceiver, type WebhookLog } from '../../src/webhooks/receiver.js';
import { webhookToken, webhookUrlFor } from '../../src/webhooks/token.js';
import { testTemporal, uniqueName } from '../support/local-stack.js';

const CURRENT = randomBytes(32).toString('base64url');
const PREVIOUS = randomBytes(32).toString('base64url');
const PATH = '/runcomfy/webhook';
const MAX_BODY = 4096;

describe('webhook receiver (real Temporal)', () => {
  let client: Client;
  let connection: Connection;
  let codec: AesGcmPayloadCodec;
  let metrics: WebhookMetrics;
  let receiver: RunningWebhookReceiver;
  const logged: string[] = [];
  const log: WebhookLog = { debug: (m, meta) => logged.push(JSON.stringify([m, meta])), info: (m, meta) => logged.push(JSON.stringify([m, meta])), warn: (m, meta) => logged.push(JSON.stringify([m, meta])) };
  const taskQueue = uniqueName('no-worker');

  before(async () => {
    const temporal = await testTemporal();
    const keys = parsePayloadKeys(`k1:${randomBytes(32).toString('base64')}`);
    codec = new AesGcmPayloadCodec(keys);
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection, namespace: temporal.namespace, ...encryptingDataConverter(keys) });
    metrics = new WebhookMetrics(new Registry());
    const server = createWebhookReceiver({ settings: { secrets: [CURRENT, PREVIOUS], path: PATH, maxBodyBytes: MAX_BODY }, nudge: temporalNudge(client), metrics, log, serveMetrics: true });
    receiver = await listenWebhookReceiver(server, 0, '127.0.0.1');
  });
  after(async () => {
    await receiver?.close();
    await connection?.close();
  });

  const target = async (): Promise<WorkflowHandle> => client.workflow.start('webhookTarget', { taskQueue, workflowId: uniqueName('wf'), workflowExecutionTimeout: '10 minutes' });
  const urlFor = (workflowId: string, stepId = 'upscale', attempt = 1, secrets = [CURRENT]): string =>
    webhookUrlFor({ publicUrl: `${receiver.url}${PATH}`, secrets }, { workflowId, stepId, attempt });
  const post = async (url: string, body: unknown, init: RequestInit = {}) => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' || body instanceof ReadableStream ? body : JSON.stringify(body), ...init });
    await response.text();
    return response.status;
  };
  /** Decoded inputs of every `jobNudge` signal in the workflow's history. */
  const nudges = async (handle: WorkflowHandle): Promise<unknown[]> => {
    const history = await handle.fetchHistory();
    const signals = (history.events ?? []).map((event) => event.workflowExecutionSignaledEventAttributes).filter((attrs) => attrs?.signalName === 'jobNudge');
    return Promise.all(signals.map(async (attrs) => defaultPayloadConverter.fromPayload((await codec.decode(attrs!.input!.payloads!))[0]!)));
  };
  /** Runs `call` and returns how each outcome's counter moved. */
  const counted = async (call: () => Promise<unknown>): Promise<Partial<Record<WebhookOutcome, number>>> => {
    const outcomes: WebhookOutcome[] = ['signaled', 'duplicate', 'closed', 'ignored', 'forged', 'oversize', 'throttled', 'error'];
    const before = await Promise.all(outcomes.map((o) => metrics.value(o)));
    await call();
    const after = await Promise.all(outcomes.map((o) => metrics.value(o)));
    return Object.fromEntries(outcomes.map((o, i) => [o, after[i]! - before[i]!]).filter(([, delta]) => delta !== 0));
  };

  it('signals the workflow its token names, with the payload reduced to a nudge, encrypted like every payload', async () => {
    const handle = await target();
    const delta = await counted(async () => {
      assert.equal(await post(urlFor(handle.workflowId, 'upscale', 2), { request_id: 'req-1', status: ' In_Progress ', outputs: { huge: 'ignored' } }), 200);
    });
    assert.deepEqual(delta, { signaled: 1 });
    assert.deepEqual(await nudges(handle), [{ stepId: 'upscale', attempt: 2, requestId: 'req-1', status: 'in_progress' }]);
    const raw = JSON.stringify((await handle.fetchHistory()).events);
    assert.ok(!raw.includes('req-1'), 'the signal is encrypted with the project codec');
  });

  it('accepts URLs signed with the previous secret during a rotation', async () => {
    const handle = await target();
    assert.equal(await post(urlFor(handle.workflowId, 'faceswap', 1, [PREVIOUS]), { request_id: 'req-2', status: 'succeeded' }), 200);
    assert.equal((await nudges(handle)).length, 1);
  });

  it('answers a replayed call without a second signal, while a new status is passed on', async () => {
    const handle = await target();
    const url = urlFor(handle.workflowId);
    assert.equal(await post(url, { request_id: 'req-3', status: 'in_queue' }), 200);
    const delta = await counted(async () => {
      assert.equal(await post(url, { request_id: 'req-3', status: 'in_queue' }), 200);
      assert.equal(await post(url, { request_id: 'req-3', status: 'in_queue' }), 200);
    });
    assert.deepEqual(delta, { duplicate: 2 });
    assert.equal(await post(url, { request_id: 'req-3', status: 'succeeded' }), 200);
    // A final event that says `outcome` instead of `status` (API.md allows either) is a new event too.
    assert.equal(await post(url, { request_id: 'req-3', outcome: 'Cancelled' }), 200);
    assert.deepEqual((await nudges(handle)).map((n) => (n as { status: string }).status), ['in_queue', 'succeeded', 'cancelled']);
  });

  it('refuses forged and tampered calls with 401, counted as forged, and signals nothing', async () => {
    const handle = await target();
    const good = new URL(urlFor(handle.workflowId, 'upscale', 1));
    const tampered = (change: (search: URLSearchParams) => void): string => {
      const url = new URL(good);
      change(url.searchParams);
      return url.toString();
    };
    const token = good.searchParams.get('token')!;
    const forgeries = [
      tampered((s) => s.set('token', `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)),
      tampered((s) => s.set('step', 'faceswap')),
      tampered((s) => s.set('attempt', '2')),
      tampered((s) => s.set('wf', `${handle.workflowId}-other`)),
      tampered((s) => s.delete('token')),
      tampered((s) => s.set('token', 'short')),
      tampered((s) => s.set('token', webhookToken([randomBytes(32).toString('base64url')], { workflowId: handle.workflowId, stepId: 'upscale', attempt: 1 }))),
      `${receiver.url}${PATH}`,
    ];
    const delta = await counted(async () => {
      for (const url of forgeries) assert.equal(await post(url, { request_id: 'req-4', status: 'succeeded' }), 401, url.replace(/token=[^&]*/, 'token=…'));
    });
    assert.deepEqual(delta, { forged: forgeries.length });
    assert.deepEqual(await nudges(handle), []);
    assert.ok(!logged.some((line) => line.includes(token)), 'no token in the logs');
  });

  it('caps the body: 413 for a declared or streamed body over the limit, counted as oversize', async () => {
    const handle = await target();
    const url = urlFor(handle.workflowId);
    const big = JSON.stringify({ request_id: 'req-5', status: 'succeeded', pad: 'x'.repeat(MAX_BODY) });
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const delta = await counted(async () => {
      assert.equal(await post(url, big), 413);
      assert.equal(await post(url, streamed, { duplex: 'half' } as RequestInit), 413);
    });
    assert.deepEqual(delta, { oversize: 2 });
    assert.deepEqual(await nudges(handle), []);
  });

  it('acknowledges malformed and unknown shapes with 202, counted as ignored, without a signal', async () => {
    const handle = await target();
    const url = urlFor(handle.workflowId);
    const bodies = ['not json', '', '[]', 'null', '"text"', { status: 'succeeded' }, { request_id: 42 }, { request_id: '   ' }, { request_id: 'r'.repeat(300) }];
    const delta = await counted(async () => {
      for (const body of bodies) assert.equal(await post(url, body), 202, JSON.stringify(body));
    });
    assert.deepEqual(delta, { ignored: bodies.length });
    assert.deepEqual(await nudges(handle), []);
  });

  it('acknowledges a webhook for a closed or unknown workflow with 200, counted as closed', async () => {
    const handle = await target();
    await handle.terminate('test: closed before its webhook');
    const delta = await counted(async () => {
      assert.equal(await post(urlFor(handle.workflowId), { request_id: 'req-6', status: 'succeeded' }), 200);
      assert.equal(await post(urlFor(uniqueName('never-started')), { request_id: 'req-7', status: 'succeeded' }), 200);
    });
    assert.deepEqual(delta, { closed: 2 });
    assert.deepEqual(await nudges(handle), []);
  });

  it('answers 503 (RunComfy retries) when Temporal cannot be reached, counted as error', async () => {
    const dead = await Connection.lazy({ address: `127.0.0.1:${await getFreePort()}` });
    const deadMetrics = new WebhookMetrics(new Registry());
    const server: Server = createWebhookReceiver({ settings: { secrets: [CURRENT], path: PATH, maxBodyBytes: MAX_BODY }, nudge: temporalNudge(new Client({ connection: dead }), { timeoutMs: 1_000 }), metrics: deadMetrics, log });
    const down = await listenWebhookReceiver(server, 0, '127.0.0.1');
    try {
      const url = webhookUrlFor({ publicUrl: `${down.url}${PATH}`, secrets: [CURRENT] }, { workflowId: 'pipeline-x', stepId: 'upscale', attempt: 1 });
      const started = Date.now();
      assert.equal(await post(url, { request_id: 'req-8', status: 'succeeded' }), 503);
      assert.ok(Date.now() - started < 9_000, 'answered within RunComfy’s 10 s');
      assert.equal(await deadMetrics.value('error'), 1);
    } finally {
      await down.close();
      await dead.close();
    }
  });

  it('answers a request target that does not parse with 400, counted as forged, and keeps serving', async () => {
    /** Sends one raw request line (fetch cannot send a malformed target) and returns the status line. */
    const rawStatus = (target: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect(receiver.port, '127.0.0.1', () => socket.write(`POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`));
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString('latin1')));
        socket.on('error', reject);
        socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
      });
    const handle = await target();
    const delta = await counted(async () => {
      for (const bad of ['http://[', 'http://[::1/runcomfy/webhook', 'http://a:99999/runcomfy/webhook']) assert.match(await rawStatus(bad), /^HTTP\/1\.1 400 /, bad);
    });
    assert.deepEqual(delta, { forged: 3 });
    // Still serving: the process did not end on the bad target.
    assert.equal(await post(urlFor(handle.workflowId, 'upscale', 5), { request_id: 'req-9', status: 'succeeded' }), 200);
    assert.equal((await nudges(handle)).length, 1);
  });

  it('caps the signals one job attempt can cause: a leaked URL replayed with new request ids gets 429 and adds nothing to history', async () => {
    const capped = new WebhookMetrics(new Registry());
    const server: Server = createWebhookReceiver({ settings: { secrets: [CURRENT], path: PATH, maxBodyBytes: MAX_BODY }, nudge: temporalNudge(client), metrics: capped, log, nudgesPerJob: { burst: 3, refillMs: 60_000 } });
    const small = await listenWebhookReceiver(server, 0, '127.0.0.1');
    try {
      const handle = await target();
      const url = (attempt: number): string => webhookUrlFor({ publicUrl: `${small.url}${PATH}`, secrets: [CURRENT] }, { workflowId: handle.workflowId, stepId: 'video', attempt });
      const statuses: number[] = [];
      for (const status of ['in_queue', 'in_progress', 'succeeded']) statuses.push(await post(url(1), { request_id: 'req-real', status }));
      // RunComfy's own retry of a delivered event is a duplicate: it spends nothing.
      statuses.push(await post(url(1), { request_id: 'req-real', status: 'succeeded' }));
      const flood = await fetch(url(1), { method: 'POST', body: JSON.stringify({ request_id: 'req-flood-1', status: 'succeeded' }) });
      await flood.text();
      for (let i = 2; i <= 10; i++) statuses.push(await post(url(1), { request_id: `req-flood-${i}`, status: 'succeeded' }));
      assert.deepEqual(statuses, [200, 200, 200, 200, ...Array<number>(9).fill(429)]);
      assert.equal(flood.status, 429);
      const retryAfter = Number(flood.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      // Calls arriving together cannot pass the cap while the first signals are still in flight.
      const together = await Promise.all(Array.from({ length: 20 }, (_, i) => post(url(3), { request_id: `req-burst-${i}`, status: 'succeeded' })));
      assert.deepEqual([...together].sort((a, b) => a - b), [...Array<number>(3).fill(200), ...Array<number>(17).fill(429)]);
      // Another attempt of the same step has its own allowance.
      assert.equal(await post(url(2), { request_id: 'req-retry', status: 'in_queue' }), 200);
      assert.equal((await nudges(handle)).length, 7);
      assert.equal(await capped.value('throttled'), 27);
      assert.equal(await capped.value('duplicate'), 1);
    } finally {
      await small.close();
    }
  });

  it('closes connections beyond its limit at once, and serves again when they go', async () => {
    const server: Server = createWebhookReceiver({ settings: { secrets: [CURRENT], path: PATH, maxBodyBytes: MAX_BODY }, nudge: temporalNudge(client), metrics: new WebhookMetrics(new Registry()), log, maxConnections: 2 });
    const small = await listenWebhookReceiver(server, 0, '127.0.0.1');
    const openIdle = (): Promise<Socket> =>
      new Promise((resolve) => {
        const socket = connect(small.port, '127.0.0.1', () => resolve(socket));
      });
    const idle = await Promise.all([openIdle(), openIdle()]);
    try {
      // Let the server count both before the third arrives.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const refused = await fetch(`${small.url}/healthz`).then(
        (response) => response.status,
        () => 'closed',
      );
      assert.equal(refused, 'closed', 'a third connection is closed without an answer');
      for (const socket of idle) socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal((await fetch(`${small.url}/healthz`)).status, 200);
    } finally {
      for (const socket of idle) socket.destroy();
      await small.close();
    }
  });

  it('serves /healthz and /metrics, and nothing else', async () => {
    assert.equal((await fetch(`${receiver.url}/healthz`)).status, 200);
    const exposition = await (await fetch(`${receiver.url}/metrics`)).text();
    assert.match(exposition, /rcp_webhooks_received_total\{outcome="forged"\} [1-9]/);
    assert.equal((await fetch(`${receiver.url}${PATH}`)).status, 405);
    assert.equal((await fetch(`${receiver.url}/other`, { method: 'POST', body: '{}' })).status, 404);
  });
});

describe('NudgeAllowance', () => {
  it('allows a burst, then one more per refill interval, without saving credit while full', () => {
    let nowMs = 0;
    const allowance = new NudgeAllowance(3, 1_000, 20_000, () => nowMs);
    const takeAll = (): number => {
      let taken = 0;
      while (allowance.take('a')) taken++;
      return taken;
    };
    nowMs = 60_000; // an hour at rest with a full bucket saves nothing
    assert.equal(takeAll(), 3);
    assert.equal(allowance.retryAfterSeconds('a'), 1);
    nowMs += 999;
    assert.equal(allowance.take('a'), false);
    nowMs += 1;
    assert.equal(takeAll(), 1);
    nowMs += 2_500;
    assert.equal(takeAll(), 2);
    // The half interval left over still counts toward the next token.
    nowMs += 500;
    assert.equal(takeAll(), 1);
    // A signal that was not sent gives its share back.
    allowance.giveBack('a');
    assert.equal(takeAll(), 1);
    assert.equal(allowance.take('b'), true, 'subjects are counted apart');
  });

  it('remembers a bounded number of subjects, forgetting the least recently seen', () => {
    const allowance = new NudgeAllowance(1, 60_000, 2, () => 0);
    assert.equal(allowance.take('a'), true);
    assert.equal(allowance.take('b'), true);
    assert.equal(allowance.take('a'), false);
    assert.equal(allowance.take('c'), true); // evicts b, the least recently seen
    assert.equal(allowance.take('a'), false);
    assert.equal(allowance.take('b'), true);
  });
});
