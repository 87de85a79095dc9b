/**
 * Webhooks end to end at the HTTP level, with the receiver inside the worker (WEBHOOK_PORT): the
 * worker's submits carry signed URLs, the emulator POSTs the jobs' events to them, the receiver
 * checks each token and signals the pipeline. Nothing secret reaches the history.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import { webhookToken } from '../../src/webhooks/token.js';
import { storeFaceImage } from '../support/face-image.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack({ webhooks: true });

/** Every payload of a history event tree, decoded, as one searchable text. */
function decodedText(value: unknown, out: string[] = []): string[] {
  if (value === null || typeof value !== 'object') {
    out.push(String(value));
    return out;
  }
  if (value instanceof Uint8Array) return out;
  const record = value as Record<string, unknown>;
  if (record.metadata && record.data instanceof Uint8Array) {
    try {
      out.push(JSON.stringify(defaultPayloadConverter.fromPayload(record as Payload)));
    } catch {
      out.push(Buffer.from(record.data).toString('utf8'));
    }
    return out;
  }
  for (const inner of Object.values(record)) decodedText(inner, out);
  return out;
}

test('the in-worker receiver answers /healthz and turns the emulator’s webhooks into jobNudge signals', async () => {
  const receiver = stack.worker?.webhookReceiver;
  assert.ok(receiver, 'WEBHOOK_PORT starts a receiver inside the worker');
  assert.equal((await fetch(`${receiver.url}/healthz`)).status, 200);
  assert.equal(receiver.port, Number(stack.env.WEBHOOK_PORT));

  const pipelineId = uniqueName('hooked');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse at dusk', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const handle = await stack.start(spec);
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');

  // Every event of every job reached the receiver and was acknowledged (signaled, or 'closed' once
  // the pipeline had ended); none was refused as forged.
  const requestIds = result.steps.map((step) => step.requestId!);
  const records = await eventually(async () => {
    const all = (await Promise.all(requestIds.map((id) => stack.emulator.admin.webhookDeliveries(id)))).flat();
    return requestIds.every((id) => all.some((r) => r.request_id === id && r.event_status === 'succeeded')) && all.every((r) => r.delivered) ? all : undefined;
  }, { what: 'every webhook delivered' });
  for (const record of records) {
    assert.ok(record.url.startsWith(`${stack.env.WEBHOOK_PUBLIC_URL}?`), 'the URL is the configured public one');
    assert.equal(record.attempts.at(-1)?.status_code, 200);
  }
  const exposition = await stack.worker!.metrics.registry.metrics();
  assert.match(exposition, /rcp_webhooks_received_total\{outcome="forged"\} 0/);

  const history = await handle.fetchHistory();
  const signals = (history.events ?? []).map((e) => e.workflowExecutionSignaledEventAttributes).filter((a) => a?.signalName === 'jobNudge');
  assert.ok(signals.length >= 1, 'at least the events that arrived while the pipeline ran are signals in its history');
  const byStep = new Map(result.steps.map((step) => [step.id, step.requestId]));
  for (const signal of signals) {
    const nudge = defaultPayloadConverter.fromPayload(signal!.input!.payloads![0]!) as { stepId: string; attempt: number; requestId: string };
    assert.equal(nudge.attempt, 1);
    assert.equal(byStep.get(nudge.stepId), nudge.requestId, 'each nudge names the step whose job sent it');
  }

  const text = decodedText(history.events).join('\n');
  const secret = stack.env.WEBHOOK_SECRETS!;
  assert.ok(!text.includes(secret), 'no webhook secret in history');
  for (const step of spec.steps) {
    const token = webhookToken([secret], { workflowId: handle.workflowId, stepId: step.id, attempt: 1 });
    assert.ok(!text.includes(token), `no token of ${step.id} in history`);
  }
  assert.ok(!text.includes(stack.env.WEBHOOK_PUBLIC_URL!), 'no webhook URL in history');
  assert.match(text, /"webhookBackstopIntervalMs":150/, 'the backstop interval is frozen with the timings');
});

test('a submit error that echoes the webhook URL leaves no token in the failure or the history', async () => {
  const pipelineId = uniqueName('echo');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse at dusk', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const first = spec.steps[0]!;
  const workflowId = `pipeline-${pipelineId}`;
  const secret = stack.env.WEBHOOK_SECRETS!;
  const token = webhookToken([secret], { workflowId, stepId: first.id, attempt: 1 });
  const echoed = `${stack.env.WEBHOOK_PUBLIC_URL}?wf=${workflowId}&step=${first.id}&attempt=1&token=${token}`;
  // A validation error quoting the request, as some APIs do: the URL, and the bare token too.
  await stack.emulator.admin.addFault({ kind: 'error_response', operations: ['submit'], count: 1, statusCode: 422, errorCode: 422001, message: `invalid webhook ${echoed} (token ${token})` });
  const handle = await stack.start(spec);
  await assert.rejects(handle.result(), (error: Error) => /RunComfy rejected the job/.test(String((error.cause as Error | undefined)?.message)));
  const text = decodedText((await handle.fetchHistory()).events).join('\n');
  assert.match(text, /invalid webhook/, 'the remote message is kept');
  assert.ok(!text.includes(token), 'the token is scrubbed from the failure');
  assert.ok(!text.includes(secret));
});

test('forged, duplicated and reordered webhooks from the emulator change nothing but the counters', async () => {
  await stack.emulator.admin.updateSettings({ webhook: { forged: 2, duplicates: 1, reorder: true } });
  try {
    const forgedBefore = await counterOf('forged');
    const pipelineId = uniqueName('hostile');
    const spec = defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse at dusk', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
    const handle = await stack.start(spec);
    const result = await handle.result();
    assert.equal(result.status, 'succeeded');
    const requestIds = result.steps.map((step) => step.requestId!);
    const records = await eventually(async () => {
      const all = (await Promise.all(requestIds.map((id) => stack.emulator.admin.webhookDeliveries(id)))).flat();
      const settled = all.every((r) => (r.kind.startsWith('forged') ? r.attempts.at(-1)?.status_code != null : r.delivered));
      return settled && requestIds.every((id) => all.some((r) => r.request_id === id && r.kind === 'duplicate' && r.event_status === 'succeeded')) ? all : undefined;
    }, { what: 'every webhook, copy and forgery answered' });
    const forged = records.filter((r) => r.kind === 'forged_token' || r.kind === 'forged_request');
    assert.ok(forged.length >= requestIds.length * 2);
    for (const record of forged) assert.equal(record.attempts.at(-1)?.status_code, 401, `${record.kind} refused`);
    for (const record of records.filter((r) => r.kind === 'event' || r.kind === 'duplicate')) assert.equal(record.attempts.at(-1)?.status_code, 200);
    assert.equal((await counterOf('forged')) - forgedBefore, forged.length, 'every forgery counted');

    const signals = ((await handle.fetchHistory()).events ?? []).map((e) => e.workflowExecutionSignaledEventAttributes).filter((a) => a?.signalName === 'jobNudge');
    for (const signal of signals) {
      const nudge = defaultPayloadConverter.fromPayload(signal!.input!.payloads![0]!) as { requestId: string };
      assert.ok(requestIds.includes(nudge.requestId), `no forged request id reaches the workflow (${nudge.requestId})`);
    }
  } finally {
    await stack.emulator.admin.updateSettings({ webhook: { forged: 0, duplicates: 0, reorder: false } });
  }
});

async function counterOf(outcome: string): Promise<number> {
  const text = await stack.worker!.metrics.registry.metrics();
  const match = new RegExp(`rcp_webhooks_received_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text);
  return Number(match?.[1] ?? 0);
}
