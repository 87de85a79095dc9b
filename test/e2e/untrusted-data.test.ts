/**
 * Untrusted data end to end, against the real Temporal dev server, S3 server and emulator:
 * - with the production address policy, output URLs on loopback are refused: the step fails at
 *   once with OutputSourceRejected naming the step, the request id and the host;
 * - a run's whole history holds no signature, token or presigned query (the face image travels as
 *   an r2:// reference);
 * - with PAYLOAD_KEYS, history holds only ciphertext, and the codec server decodes it for holders
 *   of its token only. The history sizes with and without encryption are reported.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING } from '../../src/codec/aes-gcm-codec.js';
import { startCodecServer } from '../../src/codec/codec-server.js';
import { parsePayloadKeys } from '../../src/codec/payload-keys.js';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import { cancelPipelineSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { storeFaceImage } from '../support/face-image.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const SIGNED = /X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|[?&](sig|signature|token|access_token)=/i;

interface PayloadLike {
  metadata?: Record<string, Uint8Array | null | undefined> | null;
  data?: Uint8Array | null;
}

/**
 * Every payload in a history (anything with `data` bytes and a `metadata` map) with where it was
 * found. Search attributes are left out: the server must index them, so codecs never touch them
 * (the pipeline's only one is its status keyword); so are `patched()` markers.
 */
function payloadsOf(
  value: unknown,
  found: (PayloadLike & { path: string })[] = [],
  depth = 0,
  path = '',
  bookkeeping: (PayloadLike & { path: string })[] = [],
): (PayloadLike & { path: string })[] {
  if (depth > 40 || value === null || typeof value !== 'object') return found;
  if (value instanceof Uint8Array) return found;
  const record = value as Record<string, unknown>;
  if (record['data'] instanceof Uint8Array && typeof record['metadata'] === 'object') found.push(Object.assign(record as PayloadLike, { path }));
  for (const [key, child] of Object.entries(record)) {
    // Patch markers carry only the SDK's patch ids (code names, no data); the SDK writes them unencoded.
    if (key === 'searchAttributes' || key === 'patch-data') continue;
    // A local activity's marker: the SDK's own bookkeeping (`data`: sequence, type, times) is written
    // unencoded and checked apart; its `result` is the activity's output, encrypted like any other.
    if (key === 'data' && path.endsWith('.markerRecordedEventAttributes.details')) {
      payloadsOf(child, bookkeeping, depth + 1, `${path}.${key}`);
      continue;
    }
    payloadsOf(child, found, depth + 1, `${path}.${key}`, bookkeeping);
  }
  return found;
}

/** The SDK's local-activity bookkeeping in marker details: only these fields, never an input or an output. */
const MARKER_BOOKKEEPING_FIELDS = new Set(['seq', 'attempt', 'activity_id', 'activity_type', 'complete_time', 'backoff', 'original_schedule_time']);

function markerBookkeeping(history: unknown): Record<string, unknown>[] {
  const bookkeeping: (PayloadLike & { path: string })[] = [];
  payloadsOf(history, [], 0, '', bookkeeping);
  return bookkeeping.map((payload) => JSON.parse(Buffer.from(payload.data ?? new Uint8Array()).toString('utf8')) as Record<string, unknown>);
}

/** All text of a history: strings as they are, payload bytes as UTF-8 (how the UI shows them). */
function historyText(value: unknown, parts: string[] = [], depth = 0): string {
  if (depth > 40 || value === null || value === undefined) return parts.join('\n');
  if (typeof value === 'string') parts.push(value);
  else if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
  else if (typeof value === 'object') for (const child of Object.values(value as Record<string, unknown>)) historyText(child, parts, depth + 1);
  return parts.join('\n');
}

async function historyBytes(handle: WorkflowHandle): Promise<{ history: unknown; bytes: number }> {
  const history = await handle.fetchHistory();
  const { temporal } = (await import('@temporalio/proto')).default;
  return { history, bytes: temporal.api.history.v1.History.encode(history).finish().length };
}

test('production address policy: loopback output URLs are refused, typed, non-retryable, naming step and request', async () => {
  const stack = await startPipelineStack({ env: { OUTPUT_ALLOW_LOOPBACK: 'false' } });
  const pipelineId = uniqueName('refused');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a harbour', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const handle = await stack.start(spec);
  const error = await handle.result().then(
    () => assert.fail('the pipeline should fail'),
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof WorkflowFailedError);
  const cause = error.cause;
  assert.ok(cause instanceof ApplicationFailure);
  assert.equal(cause.type, 'PipelineStepFailed');
  const detail = cause.details?.[0] as { stepId: string; type: string; requestId: string; message: string };
  assert.equal(detail.stepId, 't2i');
  assert.equal(detail.type, 'OutputSourceRejected');
  assert.ok(detail.requestId);
  assert.match(cause.message, new RegExp(`step "t2i".*${detail.requestId}`));
  assert.match(detail.message, /host "127\.0\.0\.1": 127\.0\.0\.1 is a loopback address/);
  // One persist attempt only: a refusal is never retried.
  const text = historyText(await handle.fetchHistory());
  assert.equal((text.match(/persistOutputs/g) ?? []).length >= 1, true);
  const history = await handle.fetchHistory();
  const persistAttempts = (history.events ?? []).filter((event) => event.activityTaskStartedEventAttributes && (event.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
  assert.equal(persistAttempts.length, 0, 'no activity was retried');
});

test('a run without encryption: its whole history carries no signature, token or presigned query', async () => {
  const stack = await startPipelineStack();
  const pipelineId = uniqueName('no-signatures');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse at dusk', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  assert.match(JSON.stringify(spec), /r2:\/\/inputs\//, 'the face image travels as a reference');
  const handle = await stack.start(spec);
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');
  const { history, bytes } = await historyBytes(handle);
  const text = historyText(history);
  assert.ok(text.includes('a lighthouse at dusk'), 'the walk does read the payloads');
  assert.doesNotMatch(text, SIGNED);
  for (const step of result.steps) for (const output of step.outputs) assert.ok(!output.sourceUrl.includes('?'), output.sourceUrl);
  plainHistoryBytes = bytes;
});

let plainHistoryBytes = 0;

test('with PAYLOAD_KEYS: history holds only ciphertext; the codec server decodes it with the token only', async (t) => {
  const keys = `k1:${randomBytes(32).toString('base64')}`;
  const stack = await startPipelineStack({ env: { PAYLOAD_KEYS: keys } });
  const token = randomBytes(24).toString('hex');
  const codecServer = await startCodecServer({ codec: new AesGcmPayloadCodec(parsePayloadKeys(keys)), token, corsOrigins: [] });
  after(() => codecServer.close());

  const pipelineId = uniqueName('encrypted');
  const prompt = 'a lighthouse at dusk';
  const spec = defaultPipelineSpec({ pipelineId, prompt, faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const handle = await stack.start(spec);
  const result = await handle.result();
  assert.equal(result.status, 'succeeded', 'the encrypting client reads the result');

  // A client without the codec sees the raw history, as the server stores it.
  const { history, bytes } = await historyBytes(handle);
  const payloads = payloadsOf(history);
  assert.ok(payloads.length > 10, `found ${payloads.length} payloads`);
  for (const payload of payloads) assert.equal(Buffer.from(payload.metadata?.['encoding'] ?? new Uint8Array()).toString(), ENCRYPTED_ENCODING, payload.path);
  const markers = markerBookkeeping(history);
  assert.ok(markers.some((marker) => marker['activity_type'] === 'preparePipeline'), 'preparation ran as a local activity');
  for (const marker of markers) for (const field of Object.keys(marker)) assert.ok(MARKER_BOOKKEEPING_FIELDS.has(field), `local activity marker field "${field}"`);
  const raw = historyText(history);
  for (const secret of [prompt, pipelineId + '/t2i', 'r2://', 'sha256']) assert.ok(!raw.includes(secret), `"${secret}" is not readable in history`);

  const body = JSON.stringify({
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
      data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
    })),
  });
  const refused = await fetch(`${codecServer.url}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(refused.status, 401);
  const decoded = await fetch(`${codecServer.url}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
  assert.equal(decoded.status, 200);
  const texts = ((await decoded.json()) as { payloads: { data: string }[] }).payloads.map((p) => Buffer.from(p.data, 'base64').toString('utf8')).join('\n');
  assert.ok(texts.includes(prompt), 'the codec server gives the prompt back');
  assert.doesNotMatch(texts, SIGNED);

  const plain = plainHistoryBytes > 0 ? `${plainHistoryBytes} bytes plain, ` : '';
  t.diagnostic(`history size of the default 4-step chain: ${plain}${bytes} bytes encrypted (${payloads.length} payloads)`);
  console.log(`history size of the default 4-step chain: ${plain}${bytes} bytes encrypted (${payloads.length} payloads)`);
});

test('a cancelled pipeline stops a copy stuck on a hanging source within seconds', async () => {
  // Idle and first-byte timeouts far away: only the cancellation can end this copy quickly.
  const stack = await startPipelineStack({ env: { OUTPUT_IDLE_TIMEOUT_MS: '600000', OUTPUT_FIRST_BYTE_TIMEOUT_MS: '600000', PERSIST_CANCEL_GRACE_MS: '1000', PERSIST_HEARTBEAT_TIMEOUT_MS: '30000', HEARTBEAT_THROTTLE_MS: '500' } });
  await stack.emulator.admin.addFault({ kind: 'hang', operations: ['download'], count: null });
  const pipelineId = uniqueName('hanging-copy');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a harbour', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const handle = await stack.start(spec);
  await eventually(async () => (await handle.query(pipelineProgressQuery)).steps[0]?.state === 'persisting' || undefined, { timeoutMs: 30_000, what: 'the copy to start' });
  const cancelledAt = Date.now();
  await handle.signal(cancelPipelineSignal, { reason: 'test: hostile download' });
  const result = await handle.result();
  const tookMs = Date.now() - cancelledAt;
  assert.equal(result.status, 'cancelled');
  assert.equal(result.steps[0]?.state, 'cancelled');
  assert.deepEqual(result.steps[0]?.outputs, []);
  assert.ok(tookMs < 10_000, `stopped ${tookMs} ms after the cancel (grace 1 s)`);
});

test('a download that hangs once is asked again: the paid output is kept, also when a cancel comes while it hangs', async () => {
  // The shipped timeouts (first byte 5 s, cancel grace 10 s): their relation is what this checks.
  const stack = await startPipelineStack();
  await stack.emulator.admin.addFault({ kind: 'hang', operations: ['download'], count: 1 });
  const pipelineId = uniqueName('hang-once');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const handle = await stack.start(spec);
  await eventually(async () => (await handle.query(pipelineProgressQuery)).steps[0]?.state === 'persisting' || undefined, { timeoutMs: 30_000, what: 'the copy to start' });
  // The cancel arrives while the only download of the step hangs (seed 30117 of the chaos campaign).
  await handle.signal(cancelPipelineSignal, { reason: 'test: cancel during a hanging download' });
  const result = await handle.result();
  assert.equal(result.status, 'cancelled');
  const t2i = result.steps[0]!;
  assert.equal(t2i.id, 't2i');
  assert.ok(t2i.outputs.length > 0, `the finished job's outputs are kept (step ${t2i.state}: ${t2i.error?.message ?? 'no error'})`);
  const job = t2i.requestId;
  assert.ok(job, 'the step names its job');
  const files = await stack.emulator.admin.jobOutputs(job);
  for (const file of files) {
    const kept = t2i.outputs.find((o) => o.filename === file.filename);
    assert.equal(kept?.sha256, file.sha256, `${file.filename} kept with the bytes the job made`);
  }
  assert.deepEqual(result.steps.slice(1).map((step) => step.outputs.length), [0, 0, 0], 'nothing submitted after the cancel');
});
