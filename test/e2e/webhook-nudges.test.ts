/*
 * Webhooks as nudges, end to end: the emulator POSTs each job's events to the worker's receiver,
 * which signals the pipeline; the pipeline then reads status and result through the API. The
 * backstop here is 10 s, so a pipeline that finishes in a few seconds was driven by webhooks; with
 * every webhook lost, a short backstop alone finishes it, and hostile deliveries change nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import type { PipelineResult } from '../../src/contract/pipeline-contract.js';
import { storeFaceImage } from '../support/face-image.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const BACKSTOP_MS = 10_000;
const stack = await startPipelineStack({ webhooks: true, env: { WEBHOOK_BACKSTOP_INTERVAL_MS: String(BACKSTOP_MS) } });
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

async function runDefault(prefix: string): Promise<PipelineResult> {
  const pipelineId = uniqueName(prefix);
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a harbour at dawn', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  return (await stack.start(spec)).result();
}

async function webhookOutcomes(): Promise<Record<string, number>> {
  const text = await stack.worker!.metrics.registry.metrics();
  return Object.fromEntries([...text.matchAll(/^rcp_webhooks_received_total\{outcome="([a-z]+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

test('webhooks end every wait: each job is read once it is announced, not on the backstop', async () => {
  const started = Date.now();
  const result = await runDefault('hooked');
  assert.equal(result.status, 'succeeded');
  for (const step of result.steps) {
    const attempt = step.attempts[0]!;
    // Only the first read after the submit is timed (it may find a quick job already done); every
    // other read was prompted by a webhook.
    assert.ok((attempt.statusReads ?? 0) - (attempt.nudgedReads ?? 0) <= 1, `step ${step.id}: ${attempt.statusReads} reads, ${attempt.nudgedReads} nudged`);
  }
  assert.ok(result.steps.some((step) => (step.attempts[0]!.nudgedReads ?? 0) >= 1), 'webhooks prompted reads');
  assert.ok(Date.now() - started < BACKSTOP_MS * 4, 'no step waited on its backstop');
  assert.ok(((await webhookOutcomes())['signaled'] ?? 0) >= 4);
});

test('with every webhook lost, the backstop alone finishes the pipeline', async () => {
  await admin.updateSettings({ webhook: { lossRate: 1 } });
  // Long enough that the first read (just after the submit) sees it unfinished.
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 1_500 } });
  try {
    const started = Date.now();
    const handle = await stack.start({ pipelineId: uniqueName('lost'), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a kite', seed: 3 } }] });
    const result = await handle.result();
    assert.equal(result.status, 'succeeded');
    assert.equal(result.steps[0]!.attempts[0]!.nudgedReads ?? 0, 0, 'no webhook arrived');
    assert.ok((result.steps[0]!.attempts[0]!.statusReads ?? 0) >= 2, 'a timed read after the first found the job ended');
    assert.ok(Date.now() - started >= BACKSTOP_MS, 'the job was found by the backstop read');
    const records = await admin.webhookDeliveries(result.steps[0]!.requestId!);
    assert.ok(records.length > 0 && records.every((record) => record.kind === 'lost'), 'the emulator lost every event');
  } finally {
    await admin.updateSettings({ webhook: { lossRate: 0 } });
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

test('forged, duplicated and reordered webhooks change nothing: one job per step, forgeries counted', async () => {
  const before = await webhookOutcomes();
  const counters = (await admin.counters()).total;
  await admin.updateSettings({ webhook: { forged: 2, duplicates: 2, reorder: true } });
  try {
    const result = await runDefault('hostile');
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.steps.map((step) => step.attempts.length), [1, 1, 1, 1]);
    const after = (await admin.counters()).total;
    assert.equal(after.submits - counters.submits, 4, 'one submit per step');
    const outcomes = await eventually(async () => {
      const now = await webhookOutcomes();
      return (now['forged'] ?? 0) - (before['forged'] ?? 0) >= 8 ? now : undefined;
    }, { what: 'the forged calls to be counted' });
    assert.ok((outcomes['duplicate'] ?? 0) + (outcomes['closed'] ?? 0) > (before['duplicate'] ?? 0) + (before['closed'] ?? 0), 'duplicates were answered without effect');
  } finally {
    await admin.updateSettings({ webhook: { forged: 0, duplicates: 0, reorder: false } });
  }
});
