/**
 * The terminal callback of every pipeline, and its timeliness: pipelines refused or cancelled
 * before their preparation finished still send it; a long backend outage delays it by one retry
 * window at most; the sequence the backend sees has no gaps; two secrets sign during a rotation.
 * Real Temporal, real S3, the emulator, and a callback receiver on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { CallbackDeliveryRecord, CallbackEvent, PipelineEventData, StepEventData } from '../../src/callbacks/events.js';
import { CALLBACK_OUTBOX_WORKFLOW_TYPE, callbackEventSignal, callbackOutboxWorkflowId } from '../../src/callbacks/events.js';
import { verifyCallback } from '../../src/callbacks/signature.js';
import { PipelineClient } from '../../src/client/index.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack } from '../support/pipeline-stack.js';
import { startCallbackReceiver } from './receiver.js';

const OLD_SECRET = 'the secret being retired and long enough';
const SECRET = 'whsec_' + Buffer.from('the secret taking over from it').toString('base64');
const receiver = await startCallbackReceiver(SECRET);
const stack = await startPipelineStack({
  env: {
    // A rotation in progress: every delivery carries a signature for each secret.
    CALLBACK_SECRET: `${OLD_SECRET},${SECRET}`,
    CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
    CALLBACK_RETRY_WINDOW_MS: '60000',
    CALLBACK_TIMEOUT_MS: '2000',
  },
});
const pipelines = new PipelineClient({ client: stack.client, taskQueue: stack.taskQueue, store: stack.store });
const t2iDeployment = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

function specFor(path: string, extra: Partial<PipelineSpec> = {}): PipelineSpec {
  return {
    pipelineId: randomUUID(),
    callback: { url: receiver.url(path) },
    steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a harbour at dawn', seed: 5 } }],
    ...extra,
  };
}

async function outboxRecords(pipelineId: string): Promise<CallbackDeliveryRecord[]> {
  return (await stack.client.workflow.getHandle(callbackOutboxWorkflowId(pipelineId)).result()) as CallbackDeliveryRecord[];
}

// First in the file: the worker has not cached the deployment yet, so preparation reads it (and hangs on the fault).
test('a pipeline cancelled while it is prepared sends pipeline.cancelled, signed with both secrets of a rotation', async () => {
  await stack.emulator.admin.addFault({ kind: 'server_error', operations: ['deployments'], statusCode: 503, count: null });
  try {
    const spec = specFor('/ok');
    await pipelines.start(spec);
    await eventually(async () => ((await stack.emulator.admin.faults())[0]?.hits ?? 0) >= 1 || undefined, { what: 'preparation reading the deployment', intervalMs: 100 });
    assert.equal((await pipelines.getStatus(spec.pipelineId)).status, 'preparing');
    await pipelines.cancel(spec.pipelineId, 'user changed their mind');
    const records = await outboxRecords(spec.pipelineId);
    const events = receiver.deliveredFor(spec.pipelineId);
    assert.deepEqual(events.map((e) => e.type), ['pipeline.cancelled']);
    assert.equal(events[0]!.sequence, 1);
    const data = events[0]!.data as PipelineEventData;
    assert.equal(data.cancelReason, 'user changed their mind');
    assert.deepEqual(data.gpu.totals.stepsWithGpu, []);
    assert.deepEqual(data.gpu.totals.stepsWithoutGpu, ['t2i']);
    assert.deepEqual(records.map((r) => r.outcome), ['delivered']);
    const delivery = receiver.received.find((r) => r.event.pipelineId === spec.pipelineId)!;
    assert.equal(String(delivery.headers['webhook-signature']).split(' ').length, 2, 'one signature per secret');
    assert.equal(verifyCallback(OLD_SECRET, delivery.headers, delivery.body).id, events[0]!.id, 'a receiver still on the old secret verifies');
    assert.equal(verifyCallback(SECRET, delivery.headers, delivery.body).id, events[0]!.id, 'a receiver on the new secret verifies');
    assert.equal((await stack.emulator.admin.counters(t2iDeployment)).total.submits, 0, 'no job was submitted');
    await recordHistory(stack.client.workflow.getHandle(`pipeline-${spec.pipelineId}`), 'callbacks-cancel-preparing');
  } finally {
    await stack.emulator.admin.clearFaults();
  }
});

test('a pipeline the worker refuses at preparation sends pipeline.failed, not retryable, and submits nothing', async () => {
  const spec = specFor('/ok', { steps: [{ id: 't2i', kind: 't2i', deployment: 'no-such-deployment', params: { prompt: 'x' } }] });
  await pipelines.start(spec);
  await assert.rejects(pipelines.result(spec.pipelineId), /no-such-deployment/);
  await outboxRecords(spec.pipelineId);
  const events = receiver.deliveredFor(spec.pipelineId);
  assert.deepEqual(events.map((e) => e.type), ['pipeline.failed']);
  const data = events[0]!.data as PipelineEventData;
  assert.equal(data.status, 'failed');
  assert.equal(data.retryable, false);
  assert.match(data.error?.message ?? '', /no-such-deployment/);
  assert.equal(data.error?.type, 'InvalidPipelineSpec');
});

/** Starts an outbox on its own with a short window and hands it events as a pipeline would. */
async function outboxWith(path: string, windowMs: number, types: CallbackEvent['type'][]): Promise<{ pipelineId: string; records: Promise<CallbackDeliveryRecord[]> }> {
  const pipelineId = randomUUID();
  const handle = await stack.client.workflow.start(CALLBACK_OUTBOX_WORKFLOW_TYPE, {
    taskQueue: stack.taskQueue,
    workflowId: callbackOutboxWorkflowId(pipelineId),
    args: [{ pipelineId, target: { url: receiver.url(path), retryWindowMs: windowMs, timeoutMs: 2000 } }],
  });
  let sequence = 0;
  for (const type of types) {
    sequence++;
    const isStep = type.startsWith('step.');
    const event: CallbackEvent = {
      id: `evt-${pipelineId}-${sequence}`,
      type,
      sequence,
      pipelineId,
      occurredAt: new Date().toISOString(),
      progress: type.startsWith('pipeline.') ? 100 : 10,
      data: isStep ? { stepId: `s${Math.ceil(sequence / 3)}`, kind: 't2i' } : { status: 'succeeded', outputs: [], gpu: { steps: [], totals: { runSeconds: 0, queueSeconds: 0, jobs: 0, jobsWithGpu: 0, stepsWithGpu: [], stepsWithoutGpu: [] }, timing: 'status-transitions' } },
    };
    await handle.signal(callbackEventSignal, event);
  }
  return { pipelineId, records: handle.result() as Promise<CallbackDeliveryRecord[]> };
}

test('during an outage longer than the window the terminal event goes out one window after it was queued, not one window per earlier event', async () => {
  const windowMs = 2_000;
  // Six events that are never superseded (started/succeeded of three steps), then the terminal one.
  const types: CallbackEvent['type'][] = ['step.started', 'step.succeeded', 'step.started', 'step.succeeded', 'step.started', 'step.succeeded', 'pipeline.completed'];
  const { pipelineId, records } = await outboxWith('/down', windowMs, types);
  const done = await records;
  const attempts = receiver.received.filter((r) => r.event.pipelineId === pipelineId);
  const firstTry = attempts[0]!.receivedAtMs;
  const terminalTry = attempts.find((r) => r.event.type === 'pipeline.completed')!.receivedAtMs;
  // One window per earlier event would be six windows (12 s); the rule allows one window plus one quick attempt per event.
  assert.ok(terminalTry - firstTry < 3 * windowMs, `the terminal event was first tried ${terminalTry - firstTry} ms after the first event`);
  assert.deepEqual(done.map((r) => r.outcome), types.map(() => 'undelivered'));
  assert.deepEqual(done.map((r) => r.sequence), [1, 2, 3, 4, 5, 6, 7]);
  await recordHistory(stack.client.workflow.getHandle(callbackOutboxWorkflowId(pipelineId)), 'callback-outbox-deadlines');
});

test('progress events pending when the terminal event is queued are superseded; the backend sees sequences 1..n without gaps', async () => {
  const types: CallbackEvent['type'][] = ['step.started', 'step.progress', 'step.progress', 'step.succeeded', 'step.progress', 'pipeline.completed'];
  const { pipelineId, records } = await outboxWith('/flaky', 60_000, types);
  const done = await records;
  const events = receiver.deliveredFor(pipelineId);
  // The first event is held by a 503 while the rest arrive, so every progress event finds a later one waiting.
  assert.deepEqual(events.map((e) => e.type), ['step.started', 'step.succeeded', 'pipeline.completed']);
  assert.deepEqual(events.map((e) => e.sequence), [1, 2, 3]);
  assert.deepEqual(events.map((e) => e.id.split('-').at(-1)), ['1', '4', '6'], 'ids stay those the pipeline gave, for deduplication');
  assert.deepEqual(done.filter((r) => r.outcome === 'superseded').map((r) => r.sequence), [undefined, undefined, undefined]);
});

test('step.progress carries the queue position while a job waits behind others, and status shows it', async () => {
  // Jobs long enough that the third is still queued when its first status read comes, on a loaded machine too.
  await stack.emulator.admin.updateDeploymentConfig(t2iDeployment, { max_instances: 1, timing: { durationMs: 6_000 } });
  try {
    const ahead = [specFor('/ok'), specFor('/ok')];
    for (const spec of ahead) {
      await pipelines.start(spec);
      // One after the other, so each is submitted before the next: the queue order is known.
      await eventually(async () => ((await pipelines.getStatus(spec.pipelineId)).steps[0]?.requestId ? true : undefined), { what: 'job submitted', intervalMs: 50 });
    }
    const spec = specFor('/ok');
    await pipelines.start(spec);
    const seen = await eventually(async () => {
      const position = (await pipelines.getStatus(spec.pipelineId)).steps[0]?.queuePosition;
      return position !== undefined ? position : undefined;
    }, { what: 'a queue position in status', intervalMs: 50, timeoutMs: 60_000 });
    assert.ok(seen >= 0 && seen <= 1, `position ${seen}`);
    await Promise.all([...ahead, spec].map((s) => pipelines.result(s.pipelineId)));
    await outboxRecords(spec.pipelineId);
    const positions = receiver
      .deliveredFor(spec.pipelineId)
      .filter((e) => e.type === 'step.progress' && (e.data as StepEventData).phase === 'queued')
      .map((e) => (e.data as StepEventData).queuePosition);
    // Two jobs ahead: one running, one queued (position 1); then that one runs (position 0). On a
    // loaded machine the first read may already find position 0, and a position the receiver had not
    // been sent yet may be superseded by the next one: what must hold is that positions arrive, stay
    // within what the queue held, and only go down.
    const known = positions.filter((p): p is number => p !== undefined);
    assert.ok(known.length > 0, `no queue position in step.progress: ${JSON.stringify(positions)}`);
    assert.ok(known.every((p, i) => p >= 0 && p <= 1 && (i === 0 || p <= known[i - 1]!)), JSON.stringify(positions));
    assert.equal((await pipelines.getStatus(spec.pipelineId)).steps[0]?.queuePosition, undefined, 'no queue position once the job ran');
    await recordHistory(stack.client.workflow.getHandle(`pipeline-${spec.pipelineId}`), 'callbacks-queue-position');
  } finally {
    await stack.emulator.admin.updateDeploymentConfig(t2iDeployment, { max_instances: 8, timing: { durationMs: 150 } });
  }
});
